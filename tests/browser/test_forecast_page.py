"""The forecast page in a real browser: the fan charts draw from json_script
data (no inline script), and switching scope swaps the page and redraws."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from crm.models import Stage
from kpis import forecast as fc
from kpis.models import ForecastSnapshot
from tests.browser.conftest import log_in
from tests.kpis.factories import open_deal
from tests.kpis.forecast_fixtures import closed_deal

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def forecasts(world):
    today = timezone.localdate()
    opened = today - dt.timedelta(days=200)
    for i in range(6):
        closed_deal(world.ann, i % 2 == 0, opened, [(Stage.PROSPECTING, 0), (Stage.PROPOSAL, 5)], 20)
    for amount in ("1200", "3400", "800"):
        open_deal(world.ann, amount, opened_on=today - dt.timedelta(days=3),
                  expected_close_on=today + dt.timedelta(days=10))  # fmt: skip
    fc.store(today)
    last_month = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    fc.store(last_month)
    ForecastSnapshot.objects.filter(kind="start", period_start=last_month, granularity="month").update(
        actual=Decimal("900")
    )
    return world


def test_fan_and_accuracy_charts_draw_and_scope_switch_redraws(page, forecasts, screenshot):
    log_in(page, "nina", "pw")
    page.goto("/forecast/")
    expect(page.get_by_role("heading", name="Forecast · North")).to_be_visible()
    for canvas in ("fan-month", "fan-quarter", "accuracy-month"):
        expect(page.locator(f"#{canvas}")).to_have_attribute("data-drawn", "true")
    page.get_by_label("Forecast of").select_option(label="Ann Rep")
    expect(page).to_have_url(re.compile(r"scope=rep-"))
    expect(page.get_by_role("heading", name="Forecast · Ann Rep")).to_be_visible()
    # The swapped-in page draws its own chart again.
    expect(page.locator("#fan-month")).to_have_attribute("data-drawn", "true")
    page.get_by_text(re.compile(r": the deals that move the forecast most")).first.click()
    expect(page.get_by_role("link", name=re.compile(r"^Deal "))).not_to_have_count(0)
    screenshot(page, "forecast-rep")
