"""KPI snapshot rows for the performance pages' tests.

The KPI engine (issue 4) writes snapshots in production; these tests write
them directly so the pages are tested on their own.
"""

import datetime as dt
from decimal import Decimal

import factory
from django.utils import timezone

from kpis.definitions import KPIS
from kpis.models import KpiSnapshot


class KpiSnapshotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = KpiSnapshot

    kpi = "revenue"
    scope_type = "rep"
    scope_id = 0
    granularity = "month"
    period_start = dt.date(2026, 3, 1)
    value = Decimal("1000")
    numerator = None
    denominator = None
    computed_at = factory.LazyFunction(timezone.now)


def snap(kpi: str, scope, start: dt.date, value, *, granularity="month", **kwargs) -> KpiSnapshot:
    """One snapshot for a user (rep), a team, or None for the company."""
    from crm.models import Team

    if scope is None:
        scope_type, scope_id = "company", 0
    elif isinstance(scope, Team):
        scope_type, scope_id = "team", scope.pk
    else:
        scope_type, scope_id = "rep", scope.pk
    return KpiSnapshotFactory(
        kpi=kpi,
        scope_type=scope_type,
        scope_id=scope_id,
        granularity=granularity,
        period_start=start,
        value=None if value is None else Decimal(str(value)),
        **kwargs,
    )


def months_back(start: dt.date, n: int) -> list[dt.date]:
    """The n month starts ending with `start`, oldest first."""
    out = []
    year, month = start.year, start.month
    for _ in range(n):
        out.append(dt.date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


def bulk_snapshots(scopes: list[tuple[str, int]], months: list[dt.date], kpis=None, batch=5000) -> int:
    """Every KPI × scope × month as rows, written with bulk_create (for size tests and timing)."""
    now = timezone.now()
    kpis = kpis or list(KPIS)
    rows = []
    count = 0
    for scope_type, scope_id in scopes:
        for i, start in enumerate(months):
            for j, kpi in enumerate(kpis):
                if scope_type not in KPIS[kpi].scopes:
                    continue
                value = Decimal(1000 + (scope_id * 37 + i * 11 + j * 7) % 900)
                rows.append(
                    KpiSnapshot(
                        kpi=kpi,
                        scope_type=scope_type,
                        scope_id=scope_id,
                        granularity="month",
                        period_start=start,
                        value=value,
                        numerator=value,
                        denominator=Decimal(10),
                        computed_at=now,
                    )
                )
                if len(rows) >= batch:
                    KpiSnapshot.objects.bulk_create(rows)
                    count += len(rows)
                    rows = []
    KpiSnapshot.objects.bulk_create(rows)
    return count + len(rows)


_RANGES = {
    "money": (8000, 40000),
    "money_per_day": (100, 900),
    "count": (2, 24),
    "percent": (15, 85),
    "days": (18, 60),
    "hours": (2, 72),
    "score": (-20, 60),
    "ratio": (1, 5),
    "months": (3, 18),
}


def quarters_back(start: dt.date, n: int) -> list[dt.date]:
    """The n quarter starts ending with the quarter that holds `start`, oldest first."""
    first = dt.date(start.year, (start.month - 1) // 3 * 3 + 1, 1)
    return [d for d in months_back(first, 3 * n - 2)][::3]


def seed_realistic(world, last_month: dt.date, months: int = 13, quarters: int = 5) -> int:
    """Plausible snapshots for the world's people, teams and company: every KPI, `months` months.

    Deterministic (no randomness), varied enough that rankings, changes and
    sparklines all show something; a few rates are low-sample, recent lead
    conversion is maturing, and one rep's NPS is n/a.
    """
    now = timezone.now()
    people = [world.ann, world.bob, world.nina, world.sam, world.sue, world.steve]
    scopes = [("rep", p.pk, i) for i, p in enumerate(people)]
    scopes += [("team", world.north.pk, 7), ("team", world.south.pk, 8), ("company", 0, 9)]
    rows = []
    series = [("month", months_back(last_month, months)), ("quarter", quarters_back(last_month, quarters))]
    for (scope_type, scope_id, seed), (granularity, starts) in (
        (scope, s) for scope in scopes for s in series
    ):
        for i, start in enumerate(starts):
            for j, (key, defn) in enumerate(KPIS.items()):
                if scope_type not in defn.scopes:
                    continue
                low, high = _RANGES[defn.unit]
                wave = ((seed * 7 + j * 5 + i * 3) % 11) / 10 + i / (months * 4)
                value = Decimal(low + (high - low) * min(wave, 1)).quantize(Decimal("0.01"))
                if scope_type in ("team", "company") and defn.unit in ("money", "count"):
                    value *= 3
                if granularity == "quarter" and defn.unit in ("money", "count"):
                    value *= 3
                numerator = denominator = None
                details = {}
                if defn.is_rate:
                    denominator = Decimal(3 if (seed + i) % 5 == 0 else 12 + seed)
                    numerator = (value * denominator / 100).quantize(Decimal("0.01"))
                if key == "nps":
                    details = {"promoters": 7, "passives": 3, "detractors": 2}
                # The team page's funnel and pipeline by stage read these details.
                if key == "lead_conversion_rate":
                    details = {"qualified": int(denominator * Decimal("0.4"))}
                if key == "deals_won":
                    details = {"opened": int(value) * 2 + 3}
                if key == "open_pipeline_value":
                    shares = {"prospecting": 1, "qualification": 2, "proposal": 4, "negotiation": 3}
                    details = {
                        "by_stage": {
                            stage: {
                                "count": share * 2 + seed,
                                "amount": str((value * share / 10).quantize(Decimal("0.01"))),
                            }
                            for stage, share in shares.items()
                        }
                    }
                    if seed == 1 and i == len(starts) - 1:
                        value = numerator = None
                        denominator = Decimal(0)
                if key == "quota_attainment":
                    denominator = Decimal(20000 if scope_type == "rep" else 60000)
                    numerator = (value * denominator / 100).quantize(Decimal("0.01"))
                rows.append(
                    KpiSnapshot(
                        kpi=key,
                        scope_type=scope_type,
                        scope_id=scope_id,
                        granularity=granularity,
                        period_start=start,
                        value=value,
                        numerator=numerator,
                        denominator=denominator,
                        details=details,
                        low_sample=bool(defn.is_rate and denominator is not None and denominator < 5),
                        maturing=defn.is_cohort and i >= len(starts) - 3,
                        computed_at=now,
                    )
                )
    KpiSnapshot.objects.bulk_create(rows)
    return len(rows)


def seed_funnel(world, month: dt.date) -> None:
    """A few prospects and deals for North in `month`: the funnel and the pipeline have rows."""
    from crm.models import Prospect, Stage
    from tests.factories import DealFactory, ProspectFactory

    statuses = [Prospect.Status.NEW] * 14 + [Prospect.Status.CONTACTED] * 8 + [Prospect.Status.QUALIFIED] * 9
    for i, status in enumerate(statuses):
        ProspectFactory(owner=world.ann if i % 2 else world.bob, created_on=month, status=status)
    stages = (
        [Stage.PROSPECTING] * 5 + [Stage.QUALIFICATION] * 4 + [Stage.PROPOSAL] * 3 + [Stage.NEGOTIATION] * 2
    )
    for i, stage in enumerate(stages):
        DealFactory(
            owner=world.ann if i % 2 else world.bob,
            opened_on=month,
            stage=stage,
            amount=Decimal(4000 + 1500 * (i % 5)),
        )
