"""The alert rules, run after the nightly recompute (docs/alerts.md).

Each rule returns the conditions that hold today as `Finding`s, read from
KPI snapshots (and, for detractors, the survey answers of the last days) with
a fixed number of queries; `raise_alerts` turns them into stored alerts: a
new one for a condition that was not open, a refresh for one that was, and
the open ones that no longer hold are resolved.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from statistics import median

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from alerts.models import Alert, Rule
from api.signals import alerts_raised
from crm.models import Product, Team, User
from crm.models import today as company_today
from kpis.definitions import COMPANY, KPIS, MONTH, QUARTER, REP, TEAM
from kpis.models import ForecastSnapshot, KpiSnapshot
from kpis.periods import add_months, period_start
from surveys.models import Response

# The KPIs watched for leaving their band: a month's figure against the
# twelve months before it.
BAND_KPIS = ("revenue", "deals_won", "win_rate", "avg_deal_size", "sales_cycle_days", "lead_conversion_rate",
             "nps", "csat", "activities")  # fmt: skip
BAND_HISTORY = 12
BAND_MIN_HISTORY = 6
# 1.4826 × MAD estimates a normal distribution's standard deviation.
MAD_TO_SIGMA = 1.4826
# A series that never moved still has a band: 5 % of its median (or one unit
# of a count) each side per sigma.
RELATIVE_FLOOR = 0.05
COVERAGE_HISTORY = 6
RESPONSE_RATE_MONTHS = 4  # three falls in a row
RESPONSE_RATE_MIN_DROP = 5.0  # points, first to last


@dataclass
class Finding:
    rule: str
    key: str
    subject: str
    scope_type: str
    scope_id: int
    period_start: dt.date
    kpi: str = ""
    granularity: str = MONTH
    team_id: int | None = None
    user_id: int | None = None
    product_id: int | None = None
    why: dict = field(default_factory=dict)


# ---------------------------------------------------------------- the band


@dataclass
class Band:
    median: float
    low: float
    high: float
    points: int

    def holds(self, value: float) -> bool:
        return self.low <= value <= self.high


def robust_band(
    history: list[float], *, unit: str = "money", sample: float | None = None, k: float | None = None
) -> Band | None:
    """median ± k · σ̂ · (1 + 1/√n), with σ̂ = √((1.4826·MAD)² + se²).

    - The median and the MAD (median absolute deviation) ignore the odd
      outlier in the history, unlike a mean and a standard deviation.
    - se is the sampling error of the latest figure when it is a rate over
      `sample` cases: 100·√(p(1−p)/n) for a percentage, 100/√n for NPS. A
      rate over few cases gets a wide band, so low-sample rates stay quiet.
    - (1 + 1/√n) widens the band when the history is short (n points).
    - A history that never moved gets a floor (5 % of the median, one unit
      of a count), so one small move is not an alert.
    None when the history is shorter than BAND_MIN_HISTORY.
    """
    k = settings.ALERT_BAND_K if k is None else k
    n = len(history)
    if n < BAND_MIN_HISTORY:
        return None
    centre = median(history)
    sigma = MAD_TO_SIGMA * median(abs(x - centre) for x in history)
    floor = RELATIVE_FLOOR * abs(centre)
    if unit == "count":
        floor = max(floor, 1.0)
    sigma = max(sigma, floor)
    if sample:
        if unit == "score":
            se = 100 / math.sqrt(sample)
        else:
            p = min(max(centre / 100, 0.02), 0.98)
            se = 100 * math.sqrt(p * (1 - p) / sample)
        sigma = math.sqrt(sigma**2 + se**2)
    half = k * sigma * (1 + 1 / math.sqrt(n))
    low, high = centre - half, centre + half
    if unit == "percent":
        low, high = max(low, 0.0), min(high, 100.0)
    return Band(centre, low, high, n)


def _latest_closed_month(today: dt.date) -> dt.date:
    return add_months(today.replace(day=1), -1)


class _Names:
    """Scope names for the alerts' subjects: 3 queries."""

    def __init__(self) -> None:
        self.teams = {t.pk: str(t) for t in Team.objects.all()}
        self.people = {u.pk: (str(u), u.team_id) for u in User.objects.sales_staff()}
        self.products = {p.pk: str(p) for p in Product.objects.all()}

    def scope(self, st: str, sid: int) -> tuple[str, int | None, int | None] | None:
        """(subject, team id, user id), or None for a scope nobody watches."""
        if st == COMPANY:
            return "", None, None
        if st == TEAM and sid in self.teams:
            return self.teams[sid], sid, None
        if st == REP and sid in self.people:
            name, team = self.people[sid]
            return name, team, sid
        return None


def band_findings(today: dt.date, names: _Names) -> list[Finding]:
    """A KPI's latest closed month outside its own band (1 query)."""
    month = _latest_closed_month(today)
    first = add_months(month, -BAND_HISTORY)
    snaps = KpiSnapshot.objects.filter(
        kpi__in=BAND_KPIS, granularity=MONTH, period_start__gte=first, period_start__lte=month,
        scope_type__in=[COMPANY, TEAM, REP],
    ).only("kpi", "scope_type", "scope_id", "period_start", "value", "denominator", "low_sample",
           "maturing")  # fmt: skip
    series: dict[tuple, dict[dt.date, KpiSnapshot]] = defaultdict(dict)
    for s in snaps:
        series[(s.kpi, s.scope_type, s.scope_id)][s.period_start] = s
    found = []
    for (kpi, st, sid), by_month in series.items():
        latest = by_month.get(month)
        if latest is None or latest.value is None or latest.low_sample or latest.maturing:
            continue
        who = names.scope(st, sid)
        if who is None:
            continue
        defn = KPIS[kpi]
        history = [
            float(s.value) for m, s in sorted(by_month.items())
            if m < month and s.value is not None and not s.low_sample and not s.maturing
        ]  # fmt: skip
        sample = float(latest.denominator) if defn.is_rate and latest.denominator else None
        band = robust_band(history, unit=defn.unit, sample=sample)
        value = float(latest.value)
        if band is None or band.holds(value):
            continue
        subject, team_id, user_id = who
        found.append(Finding(
            Rule.BAND, f"band:{kpi}:{st}:{sid}", subject, st, sid, month, kpi=kpi, team_id=team_id,
            user_id=user_id,
            why={"value": str(latest.value), "low": f"{band.low:.6f}", "high": f"{band.high:.6f}",
                 "median": f"{band.median:.6f}", "points": band.points,
                 "direction": "up" if value > band.high else "down"},
        ))  # fmt: skip
    return found


def coverage_findings(today: dt.date, names: _Names) -> list[Finding]:
    """The open pipeline below what the rest of this month's target needs at
    the scope's win rate of the last six months (1 query)."""
    month = today.replace(day=1)
    snaps = KpiSnapshot.objects.filter(
        Q(kpi__in=["quota_attainment", "open_pipeline_value"], period_start=month)
        | Q(kpi="win_rate", period_start__gte=add_months(month, -COVERAGE_HISTORY), period_start__lt=month),
        granularity=MONTH, scope_type__in=[TEAM, REP],
    ).only("kpi", "scope_type", "scope_id", "period_start", "value", "numerator", "denominator")  # fmt: skip
    current: dict[tuple, dict[str, KpiSnapshot]] = defaultdict(dict)
    won: dict[tuple, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for s in snaps:
        if s.kpi == "win_rate":
            won[(s.scope_type, s.scope_id)][0] += s.numerator or 0
            won[(s.scope_type, s.scope_id)][1] += s.denominator or 0
        else:
            current[(s.scope_type, s.scope_id)][s.kpi] = s
    found = []
    for (st, sid), kpis in current.items():
        quota, pipe = kpis.get("quota_attainment"), kpis.get("open_pipeline_value")
        if quota is None or not quota.denominator or pipe is None:
            continue
        remaining = quota.denominator - (quota.numerator or 0)
        wins, closed = won[(st, sid)]
        if remaining <= 0 or not wins or not closed:
            continue
        rate = wins / closed
        needed = remaining / rate
        pipeline = pipe.value or Decimal(0)
        who = names.scope(st, sid)
        if pipeline >= needed or who is None:
            continue
        subject, team_id, user_id = who
        found.append(Finding(
            Rule.COVERAGE, f"coverage:{st}:{sid}", subject, st, sid, month, kpi="open_pipeline_value",
            team_id=team_id, user_id=user_id,
            why={"pipeline": str(pipeline), "needed": f"{needed:.2f}", "remaining": str(remaining),
                 "win_rate": f"{rate * 100:.1f}"},
        ))  # fmt: skip
    return found


def detractor_findings(today: dt.date, names: _Names) -> list[Finding]:
    """At least ALERT_DETRACTORS_MIN detractors (0–6) in ALERT_DETRACTORS_DAYS
    days for one salesperson or one product (2 queries)."""
    days, least = settings.ALERT_DETRACTORS_DAYS, settings.ALERT_DETRACTORS_MIN
    since = timezone.now() - dt.timedelta(days=days)
    recent = Response.objects.filter(submitted_at__gte=since, nps_score__lte=6).order_by()
    found = []
    by_rep = recent.values(rep=F("invitation__owner_id")).annotate(n=Count("pk"))
    for row in by_rep.filter(n__gte=least):
        who = names.scope(REP, row["rep"]) if row["rep"] else None
        if who is None:
            continue
        subject, team_id, user_id = who
        found.append(Finding(
            Rule.DETRACTORS, f"detractors:rep:{row['rep']}", subject, REP, row["rep"], today.replace(day=1),
            kpi="nps", team_id=team_id, user_id=user_id, why={"count": row["n"], "days": days},
        ))  # fmt: skip
    by_product = recent.values("invitation__deal__product_id").annotate(n=Count("pk")).filter(n__gte=least)
    for row in by_product:
        pid = row["invitation__deal__product_id"]
        if pid is None or pid not in names.products:
            continue
        found.append(Finding(
            Rule.DETRACTORS, f"detractors:product:{pid}", names.products[pid], COMPANY, 0,
            today.replace(day=1), kpi="nps", product_id=pid, why={"count": row["n"], "days": days},
        ))  # fmt: skip
    return found


def response_rate_findings(today: dt.date, names: _Names) -> list[Finding]:
    """The survey response rate fell three closed months running, each with a
    full sample, by RESPONSE_RATE_MIN_DROP points at least (1 query)."""
    month = _latest_closed_month(today)
    months = [add_months(month, -i) for i in range(RESPONSE_RATE_MONTHS - 1, -1, -1)]
    snaps = KpiSnapshot.objects.filter(
        kpi="survey_response_rate", granularity=MONTH, period_start__in=months, scope_type__in=[COMPANY, TEAM]
    ).only("scope_type", "scope_id", "period_start", "value", "low_sample")
    series: dict[tuple, dict[dt.date, KpiSnapshot]] = defaultdict(dict)
    for s in snaps:
        series[(s.scope_type, s.scope_id)][s.period_start] = s
    found = []
    for (st, sid), by_month in series.items():
        rows = [by_month.get(m) for m in months]
        if any(r is None or r.value is None or r.low_sample for r in rows):
            continue
        values = [float(r.value) for r in rows]
        falling = all(b < a for a, b in zip(values, values[1:], strict=False))
        who = names.scope(st, sid)
        if not falling or values[0] - values[-1] < RESPONSE_RATE_MIN_DROP or who is None:
            continue
        subject, team_id, user_id = who
        found.append(Finding(
            Rule.RESPONSE_RATE, f"response_rate:{st}:{sid}", subject, st, sid, month,
            kpi="survey_response_rate", team_id=team_id,
            why={"values": [f"{v:.1f}" for v in values]},
        ))  # fmt: skip
    return found


def forecast_findings(today: dt.date, names: _Names) -> list[Finding]:
    """A target of the current month or quarter (company, team, salesperson)
    whose latest forecast gives it less than ALERT_FORECAST_MIN_CHANCE %
    chance (1 query). One alert per scope and period: next month's risk is a
    new alert, this month's is resolved once the month is over."""
    threshold = settings.ALERT_FORECAST_MIN_CHANCE
    current = Q()
    for g in (MONTH, QUARTER):
        current |= Q(granularity=g, period_start=period_start(today, g))
    rows = (
        ForecastSnapshot.objects.filter(current, kind=ForecastSnapshot.Kind.LATEST)
        .filter(scope_type__in=[COMPANY, TEAM, REP], target__isnull=False, chance_of_target__lt=threshold)
        .only("scope_type", "scope_id", "granularity", "period_start", "made_on", "won_so_far", "p10", "p50",
              "p90", "target", "chance_of_target")
        .order_by()
    )  # fmt: skip
    found = []
    for r in rows:
        who = names.scope(r.scope_type, r.scope_id)
        if who is None or not r.target:
            continue
        subject, team_id, user_id = who
        found.append(Finding(
            Rule.FORECAST, f"forecast:{r.granularity}:{r.period_start:%Y-%m-%d}:{r.scope_type}:{r.scope_id}",
            subject, r.scope_type, r.scope_id, r.period_start, granularity=r.granularity, team_id=team_id,
            user_id=user_id,
            why={"chance": str(r.chance_of_target), "threshold": str(threshold), "p50": str(r.p50),
                 "p10": str(r.p10), "p90": str(r.p90), "target": str(r.target), "won": str(r.won_so_far),
                 "gap": str(r.target - r.p50), "made_on": r.made_on.isoformat()},
        ))  # fmt: skip
    return found


STALLED_OLDEST = 3  # deals named in a stalled alert's reason


def _text(value) -> str | None:
    return None if value is None else str(value)


def stalled_findings(today: dt.date, names: _Names) -> list[Finding]:
    """A team or a salesperson with ALERT_STALLED_MIN deals or more stalled
    past their stage's threshold today: the count and by stage from the
    `stalled_deals` KPI of the month under way, the oldest deals from the
    engine's thresholds (2 queries)."""
    from alerts import stalled

    month = today.replace(day=1)
    snaps = KpiSnapshot.objects.filter(
        kpi=stalled.KPI, granularity=MONTH, period_start=month, scope_type__in=[COMPANY, TEAM, REP]
    ).only("scope_type", "scope_id", "value", "details")
    rows = {(s.scope_type, s.scope_id): s for s in snaps}
    company = rows.pop((COMPANY, 0), None)
    least = settings.ALERT_STALLED_MIN
    at_risk = {k: s for k, s in rows.items() if s.value is not None and s.value >= least}
    if not at_risk:
        return []
    thresholds = stalled.thresholds_from(company.details if company else None)
    oldest = stalled.oldest_per_owner_and_team(thresholds, today, STALLED_OLDEST) if thresholds else []
    oldest.sort(key=lambda d: (d["since"], d["pk"]))
    found = []
    for (st, sid), snap in at_risk.items():
        who = names.scope(st, sid)
        if who is None:
            continue
        field = "owner_id" if st == REP else "team_id"
        deals = [d for d in oldest if d[field] == sid][:STALLED_OLDEST]
        subject, team_id, user_id = who
        found.append(Finding(
            Rule.STALLED, f"stalled:{st}:{sid}", subject, st, sid, month, kpi=stalled.KPI, team_id=team_id,
            user_id=user_id,
            why={"count": int(snap.value), "by_stage": (snap.details or {}).get("by_stage") or {},
                 "oldest": [{"id": d["pk"], "title": d["title"], "stage": d["stage"], "days": d["days"],
                             "limit": _text(stalled.limit_for(thresholds, d["team_id"], d["stage"]))}
                            for d in deals]},
        ))  # fmt: skip
    return found


RULES = (
    band_findings, coverage_findings, detractor_findings, response_rate_findings, forecast_findings,
    stalled_findings,
)  # fmt: skip


def raise_alerts(today: dt.date | None = None) -> dict[str, int]:
    """Run every rule and store what holds: {"raised", "refreshed", "resolved"}."""
    today = today or company_today()
    names = _Names()
    findings = {f.key: f for rule in RULES for f in rule(today, names)}
    now = timezone.now()
    with transaction.atomic():
        # Locked, so two runs at once cannot both raise the same alert (the
        # partial unique constraint would refuse the second anyway).
        open_alerts = {a.key: a for a in Alert.objects.open().select_for_update()}
        fresh, kept = [], []
        for key, f in findings.items():
            alert = open_alerts.get(key)
            if alert is None:
                fresh.append(Alert(
                    rule=f.rule, key=key, kpi=f.kpi, granularity=f.granularity, scope_type=f.scope_type,
                    scope_id=f.scope_id,
                    team_id=f.team_id, user_id=f.user_id, product_id=f.product_id, subject=f.subject[:200],
                    period_start=f.period_start, why=f.why, first_seen=now, last_seen=now,
                ))  # fmt: skip
            else:
                alert.why, alert.period_start, alert.last_seen = f.why, f.period_start, now
                kept.append(alert)
        Alert.objects.bulk_create(fresh)
        # alert.raised webhooks, sent once this transaction commits.
        alerts_raised(fresh)
        Alert.objects.bulk_update(kept, ["why", "period_start", "last_seen"])
        gone = [a.pk for key, a in open_alerts.items() if key not in findings]
        Alert.objects.filter(pk__in=gone).update(resolved_at=now)
    return {"raised": len(fresh), "refreshed": len(kept), "resolved": len(gone)}
