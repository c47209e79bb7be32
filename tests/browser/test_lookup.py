"""Search-as-you-type: typing fills the suggestions, a suggestion saves."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in
from tests.factories import CustomerFactory, TeamFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_typing_suggests_customers_and_a_suggestion_logs_the_deal(page):
    ana = UserFactory(username="ana", first_name="Ana", team=TeamFactory(name="North"))
    acme = CustomerFactory(name="Acme Tools", owner=ana)
    for n in range(30):
        CustomerFactory(name=f"Other {n}", owner=ana)
    log_in(page, "ana", "pw")
    page.wait_for_url("**/")
    page.goto("/deals/new/")
    customer = page.get_by_role("combobox", name="Customer")
    customer.press_sequentially("acm")
    suggestions = page.locator("#id_customer-options option")
    expect(suggestions).to_have_count(1)
    expect(suggestions.first).to_have_attribute("value", f"Acme Tools (#{acme.pk})")
    customer.fill(f"Acme Tools (#{acme.pk})")
    page.get_by_label("Title").fill("Tooling")
    page.get_by_label("Amount").fill("900")
    page.get_by_role("button", name="Log the deal").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Tooling")
    expect(page.get_by_role("link", name="Acme Tools")).to_be_visible()
