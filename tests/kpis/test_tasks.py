"""The nightly Celery task: churn rule, current and previous periods, a lock,
bounded retries, time limits; and a real worker when Redis is available."""

import datetime as dt
import os
import subprocess
import sys
import time
from decimal import Decimal

import pytest
from celery.schedules import crontab
from django.conf import settings
from django.db import OperationalError, connection
from django.utils import timezone

from crm.models import Customer
from kpis import tasks
from kpis.compute import current_and_previous
from kpis.models import JobLock, KpiSnapshot, RecomputeRun
from tests.factories import CustomerFactory
from tests.kpis.factories import won

pytestmark = pytest.mark.django_db


def test_nightly_plan_is_current_and_previous_period_of_each_granularity():
    assert current_and_previous(dt.date(2025, 1, 15)) == {
        "month": [dt.date(2024, 12, 1), dt.date(2025, 1, 1)],
        "quarter": [dt.date(2024, 10, 1), dt.date(2025, 1, 1)],
        "year": [dt.date(2024, 1, 1), dt.date(2025, 1, 1)],
    }


def test_beat_runs_the_task_nightly_at_two():
    entry = settings.CELERY_BEAT_SCHEDULE["kpis-nightly-recompute"]
    assert entry["task"] == tasks.nightly_recompute.name == "kpis.tasks.nightly_recompute"
    assert entry["schedule"] == crontab(hour=2, minute=0)
    assert settings.CELERY_TIMEZONE == settings.TIME_ZONE


def test_task_has_time_limits():
    assert tasks.nightly_recompute.soft_time_limit == tasks.SOFT_TIME_LIMIT
    assert tasks.nightly_recompute.time_limit > tasks.nightly_recompute.soft_time_limit
    assert tasks.LOCK_TTL.total_seconds() > tasks.HARD_TIME_LIMIT


def test_run_applies_the_churn_rule_then_recomputes(world):
    today = dt.date(2025, 1, 15)
    customer = CustomerFactory(owner=world.ann)
    won(world.ann, "100", dt.date(2023, 1, 1), dt.date(2023, 1, 2), customer=customer)
    won(world.bob, "250", dt.date(2025, 1, 1), dt.date(2025, 1, 3))
    Customer.objects.filter(pk=customer.pk).update(acquired_on=dt.date(2023, 1, 2))
    run = RecomputeRun.objects.create(requested_by=world.nina)
    written = tasks.run_nightly(run, today=today)
    run.refresh_from_db()
    assert run.status == RecomputeRun.Status.DONE
    assert (run.progress, run.rows_written, run.churned) == (100, written, 1)
    assert run.started_at and run.finished_at
    customer.refresh_from_db()
    assert customer.churned_on == dt.date(2024, 1, 2)
    periods = set(KpiSnapshot.objects.values_list("granularity", "period_start").distinct())
    assert periods >= {(g, s) for g, starts in current_and_previous(today).items() for s in starts}
    # No month's facts were stored yet: the first run read every month with data once.
    assert ("month", dt.date(2023, 1, 1)) in periods
    revenue = KpiSnapshot.objects.get(
        kpi="revenue", scope_type="company", granularity="month", period_start=dt.date(2025, 1, 1)
    )
    assert revenue.value == Decimal("250")


def test_full_run_after_an_import_recomputes_every_period_with_data(world):
    won(world.ann, "100", dt.date(2023, 3, 1), dt.date(2023, 3, 2))
    won(world.bob, "250", dt.date(2025, 1, 1), dt.date(2025, 1, 3))
    tasks.run_nightly(RecomputeRun.objects.create(), today=dt.date(2025, 1, 15), full=True)
    old = KpiSnapshot.objects.get(
        kpi="revenue", scope_type="company", granularity="month", period_start=dt.date(2023, 3, 1)
    )
    assert old.value == Decimal("100")


def test_running_twice_gives_the_same_rows(world):
    won(world.bob, "250", dt.date(2025, 1, 1), dt.date(2025, 1, 3))
    today = dt.date(2025, 1, 15)
    tasks.run_nightly(RecomputeRun.objects.create(), today=today)
    first = list(KpiSnapshot.objects.order_by("pk").values_list("pk", "kpi", "value"))
    tasks.run_nightly(RecomputeRun.objects.create(), today=today)
    assert list(KpiSnapshot.objects.order_by("pk").values_list("pk", "kpi", "value")) == first


def test_two_runs_never_overlap(world):
    assert JobLock.acquire(tasks.LOCK_NAME, "other-worker", tasks.LOCK_TTL)
    run = RecomputeRun.objects.create()
    assert tasks.run_nightly(run) == -1
    run.refresh_from_db()
    assert run.status == RecomputeRun.Status.SKIPPED
    assert not KpiSnapshot.objects.exists()


def test_a_dead_workers_lock_expires():
    assert JobLock.acquire("job", "dead", dt.timedelta(minutes=5))
    assert not JobLock.acquire("job", "alive", dt.timedelta(minutes=5))
    JobLock.objects.filter(name="job").update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert JobLock.acquire("job", "alive", dt.timedelta(minutes=5))


def test_lock_is_released_after_a_run_even_when_it_fails(world, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(tasks, "refresh", boom)
    with pytest.raises(RuntimeError):
        tasks.run_nightly(RecomputeRun.objects.create())
    assert JobLock.acquire(tasks.LOCK_NAME, "next", tasks.LOCK_TTL)


def test_database_errors_are_retried_a_bounded_number_of_times(world, monkeypatch):
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(tasks, "refresh", flaky)
    run = RecomputeRun.objects.create(requested_by=world.nina)
    result = tasks.nightly_recompute.apply(args=[run.pk])
    assert isinstance(result.result, OperationalError)
    assert len(calls) == tasks.MAX_RETRIES + 1
    run.refresh_from_db()
    assert run.status == RecomputeRun.Status.FAILED
    assert "gave up" in run.message


def test_retry_then_success(world, monkeypatch):
    real = tasks.refresh
    calls = []

    def once_flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("deadlock detected")
        return real(*args, **kwargs)

    monkeypatch.setattr(tasks, "refresh", once_flaky)
    run = RecomputeRun.objects.create()
    tasks.nightly_recompute.apply(args=[run.pk])
    run.refresh_from_db()
    assert run.status == RecomputeRun.Status.DONE and len(calls) == 2


def test_beat_call_without_a_run_records_one(world):
    tasks.nightly_recompute.apply()
    run = RecomputeRun.objects.get()
    assert run.status == RecomputeRun.Status.DONE and run.requested_by is None


# --- a real worker ---------------------------------------------------------


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_real_worker_computes_snapshots(world):
    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set: no broker for a real Celery worker.")
    if connection.vendor != "postgresql":
        pytest.skip("A worker process cannot share the in-memory SQLite test database.")
    today = timezone.localdate()
    won(world.ann, "321", today, today)
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        ),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo",
         "--loglevel=warning", "--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        run = RecomputeRun.objects.create(requested_by=world.nina)
        tasks.nightly_recompute.delay(run.pk)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            run.refresh_from_db()
            if run.status in (RecomputeRun.Status.DONE, RecomputeRun.Status.FAILED):
                break
            time.sleep(0.5)
        assert run.status == RecomputeRun.Status.DONE, run.message
        revenue = KpiSnapshot.objects.get(
            kpi="revenue",
            scope_type="rep",
            scope_id=world.ann.pk,
            granularity="month",
            period_start=today.replace(day=1),
        )
        assert revenue.value == Decimal("321")
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
