"""A salesperson's day in the browser: prospect → customer → board → won."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in
from tests.factories import TeamFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_rep_adds_converts_moves_with_keyboard_and_wins(page, screenshot):
    UserFactory(username="ana", first_name="Ana", team=TeamFactory(name="North"))
    log_in(page, "ana", "pw")

    # Add a prospect.
    page.get_by_role("link", name="Prospects").click()
    page.get_by_role("link", name="Add a prospect").click()
    page.get_by_label("Name").fill("Zoé Martin")
    page.get_by_label("Company").fill("Zeta SARL")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Zoé Martin")

    # Convert it: a new customer and an open deal in one step.
    page.get_by_label("Deal title").fill("Zeta pilot")
    page.get_by_label("Deal amount").fill("4200")
    screenshot(page, "workspace-prospect")
    page.get_by_role("button", name="Convert").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Zeta pilot")

    # Move it across the board with the keyboard only.
    page.get_by_role("link", name="Board", exact=True).click()
    board = page.locator("#board")
    for column, label in (
        ("qualification", "Qualification"),
        ("proposal", "Proposal"),
        ("negotiation", "Negotiation"),
    ):
        menu = page.get_by_text("Move Zeta pilot")  # the card's Move menu button
        menu.focus()
        page.keyboard.press("Enter")  # opens the menu
        item = board.get_by_role("button", name=label, exact=True)
        item.focus()
        page.keyboard.press("Enter")
        target = board.locator(f'section[data-stage="{column}"]')
        expect(target.get_by_role("link", name="Zeta pilot")).to_be_visible()
        expect(target.locator("[data-count]")).to_have_text("1")
        expect(target.locator("[data-total]")).to_have_text("€4,200")
        # Focus stays on the moved card's menu, so the next move is one key away.
        expect(page.locator(".deal-card[data-moved] .move-menu summary")).to_be_focused()
    expect(board.locator('section[data-stage="prospecting"] [data-count]')).to_have_text("0")
    expect(page.locator("#board-status")).to_have_text("Zeta pilot moved to Negotiation.")
    screenshot(page, "workspace-board")

    # Mark it won on its page.
    board.get_by_role("link", name="Zeta pilot").click()
    page.get_by_role("button", name="Won", exact=True).click()
    page.get_by_label("Amount won").fill("4500")
    page.get_by_role("button", name="Mark won").click()
    expect(page.locator(".messages")).to_contain_text("Deal marked won")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Won")
    timeline = page.locator(".timeline")
    expect(timeline).to_contain_text("Moved from Negotiation to Won")

    # And it is on the deal list.
    page.get_by_role("link", name="Deals", exact=True).click()
    row = page.get_by_role("row", name=re.compile("Zeta pilot"))
    expect(row).to_contain_text("Won")
    expect(row).to_contain_text("€4,500.00")
    screenshot(page, "workspace-deals")


def test_log_a_deal_dialog_shows_errors_without_reload(page, screenshot):
    UserFactory(username="ana", first_name="Ana")
    log_in(page, "ana", "pw")
    page.evaluate("window.__marker = 1")  # lost if the page reloads
    page.get_by_role("link", name="Log a deal").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Title").fill("Quick one")
    dialog.get_by_label("Amount").fill("-3")
    dialog.get_by_role("button", name="Log the deal").click()
    expect(dialog).to_contain_text("The amount cannot be negative.")
    expect(dialog).to_contain_text("Choose a customer or a prospect.")
    assert page.evaluate("window.__marker") == 1
    screenshot(page, "workspace-deal-dialog")


def test_list_filters_update_results_in_place(page):
    from tests.factories import ProspectFactory

    ana = UserFactory(username="ana", first_name="Ana")
    ProspectFactory(owner=ana, name="Alpha lead", status="qualified")
    ProspectFactory(owner=ana, name="Beta lead")
    log_in(page, "ana", "pw")
    page.goto("/prospects/")
    page.evaluate("window.__marker = 1")
    page.get_by_label("Status").select_option("qualified")
    expect(page.locator("#results")).not_to_contain_text("Beta lead")
    expect(page.locator("#results")).to_contain_text("Alpha lead")
    expect(page).to_have_url(re.compile(r"status=qualified"))
    page.get_by_label("Status").select_option("")
    page.get_by_label("Search").fill("beta")
    expect(page.locator("#results")).not_to_contain_text("Alpha lead")
    expect(page.locator("#results")).to_contain_text("Beta lead")
    assert page.evaluate("window.__marker") == 1
    assert page.locator("#results #results").count() == 0


def test_manager_edits_targets_in_place(page, screenshot):
    import datetime as dt

    from crm.models import Target
    from tests.factories import ManagerFactory

    north = TeamFactory(name="North")
    ManagerFactory(username="nina", first_name="Nina", team=north)
    UserFactory(username="ann", first_name="Ann", team=north)
    log_in(page, "nina", "pw")
    page.goto("/targets/?year=2025")
    cell = page.get_by_label("Target for Ann Rep, March 2025")
    cell.fill("12000")
    cell.press("Tab")
    march = page.locator("td", has=page.get_by_label("Target for Ann Rep, March 2025"))
    expect(march).to_contain_text("Saved")
    bad = page.get_by_label("Target for Ann Rep, April 2025")
    bad.fill("-5")
    bad.press("Tab")
    april = page.locator("td", has=page.get_by_label("Target for Ann Rep, April 2025"))
    expect(april).to_contain_text("The amount cannot be negative.")
    screenshot(page, "workspace-targets")
    assert [(t.month, t.amount) for t in Target.objects.all()] == [(dt.date(2025, 3, 1), 12000)]


def test_board_move_without_javascript_keeps_focus_on_the_moved_card(browser, live_server):
    # Issue 19: Enter pressed before htmx loaded submits the move natively.
    # The fallback redirect carries the moved deal: its menu has the focus
    # on arrival (autofocus, no script), so the next move is one key away.
    from tests.factories import DealFactory

    ana = UserFactory(username="ana", first_name="Ana")
    DealFactory(owner=ana, title="Zeta pilot")
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        log_in(page, "ana", "pw")
        page.goto("/deals/board/")
        for column, stage in (("qualification", "Qualification"), ("proposal", "Proposal")):
            menu = page.locator(".move-menu > summary")
            menu.focus()
            page.keyboard.press("Enter")  # a native <details> opens without script
            page.locator(".move-menu").get_by_role("button", name=stage).focus()
            page.keyboard.press("Enter")  # a native submit: no htmx here
            target = page.locator(f'#board section[data-stage="{column}"]')
            expect(target.get_by_role("link", name="Zeta pilot")).to_be_visible()
            expect(page.locator(".move-menu > summary")).to_be_focused()
        expect(page.locator("#board-status")).to_have_text("Zeta pilot moved to Proposal.")
        expect(page).to_have_url(re.compile(r"moved="))
    finally:
        context.close()
