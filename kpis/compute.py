"""The KPI engine: aggregate the raw tables into KpiSnapshot rows.

Every number follows ../shared/kpi-spec.md. The work is set-based: one
GROUP BY query per fact table, grouped by month (truncated in the company
time zone) and by the columns that credit a row to a rep, a team and a
campaign; a quarter or a year is the sum of its months' facts (every fact is
additive, so this equals grouping by quarter, at a third of the cost). The
grouped rows are then summed per scope in Python: every fact is additive,
so a team's or the company's figure is Σ numerator
÷ Σ denominator over the rows it owns, never an average of rates. The number
of queries therefore depends on the granularities and the span of periods,
never on the number of deals, prospects, reps, teams or campaigns.

Readings of the spec worth knowing (also in docs/kpis.md):
- open and weighted pipeline are written only for the period that contains
  the day of computation (one row per granularity);
- pipeline_velocity combines the period's win rate, average deal size and
  sales cycle with the number of deals open on the day of computation;
- churn_rate's numerator is the customers active at P's start whose
  churned_on falls in P (a customer acquired and lost within P is in neither
  side), so churn and retention add up to 100 % (formula version 2);
- ltv's "mean monthly churn" is the mean of the monthly churn rates of the six
  calendar months ending with P's last month that have customers at their
  start.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import connection, transaction
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
    When,
)
from django.db.models.functions import Trunc, TruncMonth
from django.utils import timezone

from crm.models import (
    STAGE_PROBABILITY,
    Activity,
    Campaign,
    CampaignSpend,
    Customer,
    Deal,
    Prospect,
    Stage,
    Target,
    Team,
    User,
)
from crm.models import today as company_today
from kpis.definitions import CAMPAIGN, COMPANY, GRANULARITIES, KPIS, MONTH, REP, TEAM
from kpis.models import KpiSnapshot
from kpis.periods import MONTHS_IN, add_months, month_starts, period_end, period_start, periods_between
from surveys.models import Invitation, Response

ZERO = Decimal(0)
HUNDRED = Decimal(100)
# Snapshot columns hold 6 decimals; rounding here (not in the database) keeps
# two runs byte-identical on every backend.
SIX_PLACES = Decimal("0.000001")
# Rows per upsert statement; SQLite lowers it to its own parameter limit.
WRITE_BATCH = 2000
# The PostgreSQL write path (_Engine._upsert_arrays): columns and their types.
_UNIQUE_FIELDS = ("kpi", "scope_type", "scope_id", "granularity", "period_start")
_UPDATE_FIELDS = ("value", "numerator", "denominator", "details", "low_sample", "maturing", "formula_version",
                  "computed_at")  # fmt: skip
_WRITE_COLUMNS = (*_UNIQUE_FIELDS, *_UPDATE_FIELDS)
_WRITE_TYPES = ("varchar", "varchar", "bigint", "varchar", "date", "numeric", "numeric", "numeric", "jsonb",
               "boolean", "boolean", "smallint", "timestamptz")  # fmt: skip
# Period windows computed as conditional aggregates in one statement (ARPA):
# two columns each, well under every backend's column limit.
WINDOW_CHUNK = 60

Progress = Callable[[int, int], None]
ScopeKey = tuple[str, int, dt.date]  # (scope type, scope id, period start)


# --- small helpers ---------------------------------------------------------


def _zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def _midnight(day: dt.date) -> dt.datetime:
    """The aware instant a company-zone day starts."""
    return dt.datetime.combine(day, dt.time.min, tzinfo=_zone())


def _trunc(field: str, granularity: str, *, timestamp: bool = False) -> Trunc:
    # Timestamps are turned into a company-zone date before they are put in a
    # period (kpi-spec): 31 March 23:30 in Paris is March, whatever UTC says.
    if timestamp:
        return Trunc(field, granularity, output_field=DateField(), tzinfo=_zone())
    return Trunc(field, granularity, output_field=DateField())


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


class _Sums:
    """Additive facts summed per (scope type, scope id, period start)."""

    def __init__(self) -> None:
        self.data: dict[ScopeKey, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
        self.seen: dict[str, set[int]] = defaultdict(set)

    def add_rows(
        self,
        rows: Iterable[dict],
        fields: Iterable[str],
        scopes: dict[str, str | None],
        period: dt.date | None = None,
    ) -> None:
        """Add each grouped row to the company and to the rep/team/campaign its
        `scopes` columns name (None in a column: the row has no such scope)."""
        fields = tuple(fields)
        for row in rows:
            start = period or row["period"]
            keys = [(COMPANY, 0)]
            for scope_type, column in scopes.items():
                if column and row.get(column) is not None:
                    keys.append((scope_type, row[column]))
                    self.seen[scope_type].add(row[column])
            for scope_type, scope_id in keys:
                bucket = self.data[(scope_type, scope_id, start)]
                for field in fields:
                    value = row[field]
                    if value is not None:
                        if isinstance(value, dt.timedelta):
                            value = value.days
                        bucket[field] += Decimal(value)

    def get(self, scope_type: str, scope_id: int, start: dt.date, field: str) -> Decimal:
        bucket = self.data.get((scope_type, scope_id, start))
        return bucket.get(field, ZERO) if bucket else ZERO

    def has(self, scope_type: str, scope_id: int, start: dt.date) -> bool:
        return (scope_type, scope_id, start) in self.data


# --- the span of data ------------------------------------------------------


def data_span(today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The first and last day that any fact table has data for (today at least
    as the last day, so the current period is always computed)."""
    today = today or company_today()
    bounds = [
        Deal.objects.aggregate(lo=Min("closed_on"), hi=Max("closed_on")),
        Prospect.objects.aggregate(lo=Min("created_on"), hi=Max("created_on")),
        Customer.objects.aggregate(lo=Min("acquired_on"), hi=Max("churned_on")),
        CampaignSpend.objects.aggregate(lo=Min("spent_on"), hi=Max("spent_on")),
        Activity.objects.aggregate(lo=Min("occurred_on"), hi=Max("occurred_on")),
        Target.objects.aggregate(lo=Min("month"), hi=Max("month")),
        Invitation.objects.aggregate(lo=Min("sent_at"), hi=Max("sent_at")),
        Response.objects.aggregate(lo=Min("submitted_at"), hi=Max("submitted_at")),
    ]
    lows = [_as_date(b["lo"]) for b in bounds if b["lo"] is not None]
    highs = [_as_date(b["hi"]) for b in bounds if b["hi"] is not None]
    return (min(lows, default=today), max([*highs, today]))


# --- public entry points ---------------------------------------------------


def recompute(
    start: dt.date | None = None,
    end: dt.date | None = None,
    granularities: Iterable[str] = GRANULARITIES,
    *,
    today: dt.date | None = None,
    progress: Progress | None = None,
) -> int:
    """Recompute every KPI for the periods of `granularities` overlapping the
    months from `start`'s to `end`'s; None/None covers every period that has
    data. Returns the number of snapshot rows written."""
    today = today or company_today()
    if start is None or end is None:
        first, last = data_span(today)
        start = start or first
        end = end or last
    if end < start:
        raise ValueError("The end of the range comes before its start.")
    end = period_end(end.replace(day=1), MONTH)
    plan = {g: periods_between(start.replace(day=1), end, g) for g in granularities}
    return compute_periods(plan, today=today, progress=progress)


def current_and_previous(today: dt.date) -> dict[str, list[dt.date]]:
    """The nightly job's plan: the current and previous period of each granularity."""
    plan = {}
    for g in GRANULARITIES:
        current = period_start(today, g)
        plan[g] = [period_start(current - dt.timedelta(days=1), g), current]
    return plan


def apply_churn_rule(today: dt.date | None = None) -> int:
    """Mark customers churned after KPI_CHURN_INACTIVITY_DAYS without a won deal.

    kpi-spec: a customer is churned on the day that many days after its last
    won deal if no won deal came since. Returns how many customers changed.
    """
    days = settings.KPI_CHURN_INACTIVITY_DAYS
    if not days:
        return 0
    today = today or company_today()
    last_won = (
        Deal.objects.filter(customer=OuterRef("pk"), stage=Stage.WON)
        .order_by("-closed_on")
        .values("closed_on")[:1]
    )
    due = list(
        Customer.objects.filter(churned_on__isnull=True, acquired_on__isnull=False)
        .annotate(last_won=Subquery(last_won, output_field=DateField()))
        .filter(last_won__lte=today - dt.timedelta(days=days))
        .only("pk", "acquired_on")
    )
    reason = f"No won deal for {days} days"
    for customer in due:
        customer.churned_on = customer.last_won + dt.timedelta(days=days)
        customer.churn_reason = reason
    with transaction.atomic():
        Customer.objects.bulk_update(due, ["churned_on", "churn_reason"], batch_size=500)
    return len(due)


# --- the computation -------------------------------------------------------


def compute_periods(
    plan: dict[str, list[dt.date]],
    *,
    today: dt.date | None = None,
    progress: Progress | None = None,
) -> int:
    """Compute and upsert every KPI for the period starts in `plan`
    ({granularity: [period start, ...]})."""
    today = today or company_today()
    plan = {g: sorted(set(starts)) for g, starts in plan.items() if starts}
    # Steps: each granularity's fact queries, the customer facts, then each
    # batch of writes (counted once the rows are known).
    steps = len(plan) + 2
    done = 0

    def tick(add_steps: int = 0) -> None:
        nonlocal done, steps
        steps += add_steps
        done += 1
        if progress:
            progress(done, steps)

    engine = _Engine(today)
    engine.load_universe()
    engine.load_open_pipeline()
    # Every fact is additive over months and every period is a run of whole
    # months: the fact tables are read once, by month, over all the plan's
    # periods, and quarters and years are sums of their months (the database
    # groups each table once instead of once per granularity).
    first = min(starts[0] for starts in plan.values())
    last = max(period_end(starts[-1], g) for g, starts in plan.items())
    engine.load_period_facts(MONTH, month_starts(first, last))
    for granularity in plan:
        if granularity != MONTH:
            engine.roll_up(granularity)
        tick()
    engine.load_customer_facts(plan)
    tick()
    for granularity, starts in plan.items():
        for start in starts:
            engine.emit_period(granularity, start)
    return engine.write(tick, plan)


class _Engine:
    def __init__(self, today: dt.date) -> None:
        self.today = today
        self.now = timezone.now()
        self.min_sample = settings.KPI_MIN_SAMPLE
        self.margin = settings.KPI_GROSS_MARGIN
        self.maturity = dt.timedelta(days=settings.KPI_COHORT_MATURITY_DAYS)
        self.rows: dict[tuple, KpiSnapshot] = {}
        self.universe: dict[str, set[int]] = {}
        # Per granularity: additive facts per scope and period.
        self.deals: dict[str, _Sums] = {}
        self.prospects: dict[str, _Sums] = {}
        self.customers: dict[str, _Sums] = {}
        self.spend: dict[str, _Sums] = {}
        self.responses: dict[str, _Sums] = {}
        self.invitations: dict[str, _Sums] = {}
        self.targets: dict[str, _Sums] = {}
        self.activities: dict[str, _Sums] = {}
        self.opened: dict[str, _Sums] = {}
        self.pipeline = _Sums()
        # Customer-state buckets and ARPA windows (company and team only).
        self.buckets: dict[int | None, list[tuple]] = defaultdict(list)
        self.arpa: dict[tuple[int, dt.date, dt.date], tuple[Decimal, Decimal]] = {}
        self._monthly_churn: dict[tuple[str, int, dt.date], Decimal | None] = {}

    # -- loading (one query per fact table, by month; coarser periods roll up) --

    def load_universe(self) -> None:
        # Every team, every active member of the sales staff and every
        # campaign gets rows (a zero is an answer too); people who left get
        # rows where the data still names them.
        self.universe = {
            COMPANY: {0},
            TEAM: set(Team.objects.values_list("pk", flat=True)),
            REP: set(User.objects.sales_staff().values_list("pk", flat=True)),
            CAMPAIGN: set(Campaign.objects.values_list("pk", flat=True)),
        }

    def _seen(self, sums: _Sums) -> None:
        for scope_type, ids in sums.seen.items():
            self.universe[scope_type] |= ids

    def load_open_pipeline(self) -> None:
        # Point in time: the deals open on the day of computation.
        per_stage = {f"amount_{s}": Sum("amount", filter=Q(stage=s)) for s in Stage.open_stages()}
        # Per-stage counts too: the team page's "open pipeline by stage" reads
        # them from the snapshot's details instead of the deals table.
        per_stage |= {f"count_{s}": Count("pk", filter=Q(stage=s)) for s in Stage.open_stages()}
        rows = (
            Deal.objects.open()
            .order_by()
            .values("owner_id", "team_id")
            .annotate(open_count=Count("pk"), open_amount=Sum("amount"), **per_stage)
        )
        self.pipeline.add_rows(
            rows,
            ["open_count", "open_amount", *per_stage],
            {REP: "owner_id", TEAM: "team_id"},
            period=self.today,
        )
        self._seen(self.pipeline)

    def load_period_facts(self, g: str, starts: list[dt.date]) -> None:
        lo, hi = starts[0], period_end(starts[-1], g)
        lo_ts, hi_ts = _midnight(lo), _midnight(hi + dt.timedelta(days=1))
        people = {REP: "owner_id", TEAM: "team_id"}
        won, lost = Q(stage=Stage.WON), Q(stage=Stage.LOST)

        # Deals closed in the range: revenue, won/lost counts, cycle days.
        sums = self.deals[g] = _Sums()
        rows = (
            Deal.objects.filter(stage__in=Stage.closed_stages(), closed_on__range=(lo, hi))
            .order_by()
            .values(
                "owner_id",
                "team_id",
                period=_trunc("closed_on", g),
                campaign=F("customer__source_campaign_id"),
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
        sums.add_rows(rows, ["won", "lost", "revenue", "cycle"], {**people, CAMPAIGN: "campaign"})

        # Prospect cohorts by created_on: converted by the day of computation.
        converted = Q(customer__isnull=False) & (
            Q(converted_on__isnull=True) | Q(converted_on__lte=self.today)
        )
        sums = self.prospects[g] = _Sums()
        rows = (
            Prospect.objects.filter(created_on__range=(lo, hi))
            .order_by()
            .values("owner_id", "team_id", "source_campaign_id", period=_trunc("created_on", g))
            .annotate(
                total=Count("pk"),
                converted=Count("pk", filter=converted),
                # The funnel's second step (stored in details, not a KPI).
                qualified=Count(
                    "pk", filter=Q(status__in=[Prospect.Status.QUALIFIED, Prospect.Status.CONVERTED])
                ),
            )
        )
        sums.add_rows(rows, ["total", "converted", "qualified"], {**people, CAMPAIGN: "source_campaign_id"})

        # Deals opened in the range: the funnel's third step (stored in
        # deals_won's details, so the team page reads no raw table).
        sums = self.opened[g] = _Sums()
        rows = (
            Deal.objects.filter(opened_on__range=(lo, hi))
            .order_by()
            .values("owner_id", "team_id", period=_trunc("opened_on", g))
            .annotate(opened=Count("pk"))
        )
        sums.add_rows(rows, ["opened"], people)

        # New customers, credited to their first won deal's owner and team.
        sums = self.customers[g] = _Sums()
        rows = (
            Customer.objects.filter(acquired_on__range=(lo, hi))
            .order_by()
            .values(
                "source_campaign_id",
                period=_trunc("acquired_on", g),
                # kpi-spec: credited to the first won deal's owner and team; only
                # a customer whose first deal is unknown (deleted) falls back
                # to its own owner and team.
                credit_owner=Case(
                    When(first_deal__isnull=False, then=F("first_deal__owner_id")), default=F("owner_id")
                ),
                credit_team=Case(
                    When(first_deal__isnull=False, then=F("first_deal__team_id")), default=F("team_id")
                ),
            )
            .annotate(new=Count("pk"))
        )
        sums.add_rows(
            rows,
            ["new"],
            {REP: "credit_owner", TEAM: "credit_team", CAMPAIGN: "source_campaign_id"},
        )

        # Marketing spend: a campaign may belong to a team.
        sums = self.spend[g] = _Sums()
        rows = (
            CampaignSpend.objects.filter(spent_on__range=(lo, hi))
            .order_by()
            .values("campaign_id", period=_trunc("spent_on", g), team=F("campaign__team_id"))
            .annotate(spend=Sum("amount"))
        )
        sums.add_rows(rows, ["spend"], {TEAM: "team", CAMPAIGN: "campaign_id"})

        # Survey responses submitted in the range (a timestamp: company zone).
        sums = self.responses[g] = _Sums()
        rows = (
            Response.objects.filter(submitted_at__gte=lo_ts, submitted_at__lt=hi_ts)
            .order_by()
            .values(
                period=_trunc("submitted_at", g, timestamp=True),
                owner=F("invitation__owner_id"),
                team=F("invitation__team_id"),
            )
            .annotate(
                promoters=Count("pk", filter=Q(nps_score__gte=9)),
                passives=Count("pk", filter=Q(nps_score__in=[7, 8])),
                detractors=Count("pk", filter=Q(nps_score__lte=6)),
                csat_good=Count("pk", filter=Q(csat_score__gte=4)),
                csat_total=Count("csat_score"),
            )
        )
        sums.add_rows(
            rows,
            ["promoters", "passives", "detractors", "csat_good", "csat_total"],
            {REP: "owner", TEAM: "team"},
        )

        # Invitations sent in the range.
        delivered = Q(bounced_at__isnull=True)
        sums = self.invitations[g] = _Sums()
        rows = (
            Invitation.objects.filter(sent_at__gte=lo_ts, sent_at__lt=hi_ts)
            .order_by()
            .values("owner_id", "team_id", period=_trunc("sent_at", g, timestamp=True))
            .annotate(
                delivered=Count("pk", filter=delivered),
                answered=Count("pk", filter=delivered & Q(response__isnull=False)),
            )
        )
        sums.add_rows(rows, ["delivered", "answered"], people)

        # Targets: a rep's rows carry user_id, a team's team_id, never both.
        sums = self.targets[g] = _Sums()
        rows = (
            Target.objects.filter(month__range=(lo, hi))
            .order_by()
            .values("user_id", "team_id", period=_trunc("month", g))
            .annotate(target=Sum("amount"))
        )
        sums.add_rows(rows, ["target"], {REP: "user_id", TEAM: "team_id"})

        # Calls, meetings and emails.
        sums = self.activities[g] = _Sums()
        rows = (
            # A planned call (done=False) is not logged work yet.
            Activity.objects.filter(kind__in=Activity.COUNTED_KINDS, done=True, occurred_on__range=(lo, hi))
            .order_by()
            .values("owner_id", "team_id", period=_trunc("occurred_on", g))
            .annotate(n=Count("pk"))
        )
        sums.add_rows(rows, ["n"], people)

        for facts in (self.deals, self.prospects, self.customers, self.spend, self.responses,
                      self.invitations, self.targets, self.activities, self.opened):  # fmt: skip
            self._seen(facts[g])

    def roll_up(self, g: str) -> None:
        """A granularity's facts as the sums of its months' facts."""
        for facts in (self.deals, self.prospects, self.customers, self.spend, self.responses,
                      self.invitations, self.targets, self.activities, self.opened):  # fmt: skip
            months = facts[MONTH]
            sums = facts[g] = _Sums()
            for (scope_type, scope_id, month), bucket in months.data.items():
                into = sums.data[(scope_type, scope_id, period_start(month, g))]
                for field, value in bucket.items():
                    into[field] += value
            sums.seen = months.seen

    def load_customer_facts(self, plan: dict[str, list[dt.date]]) -> None:
        """Customer states (churn, retention, repeat purchases) and ARPA windows,
        for company and team (customer.team)."""
        # Every period boundary is a month start, so a customer's state at any
        # boundary is known from the months of its acquisition, churn and
        # second won deal: group customers by those months (a bounded number of
        # buckets, not one row per customer).
        second_won = (
            Deal.objects.filter(customer=OuterRef("pk"), stage=Stage.WON)
            .order_by("closed_on", "pk")
            .values("closed_on")[1:2]
        )
        rows = (
            Customer.objects.filter(acquired_on__isnull=False)
            .annotate(second_won=Subquery(second_won, output_field=DateField()))
            .order_by()
            .values(
                "team_id",
                acquired=TruncMonth("acquired_on"),
                churned=TruncMonth("churned_on"),
                second=TruncMonth("second_won"),
            )
            .annotate(n=Count("pk"))
        )
        for row in rows:
            bucket = (row["acquired"], row["churned"], row["second"], row["n"])
            self.buckets[None].append(bucket)  # the company
            if row["team_id"] is not None:
                self.buckets[row["team_id"]].append(bucket)
                self.universe[TEAM].add(row["team_id"])

        # ARPA: revenue and distinct customers with a won deal over the 12
        # months ending at each period's end, one pair of conditional
        # aggregates per window.
        windows = sorted(
            {
                (add_months(start, -12 + MONTHS_IN[g]), period_end(start, g))
                for g, starts in plan.items()
                for start in starts
            }  # fmt: skip
        )
        for i in range(0, len(windows), WINDOW_CHUNK):
            chunk = windows[i : i + WINDOW_CHUNK]
            aggregates = {}
            for n, (lo, hi) in enumerate(chunk):
                in_window = Q(closed_on__range=(lo, hi))
                aggregates[f"rev{n}"] = Sum("amount", filter=in_window)
                aggregates[f"cus{n}"] = Count("customer_id", distinct=True, filter=in_window)
            rows = (
                # Revenue per *account*: a won deal with no customer has no
                # account to divide by, so it stays out of both sides.
                Deal.objects.filter(
                    stage=Stage.WON, customer__isnull=False, closed_on__range=(chunk[0][0], chunk[-1][1])
                )
                .order_by()
                .values(customer_team=F("customer__team_id"))
                .annotate(**aggregates)
            )
            for row in rows:
                for n, (lo, hi) in enumerate(chunk):
                    revenue = row[f"rev{n}"] or ZERO
                    customers = Decimal(row[f"cus{n}"] or 0)
                    # A customer has one team, so team counts add up to the company's.
                    team = row["customer_team"]
                    scopes = [0] + ([team] if team is not None else [])
                    for scope_id in scopes:
                        r, c = self.arpa.get((scope_id, lo, hi), (ZERO, ZERO))
                        self.arpa[(scope_id, lo, hi)] = (r + revenue, c + customers)

    # -- customer-state arithmetic --

    def _states(self, scope_type: str, scope_id: int, start: dt.date, last_month: dt.date):
        """(active at start, retained to the end, churned in P, ≥1 won, ≥2 won)
        for the period from `start` to the end of `last_month`."""
        key = None if scope_type == COMPANY else scope_id
        active = retained = churned = one = two = 0
        for acquired, churn, second, n in self.buckets.get(key, ()):
            if acquired < start and (churn is None or churn >= start):
                active += n
                if churn is None or churn > last_month:
                    retained += n
                else:
                    # Churned in P among the customers active at its start (a
                    # customer acquired and lost within P is not in the base),
                    # so churn + retention = 100 and the rate never passes 100.
                    churned += n
            if acquired <= last_month:
                one += n
                if second is not None and second <= last_month:
                    two += n
        return active, retained, churned, one, two

    def _monthly_churn_rate(self, scope_type: str, scope_id: int, month: dt.date):
        key = (scope_type, scope_id, month)
        if key not in self._monthly_churn:
            active, _, churned, _, _ = self._states(scope_type, scope_id, month, month)
            self._monthly_churn[key] = _ratio(churned, active)
        return self._monthly_churn[key]

    # -- emitting rows --

    def emit(
        self,
        kpi: str,
        scope_type: str,
        scope_id: int,
        g: str,
        start: dt.date,
        value,
        numerator=None,
        denominator=None,
        details: dict | None = None,
    ) -> None:
        definition = KPIS[kpi]
        if scope_type not in definition.scopes:
            return
        low_sample = bool(
            definition.is_rate and denominator is not None and 0 < denominator < self.min_sample
        )
        maturing = bool(definition.is_cohort and period_end(start, g) > self.today - self.maturity)
        self.rows[(kpi, scope_type, scope_id, g, start)] = KpiSnapshot(
            kpi=kpi,
            scope_type=scope_type,
            scope_id=scope_id,
            granularity=g,
            period_start=start,
            value=_round(value),
            numerator=_round(numerator),
            denominator=_round(denominator),
            details=details or {},
            low_sample=low_sample,
            maturing=maturing,
            formula_version=definition.formula_version,
            computed_at=self.now,
        )

    def emit_period(self, g: str, start: dt.date) -> None:
        for scope_type in (COMPANY, TEAM, REP, CAMPAIGN):
            for scope_id in sorted(self.universe[scope_type]):
                self._emit_scope(scope_type, scope_id, g, start)

    def _emit_scope(self, st: str, sid: int, g: str, start: dt.date) -> None:
        emit = self.emit
        args = (st, sid, g, start)

        d = self.deals[g]
        won, lost = d.get(st, sid, start, "won"), d.get(st, sid, start, "lost")
        revenue, cycle = d.get(st, sid, start, "revenue"), d.get(st, sid, start, "cycle")
        emit("revenue", *args, revenue, revenue)
        opened = self.opened[g].get(st, sid, start, "opened")
        emit("deals_won", *args, won, won, details={"opened": int(opened)})
        win_rate = _ratio(won, won + lost, HUNDRED)
        emit("win_rate", *args, win_rate, won, won + lost)
        avg_size = _ratio(revenue, won)
        emit("avg_deal_size", *args, avg_size, revenue, won)
        cycle_days = _ratio(cycle, won)
        emit("sales_cycle_days", *args, cycle_days, cycle, won)

        p = self.prospects[g]
        total, converted = p.get(st, sid, start, "total"), p.get(st, sid, start, "converted")
        qualified = p.get(st, sid, start, "qualified")
        emit(
            "lead_conversion_rate",
            *args,
            _ratio(converted, total, HUNDRED),
            converted,
            total,
            details={"qualified": int(qualified)},
        )

        new = self.customers[g].get(st, sid, start, "new")
        emit("new_customers", *args, new, new)
        spend = self.spend[g].get(st, sid, start, "spend")
        emit("marketing_spend", *args, spend, spend)
        cac = _ratio(spend, new)
        emit("cac", *args, cac, spend, new)

        if st in (COMPANY, TEAM):
            self._emit_customer_kpis(st, sid, g, start, cac)

        r = self.responses[g]
        promoters, passives, detractors = (
            r.get(st, sid, start, "promoters"),
            r.get(st, sid, start, "passives"),
            r.get(st, sid, start, "detractors"),
        )
        answers = promoters + passives + detractors
        emit(
            "nps",
            *args,
            _ratio(promoters - detractors, answers, HUNDRED),
            promoters - detractors,
            answers,
            details={
                "promoters": int(promoters),
                "passives": int(passives),
                "detractors": int(detractors),
            },
        )
        good, rated = r.get(st, sid, start, "csat_good"), r.get(st, sid, start, "csat_total")
        emit("csat", *args, _ratio(good, rated, HUNDRED), good, rated)
        i = self.invitations[g]
        answered, delivered = i.get(st, sid, start, "answered"), i.get(st, sid, start, "delivered")
        emit("survey_response_rate", *args, _ratio(answered, delivered, HUNDRED), answered, delivered)

        pipe = self.pipeline
        open_count = pipe.get(st, sid, self.today, "open_count")
        if start <= self.today <= period_end(start, g):
            amount = pipe.get(st, sid, self.today, "open_amount")
            weighted = sum(
                (pipe.get(st, sid, self.today, f"amount_{s}") * STAGE_PROBABILITY[s]
                 for s in Stage.open_stages()),
                ZERO,
            )  # fmt: skip
            by_stage = {
                s.value: {
                    "count": int(pipe.get(st, sid, self.today, f"count_{s}")),
                    # Two decimals whatever the database returns for a sum.
                    "amount": str(pipe.get(st, sid, self.today, f"amount_{s}").quantize(Decimal("0.01"))),
                }
                for s in Stage.open_stages()
            }
            emit("open_pipeline_value", *args, amount, amount, details={"by_stage": by_stage})
            emit("weighted_pipeline_value", *args, weighted, weighted)
        velocity_num = (
            None if win_rate is None or avg_size is None else open_count * win_rate / HUNDRED * avg_size
        )
        emit("pipeline_velocity", *args, _ratio(velocity_num, cycle_days), velocity_num, cycle_days)

        target = self.targets[g].get(st, sid, start, "target")
        emit("quota_attainment", *args, _ratio(revenue, target, HUNDRED), revenue, target)

        n = self.activities[g].get(st, sid, start, "n")
        emit("activities", *args, n, n)

    def _emit_customer_kpis(self, st: str, sid: int, g: str, start: dt.date, cac) -> None:
        args = (st, sid, g, start)
        end = period_end(start, g)
        last_month = end.replace(day=1)
        active, retained, churned, one, two = self._states(st, sid, start, last_month)
        self.emit("churn_rate", *args, _ratio(churned, active, HUNDRED), churned, active)
        self.emit("retention_rate", *args, _ratio(retained, active, HUNDRED), retained, active)
        self.emit("repeat_purchase_rate", *args, _ratio(two, one, HUNDRED), two, one)

        window = (add_months(start, -12 + MONTHS_IN[g]), end)
        revenue_12, customers_12 = self.arpa.get((sid, *window), (ZERO, ZERO))
        monthly_revenue = revenue_12 / 12
        arpa = _ratio(monthly_revenue, customers_12)
        self.emit("arpa", *args, arpa, monthly_revenue, customers_12)

        rates = [
            rate
            for month in month_starts(add_months(last_month, -5), last_month)
            if (rate := self._monthly_churn_rate(st, sid, month)) is not None
        ]
        mean_churn = sum(rates, ZERO) / len(rates) if rates else None
        margin_arpa = None if arpa is None else arpa * self.margin
        ltv = _ratio(margin_arpa, mean_churn)
        self.emit("ltv", *args, ltv, margin_arpa, mean_churn)
        self.emit("ltv_cac_ratio", *args, _ratio(ltv, cac), ltv, cac)
        self.emit("cac_payback_months", *args, _ratio(cac, margin_arpa), cac, margin_arpa)

    # -- writing --

    def write(self, tick: Callable[..., None], plan: dict[str, list[dt.date]]) -> int:
        rows = list(self.rows.values())
        batches = [rows[i : i + WRITE_BATCH] for i in range(0, len(rows), WRITE_BATCH)] or [[]]
        # One transaction: pages never read a half-written recompute.
        with transaction.atomic():
            for n, batch in enumerate(batches):
                self._upsert(batch)
                tick(len(batches) - 1 if n == 0 else 0)
            self._delete_stale(plan)
        return len(rows)

    def _delete_stale(self, plan: dict[str, list[dt.date]]) -> None:
        """Drop rows of the recomputed periods that this run did not write (a
        scope that dropped out: a rep who left and whose deals moved), so a
        recompute equals a computation from scratch. Point-in-time KPIs of
        past periods are the only record of those days: they stay."""
        point_in_time = [d.key for d in KPIS.values() if d.point_in_time]
        for granularity, starts in plan.items():
            (
                KpiSnapshot.objects.filter(granularity=granularity, period_start__in=starts)
                .exclude(computed_at=self.now)
                .exclude(kpi__in=point_in_time, period_start__lt=period_start(self.today, granularity))
                .delete()
            )

    def _upsert(self, rows: list[KpiSnapshot]) -> None:
        if rows and connection.vendor == "postgresql":
            self._upsert_arrays(rows)
        elif rows:
            KpiSnapshot.objects.bulk_create(
                rows,
                batch_size=WRITE_BATCH,
                update_conflicts=True,
                unique_fields=["kpi", "scope_type", "scope_id", "granularity", "period_start"],
                update_fields=[
                    "value",
                    "numerator",
                    "denominator",
                    "details",
                    "low_sample",
                    "maturing",
                    "formula_version",
                    "computed_at",
                ],
            )

    def _upsert_arrays(self, rows: list[KpiSnapshot]) -> None:
        """PostgreSQL: one INSERT … SELECT FROM unnest(arrays) … ON CONFLICT
        per batch. bulk_create's multi-row VALUES spent most of the write
        binding 13 parameters per row one by one (docs/benchmarks.md); 13
        arrays are adapted in bulk, and the statement is the same upsert."""
        table = connection.ops.quote_name(KpiSnapshot._meta.db_table)
        cols = ", ".join(_WRITE_COLUMNS)
        arrays = ", ".join(f"%s::{t}[]" for t in _WRITE_TYPES)
        key = ", ".join(_UNIQUE_FIELDS)
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _UPDATE_FIELDS)
        columns = list(zip(*(
            (r.kpi, r.scope_type, r.scope_id, r.granularity, r.period_start, r.value, r.numerator,
             r.denominator, json.dumps(r.details), r.low_sample, r.maturing, r.formula_version, r.computed_at)
            for r in rows
        ), strict=True))  # fmt: skip
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({cols}) SELECT * FROM unnest({arrays}) "
                f"ON CONFLICT ({key}) DO UPDATE SET {updates}",
                [list(c) for c in columns],
            )
