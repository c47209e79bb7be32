import pytest
from playwright.sync_api import expect

from kpis import tasks
from kpis.models import RecomputeRun
from tests.browser.conftest import log_in
from tests.factories import ManagerFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_manager_recomputes_and_watches_progress(page, screenshot, monkeypatch):
    # No worker here: the test plays the worker by writing the run's progress.
    monkeypatch.setattr(tasks.nightly_recompute, "delay", lambda run_id, full=False: None)
    ManagerFactory(username="nina", first_name="Nina")
    log_in(page, "nina", "pw")
    page.goto("/kpis/status/")
    page.get_by_role("button", name="Recompute now").click()
    expect(page.get_by_text("Recompute queued")).to_be_visible()
    run = RecomputeRun.objects.get()
    run.start()
    run.report(3, 5)
    expect(page.locator('progress[value="60"]')).to_be_visible()
    screenshot(page, "kpi-status-progress")
    run.finish(rows_written=777, churned=0)
    expect(page.get_by_text("777 figures")).to_be_visible()
    expect(page.get_by_role("button", name="Recompute now")).to_be_visible()
    screenshot(page, "kpi-status-done")
