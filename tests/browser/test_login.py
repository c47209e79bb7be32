import pytest

from tests.browser.conftest import log_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_salesperson_logs_in_and_lands_on_home(page, screenshot):
    UserFactory(username="ana", first_name="Ana")
    log_in(page, "ana", "pw")
    page.wait_for_url("**/")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Welcome, Ana")
    screenshot(page, "login-home")
