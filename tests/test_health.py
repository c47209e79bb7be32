"""Issue 19: /healthz and /readyz for load balancers."""

import datetime as dt
from unittest import mock

import pytest
from django.test import override_settings
from django.utils import timezone

from kpis.models import RecomputeRun

pytestmark = pytest.mark.django_db


def test_healthz_is_public_and_touches_nothing(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz/")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_readyz_checks_database_cache_and_broker(client):
    response = client.get("/readyz/")
    assert response.status_code == 200, response.json()
    checks = response.json()["checks"]
    assert {checks[n]["status"] for n in ("database", "cache", "broker")} == {"ok"}
    assert checks["nightly"] == {"status": "never", "age_hours": None}


def test_readyz_is_503_when_the_cache_is_down(client):
    closed = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        }
    }
    with override_settings(CACHES=closed):
        response = client.get("/readyz/")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["checks"]["cache"]["status"] == "error"
    assert body["checks"]["database"]["status"] == "ok"


def test_readyz_is_503_when_the_broker_is_down(client):
    from config.celery import app

    before = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # a broker that does not answer
    try:
        response = client.get("/readyz/")
    finally:
        app.conf.broker_url = before
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["status"] == "error"
    with mock.patch.dict("config.health.CHECKS", {"broker": mock.Mock(side_effect=ConnectionRefusedError)}):
        response = client.get("/readyz/")
    assert response.json()["checks"]["broker"] == {"status": "error", "error": "ConnectionRefusedError"}


def test_readyz_reports_the_nightly_runs_age_and_fails_when_stale_if_asked(client, settings):
    run = RecomputeRun.objects.create(kind=RecomputeRun.Kind.NIGHTLY, status=RecomputeRun.Status.DONE)
    RecomputeRun.objects.filter(pk=run.pk).update(finished_at=timezone.now() - dt.timedelta(hours=30))
    response = client.get("/readyz/")
    assert response.status_code == 200 and response.json()["checks"]["nightly"]["age_hours"] == 30.0
    settings.HEALTH_NIGHTLY_MAX_HOURS = 26
    response = client.get("/readyz/")
    assert response.status_code == 503 and response.json()["checks"]["nightly"]["status"] == "stale"


def test_health_checks_are_exempt_from_the_https_redirect(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz/").status_code == 200
    assert client.get("/readyz/").status_code in (200, 503)
    assert client.get("/login/").status_code == 301
