"""Time the KPI recompute against its SQL floors and a plain scan, and check they agree."""

from __future__ import annotations

import datetime as dt
import statistics
import time
from decimal import Decimal

from django.db import connection, transaction

from bench.floor import Floor, MonthFloor, full_plan, nightly_plan

# What the report calls the two floors.
MONTH_FLOOR = "month-grouped floor (bench.floor.MonthFloor)"
OLD_FLOOR = "floor grouped per granularity (bench.floor.Floor)"
KEY_COLS = "kpi, scope_type, scope_id, granularity, period_start"
COMPARED = "value, numerator, denominator, low_sample, maturing"


def clear_snapshots() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("TRUNCATE kpis_kpisnapshot")
        else:
            cursor.execute("DELETE FROM kpis_kpisnapshot")


def _dec(value) -> Decimal | None:
    if value is None:
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def fetch_rows(kpis: set[str] | None = None) -> dict[tuple, tuple]:
    """Snapshot rows keyed by (kpi, scope type, scope id, granularity, period
    start), as (value, numerator, denominator, low sample, maturing)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {KEY_COLS}, {COMPARED} FROM kpis_kpisnapshot")
        rows = {}
        for kpi, st, sid, g, ps, v, n, d, low, mat in cursor.fetchall():
            if kpis is not None and kpi not in kpis:
                continue
            if isinstance(ps, str):
                ps = dt.date.fromisoformat(ps)
            rows[(kpi, st, int(sid), g, ps)] = (_dec(v), _dec(n), _dec(d), bool(low), bool(mat))
        return rows


def _close(a: Decimal | None, b: Decimal | None) -> bool:
    """Equal at the snapshot's 6 decimals, allowing one unit in the last place
    (a tie rounded from 28 digits in Python and from ~20 in SQL) and, on
    SQLite, float sums' last bits."""
    if a is None or b is None:
        return a is b
    return abs(a - b) <= Decimal("0.000001") + abs(a) * Decimal("1e-9")


# KPIs the floors do not compute, left out of the comparison (with the
# reason in docs/benchmarks.md): none since issue 17.
FLOOR_PENDING: frozenset[str] = frozenset()


def compare(boussole: dict, floor: dict, examples: int = 10) -> dict:
    boussole = {k: v for k, v in boussole.items() if k[0] not in FLOOR_PENDING}
    floor = {k: v for k, v in floor.items() if k[0] not in FLOOR_PENDING}
    missing = sorted(set(boussole) - set(floor), key=str)
    extra = sorted(set(floor) - set(boussole), key=str)
    different = []
    for key in boussole.keys() & floor.keys():
        b, f = boussole[key], floor[key]
        if not all(_close(x, y) for x, y in zip(b[:3], f[:3], strict=True)) or b[3:] != f[3:]:
            different.append((key, b, f))
    different.sort(key=lambda item: str(item[0]))
    return {
        "boussole_rows": len(boussole),
        "floor_rows": len(floor),
        "missing_from_floor": len(missing),
        "extra_in_floor": len(extra),
        "different": len(different),
        "equal": not (missing or extra or different),
        "examples": [str(k) for k in missing[:examples]]
        + [str(k) for k in extra[:examples]]
        + [f"{k}: boussole={b} floor={f}" for k, b, f in different[:examples]],
    }


def _median(times: list[float]) -> dict:
    return {"median_s": round(statistics.median(times), 4), "runs_s": [round(t, 4) for t in times]}


def _ratio(a: dict, b: dict) -> float | None:
    return round(a["median_s"] / b["median_s"], 2) if b["median_s"] else None


# The fact tables the KPIs read, each with a column the scan must read from
# the rows themselves (not a count an index could answer).
FACT_TABLES = {
    "crm_deal": "amount",
    "crm_dealstagechange": "changed_at",
    "crm_prospect": "created_on",
    "crm_customer": "acquired_on",
    "crm_campaignspend": "amount",
    "crm_salescost": "amount",
    "crm_target": "amount",
    "surveys_invitation": "sent_at",
    "surveys_response": "submitted_at",
    "crm_activity": "occurred_on",
    "team_trainingsession": "hours",
    "team_trainingattendance": "session_id",
    "team_certification": "obtained_on",
    "team_pulseanswer": "submitted_on",
}


def plain_scan() -> int:
    """The physical reference: one plain sequential scan of every fact table
    the KPIs read (`COUNT(column)`, so each row is read), nothing grouped or
    written. No recompute can read its facts faster. Returns the rows read."""
    rows = 0
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # A sequential scan, not an index-only count; same settings as the floors.
            for name in ("enable_indexscan", "enable_indexonlyscan", "enable_bitmapscan", "jit"):
                cursor.execute(f"SET LOCAL {name} = off")
        for table, column in FACT_TABLES.items():
            cursor.execute(f"SELECT COUNT({column}), COUNT(*) FROM {table}")
            rows += cursor.fetchone()[1]
    return rows


def bench_full(start: dt.date, end: dt.date, today: dt.date, runs: int = 3, log=print) -> dict:
    """The full recompute of every KPI × scope × month/quarter/year from start
    to end: Boussole's engine, the month-grouped floor (the one the ratio
    uses), the floor of issue 5 and the plain scan, in turn, each floor from
    an empty snapshot table; the last runs' rows are compared."""
    from kpis.compute import recompute

    plan = full_plan(start, end)
    # The month-grouped floor last: the pages step reads the rows it leaves.
    floors = {"old_floor": Floor(plan, today), "floor": MonthFloor(plan, today)}
    times: dict[str, list[float]] = {"boussole": [], "old_floor": [], "floor": [], "scan": []}
    written, floor_rows, scanned = 0, {}, 0
    for i in range(runs):
        clear_snapshots()
        began = time.perf_counter()
        written = recompute(start, end, today=today).rows
        times["boussole"].append(time.perf_counter() - began)
        if i == runs - 1:
            boussole_rows = fetch_rows()
        for key, floor in floors.items():
            clear_snapshots()
            began = time.perf_counter()
            floor.run()
            times[key].append(time.perf_counter() - began)
            if i == runs - 1:
                floor_rows[key] = fetch_rows()
        began = time.perf_counter()
        scanned = plain_scan()
        times["scan"].append(time.perf_counter() - began)
        log(
            f"  full recompute run {i + 1}/{runs}: boussole {times['boussole'][-1]:.2f}s, "
            f"month-grouped floor {times['floor'][-1]:.2f}s, old floor {times['old_floor'][-1]:.2f}s, "
            f"plain scan {times['scan'][-1]:.2f}s"
        )
    b, f, old, scan = (_median(times[k]) for k in ("boussole", "floor", "old_floor", "scan"))
    return {
        "rows_written": written,
        "floor_rows_written": len(floor_rows["floor"]),
        "floor_name": MONTH_FLOOR,
        "boussole": b,
        "floor": f,
        "ratio": _ratio(b, f),
        "check": compare(boussole_rows, floor_rows["floor"]),
        "old_floor": {**old, "name": OLD_FLOOR, "check": compare(boussole_rows, floor_rows["old_floor"])},
        "old_ratio": _ratio(b, old),
        "scan": {**scan, "rows": scanned, "tables": list(FACT_TABLES)},
        "vs_scan": {"boussole": _ratio(b, scan), "floor": _ratio(f, scan), "old_floor": _ratio(old, scan)},
        "pending": sorted(FLOOR_PENDING),
    }


def bench_nightly(today: dt.date, runs: int = 3, log=print) -> dict:
    """The nightly run (churn rule, then the current and previous period of
    each granularity) over a full snapshot table, as in production."""
    from kpis.compute import refresh

    floor = MonthFloor(nightly_plan(today), today)
    boussole_times, floor_times = [], []
    for i in range(runs):
        began = time.perf_counter()
        refresh(today=today)
        boussole_times.append(time.perf_counter() - began)
        boussole_rows = fetch_rows() if i == runs - 1 else None
        began = time.perf_counter()
        floor.run()
        floor_times.append(time.perf_counter() - began)
        log(f"  nightly run {i + 1}/{runs}: boussole {boussole_times[-1]:.2f}s, floor {floor_times[-1]:.2f}s")
    check = compare(boussole_rows, fetch_rows())
    b, f = _median(boussole_times), _median(floor_times)
    return {"floor_name": MONTH_FLOOR, "boussole": b, "floor": f, "ratio": _ratio(b, f), "check": check}


def bench_dirty_month(today: dt.date, runs: int = 3, check: bool = False, log=print) -> dict:
    """The nightly run after one correction in a past month (a won deal's
    amount raised a year ago, through a queryset update so only the database
    triggers mark it): what one dirty month costs on top of a quiet night.
    With `check`, the snapshots are then compared with a from-scratch
    recompute, row for row."""
    from django.db.models import F

    from crm.models import Deal, Stage
    from kpis.compute import recompute, refresh
    from kpis.models import DirtyMonth

    month = today.replace(day=1)
    past = (month - dt.timedelta(days=330)).replace(day=1)
    refresh(today=today)  # nothing dirty left from earlier steps
    following = (past + dt.timedelta(days=31)).replace(day=1)
    won = Deal.objects.filter(stage=Stage.WON, closed_on__gte=past, closed_on__lt=following).order_by("pk")
    # A deal opened, expected and won within that month touches that month
    # only; otherwise every month it stood open in the pipeline is dirty too.
    deal = (
        won.filter(opened_on__gte=past, expected_close_on__gte=past, expected_close_on__lt=following)
        .values_list("pk", flat=True)
        .first()
    ) or won.values_list("pk", flat=True).first()
    if deal is None:
        return {"skipped": "no won deal a year back"}
    # Each quiet night is a real next night: the day moves on by one, so the
    # like-for-like spans move and the current periods' figures are written
    # again. The dirty month is then measured on that same day.
    quiet_times, times, dirty, read = [], [], [], []
    for i in range(runs):
        night = today + dt.timedelta(days=i + 1)
        began = time.perf_counter()
        refresh(today=night)
        quiet_times.append(time.perf_counter() - began)
        Deal.objects.filter(pk=deal).update(amount=F("amount") + 1)
        dirty.append([m.isoformat() for m in DirtyMonth.objects.months()])
        began = time.perf_counter()
        read.append([m.isoformat() for m in refresh(today=night).months])
        times.append(time.perf_counter() - began)
        log(f"  night {night}: quiet {quiet_times[-1]:.2f}s, one dirty month {times[-1]:.2f}s")
    # Quiet nights two weeks into the month: the like-for-like spans (the
    # same first 15 days of the previous month, quarter and year) are read
    # from the raw tables, and grow with the day of the month. The night
    # before is not timed: it also rewrites the periods whose cohorts matured.
    later = today + dt.timedelta(days=14)
    refresh(today=later - dt.timedelta(days=1))
    later_times = []
    for i in range(runs):
        night = later + dt.timedelta(days=i)
        began = time.perf_counter()
        refresh(today=night)
        later_times.append(time.perf_counter() - began)
        log(f"  night {night}: quiet {later_times[-1]:.2f}s")
    refresh(today=today)
    result = {
        "quiet": _median(quiet_times),
        "quiet_later": {**_median(later_times), "day": later.isoformat()},
        "dirty": _median(times),
        "dirty_months": dirty[-1],
        "months_read": read[-1],
    }
    if check:
        after = fetch_rows()
        recompute(today=today)
        result["check"] = compare(after, fetch_rows())
    return result
