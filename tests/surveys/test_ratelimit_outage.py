"""Issue 19: a cache outage never loses a survey answer, and customers who
share one address (an office NAT, a proxy) are not refused."""

import logging
from unittest import mock

import pytest
from django.core.cache import caches
from django.test import Client, override_settings
from django.urls import reverse

from surveys import ratelimit
from surveys.models import Response
from tests.surveys.factories import SentInvitationFactory

ANSWER = {"nps_score": "9", "csat_score": "4", "comment": "Fine."}


def url(invitation) -> str:
    return reverse("survey_answer", args=[invitation.token])


@pytest.fixture
def invitation(world):
    return SentInvitationFactory(customer__owner=world.ann)


def test_answer_is_stored_when_the_cache_raises(client, invitation, caplog):
    class Down(Exception):
        pass

    # Whatever the backend (locmem here, Redis in CI): every call raises.
    with (
        mock.patch.object(ratelimit, "_redis_client", return_value=None),
        mock.patch.object(caches["default"], "add", side_effect=Down("cache down")),
        mock.patch.object(caches["default"], "incr", side_effect=Down("cache down")),
        caplog.at_level(logging.WARNING, logger="surveys.ratelimit"),
    ):
        response = client.post(url(invitation), ANSWER)
    assert response.status_code == 200
    assert Response.objects.filter(invitation=invitation, nps_score=9).exists()
    assert "request allowed" in caplog.text and "cache down" in caplog.text


REDIS_CLOSED_PORT = {
    "default": {
        # Nothing listens on port 1: every cache call fails as with Redis stopped.
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}


def test_answer_is_stored_with_redis_unreachable(invitation, caplog):
    pytest.importorskip("redis")
    # override_settings resets Django's cache handler: caches["default"] is Redis here.
    with override_settings(CACHES=REDIS_CLOSED_PORT):
        assert ratelimit._redis_client("k") is not None  # the Redis path really runs
        with caplog.at_level(logging.WARNING, logger="surveys.ratelimit"):
            response = Client().post(url(invitation), ANSWER)
    assert response.status_code == 200
    assert Response.objects.filter(invitation=invitation).exists()
    assert "request allowed" in caplog.text


def test_thirty_customers_behind_one_address_all_answer(world):
    invitations = SentInvitationFactory.create_batch(30, customer__owner=world.ann)
    nat = Client(REMOTE_ADDR="198.51.100.7")
    codes = [nat.post(url(i), ANSWER).status_code for i in invitations]
    assert codes == [200] * 30
    assert Response.objects.count() == 30


def test_one_link_retried_too_often_is_limited(client, invitation, settings):
    settings.SURVEY_RATE_LIMIT_PER_TOKEN = 3
    invalid = {"nps_score": "", "csat_score": ""}
    codes = [client.post(url(invitation), invalid).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    # Another link from the same address is not affected.
    other = SentInvitationFactory(customer__owner=invitation.customer.owner)
    assert client.post(url(other), ANSWER).status_code == 200
