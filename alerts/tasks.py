"""Celery tasks: thin wrappers around alerts.digest (ids in, safe twice)."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.conf import settings

from alerts import digest


@shared_task
def weekly_digest() -> int:
    """The beat entry, Monday 07:00 company time: one task per recipient."""
    return digest.queue_weekly()


# Throttled: Celery spaces the sends out (per worker), so a large staff does
# not hit the mail server in one burst.
@shared_task(rate_limit=settings.DIGEST_RATE_LIMIT, autoretry_for=(OSError,), retry_backoff=60, max_retries=3)
def send_weekly_digest(user_id: int, week: str) -> bool:
    return digest.send_digest(user_id, dt.date.fromisoformat(week))
