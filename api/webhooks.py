"""Webhooks: queue an event for the endpoints that want it, sign and send it.

`emit()` runs inside the writer's transaction and only records deliveries;
Celery sends them once that transaction commits (a rolled-back change
sends nothing). Each delivery is tried at once, then again on the
WEBHOOK_RETRY_DELAYS schedule (about a day) until the endpoint answers 2xx;
every attempt is logged for the webhook's page. docs/api.md documents the
payload and how to check the signature.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from api.models import Event, Webhook, WebhookAttempt, WebhookDelivery

SIGNATURE_HEADER = "Boussole-Signature"
# While an attempt runs, the delivery is leased for this long: a worker that
# dies mid-request leaves it to the retry sweep after that.
LEASE = dt.timedelta(minutes=5)
USER_AGENT = "Boussole-Webhooks/1"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def validate_webhook_url(url: str) -> None:
    """HTTPS only; plain HTTP is accepted for this machine (127.0.0.1, ::1,
    localhost), where nothing travels over a network."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and is_loopback(parts.hostname or ""):
        return
    raise ValidationError(_("Use an https:// address (plain http only for this machine)."), code="https")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def _json(data) -> object:
    # Decimals, dates and lazy strings become plain JSON values.
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def subscribers_of(events: list[str]) -> list[Webhook]:
    # A handful of rows: filtering the JSON list in Python works on every database.
    return [w for w in Webhook.objects.filter(is_active=True) if set(events) & set(w.events)]


def subscribers(event: str) -> list[Webhook]:
    return subscribers_of([event])


def emit(event: str, data, *, webhooks: list[Webhook] | None = None, is_test: bool = False) -> list:
    """Record a delivery of `event` for each active webhook that wants it, and
    send them after the current transaction commits. `data` may be a callable,
    called only when some webhook wants the event."""
    return emit_many(event, [data], webhooks=webhooks, is_test=is_test)


def emit_many(
    event: str, items: list, *, webhooks: list[Webhook] | None = None, is_test: bool = False
) -> list:
    """emit() for several occurrences of one event at once (e.g. the alerts a
    nightly run raised): one delivery per occurrence and webhook, written in
    one query."""
    if webhooks is None:
        webhooks = subscribers(event)
    if not webhooks or not items:
        return []
    now = timezone.now()
    deliveries = []
    for data in items:
        body = _json(data() if callable(data) else data)
        for webhook in webhooks:
            delivery = WebhookDelivery(
                webhook=webhook, event=event, is_test=is_test, next_attempt_at=now, created_at=now
            )
            delivery.payload = {
                "id": str(delivery.uuid),
                "event": event,
                "created_at": now.isoformat(),
                "test": is_test,
                "data": body,
            }
            deliveries.append(delivery)
    WebhookDelivery.objects.bulk_create(deliveries)
    ids = [d.pk for d in deliveries]

    def send():
        from api import tasks

        for pk in ids:
            tasks.deliver_webhook.delay(pk)

    # robust: a broker outage must not fail the user's write; the retry
    # sweep picks the pending deliveries up.
    transaction.on_commit(send, robust=True)
    return deliveries


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A webhook answers where it was registered; a redirect is a failure.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def claim(delivery_id: int, now: dt.datetime | None = None) -> WebhookDelivery | None:
    """Take a due delivery for one attempt (one conditional UPDATE, so two
    workers never send the same attempt)."""
    now = now or timezone.now()
    taken = WebhookDelivery.objects.filter(
        pk=delivery_id,
        status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.RETRYING],
        next_attempt_at__lte=now,
    ).update(next_attempt_at=now + LEASE)
    if not taken:
        return None
    return WebhookDelivery.objects.select_related("webhook").get(pk=delivery_id)


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str, str]:
    """POST body; (status code, response excerpt, error)."""
    validate_webhook_url(url)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as response:
            return response.status, response.read(500).decode(errors="replace"), ""
    except urllib.error.HTTPError as exc:
        excerpt = exc.read(500).decode(errors="replace") if exc.fp else ""
        return exc.code, excerpt, ""
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, "", str(reason)[:300] or exc.__class__.__name__


def attempt(delivery: WebhookDelivery) -> WebhookAttempt:
    """Send a claimed delivery once, log the attempt, schedule what follows."""
    webhook = delivery.webhook
    number = delivery.attempt_count + 1
    started = time.monotonic()
    if not webhook.is_active and not delivery.is_test:
        status, excerpt, error = None, "", _("The webhook is disabled.")
    else:
        body = json.dumps(delivery.payload, separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Boussole-Event": delivery.event,
            "Boussole-Delivery": str(delivery.uuid),
            SIGNATURE_HEADER: f"t={timestamp},v1={sign(webhook.secret, timestamp, body)}",
        }
        try:
            status, excerpt, error = post(webhook.url, body, headers)
        except ValidationError as exc:
            status, excerpt, error = None, "", " ".join(exc.messages)
    record = WebhookAttempt.objects.create(
        delivery=delivery,
        number=number,
        status_code=status,
        error=error[:300],
        response_body=excerpt[:500],
        duration_ms=int((time.monotonic() - started) * 1000),
    )
    delays = settings.WEBHOOK_RETRY_DELAYS
    delivery.attempt_count = number
    if record.ok:
        delivery.status, delivery.next_attempt_at = WebhookDelivery.Status.SUCCEEDED, None
    elif number <= len(delays) and webhook.is_active and not delivery.is_test:
        delivery.status = WebhookDelivery.Status.RETRYING
        delivery.next_attempt_at = timezone.now() + dt.timedelta(seconds=delays[number - 1])
    else:
        # A test send is tried once: its result is what the admin wants to see.
        delivery.status, delivery.next_attempt_at = WebhookDelivery.Status.FAILED, None
    delivery.save(update_fields=["attempt_count", "status", "next_attempt_at"])
    return record


def deliver(delivery_id: int) -> WebhookAttempt | None:
    """One attempt at a delivery if it is due (safe to call twice)."""
    delivery = claim(delivery_id)
    return attempt(delivery) if delivery else None


def due_deliveries(now: dt.datetime | None = None, limit: int = 200) -> list[int]:
    now = now or timezone.now()
    return list(
        WebhookDelivery.objects.filter(
            status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.RETRYING],
            next_attempt_at__lte=now,
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


# What a test send carries: the shape of each event's real payload.
def sample_data(event: str) -> dict:
    deal = {
        "id": 0, "external_ref": "bsl-test", "title": "Test deal", "stage": "won", "amount": "1000.00",
        "owner": 0, "team": None, "customer": None, "prospect": None, "product": None,
        "opened_on": "2025-01-01", "expected_close_on": None, "closed_on": "2025-02-01",
        "lost_reason": None, "lost_note": "",
        "created_at": "2025-01-01T09:00:00Z", "updated_at": "2025-02-01T09:00:00Z",
    }  # fmt: skip
    if event in (Event.DEAL_WON, Event.DEAL_LOST, Event.DEAL_STAGE_CHANGED):
        stage = {"deal.won": "won", "deal.lost": "lost"}.get(event, "proposal")
        return {
            "deal": {**deal, "stage": stage, "lost_reason": "price" if stage == "lost" else None},
            "from_stage": "negotiation" if stage != "proposal" else "qualification",
            "to_stage": stage,
            "changed_by": None,
        }
    if event == Event.PROSPECT_CONVERTED:
        return {
            "prospect": {"id": 0, "name": "Test prospect", "status": "converted"},
            "customer": 0,
            "deal": 0,
        }
    if event == Event.SURVEY_RESPONSE_RECEIVED:
        return {"response": {"id": 0, "customer": 0, "deal": None, "nps_score": 9, "csat_score": 5}}
    return sample_alert()


def sample_alert() -> dict:
    """alert.raised's test payload: a made-up alert through the real payload code."""
    from alerts.models import Alert, Rule
    from api.signals import alert_payload

    night = dt.datetime(2025, 2, 1, 2, 0, tzinfo=dt.UTC)
    alert = Alert(
        id=0, rule=Rule.BAND, key="test", kpi="win_rate", scope_type="team", scope_id=0, subject="Test team",
        granularity="month", period_start=dt.date(2025, 1, 1),
        why={"value": "12.5", "low": "30", "high": "55", "median": "42", "points": 12, "direction": "down"},
        first_seen=night, last_seen=night,
    )  # fmt: skip
    return alert_payload(alert)
