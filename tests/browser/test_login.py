import pytest
from django.core.management import call_command

from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_demo_salesperson_logs_in_and_lands_on_home(page, screenshot):
    call_command("seed_demo", "--today", "2026-06-15", verbosity=0, stdout=open("/dev/null", "w"))
    log_in(page, "alice", "boussole")
    page.wait_for_load_state()
    assert "/login/" not in page.url
    assert page.get_by_role("navigation", name="Main").is_visible()
    assert "Alice" in page.locator(".user-menu").inner_text()
    screenshot(page, "login-home")


def test_wrong_password_stays_on_login_with_an_error(page, db):
    log_in(page, "nobody", "wrong")
    assert "/login/" in page.url
    assert page.get_by_role("alert").is_visible()
