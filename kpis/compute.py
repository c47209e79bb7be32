"""The KPI engine: raw tables → monthly facts → KpiSnapshot rows.

Every number follows ../shared/kpi-spec.md (docs/kpis.md). The work has two
layers:

1. **Monthly facts** (`MonthFact`): for a month and a scope (the company, a
   team, a rep, a campaign), additive facts read from the raw tables with one
   GROUP BY per fact table — revenue, deals won and lost, prospects and how
   many became paying customers, spend, answers, activities… — plus the facts
   every cumulative figure is a running sum of: customers acquired, churned
   and buying again, and the open pipeline's changes (a deal's open stretch
   in a stage adds its amount in the month it starts and takes it away in the
   month it ends, read from the stage history). Only the months that need it
   are read from the raw tables: those a change marked dirty (database
   triggers, kpis.triggers), those with no stored facts yet, and the current
   and previous month.
2. **Snapshots**: a month, quarter or year is the sum of its months' facts (a
   rate is Σ numerator ÷ Σ denominator, never an average of rates); customers
   active at a period's start, the pipeline open at its end, are running sums
   over every month before. So a quarter or a year never re-reads two years
   of raw rows when one month changed, and one dirty month costs about one
   month's raw reads plus the rewrite of the periods made of it.

A period still under way is also computed over the same elapsed span of the
previous period (like for like, kpi-spec), stored in each current snapshot's
`details["compare"]`: the full months of that span come from stored facts,
the last partial month from the raw tables.

Every recompute applies the inactivity churn rule as of its own day of
computation first (`apply_churn_rule`), and runs in one transaction: facts,
snapshots and the dirty months it consumed are written together, so a killed
run leaves the previous figures and its dirty months for the next run.

Readings of the spec worth knowing (also in docs/kpis.md):
- the open pipeline at a past month's end counts each deal open then (opened
  on or before that day, not closed by it, per its dates) in the stage the
  stage history says it stood in; at its current amount, owner and team; a
  deal whose history does not name the stage it stood in (an import that
  recorded only its close) counts in the first stage, Prospecting;
- churn_rate's numerator is the customers active at P's start whose churn
  date falls in P, so churn and retention add up to 100 %;
- ltv's "mean monthly churn" is the mean of the monthly churn rates of the six
  calendar months ending with P's last month that have customers at their start.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import json
import logging
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import (
    Case,
    Count,
    DateField,
    DurationField,
    ExpressionWrapper,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.functions import Coalesce, Lag, RowNumber, Trunc, TruncMonth, TruncQuarter, TruncYear
from django.utils import timezone

from crm.models import (
    EARLIEST_DATE,
    LATEST_DATE,
    STAGE_PROBABILITY,
    Activity,
    Campaign,
    CampaignSpend,
    Customer,
    Deal,
    DealStageChange,
    Prospect,
    Role,
    SalesCost,
    Stage,
    Target,
    Team,
    User,
)
from crm.models import today as company_today
from kpis import process
from kpis.definitions import CAMPAIGN, COMPANY, GRANULARITIES, KPIS, MONTH, QUARTER, REP, TEAM, YEAR
from kpis.models import DirtyMonth, EngineState, FactMonth, KpiSnapshot, MonthFact, PartialFacts
from kpis.periods import MONTHS_IN, add_months, month_starts, period_end, period_start, periods_between
from surveys.models import Invitation, Response
from team import kpis as team_kpis
from team.models import Certification, PulseAnswer, TrainingSession

logger = logging.getLogger(__name__)

# Bump when a fact changes meaning: every month is then read again.
# 2: closed deals' sums per product (issue 15); 3: the team's facts (issue 13);
# 4: lost deals per stage and reason, activities on won deals (issue 12);
# 5: time in stage and lead response as monthly counts (the process family);
# 6: the funnel's first entries per month, quarter and year (process family);
# 7: won deals' stays per month won (won_stays family: the stalled thresholds).
FACTS_VERSION = 7

ZERO = Decimal(0)
# Sales facts "lost|<stage lost at>|<reason code>": lost deals (lost_reasons).
LOST_PREFIX = "lost|"
HUNDRED = Decimal(100)
# Snapshot columns hold 6 decimals; rounding here (not in the database) keeps
# two runs byte-identical on every backend.
SIX_PLACES = Decimal("0.000001")
# Rows per upsert statement; SQLite lowers it to its own parameter limit.
WRITE_BATCH = 2000
# The PostgreSQL write path (_Engine._upsert_json): columns and their types.
_UNIQUE_FIELDS = ("kpi", "scope_type", "scope_id", "granularity", "period_start")
_UPDATE_FIELDS = ("value", "numerator", "denominator", "details", "low_sample", "maturing", "formula_version",
                  "computed_at")  # fmt: skip
_WRITE_COLUMNS = (*_UNIQUE_FIELDS, *_UPDATE_FIELDS)
_WRITE_TYPES = ("varchar", "varchar", "bigint", "varchar", "date", "numeric", "numeric", "numeric", "jsonb",
               "boolean", "boolean", "smallint", "timestamptz")  # fmt: skip

# Fact families: stored and read separately, so that a nightly run reads the
# running-sum families whole and the period sums only for the periods it writes.
# The process family holds the counts behind the per-span percentiles
# (kpis.process.month_histograms): "stay|<stage>|<days>" stays ended in the
# month, "moved|<stage>" those that moved on, "lead|<hours>" first touches,
# "in_<granularity>|<stage>" deals' first entries into a stage in the
# month's period of that granularity (the funnel).
# The won_stays family counts the stays of the deals won in the month, per
# "<stage>|<days>", for the company and teams: the stalled thresholds are
# percentiles over every month's counts (kpis.process.stall_thresholds).
SALES, PIPELINE, CUSTOMERS, PROCESS, WON_STAYS = "sales", "pipeline", "customers", "process", "won_stays"
FAMILIES = (SALES, PIPELINE, CUSTOMERS, PROCESS, WON_STAYS)
# Families of plain counts: held as ints in memory. Their histograms are
# most of a night's facts (two years of them, summed per span), and ints
# parse and add several times faster than Decimals.
COUNT_FAMILIES = frozenset({PROCESS, WON_STAYS})
# What a like-for-like span's partial month holds (PartialFacts).
PARTIAL_FAMILIES = (SALES, PIPELINE, CUSTOMERS, PROCESS)
OPEN_STAGES = [s.value for s in Stage.open_stages()]
# ARPA counts each customer once per 12-month window: a customer-month is
# counted when the customer's previous won month is before the window. The
# histogram keeps how many months back that was (1–11), or "old".
ARPA_BACK = range(1, 12)

# KPIs that are running sums over all earlier months: a change to an old
# month moves them in every later period too.
CUMULATIVE_KPIS = frozenset({
    "churn_rate", "retention_rate", "repeat_purchase_rate", "arpa", "ltv", "ltv_cac_ratio",
    "cac_payback_months", "open_pipeline_value", "weighted_pipeline_value", "pipeline_velocity",
    "certified_share",
})  # fmt: skip
COHORT_KPIS = frozenset(k for k, d in KPIS.items() if d.is_cohort)
# Computed per span from the process family (kpis.process).
SPAN_KPIS = frozenset({"time_in_stage_days", "stage_conversion_rate", "lead_response_hours"})

Progress = Callable[[int, int], None]
ScopeKey = tuple[str, int]


# --- small helpers -------------------------------------------------------------


def _zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def _midnight(day: dt.date) -> dt.datetime:
    """The aware instant a company-zone day starts."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=_zone())


def _round(value: Decimal | int | None) -> Decimal | None:
    if value is None:
        return None
    return Decimal(value).quantize(SIX_PLACES, rounding=ROUND_HALF_UP)


def _ratio(numerator, denominator, scale: Decimal = Decimal(1)) -> Decimal | None:
    """numerator ÷ denominator × scale; None (n/a) when either is missing or the
    denominator is zero (kpi-spec: never 0, never an exception)."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return Decimal(numerator) * scale / Decimal(denominator)


def _as_date(value) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return timezone.localtime(value, _zone()).date()
    return value


def _month_end(month: dt.date) -> dt.date:
    return add_months(month, 1) - dt.timedelta(days=1)


def _months_between(a: dt.date, b: dt.date) -> int:
    return (b.year - a.year) * 12 + b.month - a.month


def _runs(months: Iterable[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Contiguous runs of months as (first day, last day) ranges."""
    runs: list[list[dt.date]] = []
    for month in sorted(set(months)):
        if runs and add_months(runs[-1][1], 1) == month:
            runs[-1][1] = month
        else:
            runs.append([month, month])
    return [(a, _month_end(b)) for a, b in runs]


class _Sums:
    """Additive facts per (scope type, scope id, month)."""

    def __init__(self) -> None:
        self.data: dict[tuple[str, int, dt.date], dict[str, Decimal]] = defaultdict(
            lambda: defaultdict(Decimal)
        )

    def add_rows(
        self,
        rows: Iterable[dict],
        fields: Iterable[str],
        scopes: dict[str, str | None],
        period: dt.date | None = None,
        company: bool = True,
    ) -> None:
        """Add each grouped row to the company and to the rep/team/campaign its
        `scopes` columns name (None in a column: the row has no such scope)."""
        fields = tuple(fields)
        for row in rows:
            start = period or row["period"]
            keys = [(COMPANY, 0)] if company else []
            for scope_type, column in scopes.items():
                if column and row.get(column) is not None:
                    keys.append((scope_type, row[column]))
            for scope_type, scope_id in keys:
                bucket = self.data[(scope_type, scope_id, start)]
                for name in fields:
                    value = row[name]
                    if value is not None:
                        if isinstance(value, dt.timedelta):
                            value = value.days
                        bucket[name] += Decimal(value)


# --- the span of data ----------------------------------------------------------


@dataclass
class Span:
    first: dt.date
    last: dt.date
    warnings: list[str] = field(default_factory=list)


def data_span(today: dt.date | None = None) -> Span:
    """The first and last day any fact table has data for (today at least as
    the last day, so the current period is always computed).

    Dates outside EARLIEST_DATE..LATEST_DATE (forms and imports refuse them;
    an old row or raw SQL may still hold one) are left out of the span and
    reported, never a crash: such a row counts nowhere.
    """
    today = today or company_today()
    lo, hi = _midnight(EARLIEST_DATE), _midnight(LATEST_DATE + dt.timedelta(days=1))
    sources = [
        (Deal, "opened_on", False), (Deal, "closed_on", False), (Prospect, "created_on", False),
        (Customer, "acquired_on", False), (Customer, "churned_on", False), (CampaignSpend, "spent_on", False),
        (SalesCost, "spent_on", False), (Activity, "occurred_on", False), (Target, "month", False),
        (Invitation, "sent_at", True), (Response, "submitted_at", True),
        (TrainingSession, "date", False), (Certification, "obtained_on", False),
        (PulseAnswer, "submitted_on", False),
    ]  # fmt: skip
    lows, highs, warnings = [], [today], []
    for model, name, is_ts in sources:
        first, last = (lo, hi) if is_ts else (EARLIEST_DATE, LATEST_DATE + dt.timedelta(days=1))
        # MIN and MAX over a range of an indexed column: two index probes on
        # PostgreSQL, whatever the table's size (no FILTER, which scans).
        bounds = model.objects.filter(**{f"{name}__gte": first, f"{name}__lt": last}).aggregate(
            lo=Min(name), hi=Max(name)
        )
        if bounds["lo"] is not None:
            lows.append(_as_date(bounds["lo"]))
            highs.append(_as_date(bounds["hi"]))
        outside = model.objects.filter(Q(**{f"{name}__lt": first}) | Q(**{f"{name}__gte": last}))
        if outside.exists():
            warnings.append(
                f"{outside.count()} {model._meta.verbose_name_plural} with a {name} outside "
                f"{EARLIEST_DATE.year}–{LATEST_DATE.year} count in no period: correct them."
            )
    return Span(min(lows, default=today), max(highs), warnings)


# --- the churn rule ------------------------------------------------------------


def apply_churn_rule(today: dt.date | None = None) -> int:
    """Derive inactivity churn as of `today` (kpi-spec: churn).

    A customer is churned on the day KPI_CHURN_INACTIVITY_DAYS after its last
    won deal if no won deal came since. The rule's churns are re-derived each
    time (set, moved or cleared), so a run for any day gives the same figures
    whatever ran before it; churns a person recorded are never touched.
    Two UPDATE statements, whatever the number of customers. Returns how many
    customers changed.
    """
    days = settings.KPI_CHURN_INACTIVITY_DAYS
    today = today or company_today()
    customer = Customer._meta.db_table
    # Each customer's last won deal is kept on it by the database
    # (last_won_on, kpis.triggers): grouping every won deal per customer
    # took a second of each night on 1M deals.
    if connection.vendor == "postgresql":
        due, since = "(last_won_on + %s)", "(%s::date - %s)"
        due_params, since_params = [days], [connection.ops.adapt_datefield_value(today), days]
    else:
        due, since = "date(last_won_on, %s)", "date(%s, %s)"
        due_params = [f"+{days} days"]
        since_params = [connection.ops.adapt_datefield_value(today), f"-{days} days"]
    today_param = connection.ops.adapt_datefield_value(today)
    reason = f"No won deal for {days} days"
    changed = 0
    with transaction.atomic(), connection.cursor() as cursor:
        if days:
            # Set or move the rule's churns that hold as of today…
            cursor.execute(
                f"UPDATE {customer} SET churned_on = {due}, churn_reason = %s, churned_by_rule = %s "
                f"WHERE acquired_on IS NOT NULL AND last_won_on IS NOT NULL AND {due} <= %s "
                f"AND (churned_on IS NULL OR (churned_by_rule AND churned_on <> {due}))",
                [*due_params, reason, True, *due_params, today_param, *due_params],
            )
            changed += cursor.rowcount
            # …and clear those that no longer do (another day, a deal no
            # longer won): no won deal at all, or one after today minus the
            # inactivity days.
            cursor.execute(
                f"UPDATE {customer} SET churned_on = NULL, churn_reason = '', churned_by_rule = %s "
                f"WHERE churned_by_rule AND (acquired_on IS NULL OR last_won_on IS NULL "
                f"OR last_won_on > {since})",
                [False, *since_params],
            )
        else:
            cursor.execute(
                f"UPDATE {customer} SET churned_on = NULL, churn_reason = '', churned_by_rule = %s "
                f"WHERE churned_by_rule",
                [False],
            )
        changed += cursor.rowcount
    return changed


# --- what a run does -------------------------------------------------------------


@dataclass
class Result:
    rows: int = 0
    churned: int = 0
    months: list[dt.date] = field(default_factory=list)  # months read from the raw tables
    warnings: list[str] = field(default_factory=list)

    def __int__(self) -> int:
        return self.rows

    @property
    def message(self) -> str:
        return " ".join(self.warnings)


def recompute(
    start: dt.date | None = None,
    end: dt.date | None = None,
    granularities: Iterable[str] = GRANULARITIES,
    *,
    today: dt.date | None = None,
    progress: Progress | None = None,
) -> Result:
    """Recompute every KPI for the periods of `granularities` overlapping the
    months from `start`'s to `end`'s, reading those months from the raw
    tables again; None/None covers every period that has data (a recompute
    from scratch). Applies the churn rule first."""
    today = today or company_today()
    with _engine_session():
        churned = apply_churn_rule(today)
        span = data_span(today)
        start = max(start or span.first, EARLIEST_DATE)
        end = min(end or span.last, LATEST_DATE)
        if end < start:
            raise ValueError("The end of the range comes before its start.")
        months = set(month_starts(start, end))
        plan = {g: periods_between(start.replace(day=1), period_end(end.replace(day=1), MONTH), g)
                for g in granularities}  # fmt: skip
        result = _run(months, plan, today=today, span=span, progress=progress)
    result.churned = churned
    return result


def refresh(*, today: dt.date | None = None, progress: Progress | None = None) -> Result:
    """The nightly run and "Recompute now": the churn rule, then the current
    and previous period of each granularity and every period a change made
    dirty since the last run."""
    today = today or company_today()
    with _engine_session():
        churned = apply_churn_rule(today)
        span = data_span(today)
        plan = current_and_previous(today)
        # Lead conversion's cohorts are sales facts: only that family is read.
        cohorts = {month: {SALES} for month in _stale_months(today)}
        result = _run(set(), plan, today=today, span=span, progress=progress, nightly=True, some=cohorts)
    result.churned = churned
    return result


def _stale_months(today: dt.date) -> set[dt.date]:
    """Months whose stored facts no longer hold though no change marked them.

    The triggers mark every month a change touches, so a month's stored
    facts hold until it is marked (the current month included: on a working
    day it always is). The one fact that moves with the calendar alone is
    lead conversion, counted "by the day of computation": a customer whose
    first won deal is dated after the last run's day, and on or before
    today, now counts as paying in its prospects' cohorts. (One dated on or
    before a run's day was paying for that run already: the change that
    dated it marked its cohorts, read again by the next run.) Kept partial
    months follow the same rule: their cohort months are read again whole.
    """
    state = EngineState.objects.filter(pk=1).values_list("as_of", flat=True).first()
    if state is not None:
        days = {state}
    else:  # no run has answered for every period yet: since the oldest facts
        days = {
            timezone.localtime(at).date() for at in FactMonth.objects.values_list("computed_at", flat=True)
        }
    if not days:
        return set()
    lo, hi = min(days | {today}), max(days | {today})
    if lo == hi:
        return set()
    cohorts = (
        Prospect.objects.filter(customer__acquired_on__gt=lo, customer__acquired_on__lte=hi)
        .annotate(month=Trunc("created_on", MONTH, output_field=DateField()))
        .order_by()
        .values_list("month", flat=True)
        .distinct()
    )
    return {_to_date(month) for month in cohorts}


@contextmanager
def _engine_session():
    """PostgreSQL compiles a query with JIT when its estimated cost is high;
    the engine's grouped reads cross that threshold and spend longer
    compiling (over a second on M) than the compiled code saves. Off for the
    run, back to the server's setting after."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET jit = off")
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("RESET jit")
        except DatabaseError:
            pass  # an aborted transaction refuses it; the first error is the one to see


def current_and_previous(today: dt.date) -> dict[str, list[dt.date]]:
    """The current and previous period of each granularity."""
    plan = {}
    for g in GRANULARITIES:
        current = period_start(today, g)
        plan[g] = [period_start(current - dt.timedelta(days=1), g), current]
    return plan


def pending_months() -> list[dt.date]:
    """Months a change marked, waiting for the next run (the KPI status page)."""
    return DirtyMonth.objects.months()


def _claim_dirty() -> tuple[list[int], dict[dt.date, set[str]]]:
    """The dirty rows this run consumes, and each month's families to read
    again ("" for all). Claimed first (committed at once), so that on SQLite
    a change made while the run reads the data marks its month again instead
    of relying on a row this run is about to delete."""
    DirtyMonth.objects.filter(claimed=False).update(claimed=True)
    rows = list(DirtyMonth.objects.values_list("pk", "month", "family"))
    dirty: dict[dt.date, set[str]] = defaultdict(set)
    for _pk, month, family in rows:
        dirty[month].add(family)
    return [pk for pk, _month, _family in rows], dirty


def _run(
    months: set[dt.date],
    plan: dict[str, list[dt.date]],
    *,
    today: dt.date,
    span: Span,
    progress: Progress | None,
    nightly: bool = False,
    some: dict[dt.date, set[str]] | None = None,
) -> Result:
    """Write the periods of `plan`, reading again from the raw tables the
    `months` given, those a change marked and those with no stored facts;
    `some` (and a mark naming one family) reads only those families of a
    month, the others' stored facts still holding."""
    plan = {g: sorted(set(starts)) for g, starts in plan.items() if starts}
    granularities = list(plan)
    # This run answers for every current and previous period: the next
    # nightly run may then trust the previous periods it leaves unchanged.
    signature = _signature()
    settles = set(granularities) == set(GRANULARITIES) and all(
        set(starts) <= set(plan[g]) for g, starts in current_and_previous(today).items()
    )
    if nightly:
        for g, start in _settled_previous(today, signature):
            plan[g].remove(start)
    dirty_ids, dirty = _claim_dirty()
    first, last = span.first.replace(day=1), period_start(span.last, MONTH)
    in_span = set(month_starts(first, last))
    stored = dict(FactMonth.objects.filter(version=FACTS_VERSION).values_list("month", "computed_at"))
    missing = {m for m in in_span if m not in stored}
    outside = {m for m in dirty if not (EARLIEST_DATE <= m <= LATEST_DATE)}
    # The months read again from the raw tables, every family; none on a quiet night.
    whole = {m for m, families in dirty.items() if "" in families}
    refresh_months = sorted(((months | whole | missing) - outside) & in_span)
    # Months read again for some families only (the churn rule's churns).
    families: dict[dt.date, set[str]] = defaultdict(set)
    for m, names in [*dirty.items(), *(some or {}).items()]:
        if m in in_span and m not in outside and m not in refresh_months:
            families[m] |= names
    touched = sorted({*refresh_months, *families})
    # A month that no longer has any data (its last rows deleted) keeps no
    # facts and no snapshots: the tables hold exactly the span of the data.
    gone = (set(dirty) - outside) - in_span
    engine = _Engine(today, granularities, progress)
    engine.warnings = list(span.warnings)

    # Periods written whole: those asked for, and any made of a month read
    # again. Periods after the earliest such month get their running-sum KPIs;
    # periods whose cohorts may have stopped "maturing" get their cohort KPIs.
    full = {g: set(starts) for g, starts in plan.items()}
    for g in granularities:
        for month in touched:
            full[g].add(period_start(month, g))
    current = {g: period_start(today, g) for g in granularities}
    partial: dict[tuple[str, dt.date], frozenset[str]] = {}
    for g in granularities:
        for start in periods_between(touched[0], max(today, span.last), g) if touched else ():
            if start not in full[g]:
                partial[(g, start)] = CUMULATIVE_KPIS
        maturity = dt.timedelta(days=settings.KPI_COHORT_MATURITY_DAYS + 1)
        for start in periods_between(today - maturity, today, g):
            if start not in full[g]:
                partial[(g, start)] = partial.get((g, start), frozenset()) | COHORT_KPIS
    # Nights may be skipped (or a run made for another day): every period
    # whose stored "maturing" mark no longer holds today is rewritten too.
    for g, start in _maturity_moved(today, granularities):
        if start not in full[g]:
            partial[(g, start)] = partial.get((g, start), frozenset()) | COHORT_KPIS

    engine.read_months(refresh_months, families)
    engine.load_stored(full, partial)
    # A scope that appeared since (a new rep, team or campaign) gets rows in
    # every period, as a recompute from scratch gives it; one that is gone,
    # with no figure left anywhere, keeps none.
    everything = {g: periods_between(first, max(today, span.last), g) for g in granularities}
    new_scopes, gone_scopes = engine.scope_changes()
    if new_scopes:
        engine.load_months(SALES, month_starts(first, max(today, span.last)))
    # Like for like: the period under way against the same elapsed span of the
    # previous one, for every current period written whole.
    engine.prepare_compare({g: current[g] for g in granularities if current[g] in full[g]})
    engine.emit_all(full, partial)
    if new_scopes:
        others = {g: [s for s in starts if s not in full[g]] for g, starts in everything.items()}
        engine.emit_scopes(others, new_scopes)
    engine.suppress_complements()
    # Never drop what this run writes (a period asked for before the data).
    keep = (
        min([first, *(s for starts in full.values() for s in starts)]),
        max([last, *(period_end(s, g) for g, starts in full.items() for s in starts)]),
    )
    result = engine.write(
        refresh_months, full, partial, dirty_ids, span=keep, gone=gone, gone_scopes=gone_scopes,
        state=(today, signature) if settles else None,
    )  # fmt: skip
    result.warnings = engine.warnings
    if outside:
        result.warnings.append(
            f"{len(outside)} months outside {EARLIEST_DATE.year}–{LATEST_DATE.year} skipped."
        )
    return result


def _signature() -> str:
    """What the stored figures depend on besides the facts (EngineState)."""
    roster = User.objects.filter(is_active=True, role=Role.SALESPERSON).order_by("pk")
    parts = {
        "facts": FACTS_VERSION,
        "formulas": sorted((name, d.formula_version) for name, d in KPIS.items()),
        "settings": [settings.KPI_MIN_SAMPLE, str(settings.KPI_GROSS_MARGIN),
                     settings.KPI_COHORT_MATURITY_DAYS, settings.TIME_ZONE],
        "roster": [[pk, team, joined.isoformat()] for pk, team, joined in
                   roster.values_list("pk", "team_id", "date_joined")],
    }  # fmt: skip
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _settled_previous(today: dt.date, signature: str) -> list[tuple[str, dt.date]]:
    """Previous periods a nightly run need not rewrite: the last run that
    answered for every current and previous period ran in today's current
    periods (so it already wrote them closed, not under way), with the same
    signature, and their rows are there. A month of theirs read again puts
    them back in the run (_run); so does a cohort's maturity or a new scope."""
    state = EngineState.objects.filter(pk=1).first()
    if state is None or state.signature != signature or state.as_of > today:
        return []
    settled = []
    for g, (previous, current) in current_and_previous(today).items():
        if period_start(state.as_of, g) != current:
            continue  # the period rolled over since: its rows still say "under way"
        if KpiSnapshot.objects.filter(granularity=g, period_start=previous).exists():
            settled.append((g, previous))
    return settled


def _maturity_moved(today: dt.date, granularities: list[str]) -> set[tuple[str, dt.date]]:
    """Periods whose stored cohort figures are marked maturing where today
    they are not, or the reverse (kpi-spec: a cohort matures
    KPI_COHORT_MATURITY_DAYS after its period ends)."""
    cutoff = today - dt.timedelta(days=settings.KPI_COHORT_MATURITY_DAYS)
    stored = (
        KpiSnapshot.objects.filter(kpi__in=COHORT_KPIS, granularity__in=granularities)
        .order_by()
        .values_list("granularity", "period_start", "maturing")
        .distinct()
    )
    return {(g, start) for g, start, maturing in stored if maturing != (period_end(start, g) > cutoff)}


# --- reading the raw tables ----------------------------------------------------


class _Reader:
    """One pass over the fact tables for a set of whole months, or for the
    first days of one month (a like-for-like comparison's last month)."""

    def __init__(
        self, today: dt.date, months: list[dt.date] | None = None, window=None, key: dt.date | None = None
    ) -> None:
        self.today = today
        if window is not None:
            lo, hi = window
            self.ranges = [(lo, hi)]
            self.fixed = key or lo  # every row goes to this window (its month's first day)
        else:
            self.ranges = _runs(months)
            self.fixed = None
        self.sales, self.pipeline, self.customers, self.process = _Sums(), _Sums(), _Sums(), _Sums()
        self.won_stays = _Sums()

    # Filters and the month a row goes to.

    def q(self, name: str, *, ts: bool = False) -> Q:
        q = Q()
        for lo, hi in self.ranges:
            if ts:
                q |= Q(**{f"{name}__gte": _midnight(lo), f"{name}__lt": _midnight(hi + dt.timedelta(days=1))})
            else:
                q |= Q(**{f"{name}__range": (lo, hi)})
        return q

    def period(self, name: str, *, ts: bool = False) -> dict:
        if self.fixed:
            return {}
        if ts:
            # kpi-spec: a timestamp is a company-zone date before it is put in
            # a period (31 March 23:30 in Paris is March, whatever UTC says).
            return {"period": Trunc(name, MONTH, output_field=DateField(), tzinfo=_zone())}
        return {"period": Trunc(name, MONTH, output_field=DateField())}

    def add(self, sums: _Sums, rows, fields, scopes, company: bool = True) -> None:
        sums.add_rows(rows, fields, scopes, period=self.fixed, company=company)

    def read(self) -> _Reader:
        self.read_sales()
        self.read_customers()
        self.read_pipeline()
        self.read_process()
        return self

    # The period sums.

    def read_sales(self) -> None:
        people = {REP: "owner_id", TEAM: "team_id"}
        won, lost = Q(stage=Stage.WON), Q(stage=Stage.LOST)
        rows = (
            Deal.objects.filter(self.q("closed_on"), stage__in=Stage.closed_stages())
            .order_by()
            .values(
                "owner_id",
                "team_id",
                "product_id",
                campaign=F("customer__source_campaign_id"),
                **self.period("closed_on"),
            )
            .annotate(
                won=Count("pk", filter=won),
                lost=Count("pk", filter=lost),
                revenue=Sum("amount", filter=won),
                cycle=Sum(
                    ExpressionWrapper(F("closed_on") - F("opened_on"), output_field=DurationField()),
                    filter=won,
                ),
            )
        )
        # The same sums per product ("won@p3"), for "What changed" by product
        # (kpis.breakdown): product 0 is a deal without one.
        rows, by_product = _per_product(rows)
        self.add(self.sales, rows, ["won", "lost", "revenue", "cycle", *by_product],
                 {**people, CAMPAIGN: "campaign"})  # fmt: skip

        # Deals opened: the funnel's third step (in deals_won's details).
        rows = (
            Deal.objects.filter(self.q("opened_on"))
            .order_by()
            .values("owner_id", "team_id", **self.period("opened_on"))
            .annotate(opened=Count("pk"))
        )
        self.add(self.sales, rows, ["opened"], people)

        # Prospect cohorts: those that became a *paying* customer (one with a
        # won deal) by the day of computation (kpi-spec v2).
        paying = Q(customer__acquired_on__lte=self.today)
        rows = (
            Prospect.objects.filter(self.q("created_on"))
            .order_by()
            .values("owner_id", "team_id", "source_campaign_id", **self.period("created_on"))
            .annotate(
                total=Count("pk"),
                converted=Count("pk", filter=paying),
                qualified=Count(
                    "pk", filter=Q(status__in=[Prospect.Status.QUALIFIED, Prospect.Status.CONVERTED])
                ),
            )
        )
        self.add(self.sales, rows, ["total", "converted", "qualified"],
                 {**people, CAMPAIGN: "source_campaign_id"})  # fmt: skip

        # New customers, credited to their first won deal's owner and team
        # (only a customer whose first deal is unknown falls back to its own).
        rows = (
            Customer.objects.filter(self.q("acquired_on"))
            .order_by()
            .values(
                "source_campaign_id",
                **self.period("acquired_on"),
                credit_owner=Case(
                    When(first_deal__isnull=False, then=F("first_deal__owner_id")), default=F("owner_id")
                ),
                credit_team=Case(
                    When(first_deal__isnull=False, then=F("first_deal__team_id")), default=F("team_id")
                ),
            )
            .annotate(new=Count("pk"))
        )
        self.add(self.sales, rows, ["new"],
                 {REP: "credit_owner", TEAM: "credit_team", CAMPAIGN: "source_campaign_id"})  # fmt: skip

        # Marketing spend (a campaign may belong to a team) and sales costs.
        rows = (
            CampaignSpend.objects.filter(self.q("spent_on"))
            .order_by()
            .values("campaign_id", team=F("campaign__team_id"), **self.period("spent_on"))
            .annotate(spend=Sum("amount"))
        )
        self.add(self.sales, rows, ["spend"], {TEAM: "team", CAMPAIGN: "campaign_id"})
        rows = (
            SalesCost.objects.filter(self.q("spent_on"))
            .order_by()
            .values("team_id", **self.period("spent_on"))
            .annotate(cost=Sum("amount"))
        )
        self.add(self.sales, rows, ["cost"], {TEAM: "team_id"})

        # Survey answers submitted, invitations sent (timestamps).
        rows = (
            # An answer from a staff member's own address is no customer's.
            Response.objects.filter(self.q("submitted_at", ts=True), from_staff_address=False)
            .order_by()
            .values(
                owner=F("invitation__owner_id"),
                team=F("invitation__team_id"),
                **self.period("submitted_at", ts=True),
            )  # fmt: skip
            .annotate(
                promoters=Count("pk", filter=Q(nps_score__gte=9)),
                passives=Count("pk", filter=Q(nps_score__in=[7, 8])),
                detractors=Count("pk", filter=Q(nps_score__lte=6)),
                csat_good=Count("pk", filter=Q(csat_score__gte=4)),
                csat_total=Count("csat_score"),
            )
        )
        self.add(self.sales, rows, ["promoters", "passives", "detractors", "csat_good", "csat_total"],
                 {REP: "owner", TEAM: "team"})  # fmt: skip
        delivered = Q(bounced_at__isnull=True)
        rows = (
            Invitation.objects.filter(self.q("sent_at", ts=True))
            .order_by()
            .values("owner_id", "team_id", **self.period("sent_at", ts=True))
            .annotate(
                delivered=Count("pk", filter=delivered),
                answered=Count("pk", filter=delivered & Q(response__isnull=False)),
            )
        )
        self.add(self.sales, rows, ["delivered", "answered"], people)

        # Targets: a rep's rows carry user_id, a team's team_id, never both.
        rows = (
            Target.objects.filter(self.q("month"))
            .order_by()
            .values("user_id", "team_id", **self.period("month"))
            .annotate(target=Sum("amount"))
        )
        self.add(self.sales, rows, ["target"], {REP: "user_id", TEAM: "team_id"})

        # Calls, meetings and emails done (a planned call is not work yet).
        rows = (
            Activity.objects.filter(self.q("occurred_on"), kind__in=Activity.COUNTED_KINDS, done=True)
            .order_by()
            .values("owner_id", "team_id", **self.period("occurred_on"))
            .annotate(activities=Count("pk"))
        )
        self.add(self.sales, rows, ["activities"], people)

        # The team: training hours, selling days, pulse answers (team/kpis.py).
        team_kpis.read_sales(self)
        # activities_per_won_deal: calls, meetings and emails done on the deals
        # won in the period, credited like the deal.
        rows = (
            Activity.objects.filter(
                self.q("deal__closed_on"), deal__stage=Stage.WON, kind__in=Activity.COUNTED_KINDS, done=True
            )
            .order_by()
            .values(
                deal_owner=F("deal__owner_id"), deal_team=F("deal__team_id"), **self.period("deal__closed_on")
            )
            .annotate(won_acts=Count("pk"))
        )
        self.add(self.sales, rows, ["won_acts"], {REP: "deal_owner", TEAM: "deal_team"})

        # lost_reasons: lost deals per reason and per stage they were lost at
        # (the stage the deal left for "lost", "" when the history does not say).
        lost_at = Subquery(
            DealStageChange.objects.filter(deal=OuterRef("pk"), to_stage=Stage.LOST)
            .order_by("-changed_at", "-pk")
            .values("from_stage")[:1]
        )
        rows = (
            Deal.objects.filter(self.q("closed_on"), stage=Stage.LOST)
            .order_by()
            .values(
                "owner_id",
                "team_id",
                reason=F("lost_reason__code"),
                at=Coalesce(lost_at, Value("")),
                **self.period("closed_on"),
            )  # fmt: skip
            .annotate(n=Count("pk"))
        )
        for row in rows:
            key = f"{LOST_PREFIX}{row['at'] or ''}|{row['reason'] or ''}"
            self.add(self.sales, [{**row, key: row["n"]}], [key], people)

    # The running-sum facts of customers (company and team: the customer's team).

    def read_customers(self) -> None:
        scopes = {TEAM: "team_id"}
        rows = (
            Customer.objects.filter(self.q("acquired_on"))
            .order_by()
            .values("team_id", **self.period("acquired_on"))
            .annotate(acq=Count("pk"))
        )
        self.add(self.customers, rows, ["acq"], scopes)
        # Churned customers, with how many of them were acquired before the
        # start of the month, quarter and year their churn falls in: "churned
        # in P among those active at P's start", whatever P holds the month.
        rows = (
            Customer.objects.filter(self.q("churned_on"))
            .order_by()
            .values("team_id", **self.period("churned_on"))
            .annotate(
                churn=Count("pk"),
                base_month=Count("pk", filter=Q(acquired_on__lt=TruncMonth("churned_on"))),
                base_quarter=Count("pk", filter=Q(acquired_on__lt=TruncQuarter("churned_on"))),
                base_year=Count("pk", filter=Q(acquired_on__lt=TruncYear("churned_on"))),
            )
        )
        self.add(self.customers, rows, ["churn", "base_month", "base_quarter", "base_year"], scopes)
        rows = (
            Customer.objects.filter(self.q("repeat_on"))
            .order_by()
            .values("team_id", **self.period("repeat_on"))
            .annotate(second=Count("pk"))
        )
        self.add(self.customers, rows, ["second"], scopes)
        # ARPA's revenue: won deals of an account (a deal with no customer has
        # no account to divide by), credited to the customer's team.
        won = Deal.objects.filter(stage=Stage.WON, customer__isnull=False)
        rows = (
            won.filter(self.q("closed_on"))
            .order_by()
            .values(customer_team=F("customer__team_id"), **self.period("closed_on"))
            .annotate(arpa_rev=Sum("amount"))
        )
        self.add(self.customers, rows, ["arpa_rev"], {TEAM: "customer_team"})
        # ARPA's customers: each customer-month with a won deal, by how many
        # months back the customer's previous won month was (a window counts
        # the customer-months whose previous one falls before the window).
        buyers = won.filter(self.q("closed_on")).values("customer_id")
        months = (
            won.filter(customer_id__in=buyers)
            .annotate(
                month=TruncMonth("closed_on"),
                previous=Window(
                    Lag("closed_on"),
                    partition_by=[F("customer_id")],
                    order_by=[F("closed_on").asc(), F("pk").asc()],
                ),  # fmt: skip
                nth=Window(
                    RowNumber(),
                    partition_by=[F("customer_id"), TruncMonth("closed_on")],
                    order_by=[F("closed_on").asc(), F("pk").asc()],
                ),  # fmt: skip
            )
            .filter(nth=1)
            .values_list("customer__team_id", "month", "closed_on", "previous")
        )
        hist: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for team, month, closed_on, previous in months:
            if not any(lo <= closed_on <= hi for lo, hi in self.ranges):
                continue
            back = _months_between(previous, month) if previous else None
            key = f"back_{back}" if back in ARPA_BACK else "back_old"
            for scope in [(COMPANY, 0)] + ([(TEAM, team)] if team is not None else []):
                hist[(*scope, self.fixed or month)][key] += 1
        for (st, sid, month), counts in hist.items():
            bucket = self.customers.data[(st, sid, month)]
            for key, n in counts.items():
                bucket[key] += Decimal(n)

    # Time in stage and lead response, as counts (kpis.process).

    def read_process(self) -> None:
        stays, leads, entries = process.month_histograms(self.ranges, self.fixed)
        data = self.process.data
        for month, owner, team, stage, days, n, moved in stays:
            for scope in _people(owner, team):
                bucket = data[(*scope, _to_date(month))]
                bucket[f"stay|{stage}|{days}"] += n
                if moved:
                    bucket[f"moved|{stage}"] += moved
        for month, owner, team, hours, n in leads:
            for scope in _people(owner, team):
                data[(*scope, _to_date(month))][f"lead|{hours}"] += n
        for month, owner, team, stage, *firsts in entries:
            for scope in _people(owner, team):
                bucket = data[(*scope, _to_date(month))]
                for g, n in zip(GRANULARITIES, firsts, strict=True):
                    if n:
                        bucket[f"in_{g}|{stage}"] += n
        if self.fixed is None:  # whole months only: the thresholds span all history
            for month, team, stage, days, n in process.won_stays(self.ranges):
                for scope in [(COMPANY, 0)] + ([(TEAM, team)] if team is not None else []):
                    self.won_stays.data[(*scope, _to_date(month))][f"{stage}|{days}"] += n

    # The open pipeline's changes, from the stage history.

    def read_pipeline(self) -> None:
        """Each deal's open stretches in a stage, by day: a stretch adds the
        deal's amount in the month it starts and takes it away in the month it
        ends; the pipeline at a month's end is the running sum (kpi-spec:
        open_pipeline_value at each period's end, from the stage history)."""
        zone = settings.TIME_ZONE
        ops = connection.ops
        deal, change = Deal._meta.db_table, DealStageChange._meta.db_table
        day_sql, day_params = ops.datetime_cast_date_sql("c.changed_at", [], zone)
        params: list = []

        def dates(column: str) -> str:
            parts = []
            for lo, hi in self.ranges:
                parts.append(f"({column} >= %s AND {column} <= %s)")
                params.extend([ops.adapt_datefield_value(lo), ops.adapt_datefield_value(hi)])
            return "(" + " OR ".join(parts) + ")"

        def instants(column: str) -> str:
            parts = []
            for lo, hi in self.ranges:
                parts.append(f"({column} >= %s AND {column} < %s)")
                after = _midnight(hi + dt.timedelta(days=1))
                params.extend(
                    [ops.adapt_datetimefield_value(_midnight(lo)), ops.adapt_datetimefield_value(after)]
                )
            return "(" + " OR ".join(parts) + ")"

        def bucket(column: str) -> str:
            if self.fixed:
                params.append(ops.adapt_datefield_value(self.fixed))
                return "%s"
            whens = []
            for month in (m for lo, hi in self.ranges for m in month_starts(lo, hi)):
                whens.append(f"WHEN {column} >= %s AND {column} <= %s THEN %s")
                params.extend([ops.adapt_datefield_value(month), ops.adapt_datefield_value(_month_end(month)),
                               ops.adapt_datefield_value(month)])  # fmt: skip
            return "CASE " + " ".join(whens) + " END"

        open_list = ", ".join(f"'{s}'" for s in OPEN_STAGES)
        first_open = Stage.PROSPECTING.value
        # Deals with a stretch starting or ending in the months read, with
        # what the stretches need of them: each deal is read once here, not
        # once per stretch (a stretch per stage change: 5 a deal on M). A
        # stretch starts on a change or the opening and ends on a change or
        # the close, so any other deal adds nothing: the filter only saves
        # work, and over long ranges costs more than it saves
        # (process.whole_history): every deal is read then.
        columns = "d.id, d.owner_id, d.team_id, d.amount, d.opened_on, d.closed_on, d.stage"
        if process.whole_history(self.ranges):
            candidates = f"SELECT {columns} FROM {deal} d"
            in_candidates = ""
        else:
            ids = (
                f"SELECT d.id FROM {deal} d WHERE {dates('d.opened_on')} OR {dates('d.closed_on')} "
                f"UNION SELECT c.deal_id FROM {change} c WHERE {instants('c.changed_at')}"
            )
            candidates = f"SELECT {columns} FROM {deal} d WHERE d.id IN ({ids})"
            if connection.vendor == "postgresql" and process.probes(self.ranges):
                # A few days' deals (a like-for-like span's new day: 7,000 on
                # M) by primary key: with IN (…) the planner hashed them
                # against a scan of every deal, 0.4 s of a 0.7 s read. OFFSET 0
                # keeps it from flattening the LATERAL back into that join.
                one = f"SELECT {columns} FROM {deal} d WHERE d.id = n.id OFFSET 0"
                candidates = f"SELECT x.* FROM ({ids}) n CROSS JOIN LATERAL ({one}) x"
            in_candidates = "WHERE c.deal_id IN (SELECT id FROM cand)"
        candidate_params = list(params)
        params.clear()
        history = (
            f"SELECT c.deal_id, {day_sql} AS day, c.from_stage, c.to_stage, "
            f"ROW_NUMBER() OVER (PARTITION BY c.deal_id ORDER BY c.changed_at, c.id) AS rn, "
            f"LEAD({day_sql}) OVER (PARTITION BY c.deal_id ORDER BY c.changed_at, c.id) AS next_day "
            f"FROM {change} c {in_candidates}"
        )
        history_params = [*day_params, *day_params]
        segments = (
            # After each change, until the next one.
            "SELECT deal_id, day AS s, next_day AS e, to_stage AS stage FROM ch "
            # Before the first change, from the day the deal opened: the stage
            # it changed from, or (a creation entry) the stage it started in.
            "UNION ALL SELECT deal_id, NULL AS s, day AS e, CASE "
            f"WHEN from_stage IN ({open_list}) THEN from_stage "
            f"WHEN from_stage = '' AND to_stage IN ({open_list}) THEN to_stage "
            f"WHEN from_stage = '' THEN '{first_open}' END AS stage FROM ch WHERE rn = 1 "
            # No history at all: its stage now, or the first one if it closed.
            f"UNION ALL SELECT d.id, NULL, NULL, CASE WHEN d.stage IN ({open_list}) THEN d.stage "
            f"ELSE '{first_open}' END FROM cand d "
            f"WHERE NOT EXISTS (SELECT 1 FROM {change} c WHERE c.deal_id = d.id)"
        )
        # Clip each stretch to the days the deal was open by its dates: from
        # opened_on, until (not including) closed_on.
        clipped = (
            "SELECT d.owner_id, d.team_id, d.amount, sg.stage, "
            "CASE WHEN sg.s IS NULL OR sg.s < d.opened_on THEN d.opened_on ELSE sg.s END AS s, "
            "CASE WHEN sg.e IS NULL THEN d.closed_on "
            "WHEN d.closed_on IS NULL OR sg.e < d.closed_on THEN sg.e ELSE d.closed_on END AS e "
            f"FROM seg sg JOIN cand d ON d.id = sg.deal_id WHERE sg.stage IN ({open_list})"
        )
        start_bucket, start_in = bucket("s"), dates("s")
        end_bucket, end_in = bucket("e"), dates("e")
        tail_params = list(params)
        sql = (
            f"WITH cand AS ({candidates}), ch AS ({history}), seg AS ({segments}), clip AS ({clipped}) "
            "SELECT owner_id, team_id, stage, period, SUM(n) AS n, SUM(n * amount) AS amount FROM ("
            f"SELECT owner_id, team_id, stage, amount, 1 AS n, {start_bucket} AS period FROM clip "
            f"WHERE (e IS NULL OR s < e) AND {start_in} "
            f"UNION ALL SELECT owner_id, team_id, stage, amount, -1 AS n, {end_bucket} AS period FROM clip "
            f"WHERE e IS NOT NULL AND s < e AND {end_in}) x GROUP BY owner_id, team_id, stage, period"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*candidate_params, *history_params, *tail_params])
            fetched = cursor.fetchall()
        rows = []
        for owner_id, team_id, stage, period, n, amount in fetched:
            rows.append({
                "owner_id": owner_id, "team_id": team_id, "period": _to_date(period),
                # SQLite sums money as floats: back to cents before adding up.
                f"n_{stage}": n, f"a_{stage}": Decimal(str(amount or 0)).quantize(Decimal("0.01")),
            })  # fmt: skip
        fields = [f"{p}_{s}" for s in OPEN_STAGES for p in ("n", "a")]
        for row in rows:
            for name in fields:
                row.setdefault(name, 0)
        self.pipeline.add_rows(rows, fields, {REP: "owner_id", TEAM: "team_id"})


PRODUCT_FACTS = ("won", "lost", "revenue")


def _people(owner: int | None, team: int | None) -> list[ScopeKey]:
    """The company, the rep and the team a row counts for."""
    return (
        [(COMPANY, 0)]
        + ([(REP, owner)] if owner is not None else [])
        + ([(TEAM, team)] if team is not None else [])
    )


def _per_product(rows) -> tuple[list[dict], list[str]]:
    """Closed-deal rows with their sums repeated under per-product names."""
    rows = [dict(row) for row in rows]
    names: set[str] = set()
    for row in rows:
        for fact in PRODUCT_FACTS:
            name = f"{fact}@p{row['product_id'] or 0}"
            row[name] = row[fact]
            names.add(name)
    for row in rows:
        for name in names:
            row.setdefault(name, None)
    return rows, sorted(names)


def product_facts(facts: dict[str, Decimal]) -> dict[str, list[str]]:
    """{product id: [won, lost, revenue]} from a span's sales facts."""
    out: dict[str, list[Decimal]] = {}
    for name, value in facts.items():
        fact, sep, product = name.partition("@p")
        if sep and fact in PRODUCT_FACTS:
            out.setdefault(product, [ZERO, ZERO, ZERO])[PRODUCT_FACTS.index(fact)] += value
    return {p: [_text(_round(v)) for v in values] for p, values in out.items() if any(values)}


def _to_date(value) -> dt.date:
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


# --- from facts to snapshots ---------------------------------------------------


class _Store:
    """Monthly facts per family, scope and month, with running sums."""

    def __init__(self) -> None:
        self.months: dict[str, dict[ScopeKey, dict[dt.date, dict[str, Decimal]]]] = {
            f: defaultdict(dict) for f in FAMILIES
        }
        self._cumulative: dict[tuple[str, ScopeKey], tuple[list[dt.date], list[dict[str, Decimal]]]] = {}

    def put(self, family: str, sums: _Sums) -> None:
        for (st, sid, month), facts in sums.data.items():
            # As stored: a scope whose facts are all zero has no row.
            if any(facts.values()):
                self.months[family][(st, sid)][month] = {k: v for k, v in facts.items() if v}

    def get(self, family: str, scope: ScopeKey, month: dt.date) -> dict[str, Decimal]:
        return self.months[family].get(scope, {}).get(month, {})

    def scopes(self, family: str) -> Iterable[ScopeKey]:
        return self.months[family].keys()

    def cumulative(self, family: str, scope: ScopeKey, month: dt.date) -> dict[str, Decimal]:
        """Σ of the family's facts over every month up to and including `month`."""
        key = (family, scope)
        if key not in self._cumulative:
            series = self.months[family].get(scope, {})
            ordered = sorted(series)
            running: dict[str, Decimal] = defaultdict(Decimal)
            sums = []
            for m in ordered:
                for name, value in series[m].items():
                    running[name] += value
                sums.append(dict(running))
            self._cumulative[key] = (ordered, sums)
        ordered, sums = self._cumulative[key]
        i = bisect.bisect_right(ordered, month)
        return sums[i - 1] if i else {}


@dataclass(frozen=True)
class _Span:
    """What a snapshot describes: a period, or the first days of one (like for
    like). `cut` is the last day counted when the span ends mid-month."""

    g: str
    start: dt.date
    end: dt.date  # the last month's first day
    cut: dt.date | None = None

    @property
    def months(self) -> list[dt.date]:
        return month_starts(self.start, self.end)

    @property
    def last_day(self) -> dt.date:
        return self.cut or min(_month_end(self.end), period_end(self.start, self.g))


class _Engine:
    def __init__(self, today: dt.date, granularities: list[str], progress: Progress | None) -> None:
        self.today = today
        self.current_month = period_start(today, MONTH)
        self.now = timezone.now()
        self.granularities = granularities
        self.min_sample = settings.KPI_MIN_SAMPLE
        self.margin = settings.KPI_GROSS_MARGIN
        self.maturity = dt.timedelta(days=settings.KPI_COHORT_MATURITY_DAYS)
        self.store = _Store()
        self.fresh: dict[str, _Sums] = {}
        # The months each family was read again for (their stored facts are stale).
        self.fresh_months: dict[str, set[dt.date]] = {family: set() for family in FAMILIES}
        self.loaded: dict[str, set[dt.date]] = {SALES: set(), PROCESS: set()}
        self.partials: dict[dt.date, _Reader] = {}  # cut day → the partial month read
        self.partials_read: dict[dt.date, tuple[dt.date, _Reader]] = {}  # month → (cut, sums) to store
        self.compare: dict[tuple[str, dt.date], _Span] = {}
        self.rows: dict[tuple, _Row] = {}
        self.compare_rows: dict[tuple, dict] = {}
        self.answer_counts: dict[tuple, int] = {}
        self.base_universe: dict[str, set[int]] = {}
        self.warnings: list[str] = []
        self.progress = progress
        self.steps, self.done = 6, 0
        self.stalled: tuple[dict, dict] | None = None

    def tick(self, add: int = 0) -> None:
        self.steps += add
        self.done += 1
        if self.progress:
            self.progress(min(self.done, self.steps), self.steps)

    # -- reading --

    def read_months(self, months: list[dt.date], some: dict[dt.date, set[str]]) -> None:
        """Every family of `months`, and the families `some` names of its
        months, from the raw tables (nothing on a quiet night: every month's
        stored facts hold)."""
        for family in FAMILIES:
            self.fresh_months[family] = set(months) | {m for m, names in some.items() if family in names}
        # One read gives the process counts and the won deals' stays.
        self.fresh_months[PROCESS] |= self.fresh_months[WON_STAYS]
        self.fresh_months[WON_STAYS] = self.fresh_months[PROCESS]
        self.fresh = {family: _Sums() for family in FAMILIES}
        for family, read in ((SALES, _Reader.read_sales), (CUSTOMERS, _Reader.read_customers),
                             (PIPELINE, _Reader.read_pipeline), (PROCESS, _Reader.read_process)):  # fmt: skip
            if self.fresh_months[family]:
                reader = _Reader(self.today, months=sorted(self.fresh_months[family]))
                read(reader)
                self.fresh[family] = getattr(reader, family)
                if family == PROCESS:
                    self.fresh[WON_STAYS] = reader.won_stays
            if family in (SALES, PROCESS):
                self.tick()

    def _not_fresh(self, families: Iterable[str]) -> Q:
        """Stored facts of these families, but those of the months read again."""
        q = Q()
        for family in families:
            q |= Q(family=family) & ~Q(month__in=sorted(self.fresh_months[family]))
        return q

    def load_stored(self, full: dict, partial: dict) -> None:
        # Period sums: only the months of the periods written. Running sums:
        # every month (a few rows per month and team or rep).
        needed: set[dt.date] = set()
        for g, starts in full.items():
            for start in starts:
                needed.update(month_starts(start, period_end(start, g)))
                # The previous period, for like for like, and ARPA's window.
                needed.update(month_starts(add_months(start, -12), start))
        for g, start in partial:
            needed.update(month_starts(add_months(start, -12), period_end(start, g)))
        self._load(MonthFact.objects.filter(self._not_fresh([PIPELINE, CUSTOMERS, WON_STAYS])))
        self.load_months(SALES, needed)
        for family, sums in self.fresh.items():
            self.store.put(family, sums)
        self.base_universe = {
            COMPANY: {0},
            TEAM: set(Team.objects.values_list("pk", flat=True)),
            REP: set(User.objects.sales_staff().values_list("pk", flat=True)),
            CAMPAIGN: set(Campaign.objects.values_list("pk", flat=True)),
        }
        self.tick()

    def _load(self, query) -> None:
        rows = query.values_list("family", "month", "scope_type", "scope_id", "facts")
        months = self.store.months
        for family, month, st, sid, facts in rows:
            number = int if family in COUNT_FAMILIES else Decimal
            months[family][(st, sid)][month] = {k: number(v) for k, v in facts.items()}
        self.store._cumulative.clear()

    def load_months(self, family: str, months: Iterable[dt.date]) -> None:
        """A period-sum family's stored facts of these months (those read
        again are in memory)."""
        wanted = sorted(set(months) - self.fresh_months[family] - self.loaded[family])
        if wanted:
            self._load(MonthFact.objects.filter(family=family, month__in=wanted))
        self.loaded[family] |= set(wanted)

    def scope_changes(self) -> tuple[set[tuple[str, int]], set[tuple[str, int]]]:
        """Scopes that should have rows and have none yet, and scopes that have
        rows but no longer should (not on the staff, no figure anywhere)."""
        present = set(KpiSnapshot.objects.values_list("scope_type", "scope_id").distinct())
        # The process counts give no scope rows of their own (as when they
        # were read per span): a scope with stays has deals, so other facts.
        with_facts = set(
            MonthFact.objects.filter(self._not_fresh([f for f in FAMILIES if f != PROCESS]))
            .values_list("scope_type", "scope_id")
            .distinct()
        )
        for family, sums in self.fresh.items():
            if family == PROCESS:
                continue
            with_facts |= {(st, sid) for (st, sid, _m), facts in sums.data.items() if any(facts.values())}
        wanted = {(st, sid) for st, ids in self.base_universe.items() for sid in ids} | with_facts
        return wanted - present, present - wanted

    def prepare_compare(self, currents: dict[str, dt.date]) -> None:
        """The same elapsed span of the previous period of each period under
        way written (kpi-spec: like for like), and the partial months they end in."""
        for g, current in currents.items():
            previous = period_start(current - dt.timedelta(days=1), g)
            elapsed = (self.today - current).days
            cut = min(previous + dt.timedelta(days=elapsed), period_end(previous, g))
            last = cut.replace(day=1)
            self.compare[(g, current)] = _Span(g, previous, last, None if cut == _month_end(last) else cut)
        cuts = {span.cut for span in self.compare.values() if span.cut}
        stored = {p.month: p for p in PartialFacts.objects.filter(month__in={c.replace(day=1) for c in cuts})}
        for cut in sorted(cuts):
            self.partials[cut] = self._partial(cut.replace(day=1), cut, stored.get(cut.replace(day=1)))

    def _partial(self, month: dt.date, cut: dt.date, stored: PartialFacts | None) -> _Reader:
        """The month's first days up to `cut`: the days since the cut stored
        last night, added to what it stored; all of them when it stored
        nothing usable (PartialFacts)."""
        usable = (
            stored is not None
            and stored.version == FACTS_VERSION
            and stored.cut <= cut
            and stored.as_of <= self.today
            and not any(month in months for months in self.fresh_months.values())
        )
        if not usable:
            reader = _Reader(self.today, window=(month, cut)).read()
            self.partials_read[month] = (cut, reader)
            return reader
        reader = _Reader(self.today, window=(month, cut))
        kept = json.loads(stored.facts)
        for family in PARTIAL_FAMILIES:
            data = getattr(reader, family).data
            for st, sid, facts in kept.get(family, []):
                number = int if family in COUNT_FAMILIES else Decimal
                data[(st, sid, month)] = defaultdict(Decimal, {k: number(v) for k, v in facts.items()})
        if stored.cut < cut:
            more = _Reader(self.today, window=(stored.cut + dt.timedelta(days=1), cut), key=month).read()
            for family in PARTIAL_FAMILIES:
                data = getattr(reader, family).data
                for key, facts in getattr(more, family).data.items():
                    bucket = data[key]
                    for name, value in facts.items():
                        bucket[name] += value
            self.partials_read[month] = (cut, reader)
        return reader

    # -- sums over a span --

    def _months_facts(self, family: str, scope: ScopeKey, span: _Span) -> Iterable[dict[str, Decimal]]:
        """A period-sum family's facts for each of the span's months (the
        partial last month from its read)."""
        for month in span.months:
            if span.cut and month == span.end:
                yield getattr(self.partials[span.cut], family).data.get((*scope, month), {})
            else:
                yield self.store.get(family, scope, month)

    def _sales(self, scope: ScopeKey, span: _Span, family: str = SALES) -> dict[str, Decimal]:
        """Σ of a period-sum family's facts over the span's months."""
        out: dict[str, Decimal] = defaultdict(int if family in COUNT_FAMILIES else Decimal)
        for facts in self._months_facts(family, scope, span):
            for name, value in facts.items():
                out[name] += value
        return out

    def _sales_fact(self, scope: ScopeKey, span: _Span, name: str) -> Decimal:
        """Σ of one sales fact over the span's months (a team's figure asks
        each member for one fact, not all of them)."""
        return sum((facts.get(name, ZERO) for facts in self._months_facts(SALES, scope, span)), ZERO)

    def _at_end(self, family: str, scope: ScopeKey, span: _Span) -> dict[str, Decimal]:
        """A running sum at the span's end (the current month at most)."""
        end = min(span.end, self.current_month)
        if span.cut and span.end <= self.current_month:
            before = self.store.cumulative(family, scope, add_months(span.end, -1))
            reader = self.partials[span.cut]
            extra = (reader.pipeline if family == PIPELINE else reader.customers).data.get(
                (*scope, span.end), {}
            )
            out = defaultdict(Decimal, before)
            for name, value in extra.items():
                out[name] += value
            return out
        return self.store.cumulative(family, scope, end)

    def _month_facts(self, family: str, scope: ScopeKey, month: dt.date, span: _Span) -> dict[str, Decimal]:
        if span.cut and month == span.end:
            reader = self.partials[span.cut]
            return (reader.pipeline if family == PIPELINE else reader.customers).data.get((*scope, month), {})
        return self.store.get(family, scope, month)

    # -- emitting --

    def universe(self, span: _Span) -> dict[str, set[int]]:
        found = {k: set(v) for k, v in self.base_universe.items()}
        months = set(span.months)
        for st, sid in self.store.scopes(SALES):
            if any(m in months for m in self.store.months[SALES][(st, sid)]):
                found[st].add(sid)
        for family in (PIPELINE, CUSTOMERS):
            for st, sid in self.store.scopes(family):
                found[st].add(sid)
        return found

    def emit_all(self, full: dict, partial: dict) -> None:
        spans = [(_Span(g, s, period_end(s, g).replace(day=1)), None) for g in full for s in sorted(full[g])]
        spans += [(_Span(g, s, period_end(s, g).replace(day=1)), kpis) for (g, s), kpis in partial.items()]
        with_process = [span for span, only in spans if only is None or only & SPAN_KPIS]
        spans_counted = [*with_process, *self.compare.values()]
        self.load_months(PROCESS, {m for span in spans_counted for m in span.months})
        for span, only in spans:
            compute = self._cohort_kpis if only is not None and only <= COHORT_KPIS else self._kpis
            for st, ids in self.universe(span).items():
                for sid in sorted(ids):
                    for row in compute(st, sid, span):
                        if only is None or row[0] in only:
                            self._snapshot(st, sid, span, *row)
        self.tick()
        for (g, current), span in self.compare.items():
            for st, ids in self.universe(_Span(g, current, period_end(current, g).replace(day=1))).items():
                for sid in ids:
                    for kpi, value, numerator, denominator, details in self._kpis(st, sid, span):
                        key = (kpi, st, sid, g, current)
                        if key in self.rows:
                            self._attach_compare(self.rows[key], span, value, numerator, denominator, details)
        self.tick()

    def emit_scopes(self, plan: dict[str, list[dt.date]], scopes: set[tuple[str, int]]) -> None:
        """Every KPI of these periods, for these scopes only (new ones)."""
        spans = [_Span(g, s, period_end(s, g).replace(day=1)) for g, starts in plan.items() for s in starts]
        self.load_months(PROCESS, {m for span in spans for m in span.months})
        for g, starts in plan.items():
            for start in starts:
                span = _Span(g, start, period_end(start, g).replace(day=1))
                for st, ids in self.universe(span).items():
                    for sid in ids:
                        if (st, sid) in scopes:
                            for row in self._kpis(st, sid, span):
                                self._snapshot(st, sid, span, *row)

    def _attach_compare(
        self, row: KpiSnapshot, span: _Span, value, numerator, denominator, details=None
    ) -> None:
        definition = KPIS[row.kpi]
        if _hidden(definition, denominator):
            value = numerator = denominator = None
        low = bool(definition.is_rate and denominator is not None and 0 < denominator < self.min_sample)
        end = span.last_day
        compare = {
            "start": span.start.isoformat(),
            "end": end.isoformat(),
            "value": _text(_round(value)),
            "numerator": _text(_round(numerator)),
            "denominator": _text(_round(denominator)),
            "low_sample": low,
        }
        if details and "by_product" in details:
            compare["by_product"] = details["by_product"]
        row.details = {**row.details, "compare": compare}

    def _snapshot(self, st, sid, span: _Span, kpi, value, numerator, denominator, details) -> None:
        definition = KPIS[kpi]
        if st not in definition.scopes:
            return
        if definition.anonymous_below:
            # Anonymity (kpi-spec enps): below the threshold nothing is stored
            # but the fact that the figure is withheld, whatever the count.
            self.answer_counts[(kpi, st, sid, span.g, span.start)] = int(denominator or 0)
            if _hidden(definition, denominator):
                value = numerator = denominator = None
                details = {"suppressed": True}
        low_sample = bool(
            definition.is_rate and denominator is not None and 0 < denominator < self.min_sample
        )
        maturing = bool(definition.is_cohort and period_end(span.start, span.g) > self.today - self.maturity)
        self.rows[(kpi, st, sid, span.g, span.start)] = _Row(
            kpi=kpi,
            scope_type=st,
            scope_id=sid,
            granularity=span.g,
            period_start=span.start,
            value=_round(value),
            numerator=_round(numerator),
            denominator=_round(denominator),
            details=details or {},
            low_sample=low_sample,
            maturing=maturing,
            formula_version=definition.formula_version,
            computed_at=self.now,
        )

    def _kpis(self, st: str, sid: int, span: _Span):
        """(kpi, value, numerator, denominator, details) for every KPI of a scope."""
        scope = (st, sid)
        s = self._sales(scope, span)
        get = s.get
        won, lost = get("won", ZERO), get("lost", ZERO)
        revenue, cycle = get("revenue", ZERO), get("cycle", ZERO)
        by_product = product_facts(s)
        yield "revenue", revenue, revenue, None, ({"by_product": by_product} if by_product else None)
        yield "deals_won", won, won, None, {"opened": int(get("opened", ZERO))}
        win_rate = _ratio(won, won + lost, HUNDRED)
        yield "win_rate", win_rate, won, won + lost, None
        avg_size = _ratio(revenue, won)
        yield "avg_deal_size", avg_size, revenue, won, None
        cycle_days = _ratio(cycle, won)
        yield "sales_cycle_days", cycle_days, cycle, won, None

        yield self._lead_conversion(s)

        new = get("new", ZERO)
        yield "new_customers", new, new, None, None
        spend, cost = get("spend", ZERO), get("cost", ZERO)
        yield "marketing_spend", spend, spend, None, None
        yield "sales_cost", cost, cost, None, None
        # kpi-spec v2: the blended CAC (marketing and sales cost) for the
        # company and a team; a campaign has its spend only.
        acquisition_cost = spend if st == CAMPAIGN else spend + cost
        cac = _ratio(acquisition_cost, new)
        yield "cac", cac, acquisition_cost, new, None
        yield "paid_cac", _ratio(spend, new), spend, new, None

        if st in (COMPANY, TEAM):
            yield from self._customer_kpis(scope, span, cac)

        promoters, passives, detractors = (
            get("promoters", ZERO),
            get("passives", ZERO),
            get("detractors", ZERO),
        )
        answers = promoters + passives + detractors
        counts = {"promoters": int(promoters), "passives": int(passives), "detractors": int(detractors)}
        yield "nps", _ratio(promoters - detractors, answers, HUNDRED), promoters - detractors, answers, counts
        good, rated = get("csat_good", ZERO), get("csat_total", ZERO)
        yield "csat", _ratio(good, rated, HUNDRED), good, rated, None
        answered, delivered = get("answered", ZERO), get("delivered", ZERO)
        yield "survey_response_rate", _ratio(answered, delivered, HUNDRED), answered, delivered, None

        # The pipeline open at the span's end, in the stages it stood in then.
        pipe = self._at_end(PIPELINE, scope, span)
        open_count = sum((pipe.get(f"n_{s}", ZERO) for s in OPEN_STAGES), ZERO)
        amount = sum((pipe.get(f"a_{s}", ZERO) for s in OPEN_STAGES), ZERO)
        weighted = sum((pipe.get(f"a_{s}", ZERO) * STAGE_PROBABILITY[s] for s in OPEN_STAGES), ZERO)
        by_stage = {
            s: {"count": int(pipe.get(f"n_{s}", ZERO)), "amount": str(pipe.get(f"a_{s}", ZERO).quantize(
                Decimal("0.01")))}
            for s in OPEN_STAGES
        }  # fmt: skip
        yield "open_pipeline_value", amount, amount, None, {"by_stage": by_stage, "count": int(open_count)}
        yield "weighted_pipeline_value", weighted, weighted, None, None
        velocity_num = (
            None if win_rate is None or avg_size is None else open_count * win_rate / HUNDRED * avg_size
        )
        yield "pipeline_velocity", _ratio(velocity_num, cycle_days), velocity_num, cycle_days, None

        target = get("target", ZERO)
        yield "quota_attainment", _ratio(revenue, target, HUNDRED), revenue, target, None
        n = get("activities", ZERO)
        yield "activities", n, n, None, None

        yield from team_kpis.kpis(self, st, sid, span, get)
        if st != CAMPAIGN:
            yield from self._process_kpis(st, sid, span, s, won)

    def _lead_conversion(self, s: dict):
        total, converted = s.get("total", ZERO), s.get("converted", ZERO)
        return ("lead_conversion_rate", _ratio(converted, total, HUNDRED), converted, total,
                {"qualified": int(s.get("qualified", ZERO))})  # fmt: skip

    def _cohort_kpis(self, st: str, sid: int, span: _Span):
        """The cohort KPIs only, as _kpis gives them: a period rewritten each
        night while its cohorts mature needs no other figure (four of a
        quiet night's ten periods)."""
        s = self._sales((st, sid), span)
        yield self._lead_conversion(s)
        if st != CAMPAIGN:
            responses: dict[int, int] = defaultdict(int)
            parsed = _PROCESS_NAMES
            for facts in self._months_facts(PROCESS, (st, sid), span):
                for name, value in facts.items():
                    kind, _stage, number = parsed.get(name) or _process_name(name)
                    if kind == "lead":
                        responses[number] += int(value)
            yield self._lead_response(responses, s)

    def _process_kpis(self, st: str, sid: int, span: _Span, s: dict, won: Decimal):
        """The internal-process KPIs (kpi-spec: "Internal processes")."""
        yield from self._span_kpis(st, sid, span, s)
        yield from self._closed_kpis(st, sid, span, s, won)

    def _stall_thresholds(self) -> dict[int, dict[str, Decimal | None]]:
        """The stalled thresholds from every month's won stays (stored or read)."""
        counts: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
        for (st, sid), series in self.store.months[WON_STAYS].items():
            by_stage = counts[0 if st == COMPANY else sid]
            for facts in series.values():
                for name, n in facts.items():
                    stage, days = name.split("|")
                    by_stage[stage][int(days)] += int(n)
        return process.stall_thresholds(counts, self.min_sample)

    def _span_kpis(self, st: str, sid: int, span: _Span, s: dict):
        """Time in stage, stage conversion and lead response: per span, from
        its months' counts."""
        counts: dict[str, dict[int, int]] = defaultdict(dict)
        moved_by: dict[str, int] = {}
        responses: dict[int, int] = {}
        entered: dict[str, int] = {}
        first_in = f"in_{span.g}"  # first entries into a stage in this granularity's period
        parsed = _PROCESS_NAMES
        for name, value in self._sales((st, sid), span, PROCESS).items():
            kind, rest, number = parsed.get(name) or _process_name(name)
            if kind == "stay":
                counts[rest][number] = int(value)
            elif kind == "moved":
                moved_by[rest] = int(value)
            elif kind == "lead":
                responses[number] = int(value)
            elif kind == first_in and not span.cut:  # a like-for-like span shows no funnel
                entered[rest] = int(value)
        stays = {k: (*process.percentiles(days), moved_by.get(k, 0)) for k, days in counts.items()}
        by_stage = {}
        for stage in OPEN_STAGES:
            n, median, p75, moved = stays.get(stage, (0, None, None, 0))
            by_stage[stage] = {
                "count": n,
                "entered": entered.get(stage, 0),
                "median": _text(_round(median)),
                "p75": _text(_round(p75)),
                "moved_on": moved,
                "rate": _text(_round(_ratio(moved, n, HUNDRED))),
            }
        medians = [stays[stage][1] for stage in OPEN_STAGES if stage in stays]
        total = sum(medians, ZERO) if medians else None
        left = sum((stays[stage][0] for stage in stays), 0)
        yield "time_in_stage_days", total, total, left or None, {"by_stage": by_stage}
        rates = [_ratio(stays[stage][3], stays[stage][0]) for stage in OPEN_STAGES if stage in stays]
        product = None
        if rates:
            product = HUNDRED
            for rate in rates:
                product *= rate
        moved = sum((stays[stage][3] for stage in stays), 0)
        yield "stage_conversion_rate", product, moved or None, left or None, {"by_stage": by_stage}

        yield self._lead_response(responses, s)

    def _lead_response(self, responses: dict[int, int], s: dict):
        prospects = s.get("total", ZERO)
        touched, median, p75 = process.percentiles(responses)
        never = prospects - touched
        share = _ratio(never, prospects, HUNDRED)
        return ("lead_response_hours", median, median, Decimal(touched) or None, {
            "p75": _text(_round(p75)), "touched": touched, "prospects": int(prospects),
            "never_touched": int(never), "never_touched_share": _text(_round(share)),
        })  # fmt: skip

    def _closed_kpis(self, st: str, sid: int, span: _Span, s: dict, won: Decimal):
        """Stalled deals (the current period), activities per won deal, lost reasons."""
        if span.start <= self.today <= period_end(span.start, span.g) and not span.cut:
            if self.stalled is None:
                thresholds = self._stall_thresholds()
                self.stalled = (process.stalled(self.today, thresholds), thresholds)
            counts, thresholds = self.stalled
            stalled_by_stage = counts.get((st, sid), {})
            n = sum(stalled_by_stage.values(), 0)
            mine = {str(t): {k: _text(_round(v)) for k, v in by.items()} for t, by in thresholds.items()
                    if st == COMPANY or (st == TEAM and t in (sid, 0))}  # fmt: skip
            details = {"by_stage": stalled_by_stage, "as_of": self.today.isoformat(), "thresholds": mine}
            yield "stalled_deals", Decimal(n), Decimal(n), None, details

        won_acts = s.get("won_acts", ZERO)
        yield "activities_per_won_deal", _ratio(won_acts, won), won_acts, won, None

        by_reason: dict[str, int] = defaultdict(int)
        lost_at: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for name, value in s.items():
            if name.startswith(LOST_PREFIX) and value:
                at, reason = name[len(LOST_PREFIX) :].split("|", 1)
                by_reason[reason] += int(value)
                lost_at[at][reason] += int(value)
        lost = s.get("lost", ZERO)
        yield (
            "lost_reasons",
            lost,
            lost,
            None,
            {
                "by_reason": dict(by_reason),
                "by_stage": {at: dict(reasons) for at, reasons in lost_at.items()},
            },
        )

    def _customer_kpis(self, scope: ScopeKey, span: _Span, cac):
        level = {MONTH: "base_month", QUARTER: "base_quarter", YEAR: "base_year"}[span.g]
        before = self.store.cumulative(CUSTOMERS, scope, add_months(span.start, -1))
        active = before.get("acq", ZERO) - before.get("churn", ZERO)
        churned = sum(
            (self._month_facts(CUSTOMERS, scope, m, span).get(level, ZERO) for m in span.months), ZERO
        )
        retained = active - churned
        yield "churn_rate", _ratio(churned, active, HUNDRED), churned, active, None
        yield "retention_rate", _ratio(retained, active, HUNDRED), retained, active, None
        end = self._at_end(CUSTOMERS, scope, span)
        one, two = end.get("acq", ZERO), end.get("second", ZERO)
        yield "repeat_purchase_rate", _ratio(two, one, HUNDRED), two, one, None

        # ARPA over the 12 months ending at the span's end.
        window = month_starts(add_months(span.start, -12 + MONTHS_IN[span.g]), span.end)
        revenue_12 = customers_12 = ZERO
        for month in window:
            facts = self._month_facts(CUSTOMERS, scope, month, span)
            revenue_12 += facts.get("arpa_rev", ZERO)
            customers_12 += facts.get("back_old", ZERO)
            since = _months_between(window[0], month)
            for back in ARPA_BACK:
                if back > since:
                    customers_12 += facts.get(f"back_{back}", ZERO)
        monthly_revenue = revenue_12 / 12
        arpa = _ratio(monthly_revenue, customers_12)
        yield "arpa", arpa, monthly_revenue, customers_12, None

        rates = []
        for month in month_starts(add_months(span.end, -5), span.end):
            base = self.store.cumulative(CUSTOMERS, scope, add_months(month, -1))
            month_active = base.get("acq", ZERO) - base.get("churn", ZERO)
            month_churn = self._month_facts(CUSTOMERS, scope, month, span).get("base_month", ZERO)
            rate = _ratio(month_churn, month_active)
            if rate is not None:
                rates.append(rate)
        mean_churn = sum(rates, ZERO) / len(rates) if rates else None
        margin_arpa = None if arpa is None else arpa * self.margin
        ltv = _ratio(margin_arpa, mean_churn)
        yield "ltv", ltv, margin_arpa, mean_churn, None
        yield "ltv_cac_ratio", _ratio(ltv, cac), ltv, cac, None
        yield "cac_payback_months", _ratio(cac, margin_arpa), cac, margin_arpa, None

    # -- writing --

    def suppress_complements(self) -> None:
        """Anonymity across scopes and periods (kpi-spec enps): no figure shown
        may be subtracted from another shown one to reveal 1–4 answers.

        Across scopes: when the company shows a figure, the teams it shows
        must not leave a remainder of 1–4 answers; the smallest shown teams
        are withheld until it is 0 or large enough. Across periods: a quarter
        or year whose shown months (or quarters) leave such a remainder is
        withheld (team/kpis.py). Repeated until nothing changes, as each rule
        can make the other bite."""
        while self._suppress_across_scopes() | team_kpis.suppress_across_periods(self):
            pass

    def _suppress_across_scopes(self) -> bool:
        changed = False
        for (kpi, st, _sid, g, start), total in list(self.answer_counts.items()):
            definition = KPIS[kpi]
            company = self.rows.get((kpi, st, 0, g, start))
            if st != COMPANY or company is None or company.denominator is None:
                continue
            teams = sorted(
                (n, sid) for (k, t, sid, gg, ss), n in self.answer_counts.items()
                if (k, t, gg, ss) == (kpi, TEAM, g, start) and _shown(self.rows.get((k, t, sid, gg, ss)))
            )  # fmt: skip
            # A team withheld for another reason than its size (by another
            # rule) must not be the only one withheld: the company minus the
            # shown teams would be exactly its figure.
            hidden = [
                n for key, n in self.answer_counts.items()
                if key[:2] + key[3:] == (kpi, TEAM, g, start) and n and not _shown(self.rows.get(key))
            ]  # fmt: skip
            while teams and (
                0 < total - sum(n for n, _s in teams) < definition.anonymous_below
                or (len(hidden) == 1 and hidden[0] >= definition.anonymous_below)
            ):
                n, sid = teams.pop(0)
                withhold(self.rows[(kpi, TEAM, sid, g, start)])
                hidden.append(n)
                changed = True
        return changed

    def write(
        self,
        months: list[dt.date],
        full: dict,
        partial: dict,
        dirty_ids: list[int],
        span: tuple[dt.date, dt.date],
        gone: set[dt.date],
        gone_scopes: set[tuple[str, int]],
        state: tuple[dt.date, str] | None = None,
    ) -> Result:
        rows = computed = list(self.rows.values())
        if connection.vendor != "postgresql":
            # Unchanged rows are left out here (on PostgreSQL, by the upsert's
            # WHERE), and bulk_create needs model instances.
            rows = [KpiSnapshot(**row.fields()) for row in self._changed(rows)]
        batches = [rows[i : i + WRITE_BATCH] for i in range(0, len(rows), WRITE_BATCH)] or [[]]
        facts = [
            MonthFact(month=month, family=family, scope_type=st, scope_id=sid,
                      facts={k: _text(v) for k, v in values.items() if v})
            for family, sums in self.fresh.items()
            for (st, sid, month), values in sums.data.items()
            if any(values.values())
        ]  # fmt: skip
        self.tick(len(batches))
        # One transaction: pages never read a half-written recompute, and the
        # dirty months are cleared only with the figures that answer them.
        read = Q()
        for family, fresh in self.fresh_months.items():
            if fresh:
                read |= Q(family=family, month__in=sorted(fresh))
        touched = sorted(set().union(*self.fresh_months.values()))
        with transaction.atomic():
            if read:
                MonthFact.objects.filter(read).delete()
            MonthFact.objects.bulk_create(facts, batch_size=WRITE_BATCH)
            FactMonth.objects.filter(month__in=months).delete()
            FactMonth.objects.bulk_create(
                FactMonth(month=m, version=FACTS_VERSION, computed_at=self.now) for m in months
            )
            for batch in batches:
                self._upsert(batch)
                self.tick()
            self._delete_stale(full, partial)
            if gone:
                self._delete_outside(*span)
            for st, sid in gone_scopes:
                KpiSnapshot.objects.filter(scope_type=st, scope_id=sid).delete()
            for i in range(0, len(dirty_ids), 500):
                DirtyMonth.objects.filter(pk__in=dirty_ids[i : i + 500]).delete()
            self._store_partials(touched)
            if state:
                as_of, signature = state
                EngineState.objects.update_or_create(
                    pk=1, defaults={"as_of": as_of, "signature": signature, "written_at": self.now}
                )
            elif touched:
                # Months read for an earlier day count the customers paying by
                # then: the next night's stale cohorts start from that day.
                EngineState.objects.filter(pk=1, as_of__gt=self.today).update(as_of=self.today)
        return Result(rows=len(computed), months=touched)

    def _store_partials(self, months: list[dt.date]) -> None:
        """Partial months read this run, for the next night to go on from; a
        month read again drops what was stored of it."""
        # A month read again drops what was kept of it; one a year and more
        # back is no like-for-like span's any more.
        old = add_months(self.current_month, -13)
        PartialFacts.objects.filter(Q(month__in=[*months, *self.partials_read]) | Q(month__lt=old)).delete()
        rows = []
        for month, (cut, reader) in self.partials_read.items():
            facts = {}
            for family in PARTIAL_FAMILIES:
                data = getattr(reader, family).data.items()
                facts[family] = [
                    [st, sid, {k: _text(v) for k, v in values.items() if v}]
                    for (st, sid, _m), values in data
                    if any(values.values())
                ]
            rows.append(
                PartialFacts(
                    month=month, cut=cut, as_of=self.today, version=FACTS_VERSION, facts=json.dumps(facts)
                )
            )
        # One INSERT each (three at most): bulk_create sends its rows as
        # arrays, and psycopg's quoting of a few MB of array text took 1.3 s.
        for row in rows:
            row.save(force_insert=True)

    def _delete_stale(self, full: dict, partial: dict) -> None:
        """Drop rows of the periods written that this run did not write (a scope
        that dropped out: a rep who left and whose deals moved), so a recompute
        equals a computation from scratch. A row this run wrote has its key in
        `self.rows`; an unchanged one kept its older computed_at (_upsert)."""
        q = Q()
        for g, starts in full.items():
            if starts:
                q |= Q(granularity=g, period_start__in=sorted(starts))
        by_kpis: dict[frozenset, dict[str, list[dt.date]]] = defaultdict(lambda: defaultdict(list))
        for (g, start), kpis in partial.items():
            by_kpis[kpis][g].append(start)
        for kpis, plan in by_kpis.items():
            for g, starts in plan.items():
                q |= Q(granularity=g, period_start__in=sorted(starts), kpi__in=sorted(kpis))
        if not q:
            return
        candidates = (
            KpiSnapshot.objects.filter(q)
            .exclude(computed_at=self.now)
            .values_list("pk", "kpi", "scope_type", "scope_id", "granularity", "period_start")
        )
        stale = [pk for pk, *key in candidates if tuple(key) not in self.rows]
        for i in range(0, len(stale), 1000):
            KpiSnapshot.objects.filter(pk__in=stale[i : i + 1000]).delete()

    def _delete_outside(self, first: dt.date, last: dt.date) -> None:
        """Facts and snapshots of periods that no longer hold any data."""
        MonthFact.objects.exclude(month__range=(first, last)).delete()
        FactMonth.objects.exclude(month__range=(first, last)).delete()
        for g in GRANULARITIES:
            KpiSnapshot.objects.filter(granularity=g).exclude(
                period_start__range=(period_start(first, g), period_start(last, g))
            ).delete()

    def _upsert(self, rows: list[KpiSnapshot] | list[_Row]) -> None:
        if rows and connection.vendor == "postgresql":
            self._upsert_json(rows)
        elif rows:
            KpiSnapshot.objects.bulk_create(
                rows,
                batch_size=WRITE_BATCH,
                update_conflicts=True,
                unique_fields=list(_UNIQUE_FIELDS),
                update_fields=list(_UPDATE_FIELDS),
            )

    def _changed(self, rows: list[_Row]) -> list[_Row]:
        """The rows whose figures differ from those stored (what the
        PostgreSQL upsert's WHERE does, for the other backends): a figure
        that did not change keeps when it was last written."""
        if not rows:
            return rows
        q = Q()
        for g, start in {(r.granularity, r.period_start) for r in rows}:
            q |= Q(granularity=g, period_start=start)
        fields = [f for f in _UPDATE_FIELDS if f != "computed_at"]
        stored = {
            tuple(values[:5]): tuple(values[5:])
            for values in KpiSnapshot.objects.filter(q).values_list(*_UNIQUE_FIELDS, *fields)
        }
        return [r for r in rows if stored.get(_key(r)) != tuple(getattr(r, f) for f in fields)]

    def _upsert_json(self, rows: list[_Row]) -> None:
        """PostgreSQL: one INSERT … SELECT FROM json_to_recordset(%s) … ON
        CONFLICT per batch, the batch sent as one JSON document.
        bulk_create's multi-row VALUES spent most of the write binding 13
        parameters per row one by one; 13 arrays did better, but psycopg
        quotes each element of a text array with a regular expression
        (4 of 5.3 s for a night's 18,000 rows on M, their details JSON
        mostly). One string is escaped once, in C."""
        table = connection.ops.quote_name(KpiSnapshot._meta.db_table)
        cols = ", ".join(_WRITE_COLUMNS)
        record = ", ".join(f"{c} {t}" for c, t in zip(_WRITE_COLUMNS, _WRITE_TYPES, strict=True))
        key = ", ".join(_UNIQUE_FIELDS)
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _UPDATE_FIELDS)
        # A figure that did not change is not written again (most of a
        # nightly run's rows: last period's, unmoved): no new row version,
        # no index entries; its computed_at stays when it was last written.
        compared = [c for c in _UPDATE_FIELDS if c != "computed_at"]
        changed = (
            f"({', '.join(f't.{c}' for c in compared)}) IS DISTINCT FROM "
            f"({', '.join(f'EXCLUDED.{c}' for c in compared)})"
        )
        # Decimals as text (exact: no float on the way), dates ISO.
        document = json.dumps([
            dict(zip(_WRITE_COLUMNS, (
                r.kpi, r.scope_type, r.scope_id, r.granularity, r.period_start.isoformat(), _text(r.value),
                _text(r.numerator), _text(r.denominator), r.details, r.low_sample, r.maturing,
                r.formula_version, r.computed_at.isoformat()), strict=True))
            for r in rows
        ], separators=(",", ":"))  # fmt: skip
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} AS t ({cols}) SELECT {cols} "
                f"FROM json_to_recordset(%s::json) AS x({record}) "
                f"ON CONFLICT ({key}) DO UPDATE SET {updates} WHERE {changed}",
                [document],
            )


class _Row:
    """A snapshot row to write: KpiSnapshot's columns, without a model
    instance's cost (a night builds 20,000 and more)."""

    __slots__ = _WRITE_COLUMNS

    def __init__(self, **values) -> None:
        for name in _WRITE_COLUMNS:
            setattr(self, name, values[name])

    def fields(self) -> dict:
        return {name: getattr(self, name) for name in _WRITE_COLUMNS}


# Process fact names, each parsed once per process (a few thousand: stages
# × days, hours), not once per scope and span.
_PROCESS_NAMES: dict[str, tuple[str, str, int | None]] = {}


def _process_name(name: str) -> tuple[str, str, int | None]:
    """A process fact's name ("stay|<stage>|<days>", "lead|<hours>",
    "<kind>|<stage>") as (kind, stage, number)."""
    kind, _sep, rest = name.partition("|")
    if kind == "stay":
        stage, days = rest.split("|")
        parsed = (kind, stage, int(days))
    elif kind == "lead":
        parsed = (kind, "", int(rest))
    else:
        parsed = (kind, rest, None)
    _PROCESS_NAMES[name] = parsed
    return parsed


def _key(row: _Row | KpiSnapshot) -> tuple:
    return (row.kpi, row.scope_type, row.scope_id, row.granularity, row.period_start)


def _shown(row: _Row | None) -> bool:
    return row is not None and row.denominator is not None


def withhold(row: _Row) -> None:
    """Blank a row for anonymity: only the fact that it is withheld remains."""
    row.value = row.numerator = row.denominator = None
    row.details, row.low_sample = {"suppressed": True}, False


def _hidden(definition, denominator) -> bool:
    return bool(definition.anonymous_below) and (denominator or 0) < definition.anonymous_below


def _text(value: Decimal | None) -> str | None:
    """A Decimal as JSON text, exactly (no float on the way)."""
    if value is None:
        return None
    if isinstance(value, int):  # the count families' facts
        return str(value)
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
