"""The performance pages in a real browser: scorecard, period switch,
leaderboard switch, dashboard customisation."""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.conftest import log_in
from tests.kpis.factories_performance import seed_funnel, seed_realistic

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def seeded(world):
    month = timezone.localdate().replace(day=1)
    seed_realistic(world, month)
    seed_funnel(world, month)
    return world


def test_rep_scorecard_and_period_switch(page, seeded, screenshot):
    log_in(page, "ann", "pw")
    page.goto("/scorecard/")
    expect_heading = page.get_by_role("heading", name="Scorecard · Ann Rep")
    expect(expect_heading).to_be_visible()
    screenshot(page, "performance-scorecard-rep")


def test_period_switch_swaps_cards_and_pushes_url(page, seeded, screenshot):
    log_in(page, "ann", "pw")
    page.goto("/scorecard/")
    label = page.locator(".period-label")
    before = label.inner_text()
    # hx-push-url changes the URL with history.pushState (no load event):
    # expect() polls the URL and the swapped text instead of waiting for one.
    page.get_by_role("link", name="Previous period").click()
    expect(page).to_have_url(re.compile(r"/scorecard/\?.*p="))
    expect(label).not_to_have_text(before)
    page.get_by_label("Period length").select_option("quarter")
    expect(page).to_have_url(re.compile(r"g=quarter"))
    expect(label).to_have_text(re.compile(r"^Q"))
    page.go_back()
    expect(page).to_have_url(re.compile(r"g=month"))
    page.locator("#card-win_rate summary").click()
    screenshot(page, "performance-scorecard-previous-quarter")


def test_leaderboard_metric_switch(page, seeded, screenshot):
    log_in(page, "nina", "pw")
    page.goto("/leaderboard/")
    expect(page.get_by_role("heading", name="Leaderboard · North")).to_be_visible()
    page.get_by_label("Rank by").select_option("win_rate")
    expect(page).to_have_url(re.compile(r"kpi=win_rate"))
    expect(page.get_by_role("columnheader", name="Win rate")).to_be_visible()
    # Chart.js sized the canvas (its width attribute), polled: no page-side
    # eval, which the Content-Security-Policy forbids.
    expect(page.locator("#leaderboard-chart")).to_have_attribute("width", re.compile(r"^[1-9]"))
    screenshot(page, "performance-leaderboard-manager")


def test_team_page(page, seeded, screenshot):
    log_in(page, "nina", "pw")
    page.goto("/team/")
    expect(page.get_by_role("heading", name="Funnel")).to_be_visible()
    screenshot(page, "performance-team")


def test_dashboard_customisation_survives_reload(page, seeded, screenshot):
    log_in(page, "ann", "pw")
    page.goto("/dashboard/")
    page.get_by_text("Customise this dashboard").click()
    page.get_by_label("Add a card").select_option("nps")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("#card-nps")).to_be_visible()
    page.get_by_role("button", name="Move Net Promoter Score up").click()
    # The moved card's own buttons keep their ids, so focus stays on them.
    headings = page.locator(".kpi-card h2")
    expect(headings.last).to_have_id("title-activities")
    expect(headings.nth(headings.count() - 2)).to_have_id("title-nps")
    page.get_by_role("button", name="Remove Activities").click()
    expect(page.locator("#card-activities")).to_have_count(0)
    page.reload()
    titles = page.locator(".kpi-card h2").all_inner_texts()
    assert "Activities" not in titles
    assert titles[-2:] == ["Open pipeline", "Net Promoter Score"]
    page.get_by_text("Customise this dashboard").click()
    screenshot(page, "performance-dashboard")


def test_rep_leaderboard_hides_targets(page, seeded, screenshot):
    log_in(page, "ann", "pw")
    page.goto("/leaderboard/")
    expect(page.get_by_role("heading", name="Leaderboard · North")).to_be_visible()
    assert page.get_by_role("columnheader", name="Target").count() == 0
    # Chart.js sized the canvas (its width attribute), polled: no page-side
    # eval, which the Content-Security-Policy forbids.
    expect(page.locator("#leaderboard-chart")).to_have_attribute("width", re.compile(r"^[1-9]"))
    screenshot(page, "performance-leaderboard-rep")


def test_admin_company_scorecard_and_board_of_teams(page, seeded, screenshot):
    log_in(page, "admin", "pw")
    page.goto("/scorecard/")
    expect(page.get_by_role("heading", name="Scorecard · Company")).to_be_visible()
    page.locator("#card-nps summary").click()
    screenshot(page, "performance-scorecard-company")
    page.goto("/leaderboard/")
    expect(page.get_by_role("heading", name="Leaderboard · Teams")).to_be_visible()
    page.get_by_label("Board").select_option("reps")
    expect(page.get_by_label("Team", exact=True)).to_be_visible()
    screenshot(page, "performance-leaderboard-admin")


def test_scorecard_on_a_phone(phone_page, seeded, screenshot):
    log_in(phone_page, "ann", "pw")
    phone_page.goto("/scorecard/")
    expect(phone_page.locator("#card-revenue")).to_be_visible()
    screenshot(phone_page, "performance-scorecard-phone")


def test_a_choice_made_before_htmx_is_ready_is_not_lost(page, seeded):
    # Issue 19: scripts are deferred, so a hand faster than the network can
    # change the period before htmx listens (test_period_switch... failed so
    # under load). Hold htmx back, choose, then let it load: the choice is
    # sent once htmx is ready (static/js/boussole.js).
    log_in(page, "ann", "pw")
    held = []
    page.route("**/htmx-2.min.js", lambda route: held.append(route))
    page.goto("/scorecard/", wait_until="commit")
    page.get_by_label("Period length").select_option("quarter")
    for _ in range(100):  # each round trip lets the route handler run
        if held:
            break
        page.get_by_label("Period length").count()
    assert held, "htmx was never requested"
    held[0].continue_()
    expect(page).to_have_url(re.compile(r"g=quarter"))
    expect(page.locator(".period-label")).to_have_text(re.compile(r"^Q"))


def test_a_choice_made_between_a_swap_and_its_settle_is_not_lost(page, seeded):
    # Issue 19: htmx processes swapped-in content when it settles, after the
    # new content shows; a choice in between found nobody listening (the
    # period switch test failed so under load). Widen that window to see it.
    log_in(page, "ann", "pw")
    page.goto("/scorecard/")
    label = page.locator(".period-label")
    expect(label).not_to_have_text("")
    before = label.inner_text()
    page.evaluate("htmx.config.defaultSettleDelay = 1500")  # CDP, not page-side eval
    page.get_by_role("link", name="Previous period").click()
    expect(label).not_to_have_text(before)  # swapped, not yet settled
    page.get_by_label("Period length").select_option("quarter")
    expect(page).to_have_url(re.compile(r"g=quarter"))
    expect(label).to_have_text(re.compile(r"^Q"))
