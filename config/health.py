"""Health checks for load balancers and monitoring (docs/operations.md).

/healthz  liveness: the process answers. Touches nothing else, so a database
          outage never makes an orchestrator restart healthy web processes.
/readyz   readiness: the database, the cache and the Celery broker answer
          (503 otherwise), and how long ago the last nightly KPI run
          finished. A stale nightly run fails readiness only when
          HEALTH_NIGHTLY_MAX_HOURS is set (0, the default, reports it only).

Both are public (no login) and say nothing secret: check names, "ok" or the
error's class name, and the nightly run's age. Exempt from the HTTPS
redirect so a load balancer may probe over plain HTTP.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _cache() -> None:
    key = "healthz:probe"
    cache.set(key, "1", timeout=30)
    if cache.get(key) != "1":
        raise RuntimeError("the cache did not keep a value")


def _broker() -> None:
    from config.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=3)


CHECKS = {"database": _database, "cache": _cache, "broker": _broker}


def _nightly() -> dict:
    from kpis.models import RecomputeRun

    last = (
        RecomputeRun.objects.filter(kind=RecomputeRun.Kind.NIGHTLY, status=RecomputeRun.Status.DONE)
        .order_by("-finished_at")
        .values_list("finished_at", flat=True)
        .first()
    )
    if last is None:
        return {"status": "never", "age_hours": None}
    age = round((timezone.now() - last).total_seconds() / 3600, 1)
    limit = settings.HEALTH_NIGHTLY_MAX_HOURS
    return {"status": "stale" if limit and age > limit else "ok", "age_hours": age}


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, object] = {}
    ready = True
    for name, check in CHECKS.items():
        started = time.monotonic()
        try:
            check()
        except Exception as exc:  # any failure is "not ready", with its class name
            logger.warning("Readiness check %s failed: %r", name, exc)
            checks[name] = {"status": "error", "error": type(exc).__name__}
            ready = False
        else:
            checks[name] = {"status": "ok", "ms": round((time.monotonic() - started) * 1000, 1)}
    try:
        checks["nightly"] = _nightly()
    except Exception as exc:  # the database is down: already reported above
        checks["nightly"] = {"status": "error", "error": type(exc).__name__}
    if checks["nightly"].get("status") == "stale":
        ready = False
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )
