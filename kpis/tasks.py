"""Celery tasks: thin wrappers around kpis.compute (style: jobs are plain
functions; the task takes ids and is safe to run twice)."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterable

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import DatabaseError
from kombu.exceptions import OperationalError as BrokerError

from crm.models import today as company_today
from kpis import forecast
from kpis.compute import pending_months, recompute, refresh
from kpis.models import RUN_STALE_AFTER, JobLock, RecomputeRun

logger = logging.getLogger(__name__)

LOCK_NAME = "kpis.recompute"
SOFT_TIME_LIMIT = 30 * 60
HARD_TIME_LIMIT = SOFT_TIME_LIMIT + 5 * 60
# The lock outlives the hard limit a little, then frees itself if the worker
# died holding it.
LOCK_TTL = dt.timedelta(seconds=HARD_TIME_LIMIT + 60)
MAX_RETRIES = 3
assert RUN_STALE_AFTER.total_seconds() > HARD_TIME_LIMIT


def run_nightly(
    run: RecomputeRun,
    today: dt.date | None = None,
    full: bool = False,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    granularities: Iterable[str] | None = None,
) -> int:
    """Every recompute, whoever starts it (beat, the button, a command, an
    import, the demo loader): under one lock, reporting progress on `run`.

    The nightly run recomputes the current and previous periods and every
    dirty one; `full` (or a range) reads every month of the range from the
    raw tables again. Returns rows written, or -1 when another recompute holds
    the lock (the run is marked skipped)."""
    today = today or company_today()
    holder = uuid.uuid4().hex
    if not JobLock.acquire(LOCK_NAME, holder, LOCK_TTL):
        run.fail(
            "Another recompute was running; its figures are the current ones.",
            status=RecomputeRun.Status.SKIPPED,
        )
        return -1
    try:
        run.start()
        RecomputeRun.objects.filter(pk=run.pk).update(as_of=today)
        # Read before the recompute consumes them: closed periods they touch
        # get their forecast's actual revenue again.
        dirty = pending_months()
        everything = bool(full or start or end or granularities)
        if everything:
            kwargs = {"granularities": tuple(granularities)} if granularities else {}
            result = recompute(start, end, today=today, progress=run.report, **kwargs)
        else:
            result = refresh(today=today, progress=run.report)
        # Forecasts are their own rows (ForecastSnapshot), not counted here.
        forecast.store(today, dirty_months=dirty, all_actuals=everything)
        run.finish(result.rows, result.churned, result.message)
        return result.rows
    finally:
        JobLock.release(LOCK_NAME, holder)


def run_recorded(kind: str, *, requested_by=None, progress=None, **kwargs) -> RecomputeRun:
    """Run a recompute in this process, recorded like the button's (the KPI
    status page lists it). `progress` also receives each step."""
    run = RecomputeRun.objects.create(kind=kind, requested_by=requested_by)
    if progress is not None:
        report = run.report

        def both(done: int, total: int) -> None:
            report(done, total)
            progress(done, total)

        run.report = both
    try:
        run_nightly(run, **kwargs)
    except Exception as exc:
        run.fail(f"Failed: {exc}")
        raise
    run.refresh_from_db()
    return run


@shared_task(bind=True, soft_time_limit=SOFT_TIME_LIMIT, time_limit=HARD_TIME_LIMIT)
def nightly_recompute(self, run_id: int | None = None, full: bool = False) -> int:
    """The beat entry (02:00 company time), the "Recompute now" button, and
    the recompute after an import."""
    if run_id is None:
        run = RecomputeRun.objects.create(kind=RecomputeRun.Kind.NIGHTLY)
    else:
        run = RecomputeRun.objects.filter(pk=run_id).first()
        if run is None:
            logger.warning("Recompute run %s no longer exists; nothing to do.", run_id)
            return 0
    try:
        rows = run_nightly(run, full=full)
        if run.kind == RecomputeRun.Kind.NIGHTLY and rows >= 0:
            _raise_alerts(None)
        return rows
    except SoftTimeLimitExceeded:
        run.fail("Stopped: the recompute took longer than its time limit.")
        raise
    except DatabaseError as exc:
        # A lost connection or a deadlock: retry a bounded number of times,
        # waiting longer each time (30 s, 60 s, 120 s).
        if self.request.retries >= MAX_RETRIES:
            run.fail(f"Database error, gave up after {MAX_RETRIES} retries: {exc}")
            raise
        RecomputeRun.objects.filter(pk=run.pk).update(
            status=RecomputeRun.Status.QUEUED, message=f"Database error, retrying: {exc}"[:300]
        )
        raise self.retry(
            exc=exc, countdown=30 * 2**self.request.retries, args=[run.pk], kwargs={"full": full}
        ) from exc
    except Exception as exc:
        run.fail(f"Failed: {exc}")
        raise


def _raise_alerts(today: dt.date | None = None) -> None:
    """After the nightly figures: the alert rules (alerts.rules). A failing
    rule is logged, never a failed recompute: the figures are written."""
    from alerts.rules import raise_alerts

    try:
        raise_alerts(today)
    except Exception:
        logger.exception("Raising the alerts after the nightly recompute failed.")


def enqueue(run: RecomputeRun, full: bool = False) -> None:
    """Queue `run`; when the broker is down the run fails with a message
    instead of the page raising a 500."""
    try:
        nightly_recompute.delay(run.pk, full=full)
    except BrokerError as exc:
        logger.exception("Could not enqueue KPI recompute %s", run.pk)
        run.fail(f"Could not reach the task queue: {exc}")
