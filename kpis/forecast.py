"""Revenue forecast (kpi-spec: "Forecast"): P10 / P50 / P90 per period.

The model, in three steps, all as of one day (today, or a past day for the
backtest):

1. **Learn** from closed deals: for every open stage S and age bucket B,
   how many closed deals stood in S at an age (days since opening) within B,
   and how many of those were won. Counted per rep, per team and for the
   company, from the stage history.
2. **Score** each open deal: its win probability is the won share of its
   (stage, age bucket) cell in the scope's own history; a cell with fewer
   than `KPI_MIN_SAMPLE` deals falls back to the wider history (rep → team
   → company). Its period is the one of its expected close date; a deal
   without one, or overdue, counts in the current period, its probability
   halved for every `OVERDUE_HALF_LIFE_DAYS` it is overdue.
3. **Simulate** every period: revenue already won + Σ amount × Bernoulli(p)
   over the period's open deals, `DRAWS` times with a fixed seed, as one
   matrix product per chunk of deals (never a Python loop per deal per draw)
   → P10, P50, P90, and the share of draws that reach the target.

docs/forecast.md explains the method and its limits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
from django.conf import settings
from django.db.models import Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from crm.models import STAGE_PROBABILITY, Deal, DealStageChange, Stage, Target, Team, User
from kpis.definitions import COMPANY, MONTH, QUARTER, REP, TEAM
from kpis.periods import add_months, next_start, period_end, period_start

FORMULA_VERSION = 1
# Lower bounds (days since the deal opened) of the age buckets: 0–30, 31–60,
# 61–90, 91–180, 181 and more. Monthly steps while most deals are decided
# (the demo's median cycle is about 70 days), then wider ones where deals
# are few and mostly stale.
AGE_BUCKETS = (0, 31, 61, 91, 181)
OPEN_STAGES = [s.value for s in Stage.open_stages()]
# An overdue deal keeps half its probability after 30 days overdue, a
# quarter after 60: the longer past its date, the likelier it slipped or died.
OVERDUE_HALF_LIFE_DAYS = 30
# 20,000 draws put the sampling error of P10/P50/P90 well below 1 % of the
# spread; the fixed seed makes every run give the same figures to the cent.
DRAWS = 20_000
SEED = 14
# Memory per chunk of the simulation: draws × deals booleans.
CHUNK_CELLS = 4_000_000
# Above this many open deals in one scope and period, the sum of independent
# Bernoullis is normal to well under a euro's relative error; drawing it
# directly keeps a 1M-deal company forecast to seconds.
EXACT_LIMIT = 5_000
HORIZON = 3  # the current period and the next two
GRANULARITIES = (MONTH, QUARTER)
TOP_DEALS = 10
LISTED_DEALS = 50


def age_bucket(age_days: int) -> int:
    """Index into AGE_BUCKETS of an age in days (negative ages count as 0)."""
    bucket = 0
    for i, low in enumerate(AGE_BUCKETS):
        if age_days >= low:
            bucket = i
    return bucket


def bucket_label(index: int) -> str:
    low = AGE_BUCKETS[index]
    if index + 1 < len(AGE_BUCKETS):
        return f"{low}–{AGE_BUCKETS[index + 1] - 1}"
    return f"{low}+"


def overdue_factor(overdue_days: int) -> float:
    """The share of its probability an overdue deal keeps (1 when on time)."""
    return 0.5 ** (max(overdue_days, 0) / OVERDUE_HALF_LIFE_DAYS)


def _zone():
    return timezone.get_default_timezone()


# ---------------------------------------------------------------- history


@dataclass
class Rates:
    """Closed-deal counts per (scope, stage, age bucket): wins and deals."""

    counts: dict[tuple[str, int, int, int], list[int]] = field(default_factory=dict)
    min_sample: int = 5

    def add(self, key: tuple[str, int, int, int], won: bool) -> None:
        cell = self.counts.setdefault(key, [0, 0])
        cell[0] += int(won)
        cell[1] += 1

    def cell(self, level: str, scope_id: int, stage: int, bucket: int) -> tuple[int, int]:
        wins, n = self.counts.get((level, scope_id, stage, bucket), (0, 0))
        return wins, n

    def probability(
        self, chain: list[tuple[str, int]], stage: int, bucket: int
    ) -> tuple[float, str, int, int]:
        """(p, source, wins, n): the first history in `chain` with a full
        sample in this cell, else the company's cell whatever its size, else
        the company's stage over all ages, else the stage's fixed probability."""
        for level, scope_id in chain:
            wins, n = self.cell(level, scope_id, stage, bucket)
            if n >= self.min_sample:
                return wins / n, level, wins, n
        wins, n = self.cell(COMPANY, 0, stage, bucket)
        if n:
            return wins / n, COMPANY, wins, n
        wins = sum(self.cell(COMPANY, 0, stage, b)[0] for b in range(len(AGE_BUCKETS)))
        n = sum(self.cell(COMPANY, 0, stage, b)[1] for b in range(len(AGE_BUCKETS)))
        if n:
            return wins / n, "stage", wins, n
        return float(STAGE_PROBABILITY[OPEN_STAGES[stage]]), "default", 0, 0


def learn(as_of: dt.date, *, include_today: bool = True) -> Rates:
    """Counts from deals closed by `as_of` (before it, for the backtest).

    A closed deal is an example for every (stage, age bucket) it stood in:
    its days in stage S run from the change into S to the next change (or
    its close), and each bucket that span touches gets one count. A deal
    that came back to a stage counts once per cell.
    """
    rates = Rates(min_sample=settings.KPI_MIN_SAMPLE)
    closed = Deal.objects.filter(stage__in=[Stage.WON, Stage.LOST])
    closed = closed.filter(closed_on__lte=as_of) if include_today else closed.filter(closed_on__lt=as_of)
    deals = {
        pk: (owner, team or 0, opened, closed_on, stage == Stage.WON)
        for pk, owner, team, opened, closed_on, stage in closed.values_list(
            "pk", "owner_id", "team_id", "opened_on", "closed_on", "stage"
        ).iterator(chunk_size=5000)
    }
    if not deals:
        return rates
    changes = (
        DealStageChange.objects.filter(deal__in=closed)
        .annotate(day=TruncDate("changed_at", tzinfo=_zone()))
        .order_by("deal_id", "changed_at", "pk")
        .values_list("deal_id", "to_stage", "day")
    )
    seen: set[tuple[int, int, int]] = set()

    def close_span(pk: int, stage: str, start: dt.date, end: dt.date) -> None:
        if stage not in OPEN_STAGES:
            return
        owner, team, opened, closed_on, won = deals[pk]
        start, end = max(start, opened), min(end, closed_on)
        first = age_bucket((start - opened).days)
        last = age_bucket(max((end - opened).days - 1, (start - opened).days))
        s = OPEN_STAGES.index(stage)
        for b in range(first, last + 1):
            if (pk, s, b) in seen:
                continue
            seen.add((pk, s, b))
            rates.add((COMPANY, 0, s, b), won)
            rates.add((TEAM, team, s, b), won)
            rates.add((REP, owner, s, b), won)

    previous: tuple[int, str, dt.date] | None = None
    for pk, stage, day in changes.iterator(chunk_size=5000):
        if previous and previous[0] == pk:
            close_span(pk, previous[1], previous[2], day)
        elif previous:
            close_span(previous[0], previous[1], previous[2], deals[previous[0]][3])
        previous = (pk, stage, day)
    if previous:
        close_span(previous[0], previous[1], previous[2], deals[previous[0]][3])
    return rates


# ---------------------------------------------------------------- open deals


@dataclass
class OpenDeal:
    pk: int
    title: str
    amount: Decimal
    stage: str
    opened_on: dt.date
    expected_close_on: dt.date | None
    owner_id: int
    team_id: int


def open_deals_now() -> list[OpenDeal]:
    rows = Deal.objects.open().values_list(
        "pk", "title", "amount", "stage", "opened_on", "expected_close_on", "owner_id", "team_id"
    )
    return [
        OpenDeal(pk, t, a, s, o, e, ow, tm or 0)
        for pk, t, a, s, o, e, ow, tm in rows.iterator(chunk_size=5000)
    ]


def open_deals_on(day: dt.date, *, assume_close_dates: bool = False) -> list[OpenDeal]:
    """The deals open at the start of `day`, each in the stage it stood in
    then (the last change before that day in the stage history).

    The expected close date is the one stored today: Boussole keeps no
    history of it. With `assume_close_dates`, a closed deal without one is
    given its real close date (a best case for timing).
    """
    candidates = Deal.objects.filter(opened_on__lt=day).exclude(closed_on__lt=day)
    stages: dict[int, str] = {}
    changes = (
        DealStageChange.objects.filter(deal__in=candidates)
        .annotate(day=TruncDate("changed_at", tzinfo=_zone()))
        .filter(day__lt=day)
        .order_by("deal_id", "changed_at", "pk")
        .values_list("deal_id", "to_stage")
    )
    for pk, stage in changes.iterator(chunk_size=5000):
        stages[pk] = stage
    result = []
    rows = candidates.values_list(
        "pk", "title", "amount", "opened_on", "expected_close_on", "closed_on", "owner_id", "team_id"
    )
    for pk, title, amount, opened, expected, closed_on, owner, team in rows.iterator(chunk_size=5000):
        stage = stages.get(pk, Stage.PROSPECTING)
        if stage not in OPEN_STAGES:
            continue
        if expected is None and assume_close_dates:
            expected = closed_on
        result.append(OpenDeal(pk, title, amount, stage, opened, expected, owner, team or 0))
    return result


# ---------------------------------------------------------------- simulation


def _seed(*parts) -> int:
    digest = hashlib.sha256(":".join(str(p) for p in (SEED, *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def simulate(amounts: np.ndarray, probabilities: np.ndarray, seed: int, draws: int = DRAWS) -> np.ndarray:
    """`draws` totals of Σ amount × Bernoulli(p), reproducible from `seed`.

    Each chunk of deals is one (draws × deals) random matrix and one matrix
    product; above EXACT_LIMIT deals, the normal with the same mean and
    variance."""
    rng = np.random.default_rng(seed)
    totals = np.zeros(draws)
    n = len(amounts)
    if n == 0:
        return totals
    if n > EXACT_LIMIT:
        mean = float(np.dot(amounts, probabilities))
        sd = float(np.sqrt(np.dot(amounts**2, probabilities * (1 - probabilities))))
        return np.clip(rng.normal(mean, sd, draws), 0, float(amounts.sum()))
    chunk = max(1, CHUNK_CELLS // draws)
    for i in range(0, n, chunk):
        # Uniforms in float32 (twice as fast, and precise enough to compare
        # with a probability); the sums stay float64, exact to the cent.
        uniforms = rng.random((draws, min(chunk, n - i)), dtype=np.float32)
        wins = uniforms < probabilities[i : i + chunk].astype(np.float32)
        totals += wins.astype(np.float64) @ amounts[i : i + chunk]
    return totals


def percentiles(totals: np.ndarray) -> tuple[float, float, float]:
    # "inverted_cdf": each percentile is one of the simulated totals (a sum
    # of real deal amounts), not an interpolation between two.
    p10, p50, p90 = np.percentile(totals, [10, 50, 90], method="inverted_cdf")
    return float(p10), float(p50), float(p90)


def money(value: float | Decimal) -> Decimal:
    return Decimal(str(round(float(value), 2))).quantize(Decimal("0.01"))


# ---------------------------------------------------------------- forecasts


@dataclass
class Forecast:
    scope_type: str
    scope_id: int
    granularity: str
    period_start: dt.date
    won_so_far: Decimal
    p10: Decimal
    p50: Decimal
    p90: Decimal
    expected: Decimal
    target: Decimal | None
    chance_of_target: Decimal | None
    open_deals: int
    details: dict


def periods_ahead(as_of: dt.date, granularity: str, count: int = HORIZON) -> list[dt.date]:
    start = period_start(as_of, granularity)
    starts = [start]
    for _ in range(count - 1):
        starts.append(next_start(starts[-1], granularity))
    return starts


def _targets(months: list[dt.date]) -> dict[tuple[str, int, dt.date], Decimal]:
    """Monthly targets per rep and team; the company's is the sum of its
    teams' (rep targets are how a team's is split, not extra)."""
    out: dict[tuple[str, int, dt.date], Decimal] = defaultdict(Decimal)
    rows = Target.objects.filter(month__in=months).values_list("user_id", "team_id", "month", "amount")
    for user_id, team_id, month, amount in rows:
        if user_id:
            out[(REP, user_id, month)] += amount
        else:
            out[(TEAM, team_id, month)] += amount
            out[(COMPANY, 0, month)] += amount
    return out


def _won(first: dt.date, last: dt.date) -> dict[tuple[str, int], list[tuple[dt.date, Decimal]]]:
    """Per scope, (close day, amount summed) of the deals won in [first, last]:
    one GROUP BY, indexed so that each scope reads only its own rows."""
    rows = (
        Deal.objects.won()
        .filter(closed_on__range=(first, last))
        .values_list("owner_id", "team_id", "closed_on")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    won: dict[tuple[str, int], list[tuple[dt.date, Decimal]]] = defaultdict(list)
    for owner, team, day, total in rows:
        for key in ((COMPANY, 0), (TEAM, team or 0), (REP, owner)):
            won[key].append((day, total))
    return won


def _sum_won(won, scope_type: str, scope_id: int, first: dt.date, last: dt.date) -> Decimal:
    return sum(
        (amount for day, amount in won.get((scope_type, scope_id), ()) if first <= day <= last), Decimal(0)
    )


def _chain(scope_type: str, scope_id: int, deal: OpenDeal) -> list[tuple[str, int]]:
    if scope_type == REP:
        return [(REP, deal.owner_id), (TEAM, deal.team_id), (COMPANY, 0)]
    if scope_type == TEAM:
        return [(TEAM, deal.team_id), (COMPANY, 0)]
    return [(COMPANY, 0)]


def forecast_all(
    as_of: dt.date,
    *,
    deals: list[OpenDeal] | None = None,
    rates: Rates | None = None,
    scopes: Iterable[tuple[str, int]] | None = None,
    granularities: Iterable[str] = GRANULARITIES,
    horizon: int = HORIZON,
    won_so_far: bool = True,
) -> list[Forecast]:
    """Forecasts of every scope for the current and next periods, as of a day."""
    deals = open_deals_now() if deals is None else deals
    rates = learn(as_of) if rates is None else rates
    if scopes is None:
        scopes = [(COMPANY, 0)]
        scopes += [(TEAM, pk) for pk in Team.objects.values_list("pk", flat=True)]
        reps = set(User.objects.sales_staff().filter(is_active=True).values_list("pk", flat=True))
        reps |= {d.owner_id for d in deals}
        scopes += [(REP, pk) for pk in sorted(reps)]
    scopes = list(scopes)
    granularities = list(granularities)
    plans = {g: periods_ahead(as_of, g, horizon) for g in granularities}
    last = max(period_end(starts[-1], g) for g, starts in plans.items())
    months = [m for m in _month_list(min(s[0] for s in plans.values()), last)]
    targets = _targets(months)
    won = _won(min(s[0] for s in plans.values()), as_of) if won_so_far else {}

    # Per deal, once: its period index per granularity and its overdue days.
    placed = []
    for deal in deals:
        due = deal.expected_close_on
        overdue = (as_of - due).days if due and due < as_of else 0
        day = due if due and due >= as_of else as_of
        where = {}
        for g, starts in plans.items():
            ps = period_start(day, g)
            where[g] = starts.index(ps) if ps in starts else None
        placed.append((deal, overdue, age_bucket((as_of - deal.opened_on).days), where))

    # Each scope reads only its own deals (a loop over every deal per scope
    # would be reps × deals).
    by_scope: dict[tuple[str, int], list] = defaultdict(list)
    for item in placed:
        by_scope[(COMPANY, 0)].append(item)
        by_scope[(TEAM, item[0].team_id)].append(item)
        by_scope[(REP, item[0].owner_id)].append(item)
    out = []
    for scope_type, scope_id in scopes:
        mine = by_scope.get((scope_type, scope_id), [])
        scored = []
        for deal, overdue, bucket, where in mine:
            stage = OPEN_STAGES.index(deal.stage)
            p, source, wins, n = rates.probability(_chain(scope_type, scope_id, deal), stage, bucket)
            scored.append((deal, overdue, bucket, where, p * overdue_factor(overdue), p, source, wins, n))
        for g, starts in plans.items():
            for index, start in enumerate(starts):
                end = period_end(start, g)
                chosen = [s for s in scored if s[3][g] == index]
                out.append(_one(scope_type, scope_id, g, start, end, as_of, chosen, targets, won))
    return out


def _month_list(first: dt.date, last: dt.date) -> list[dt.date]:
    months, month = [], first.replace(day=1)
    while month <= last:
        months.append(month)
        month = add_months(month, 1)
    return months


def _one(scope_type, scope_id, g, start, end, as_of, chosen, targets, won) -> Forecast:
    amounts = np.array([float(s[0].amount) for s in chosen], dtype=np.float64)
    probs = np.array([s[4] for s in chosen], dtype=np.float64)
    # The seed names no database id, so a forecast is reproducible across
    # databases and test runs.
    totals = simulate(amounts, probs, _seed(scope_type, g, start.isoformat(), as_of.isoformat()))
    base = _sum_won(won, scope_type, scope_id, start, min(end, as_of)) if start <= as_of else Decimal(0)
    base = base.quantize(Decimal("0.01"))
    p10, p50, p90 = percentiles(totals)
    target = None
    if scope_type in (COMPANY, TEAM, REP):
        month_targets = [targets.get((scope_type, scope_id, m)) for m in _month_list(start, end)]
        if any(t is not None for t in month_targets):
            target = sum((t for t in month_targets if t is not None), Decimal(0))
    chance = None
    if target is not None:
        need = float(target - base)
        chance = Decimal(str(round(float(np.mean(totals >= need)) * 100, 1)))
    # The deals that move the forecast most: the widest swing between won
    # and lost, amount × √(p(1−p)) (each deal's share of the spread).
    ranked = sorted(chosen, key=lambda s: -float(s[0].amount) * (s[4] * (1 - s[4])) ** 0.5)
    listed = [
        {
            "id": s[0].pk,
            "title": s[0].title,
            "amount": str(s[0].amount),
            "stage": s[0].stage,
            "age": bucket_label(s[2]),
            "expected_close_on": s[0].expected_close_on.isoformat() if s[0].expected_close_on else None,
            "overdue_days": s[1],
            "base_probability": round(s[5], 4),
            "probability": round(s[4], 4),
            "source": s[6],
            "wins": s[7],
            "closed": s[8],
        }
        for s in ranked[:LISTED_DEALS]
    ]
    cells = {}
    for s in chosen:
        key = f"{s[0].stage}|{s[2]}|{s[6]}"
        cells.setdefault(
            key,
            {"stage": s[0].stage, "bucket": s[2], "age": bucket_label(s[2]), "source": s[6],
             "wins": s[7], "closed": s[8], "rate": round(s[5], 4), "deals": 0},
        )  # fmt: skip
        cells[key]["deals"] += 1
    return Forecast(
        scope_type=scope_type,
        scope_id=scope_id,
        granularity=g,
        period_start=start,
        won_so_far=base,
        p10=base + money(p10),
        p50=base + money(p50),
        p90=base + money(p90),
        expected=base + money(float(np.dot(amounts, probs)) if len(amounts) else 0),
        target=target,
        chance_of_target=chance,
        open_deals=len(chosen),
        details={
            "deals": listed,
            "top": TOP_DEALS,
            "rates": sorted(
                cells.values(), key=lambda c: (OPEN_STAGES.index(c["stage"]), c["bucket"], c["source"])
            ),
            "draws": DRAWS,
            "seed": SEED,
        },
    )


# ---------------------------------------------------------------- storage


def _midpoint(start: dt.date, granularity: str) -> dt.date:
    end = period_end(start, granularity)
    return start + dt.timedelta(days=(end - start).days // 2 + 1)


def _row(f: Forecast, kind: str, as_of: dt.date, now, **extra):
    from kpis.models import ForecastSnapshot

    return ForecastSnapshot(
        scope_type=f.scope_type,
        scope_id=f.scope_id,
        granularity=f.granularity,
        period_start=f.period_start,
        kind=kind,
        made_on=as_of,
        won_so_far=f.won_so_far,
        p10=f.p10,
        p50=f.p50,
        p90=f.p90,
        expected=f.expected,
        target=f.target,
        chance_of_target=f.chance_of_target,
        open_deals=f.open_deals,
        details=f.details,
        formula_version=FORMULA_VERSION,
        computed_at=now,
        **extra,
    )


UPDATED = [
    "made_on", "won_so_far", "p10", "p50", "p90", "expected", "target", "chance_of_target",
    "open_deals", "details", "formula_version", "computed_at",
]  # fmt: skip
KEY = ["scope_type", "scope_id", "granularity", "period_start", "kind"]


def store(as_of: dt.date, *, dirty_months: Iterable[dt.date] = (), all_actuals: bool = False) -> int:
    """The nightly step: write today's forecasts and refresh closed periods'
    actuals. Returns the rows written.

    "latest" is rewritten every night; "start" and "mid" only if the period
    has none yet, so what was forecast then is never overwritten.
    """
    from django.db import transaction

    from crm.models import today as company_today
    from kpis.models import ForecastSnapshot

    # A run "as of" a past day (recompute_kpis --today) must not forecast
    # from today's pipeline: it replays the deals open at that day's end, in
    # the stage they stood in, and marks what it keeps as replayed.
    replay = as_of < company_today()
    deals = open_deals_on(as_of + dt.timedelta(days=1)) if replay else None
    forecasts = forecast_all(as_of, deals=deals)
    now = timezone.now()
    starts = {f.period_start for f in forecasts}
    kept = set(
        ForecastSnapshot.objects.filter(period_start__in=starts, kind__in=["start", "mid"]).values_list(*KEY)
    )
    # A run as of a past day never replaces a forecast made on a later day.
    newer = set(
        ForecastSnapshot.objects.filter(
            period_start__in=starts, kind="latest", made_on__gt=as_of
        ).values_list("scope_type", "scope_id", "granularity", "period_start")
    )
    latest, once = [], []
    for f in forecasts:
        key = (f.scope_type, f.scope_id, f.granularity, f.period_start)
        if key not in newer:
            latest.append(_row(f, "latest", as_of, now))
        if f.period_start <= as_of and (*key, "start") not in kept:
            once.append(_row(f, "start", as_of, now, backfilled=replay))
        if as_of >= _midpoint(f.period_start, f.granularity) and (*key, "mid") not in kept:
            once.append(_row(f, "mid", as_of, now, backfilled=replay))
    with transaction.atomic():
        ForecastSnapshot.objects.bulk_create(
            latest, batch_size=500, update_conflicts=True, unique_fields=KEY, update_fields=UPDATED
        )
        ForecastSnapshot.objects.bulk_create(once, batch_size=500, ignore_conflicts=True)
        written = len(latest) + len(once) + update_actuals(as_of, dirty_months, everything=all_actuals)
    return written


def update_actuals(as_of: dt.date, dirty_months: Iterable[dt.date] = (), *, everything: bool = False) -> int:
    """Set `actual` on forecasts of closed periods that have none yet, or
    whose months a correction marked (kpi-spec: a correction reaches every
    period it touches). One read of the won deals of those periods."""
    from django.db.models import Q

    from kpis.models import ForecastSnapshot

    dirty = sorted(set(dirty_months))
    closed = ForecastSnapshot.objects.filter(period_start__lt=as_of)
    if not everything:
        touched = Q(actual__isnull=True)
        for month in dirty:
            for g in GRANULARITIES:
                touched |= Q(granularity=g, period_start=period_start(month, g))
        closed = closed.filter(touched)
    rows = [r for r in closed if period_end(r.period_start, r.granularity) < as_of]
    if not rows:
        return 0
    first = min(r.period_start for r in rows)
    last = max(period_end(r.period_start, r.granularity) for r in rows)
    won = _won(first, last)
    for r in rows:
        r.actual = _sum_won(
            won, r.scope_type, r.scope_id, r.period_start, period_end(r.period_start, r.granularity)
        )
    ForecastSnapshot.objects.bulk_update(rows, ["actual"], batch_size=500)
    return len(rows)


@dataclass
class Accuracy:
    periods: int
    covered: int
    coverage: Decimal | None  # % of periods whose P10–P90 held the actual
    mape: Decimal | None  # mean absolute % error of P50, over periods with revenue


def accuracy(rows: Iterable) -> Accuracy:
    """forecast_accuracy over closed periods' forecasts made at their start."""
    rows = [r for r in rows if r.actual is not None]
    covered = sum(1 for r in rows if r.p10 <= r.actual <= r.p90)
    errors = [abs(r.p50 - r.actual) / r.actual for r in rows if r.actual > 0]
    return Accuracy(
        periods=len(rows),
        covered=covered,
        coverage=(Decimal(covered) * 100 / len(rows)).quantize(Decimal("0.1")) if rows else None,
        mape=(sum(errors) * 100 / len(errors)).quantize(Decimal("0.1")) if errors else None,
    )


# ---------------------------------------------------------------- backtest


@dataclass
class BacktestRow:
    forecast: Forecast
    actual: Decimal

    @property
    def held(self) -> bool:
        return self.forecast.p10 <= self.actual <= self.forecast.p90

    # accuracy() reads these.
    @property
    def p10(self) -> Decimal:
        return self.forecast.p10

    @property
    def p50(self) -> Decimal:
        return self.forecast.p50

    @property
    def p90(self) -> Decimal:
        return self.forecast.p90


def backtest(
    first: dt.date,
    last: dt.date,
    *,
    scopes: list[tuple[str, int]] | None = None,
    assume_close_dates: bool = False,
    progress=None,
    today: dt.date | None = None,
) -> list[BacktestRow]:
    """Replay the forecast made at the start of every month from `first` to
    `last` (and of every quarter starting in it) with the history as it
    stood that morning: deals closed before it to learn from, deals open
    then in the stage they stood in (stage history). Scored against the
    revenue the period really made."""
    if scopes is None:
        scopes = [(COMPANY, 0)] + [(TEAM, pk) for pk in Team.objects.values_list("pk", flat=True)]
    from crm.models import today as company_today

    today = today or company_today()
    months = _month_list(first, last)
    out: list[BacktestRow] = []
    for i, month in enumerate(months, start=1):
        granularities = [MONTH] + ([QUARTER] if month.month in (1, 4, 7, 10) else [])
        deals = open_deals_on(month, assume_close_dates=assume_close_dates)
        rates = learn(month, include_today=False)
        forecasts = forecast_all(
            month, deals=deals, rates=rates, scopes=scopes, granularities=granularities, horizon=1,
            won_so_far=False,
        )  # fmt: skip
        end = max(period_end(f.period_start, f.granularity) for f in forecasts)
        won = _won(month, end)
        for f in forecasts:
            if period_end(f.period_start, f.granularity) >= today:
                continue  # not over yet: nothing to score against
            actual = _sum_won(
                won, f.scope_type, f.scope_id, f.period_start, period_end(f.period_start, f.granularity)
            )
            out.append(BacktestRow(f, actual))
        if progress:
            progress(i, len(months), month, len(deals))
    return out


def store_backtest(rows: list[BacktestRow]) -> int:
    """Save replayed forecasts as the "start" forecast of periods that have
    none (marked backfilled), so the accuracy chart has a history."""
    from kpis.models import ForecastSnapshot

    now = timezone.now()
    objs = [
        _row(r.forecast, "start", r.forecast.period_start, now, actual=r.actual, backfilled=True)
        for r in rows
    ]
    before = ForecastSnapshot.objects.count()
    ForecastSnapshot.objects.bulk_create(objs, batch_size=500, ignore_conflicts=True)
    return ForecastSnapshot.objects.count() - before
