"""A browser opens "What changed" from a KPI card and sees the waterfall."""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from kpis.compute import recompute
from tests.browser.conftest import log_in
from tests.kpis.factories import won

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_manager_opens_the_breakdown_of_a_card(page, world, screenshot):
    today = timezone.localdate()
    month = today.replace(day=1)
    previous = (month - dt.timedelta(days=1)).replace(day=1)
    won(world.ann, "300", previous, previous)
    won(world.ann, "500", month, month)
    won(world.bob, "200", month, month)
    recompute(today=today)
    log_in(page, "nina", "pw")
    page.goto("/scorecard/")
    page.get_by_role("link", name="What changed: Revenue").click()
    expect(page.get_by_role("heading", name="What changed · Revenue · North")).to_be_visible()
    table = page.locator("#what-changed-table")
    expect(table.get_by_role("link", name="Ann Rep")).to_be_visible()
    expect(table.get_by_role("link", name="Bob Rep")).to_be_visible()
    expect(page.locator("#waterfall-chart")).to_have_attribute("data-drawn", "true")
    screenshot(page, "what-changed-revenue")
