"""Issue 19: logins are throttled per account and per address (django-axes)."""

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def attempt(client, username, password):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_an_account_is_locked_after_the_limit_even_with_the_right_password(world, settings):
    settings.AXES_FAILURE_LIMIT = 3
    client = Client(REMOTE_ADDR="198.51.100.1")
    codes = [attempt(client, "ann", "wrong").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    response = attempt(client, "ann", "pw")  # the right one: still refused
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session
    # From another address too: the account is locked, not only the address.
    assert attempt(Client(REMOTE_ADDR="203.0.113.5"), "ann", "pw").status_code == 429
    # Another account from another address is not affected.
    assert attempt(Client(REMOTE_ADDR="203.0.113.6"), "bob", "pw").status_code == 302


def test_an_address_trying_many_accounts_is_locked(world, settings):
    settings.AXES_FAILURE_LIMIT = 3
    client = Client(REMOTE_ADDR="198.51.100.2")
    for name in ("a1", "a2", "a3"):
        attempt(client, name, "wrong")
    assert attempt(client, "bob", "pw").status_code == 429


def test_success_resets_and_admin_unlock_by_deleting_attempts(world, settings):
    settings.AXES_FAILURE_LIMIT = 3
    client = Client(REMOTE_ADDR="198.51.100.3")
    for _ in range(2):
        attempt(client, "ann", "wrong")
    assert attempt(client, "ann", "pw").status_code == 302  # reset on success
    client = Client(REMOTE_ADDR="198.51.100.3")
    for _ in range(3):
        attempt(client, "ann", "wrong")
    assert attempt(client, "ann", "pw").status_code == 429
    # The admin's unlock: Axes › Access attempts, delete.
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    staff = Client()
    staff.force_login(admin)
    assert staff.get(reverse("admin:axes_accessattempt_changelist")).status_code == 200
    AccessAttempt.objects.all().delete()
    assert attempt(client, "ann", "pw").status_code == 302


def test_numeric_passwords_are_still_refused():
    with pytest.raises(ValidationError):
        validate_password("83920174651")
