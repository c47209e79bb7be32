import re
from unittest import mock

import pytest
from playwright.sync_api import expect

from crm.models import Deal
from tests.browser.conftest import log_in
from tests.crm.test_import import TINY
from tests.factories import AdminFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_uploads_previews_and_imports_by_keyboard(page, screenshot, tmp_path, settings):
    settings.VAR_DIR = tmp_path
    # The Maven files create teams: an admin's import (a manager's stays in their team).
    AdminFactory(username="mia", first_name="Mia")
    files = []
    for name, text in TINY.items():
        (tmp_path / name).write_text(text)
        files.append(str(tmp_path / name))
    log_in(page, "mia", "pw")

    page.get_by_text("Manage", exact=True).click()  # the managers' menu, a <details>
    page.get_by_role("link", name="Import").click()
    page.get_by_label("Maven CRM export").check()
    page.get_by_label("CSV files or one zip").set_input_files(files)
    page.get_by_role("button", name="Preview the import").click()

    preview = page.get_by_role("table", name="What the import will do, per kind of record")
    expect(preview).to_contain_text("Deals")
    screenshot(page, "import-preview")
    page.get_by_role("button", name="3. Import now").focus()
    with mock.patch("kpis.tasks.nightly_recompute.delay") as delay:
        page.keyboard.press("Enter")
        expect(page.locator(".messages")).to_be_visible()
    delay.assert_called_once()
    # The import lands on the KPI status page, where the recompute's progress shows.
    expect(page.locator(".messages")).to_contain_text("Imported: 17 created")
    expect(page).to_have_url(re.compile(r"/kpis/status/"))
    assert Deal.objects.count() == 6
    screenshot(page, "import-done")
