"""Webhooks: registered by admins, sent after commit, signed, retried, logged.

Deliveries go to a real HTTP server on 127.0.0.1 started by the test.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from alerts import rules
from alerts.models import Alert
from api import tasks, webhooks
from api.models import Event, Webhook, WebhookDelivery
from api.views_alerts import AlertSerializer
from config.celery import app
from crm.models import Stage
from surveys.models import Response
from tests.factories import DealFactory, InvitationFactory, ProspectFactory


class Receiver:
    """A local endpoint: records each request; answers the given statuses in turn."""

    def __init__(self):
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status < 400 else b"nope")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def payloads(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests]


@pytest.fixture
def receiver():
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def eager():
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def hook(receiver, *events, **kwargs) -> Webhook:
    return Webhook.objects.create(url=receiver.url, events=list(events or Event.values), **kwargs)


def test_a_won_deal_is_sent_after_commit_and_signed(
    world, api_as, receiver, eager, django_capture_on_commit_callbacks
):
    webhook = hook(receiver, Event.DEAL_WON, Event.DEAL_STAGE_CHANGED)
    deal = DealFactory(owner=world.ann, opened_on=dt.date(2025, 1, 1))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        api_as(world.ann).post(f"/api/v1/deals/{deal.pk}/won/", {"amount": "100", "closed_on": "2025-02-01"})
    assert receiver.requests == []  # nothing leaves before the transaction commits
    for callback in callbacks:
        callback()
    events = sorted(p["event"] for p in receiver.payloads())
    assert events == ["deal.stage_changed", "deal.won"]
    sent = receiver.requests[0]
    payload = json.loads(sent["body"])
    assert payload["data"]["deal"]["id"] == deal.pk and payload["data"]["to_stage"] == "won"
    timestamp, signature = (
        part.split("=", 1)[1] for part in sent["headers"]["Boussole-Signature"].split(",")
    )
    expected = hmac.new(webhook.secret.encode(), f"{timestamp}.".encode() + sent["body"], hashlib.sha256)
    assert hmac.compare_digest(signature, expected.hexdigest())
    assert sent["headers"]["Boussole-Event"] == payload["event"]
    assert sent["headers"]["Boussole-Delivery"] == payload["id"]
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"succeeded"}


def test_a_rolled_back_change_sends_nothing(world, receiver, eager, django_capture_on_commit_callbacks):
    hook(receiver, Event.DEAL_LOST)
    deal = DealFactory(owner=world.ann, opened_on=dt.date(2025, 1, 1))
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError):
            from django.db import transaction

            with transaction.atomic():
                deal.mark_lost("Price", dt.date(2025, 2, 1))
                raise RuntimeError
    assert receiver.requests == [] and not WebhookDelivery.objects.exists()


def test_conversions_and_survey_answers_fire_their_events(
    world, receiver, eager, django_capture_on_commit_callbacks, api_as
):
    hook(receiver, Event.PROSPECT_CONVERTED, Event.SURVEY_RESPONSE_RECEIVED)
    prospect = ProspectFactory(owner=world.ann)
    invitation = InvitationFactory(customer__owner=world.ann)
    with django_capture_on_commit_callbacks(execute=True):
        api_as(world.ann).post(
            f"/api/v1/prospects/{prospect.pk}/convert/",
            {"mode": "new", "customer_name": "Acme", "deal_title": "Acme"},
        )
        invitation.answer(nps_score=10, csat_score=5)
    payloads = {p["event"]: p["data"] for p in receiver.payloads()}
    assert payloads["prospect.converted"]["prospect"]["id"] == prospect.pk
    assert payloads["survey.response_received"]["response"]["id"] == Response.objects.get().pk


def _findings(world, *keys):
    """A rule that finds, today, the given conditions (North's revenue, Ann's…)."""
    which = {
        "north": dict(scope_type="team", scope_id=world.north.pk, team_id=world.north.pk, subject="North"),
        "ann": dict(
            scope_type="rep",
            scope_id=world.ann.pk,
            team_id=world.north.pk,
            user_id=world.ann.pk,
            subject="Ann",
        ),
    }
    why = {"value": "10", "low": "900", "high": "1100", "median": "1000", "points": 12, "direction": "down"}
    return lambda today, names: [
        rules.Finding(
            rule="band",
            key=f"band:revenue:{k}",
            period_start=dt.date(2026, 11, 1),
            kpi="revenue",
            why=why,
            **which[k],
        )  # fmt: skip
        for k in keys
    ]


def test_a_new_alert_is_sent_after_the_nightly_run_commits(
    world, receiver, eager, django_capture_on_commit_callbacks, monkeypatch, settings
):
    settings.SITE_URL = "https://crm.example.com"
    webhook = hook(receiver, Event.ALERT_RAISED)
    hook(receiver, Event.DEAL_WON)  # not subscribed: gets nothing
    monkeypatch.setattr(rules, "RULES", (_findings(world, "north", "ann"),))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert rules.raise_alerts(dt.date(2026, 12, 1))["raised"] == 2
    assert receiver.requests == []  # nothing leaves before the run commits
    for callback in callbacks:
        callback()
    payloads = receiver.payloads()
    assert {p["event"] for p in payloads} == {"alert.raised"} and len(payloads) == 2
    by_key = {p["data"]["alert"]["id"]: p for p in payloads}
    ann = Alert.objects.get(key="band:revenue:ann")
    sent = by_key[ann.pk]
    alert = sent["data"]["alert"]
    assert (alert["rule"], alert["kpi"], alert["scope_type"], alert["scope_id"]) == (
        "band", "revenue", "rep", world.ann.pk,
    )  # fmt: skip
    assert (alert["team"], alert["user"], alert["is_open"]) == (world.north.pk, world.ann.pk, True)
    assert "below its usual band" in alert["message"] and "Ann" in alert["title"]
    assert sent["data"]["url"] == "https://crm.example.com" + alert["link"]
    assert set(alert) == set(AlertSerializer.Meta.fields)
    request = next(r for r in receiver.requests if json.loads(r["body"])["id"] == sent["id"])
    timestamp, signature = (
        part.split("=", 1)[1] for part in request["headers"]["Boussole-Signature"].split(",")
    )
    expected = hmac.new(webhook.secret.encode(), f"{timestamp}.".encode() + request["body"], hashlib.sha256)
    assert hmac.compare_digest(signature, expected.hexdigest())
    assert request["headers"]["Boussole-Event"] == "alert.raised"
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"succeeded"}


def test_an_alert_is_sent_once_while_it_holds_and_again_when_it_comes_back(
    world, receiver, eager, django_capture_on_commit_callbacks, monkeypatch
):
    hook(receiver, Event.ALERT_RAISED)
    today = dt.date(2026, 12, 1)

    def run(*keys):
        monkeypatch.setattr(rules, "RULES", (_findings(world, *keys),))
        with django_capture_on_commit_callbacks(execute=True):
            return rules.raise_alerts(today)

    run("north")
    run("north", "ann")  # North's still holds (refreshed), Ann's is new
    run("ann")  # North's is resolved: nothing is sent for that
    run("north", "ann")  # North's is back: a new alert
    keys = [Alert.objects.get(pk=p["data"]["alert"]["id"]).key for p in receiver.payloads()]
    assert keys == ["band:revenue:north", "band:revenue:ann", "band:revenue:north"]
    assert len({p["data"]["alert"]["id"] for p in receiver.payloads()}) == 3


def test_a_run_without_subscribers_writes_no_delivery(world, receiver, monkeypatch):
    hook(receiver, Event.DEAL_WON)
    monkeypatch.setattr(rules, "RULES", (_findings(world, "north", "ann"),))
    rules.raise_alerts(dt.date(2026, 12, 1))
    assert Alert.objects.count() == 2 and not WebhookDelivery.objects.exists()


def test_unsubscribed_and_disabled_webhooks_get_nothing(
    world, receiver, eager, django_capture_on_commit_callbacks
):
    hook(receiver, Event.DEAL_LOST)
    hook(receiver, Event.DEAL_WON, is_active=False)
    deal = DealFactory(owner=world.ann, opened_on=dt.date(2025, 1, 1))
    with django_capture_on_commit_callbacks(execute=True):
        deal.mark_won(10, dt.date(2025, 2, 1))
    assert receiver.requests == []


def test_a_failing_endpoint_is_retried_with_backoff_then_given_up(world, receiver, settings):
    settings.WEBHOOK_RETRY_DELAYS = [60, 300]
    webhook = hook(receiver, Event.DEAL_WON)
    receiver.statuses = [500, 503, 500]
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        (delivery,) = webhooks.emit(Event.DEAL_WON, {"deal": {"id": 1}}, webhooks=[webhook])
        webhooks.deliver(delivery.pk)
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempt_count) == ("retrying", 1)
        assert delivery.next_attempt_at == start + dt.timedelta(seconds=60)
        assert tasks.retry_due_deliveries() == 0  # not due yet
        clock.shift(61)
        assert tasks.retry_due_deliveries() == 1
        delivery.refresh_from_db()
        assert delivery.next_attempt_at == start + dt.timedelta(seconds=61 + 300)
        clock.shift(301)
        tasks.retry_due_deliveries()
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempt_count, delivery.next_attempt_at) == ("failed", 3, None)
        clock.shift(3600)
        assert tasks.retry_due_deliveries() == 0
    attempts = list(delivery.attempts.values_list("number", "status_code", "response_body"))
    assert attempts == [(1, 500, "nope"), (2, 503, "nope"), (3, 500, "nope")]
    assert len(receiver.requests) == 3


def test_an_unreachable_endpoint_is_logged_and_a_delivery_is_sent_once(world, receiver):
    webhook = hook(receiver, Event.DEAL_WON)
    webhook.url = "http://127.0.0.1:9/closed"
    webhook.save()
    (delivery,) = webhooks.emit(Event.DEAL_WON, {}, webhooks=[webhook])
    attempt = webhooks.deliver(delivery.pk)
    assert attempt.status_code is None and attempt.error
    # A second worker taking the same task finds it leased: no second request.
    assert webhooks.deliver(delivery.pk) is None


def test_a_redirect_is_a_failure(world, receiver):
    receiver.statuses = [302]
    webhook = hook(receiver, Event.DEAL_WON)
    (delivery,) = webhooks.emit(Event.DEAL_WON, {}, webhooks=[webhook])
    assert webhooks.deliver(delivery.pk).status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == "retrying"


# ---------------------------------------------------------------- the pages


@pytest.mark.parametrize("who", ["ann", "nina"])
def test_webhooks_are_for_admins(world, login, who):
    client = login(getattr(world, who))
    assert client.get(reverse("webhook_list")).status_code == 403
    assert client.get(reverse("webhook_create")).status_code == 403


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://hooks.example.com/boussole", True),
        ("http://hooks.example.com/boussole", False),
        ("http://127.0.0.1:8080/hook", True),
        ("http://[::1]:8080/hook", True),
        ("http://localhost/hook", True),
        ("ftp://example.com/", False),
    ],
)
def test_only_https_or_this_machine(world, login, url, ok):
    response = login(world.admin).post(
        reverse("webhook_create"), {"url": url, "events": ["deal.won"], "is_active": "on"}
    )
    assert Webhook.objects.filter(url=url).exists() is ok
    assert response.status_code == (302 if ok else 200)


def test_the_webhook_page_test_sends_and_shows_every_attempt(
    world, login, receiver, eager, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    client = login(world.admin)
    client.post(reverse("webhook_create"), {"url": receiver.url, "events": ["deal.won"], "is_active": "on"})
    webhook = Webhook.objects.get()
    receiver.statuses = [500]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("webhook_test", args=[webhook.pk]), {"event": "alert.raised"})
    assert response.status_code == 302
    (payload,) = receiver.payloads()
    assert (payload["event"], payload["test"]) == ("alert.raised", True)
    assert payload["data"]["alert"]["kpi"] == "win_rate"
    # A test send has the shape of a real one.
    assert set(payload["data"]) == {"alert", "url"}
    assert set(payload["data"]["alert"]) == set(AlertSerializer.Meta.fields)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed"  # a test send is tried once
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("webhook_resend", args=[webhook.pk, delivery.pk]))
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == ("succeeded", 2)
    # Session, user, webhook, deliveries, their attempts.
    with django_assert_max_num_queries(6):
        page = client.get(reverse("webhook_detail", args=[webhook.pk])).content.decode()
    assert "HTTP 500" in page and "HTTP 200" in page and "alert.raised" in page
    assert webhook.secret in page


def test_editing_deleting_and_a_new_secret(world, login, receiver):
    client = login(world.admin)
    webhook = hook(receiver, Event.DEAL_WON)
    old = webhook.secret
    client.post(reverse("webhook_rotate_secret", args=[webhook.pk]))
    webhook.refresh_from_db()
    assert webhook.secret != old and webhook.secret.startswith("whsec_")
    client.post(reverse("webhook_edit", args=[webhook.pk]), {"url": receiver.url, "events": ["deal.lost"]})
    webhook.refresh_from_db()
    assert (webhook.events, webhook.is_active) == (["deal.lost"], False)
    assert client.post(reverse("webhook_delete", args=[webhook.pk])).status_code == 302
    assert not Webhook.objects.exists()
    assert client.get(reverse("webhook_detail", args=[webhook.pk])).status_code == 404


def test_imports_fire_no_events(world, receiver, tmp_path, eager, django_capture_on_commit_callbacks):
    from crm import importing

    hook(receiver)
    (tmp_path / "deals.csv").write_text(
        "external_ref,owner,stage,amount,opened_on,closed_on\nX1,ann,won,5,2025-01-01,2025-01-02\n"
    )
    with django_capture_on_commit_callbacks(execute=True):
        plan, result = importing.import_directory(tmp_path, importing.GENERIC)
    assert result is not None and receiver.requests == []
    assert Stage.WON == "won"
