"""The API tokens page: create (shown once), list, revoke."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from api.models import ApiToken, hash_token


def test_a_new_token_is_shown_once_and_works(world, login, client):
    page = login(world.ann).post(reverse("api_tokens"), {"name": "BI dashboard", "expires": "30"})
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"] or "no-cache" in page["Cache-Control"]
    raw = re.search(r'value="(bsl_[^"]+)"', page.content.decode()).group(1)
    token = ApiToken.objects.get(user=world.ann)
    assert token.key_hash == hash_token(raw) and token.name == "BI dashboard"
    assert token.expires_at.date() == (timezone.now() + dt.timedelta(days=30)).date()
    again = client.get(reverse("api_tokens")).content.decode()
    assert raw not in again and "BI dashboard" in again and token.prefix in again
    client.logout()
    assert client.get("/api/v1/me/", headers={"authorization": f"Bearer {raw}"}).json()["id"] == world.ann.pk


def test_names_are_required_and_unique_per_person(world, login):
    client = login(world.ann)
    client.post(reverse("api_tokens"), {"name": "Script"})
    twice = client.post(reverse("api_tokens"), {"name": "Script"})
    assert twice.status_code == 400 and ApiToken.objects.count() == 1
    assert "already have a token" in twice.content.decode()
    assert client.post(reverse("api_tokens"), {"name": "  "}).status_code == 400
    login(world.bob).post(reverse("api_tokens"), {"name": "Script"})
    assert ApiToken.objects.count() == 2


def test_revoking_is_for_the_tokens_owner(world, login):
    token, raw = ApiToken.issue(world.ann, "Script")
    assert login(world.nina).post(reverse("api_token_revoke", args=[token.pk])).status_code == 404
    assert login(world.ann).post(reverse("api_token_revoke", args=[token.pk])).status_code == 302
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("method", ["get"])
def test_revoke_is_post_only_and_the_page_needs_a_login(world, login, client, method):
    token, _raw = ApiToken.issue(world.ann, "Script")
    assert client.get(reverse("api_tokens")).status_code == 302
    assert login(world.ann).get(reverse("api_token_revoke", args=[token.pk])).status_code == 405


def test_expired_tokens_say_so(world, login):
    ApiToken.issue(world.ann, "Old", expires_at=timezone.now() - dt.timedelta(days=1))
    assert "Expired" in login(world.ann).get(reverse("api_tokens")).content.decode()
