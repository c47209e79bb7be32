"""The Process page in a real browser: a funnel number opens the exact deals
behind it (expect() polls; no sleeps, timeouts or load events)."""

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from kpis.compute import recompute
from tests.browser.conftest import log_in
from tests.kpis.process_fixture import MAR, TODAY, build

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_funnel_click_through_lists_the_deals_behind_the_number(page, world, screenshot):
    deals = build(world)
    recompute(dt.date(2025, 1, 1), dt.date(2025, 6, 1), today=TODAY)
    log_in(page, "nina", "pw")
    page.goto(f"/process/?g=month&p={MAR.isoformat()}")
    expect(page.get_by_role("heading", name="Process · North")).to_be_visible()
    row = page.locator("#stage-funnel tr[data-stage='proposal']")
    moved_on = row.locator("a[data-what='moved_on']")
    expect(moved_on).to_have_text("2")
    screenshot(page, "process-page-manager")
    moved_on.click()
    expect(page).to_have_url(re.compile(r"/process/deals/\?.*stage=proposal.*what=moved_on"))
    expect(page.get_by_role("heading", name="Deals that moved on from Proposal")).to_be_visible()
    listed = page.locator("#process-deals tbody th a")
    expect(listed).to_have_count(2)
    expect(listed).to_contain_text([deals["D2"].title, deals["D1"].title], ignore_case=False)
    screenshot(page, "process-deals-moved-on")
