"""A salesperson sees their unread alert in the header and acknowledges it."""

import datetime as dt

import pytest
from playwright.sync_api import expect

from alerts.models import Alert, Rule
from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_acknowledging_an_alert_clears_the_badge(page, world, screenshot):
    Alert.objects.create(
        rule=Rule.DETRACTORS, key="d", kpi="nps", scope_type="rep", scope_id=world.ann.pk, team=world.north,
        user=world.ann, subject="Ann Rep", period_start=dt.date(2026, 12, 1), why={"count": 3, "days": 30},
    )  # fmt: skip
    log_in(page, "ann", "pw")
    badge = page.locator("#alert-count .unread-count")
    expect(badge).to_have_text("1")
    page.locator("#alerts-link").click()
    expect(page.get_by_text("Ann Rep: a cluster of detractors")).to_be_visible()
    screenshot(page, "alerts-list")
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_text("acknowledged by Ann Rep")).to_be_visible()
    expect(badge).to_have_count(0)
