"""The coaching page's figures: a rep against their team, read from snapshots.

Nothing here aggregates the raw deal tables on a request: win rate, cycle,
active selling days and the process KPIs (`stage_conversion_rate`,
`time_in_stage_days`, when their definitions exist) come from KpiSnapshot
rows, and a training's "before and after" sums the rep's monthly win-rate
snapshots over the same number of whole months on each side.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db.models import Q

from crm.models import Stage
from kpis.definitions import KPIS, MONTH, REP, TEAM
from kpis.models import KpiSnapshot
from kpis.periods import add_months
from team.models import TrainingSession

TREND_MONTHS = 6
# Whole months on each side of a training's month, at most.
WINDOW_MONTHS = 3
PROCESS_KPIS = ("stage_conversion_rate", "time_in_stage_days")
TREND_KPIS = ("win_rate", "sales_cycle_days", "active_selling_days")


def process_kpis_available() -> list[str]:
    """The process KPIs whose definitions exist (added by another change)."""
    return [k for k in PROCESS_KPIS if k in KPIS]


@dataclass
class Window:
    months: int
    before: Decimal | None
    before_n: int
    after: Decimal | None
    after_n: int


@dataclass
class TrainingRow:
    session: TrainingSession
    window: Window | None  # None: no whole month after it yet


def _rate(num: Decimal, den: Decimal) -> Decimal | None:
    return None if not den else num * 100 / den


def training_window(
    monthly: dict[dt.date, tuple[Decimal, Decimal]], day: dt.date, current: dt.date
) -> Window | None:
    """The rep's win rate over the same number of whole months before and
    after the training's month (up to WINDOW_MONTHS; only months already over)."""
    month = day.replace(day=1)
    after_available = (current.year - month.year) * 12 + current.month - month.month - 1
    k = min(WINDOW_MONTHS, after_available)
    if k <= 0:
        return None

    def total(months):
        num = sum((monthly.get(m, (0, 0))[0] for m in months), Decimal(0))
        den = sum((monthly.get(m, (0, 0))[1] for m in months), Decimal(0))
        return _rate(num, den), int(den)

    before, before_n = total([add_months(month, -i) for i in range(1, k + 1)])
    after, after_n = total([add_months(month, i) for i in range(1, k + 1)])
    return Window(k, before, before_n, after, after_n)


def _stage_rows(kpi: str, rep_snap: KpiSnapshot | None, team_snap: KpiSnapshot | None) -> list[dict]:
    """Per open stage: the rep's and the team's figure and sample, from the
    snapshot's details["by_stage"] (kpis.compute: a stage's median days for
    time in stage, its rate for stage conversion; `count` = deals that left it)."""
    field = "median" if kpi == "time_in_stage_days" else "rate"

    def per_stage(snap):
        stages = ((snap.details if snap else None) or {}).get("by_stage") or {}
        return {stage: (data.get(field), data.get("count")) for stage, data in stages.items()}

    mine, theirs = per_stage(rep_snap), per_stage(team_snap)
    rows = []
    for stage in Stage.open_stages():
        value, count = mine.get(stage.value, (None, None))
        team_value, team_count = theirs.get(stage.value, (None, None))
        if value is None and team_value is None and not count and not team_count:
            continue
        low = count is None or _as_int(count) < settings.KPI_MIN_SAMPLE
        rows.append({"stage": stage.label, "rep": value, "rep_n": count,
                     "team": team_value, "team_n": team_count, "low": low})  # fmt: skip
    return rows


def _as_int(value) -> int:
    try:
        return int(Decimal(str(value)))
    except Exception:  # noqa: BLE001 (a shape we do not know: treat as no sample)
        return 0


def coaching_figures(rep, current: dt.date) -> dict:
    """Everything the coaching page shows but notes: 2 queries."""
    month = current.replace(day=1)
    trainings = list(
        TrainingSession.objects.confirmed().filter(attendances__user=rep).order_by("-date")[:10]
    )  # query 1
    first = min([add_months(month, -TREND_MONTHS + 1)] + [add_months(t.date.replace(day=1), -WINDOW_MONTHS)
                                                           for t in trainings])  # fmt: skip
    process = process_kpis_available()
    scopes = [(REP, rep.pk)] + ([(TEAM, rep.team_id)] if rep.team_id else [])
    rows = {}
    query = KpiSnapshot.objects.filter(
        granularity=MONTH, period_start__gte=first, period_start__lte=month, kpi__in=[*TREND_KPIS, *process]
    )
    scope_q = Q()
    for st, sid in scopes:
        scope_q |= Q(scope_type=st, scope_id=sid)
    for snap in query.filter(scope_q):  # query 2
        rows[(snap.kpi, snap.scope_type, snap.period_start)] = snap

    trend_months = [add_months(month, -i) for i in range(TREND_MONTHS - 1, -1, -1)]
    trend = []
    for m in trend_months:
        cells = {}
        for kpi in TREND_KPIS:
            for st in (REP, TEAM):
                snap = rows.get((kpi, st, m))
                cells[f"{kpi}_{st}"] = snap
        trend.append({"month": m, **cells})

    monthly = {
        start: (snap.numerator or Decimal(0), snap.denominator or Decimal(0))
        for (kpi, st, start), snap in rows.items()
        if kpi == "win_rate" and st == REP
    }
    training_rows = [TrainingRow(t, training_window(monthly, t.date, current)) for t in trainings]

    # The process KPIs over the last whole month (this one is still filling).
    last = add_months(month, -1)
    process_rows = {
        kpi: {
            "label": KPIS[kpi].label,
            "rep": rows.get((kpi, REP, last)),
            "team": rows.get((kpi, TEAM, last)),
            "stages": _stage_rows(kpi, rows.get((kpi, REP, last)), rows.get((kpi, TEAM, last))),
        }
        for kpi in process
    }
    return {
        "trend": trend,
        "trainings": training_rows,
        "process": process_rows,
        "process_month": last,
        "selling_now": (
            rows.get(("active_selling_days", REP, month)),
            rows.get(("active_selling_days", TEAM, month)),
        ),
        "min_sample": settings.KPI_MIN_SAMPLE,
    }
