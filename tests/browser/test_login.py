import re

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_demo_salesperson_logs_in_and_lands_on_home(page, screenshot):
    call_command("seed_demo", "--today", "2026-06-15", verbosity=0, stdout=open("/dev/null", "w"))
    log_in(page, "alice", "boussole")
    expect(page).not_to_have_url(re.compile(r"/login/"))
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    expect(page.locator(".user-menu")).to_contain_text("Alice")
    screenshot(page, "login-home")


def test_wrong_password_stays_on_login_with_an_error(page, db):
    log_in(page, "nobody", "wrong", succeeds=False)
    # Polled: the alert exists only once the POST's answer has loaded.
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/login/"))
