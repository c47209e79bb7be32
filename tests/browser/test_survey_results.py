"""A manager reads the survey results: figures, charts and comments."""

import datetime as dt
import random
import re
from importlib import import_module

import pytest
from django.apps import apps
from django.utils import timezone
from playwright.sync_api import expect

from surveys.demo import seed_surveys
from tests.browser.conftest import log_in
from tests.factories import CustomerFactory, ManagerFactory, TeamFactory, UserFactory
from tests.surveys.factories import WonDealFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_manager_reads_results_with_charts(page, screenshot):
    # transaction=True tests start from a flushed database, without the data
    # migration's default surveys: put them back the way the migration does.
    import_module("surveys.migrations.0002_default_surveys").create_defaults(apps, None)
    team = TeamFactory(name="North")
    ManagerFactory(username="nina", team=team)
    reps = [UserFactory(team=team) for _ in range(2)]
    rng = random.Random(3)
    today = timezone.localdate()
    for i in range(60):
        rep = reps[i % 2]
        WonDealFactory(
            owner=rep,
            customer=CustomerFactory(owner=rep, team=team),
            opened_on=today - dt.timedelta(days=400),
            closed_on=today - dt.timedelta(days=rng.randrange(10, 300)),
        )
    seed_surveys(rng, today, None)
    log_in(page, "nina", "pw")
    page.goto("/surveys/results/")
    expect(page.get_by_role("heading", name="Net Promoter Score")).to_be_visible()
    # Polled, with no page-side eval (the Content-Security-Policy forbids it).
    expect(page.locator("#nps-chart")).to_have_attribute("width", re.compile(r"^[1-9]"))
    expect(page.locator("#results .big")).to_have_count(3)
    screenshot(page, "survey-results")
    # Filtering by rep swaps the results in place (htmx) and keeps a real URL.
    page.get_by_label("Salesperson").select_option(index=1)
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"rep="))  # pushState: polled, no load event
    expect(page.get_by_role("heading", name="Comments")).to_be_visible()
