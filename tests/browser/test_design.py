"""The design pass in a real browser: the header's menus, its single row, the
phone board's stage switcher."""

import pytest
from playwright.sync_api import expect

from crm.models import Stage
from tests.browser.conftest import log_in
from tests.factories import DealFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_manage_menu_closes_on_escape_and_outside_click(page, world):
    log_in(page, "nina", "pw")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    manage = page.locator("details.menu", has=page.get_by_text("Manage", exact=True))
    summary = manage.locator("summary")
    summary.click()
    expect(manage).to_have_attribute("open", "")
    page.keyboard.press("Escape")
    expect(manage).not_to_have_attribute("open", "")
    expect(summary).to_be_focused()
    summary.click()
    expect(manage).to_have_attribute("open", "")
    page.locator("main h1").click()
    expect(manage).not_to_have_attribute("open", "")


def test_user_menu_holds_profile_tokens_language_and_log_out(page, world):
    log_in(page, "nina", "pw")
    page.locator(".user-menu summary").click()
    menu = page.locator(".user-menu .menu-list")
    for name in ("Profile", "API tokens"):
        expect(menu.get_by_role("link", name=name)).to_be_visible()
    expect(menu.get_by_role("button", name="Log out")).to_be_visible()
    menu.get_by_label("Language").select_option("fr")
    expect(page.locator("html")).to_have_attribute("lang", "fr")


@pytest.mark.parametrize("language", ["en", "fr"])
def test_header_is_one_row_at_1280(page, world, live_server, language):
    log_in(page, "nina", "pw")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    page.context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
    page.goto("/team/")
    expect(page.locator("html")).to_have_attribute("lang", language)
    header = page.locator(".site-header")
    brand = page.locator(".brand").bounding_box()
    avatar = page.locator(".user-menu summary").bounding_box()
    assert abs(brand["y"] - avatar["y"]) < 20, "the user menu sits on the brand's row"
    assert header.bounding_box()["height"] < 70


def test_phone_board_shows_one_stage_at_a_time(phone_page, world, screenshot):
    DealFactory(owner=world.ann, title="Early bird", stage=Stage.PROSPECTING)
    DealFactory(owner=world.ann, title="Big offer", stage=Stage.PROPOSAL)
    page = phone_page
    log_in(page, "ann", "pw")
    page.goto("/deals/board/")
    expect(page.get_by_role("link", name="Early bird")).to_be_visible()
    expect(page.get_by_role("link", name="Big offer")).to_be_hidden()
    page.get_by_role("button", name="Proposal", exact=True).click()
    expect(page.get_by_role("link", name="Big offer")).to_be_visible()
    expect(page.get_by_role("link", name="Early bird")).to_be_hidden()
    expect(page.get_by_role("button", name="Proposal", exact=True)).to_have_attribute("aria-pressed", "true")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "design-board-phone")


def test_a_deal_logged_from_the_board_appears_without_a_reload(page, world):
    from tests.factories import CustomerFactory

    CustomerFactory(owner=world.ann, name="Zeta SARL")
    log_in(page, "ann", "pw")
    page.goto("/deals/board/")
    page.evaluate("window.__marker = 1")  # lost if the page reloads
    page.get_by_role("link", name="Log a deal").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Title").fill("Fresh one")
    customer = dialog.get_by_label("Customer")
    customer.fill("Zeta")
    # htmx fills the suggestions as one types: at most 20, each "Name (#id)".
    expect(page.locator("datalist option")).to_have_count(1)
    customer.fill("Zeta SARL")
    dialog.get_by_label("Amount").fill("-1")
    dialog.get_by_role("button", name="Log the deal").click()
    # After an invalid submit, focus is on the first field in error, not the page body.
    expect(dialog.get_by_label("Amount")).to_be_focused()
    dialog.get_by_label("Amount").fill("900")
    dialog.get_by_role("button", name="Log the deal").click()
    expect(dialog).to_contain_text("Deal logged")
    expect(page.locator("#board").get_by_role("link", name="Fresh one")).to_be_visible()
    assert page.evaluate("window.__marker") == 1


def test_bulk_mark_lost_with_confirmation(page, world):
    for title in ("First", "Second"):
        DealFactory(owner=world.ann, title=title)
    log_in(page, "nina", "pw")
    page.goto("/deals/")
    reason = page.get_by_label("Why were they lost?")
    expect(reason).to_be_hidden()  # only "Mark lost" asks for a reason
    page.get_by_label("Select every deal on this page").check()
    expect(page.get_by_label("Select First")).to_be_checked()
    page.get_by_label("With the selected deals").select_option("lost")
    expect(reason).to_be_visible()
    reason.select_option(label="Price")
    page.get_by_label("Note").fill("Budget cut")
    page.get_by_role("button", name="Apply…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mark 2 deals lost?")
    expect(page.get_by_text("Reason: Price (Budget cut)")).to_be_visible()
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator(".messages")).to_contain_text("2 deals marked lost.")
