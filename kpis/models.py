"""KPI snapshots: one row per (kpi, scope, granularity, period start).

Written by kpis.compute with an upsert; read by every performance page.
"""

import datetime as dt

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ScopeType(models.TextChoices):
    COMPANY = "company", _("Company")
    TEAM = "team", _("Team")
    REP = "rep", _("Salesperson")
    CAMPAIGN = "campaign", _("Campaign")


class Granularity(models.TextChoices):
    MONTH = "month", _("Month")
    QUARTER = "quarter", _("Quarter")
    YEAR = "year", _("Year")


class SnapshotQuerySet(models.QuerySet):
    def for_scope(self, scope_type: str, scope_id: int = 0):
        return self.filter(scope_type=scope_type, scope_id=scope_id)

    def for_period(self, granularity: str, period_start):
        return self.filter(granularity=granularity, period_start=period_start)


class KpiSnapshot(models.Model):
    kpi = models.CharField(max_length=40)
    scope_type = models.CharField(max_length=10, choices=ScopeType.choices)
    # The team's, user's or campaign's id; 0 for the company (not NULL, so
    # the unique constraint below holds on every database).
    scope_id = models.PositiveBigIntegerField(default=0)
    granularity = models.CharField(max_length=10, choices=Granularity.choices)
    period_start = models.DateField()
    # None means n/a (a zero denominator, a missing input): never 0.
    value = models.DecimalField(max_digits=24, decimal_places=6, null=True, blank=True)
    numerator = models.DecimalField(max_digits=24, decimal_places=6, null=True, blank=True)
    denominator = models.DecimalField(max_digits=24, decimal_places=6, null=True, blank=True)
    # Extra counts a KPI stores beside its fraction (NPS: promoters, passives,
    # detractors).
    details = models.JSONField(default=dict, blank=True)
    low_sample = models.BooleanField(default=False)
    maturing = models.BooleanField(default=False)
    formula_version = models.PositiveSmallIntegerField(default=1)
    computed_at = models.DateTimeField()

    objects = SnapshotQuerySet.as_manager()

    class Meta:
        verbose_name = _("KPI snapshot")
        verbose_name_plural = _("KPI snapshots")
        constraints = [
            models.UniqueConstraint(
                fields=["kpi", "scope_type", "scope_id", "granularity", "period_start"],
                name="kpisnapshot_unique_row",
            ),
        ]
        indexes = [
            # Scorecards and sparklines: every KPI of one scope over periods.
            models.Index(
                fields=["scope_type", "scope_id", "granularity", "period_start"],
                name="snapshot_scorecard_idx",
            ),
            # Leaderboards: one KPI across all scopes of a type for a period.
            models.Index(
                fields=["kpi", "granularity", "period_start", "scope_type"],
                name="snapshot_leaderboard_idx",
            ),
            # KPI status page: "as of" = the latest computed_at.
            models.Index(fields=["-computed_at"], name="snapshot_computed_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kpi} {self.scope_type}:{self.scope_id} {self.granularity} {self.period_start}"


# A queued or running run older than this was left by a dead worker or a
# stopped queue: longer than the task's hard time limit (kpis.tasks).
RUN_STALE_AFTER = dt.timedelta(hours=1)


class RecomputeRunQuerySet(models.QuerySet):
    def active(self):
        """Runs still queued or running, ignoring any a dead worker left behind
        (older than the task's hard time limit)."""
        return self.filter(
            status__in=[RecomputeRun.Status.QUEUED, RecomputeRun.Status.RUNNING],
            created_at__gte=timezone.now() - RUN_STALE_AFTER,
        )


class RecomputeRun(models.Model):
    """One recompute of the KPI snapshots: nightly or asked for by a manager.

    The task reports its progress here, so a page can poll it with htmx
    whatever the Celery result backend.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Skipped")

    class Kind(models.TextChoices):
        NIGHTLY = "nightly", _("Nightly")
        MANUAL = "manual", _("Recompute now")
        COMMAND = "command", _("Command line")
        IMPORT = "import", _("After an import")
        SEED = "seed", _("Demo data")

    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    kind = models.CharField(_("started by"), max_length=10, choices=Kind.choices, default=Kind.NIGHTLY)
    # The day the run computed "as of" (recompute_kpis --today sets it).
    as_of = models.DateField(_("as of"), null=True, blank=True)
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0)
    message = models.CharField(_("message"), max_length=300, blank=True)
    rows_written = models.PositiveIntegerField(_("rows written"), default=0)
    churned = models.PositiveIntegerField(_("customers marked churned"), default=0)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("requested at"), default=timezone.now)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    objects = RecomputeRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("KPI recompute")
        verbose_name_plural = _("KPI recomputes")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(progress__lte=100), name="recomputerun_progress_max_100"
            ),
        ]
        indexes = [
            # Status page and button: the latest runs, and "is one active?".
            models.Index(fields=["-created_at"], name="recomputerun_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_status_display()} {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    # Each step writes with update() so a poll sees it at once, outside any
    # transaction the computation holds.

    def _set(self, **fields) -> None:
        for name, value in fields.items():
            setattr(self, name, value)
        RecomputeRun.objects.filter(pk=self.pk).update(**fields)

    def start(self) -> None:
        self._set(status=self.Status.RUNNING, started_at=timezone.now(), progress=0, message="")

    def report(self, done: int, total: int) -> None:
        self._set(progress=min(100, done * 100 // max(total, 1)))

    def finish(self, rows_written: int, churned: int, message: str = "") -> None:
        self._set(
            status=self.Status.DONE,
            progress=100,
            rows_written=rows_written,
            churned=churned,
            message=message[:300],
            finished_at=timezone.now(),
        )

    def fail(self, message: str, status: str = Status.FAILED) -> None:
        self._set(status=status, message=message[:300], finished_at=timezone.now())


class JobLock(models.Model):
    """A named lock with an expiry, so two recomputes never overlap.

    A row lock in the database works with or without Redis; the expiry frees
    it when a worker dies without releasing it.
    """

    name = models.CharField(max_length=100, unique=True)
    holder = models.CharField(max_length=100, blank=True)
    expires_at = models.DateTimeField()

    class Meta:
        verbose_name = _("job lock")
        verbose_name_plural = _("job locks")

    def __str__(self) -> str:
        return self.name

    @classmethod
    def acquire(cls, name: str, holder: str, ttl: dt.timedelta) -> bool:
        now = timezone.now()
        cls.objects.get_or_create(name=name, defaults={"expires_at": now})
        # One conditional UPDATE: the database serialises two takers, and only
        # one of them sees an expired lock.
        taken = cls.objects.filter(name=name, expires_at__lte=now).update(holder=holder, expires_at=now + ttl)
        return taken == 1

    @classmethod
    def release(cls, name: str, holder: str) -> None:
        cls.objects.filter(name=name, holder=holder).update(holder="", expires_at=timezone.now())


class DashboardCardQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(user=user).order_by("position", "pk")


class DashboardCard(models.Model):
    """One KPI card a user keeps on their personal dashboard, in their order."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="dashboard_cards"
    )
    kpi = models.CharField(_("KPI"), max_length=40)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    objects = DashboardCardQuerySet.as_manager()

    class Meta:
        ordering = ["user", "position", "pk"]
        verbose_name = _("dashboard card")
        verbose_name_plural = _("dashboard cards")
        constraints = [
            models.UniqueConstraint(fields=["user", "kpi"], name="dashboardcard_unique_kpi"),
        ]
        # The unique constraint's index (user, kpi) also serves the dashboard
        # query "this user's cards", so no extra index is needed.

    def __str__(self) -> str:
        return f"{self.user_id}: {self.kpi} #{self.position}"

    @staticmethod
    def rearranged(kpis: list[str], action: str, kpi: str, allowed: list[str]) -> list[str]:
        """The card list after one edit: add, remove, up or down."""
        kpis = list(kpis)
        if action == "add" and kpi in allowed and kpi not in kpis:
            kpis.append(kpi)
        elif action == "remove" and kpi in kpis and len(kpis) > 1:
            # The last card stays: an empty dashboard would fall back to the defaults.
            kpis.remove(kpi)
        elif action in ("up", "down") and kpi in kpis:
            i = kpis.index(kpi)
            j = i - 1 if action == "up" else i + 1
            if 0 <= j < len(kpis):
                kpis[i], kpis[j] = kpis[j], kpis[i]
        return kpis


def save_dashboard(user, kpis: list[str]) -> None:
    """Replace a user's dashboard with these KPI cards, in this order.

    Delete and re-insert in one transaction: a dashboard is a handful of rows,
    and renumbering in place would fight the (user, kpi) constraint.
    """
    with transaction.atomic():
        DashboardCard.objects.filter(user=user).delete()
        DashboardCard.objects.bulk_create(
            DashboardCard(user=user, kpi=kpi, position=i) for i, kpi in enumerate(kpis)
        )


class DirtyMonthQuerySet(models.QuerySet):
    def months(self) -> list[dt.date]:
        """The distinct months waiting for a recompute, oldest first."""
        return sorted(set(self.values_list("month", flat=True)))


class DirtyMonth(models.Model):
    """A month whose facts changed since they were last computed.

    Written only by database triggers (kpis.triggers) on every table that
    feeds a KPI, so no write path (a page, the admin, an import, a queryset
    update(), raw SQL) can forget to mark what it touched. Rows are never
    deduplicated on PostgreSQL: a recompute deletes exactly the rows it read,
    so a change committed while it runs keeps its own row for the next run.
    """

    month = models.DateField()
    # The one fact family (kpis.compute.FAMILIES) the change moves, or blank
    # for all: the churn rule moves churn counts every night, and reading only
    # those keeps a quiet night from reading the whole current month again.
    family = models.CharField(max_length=20, blank=True, default="")
    # SQLite serialises writers, so there a trigger skips a month that
    # already has an unclaimed row; a recompute claims the rows it reads first.
    claimed = models.BooleanField(default=False)
    marked_at = models.DateTimeField()

    objects = DirtyMonthQuerySet.as_manager()

    class Meta:
        verbose_name = _("month waiting for a recompute")
        verbose_name_plural = _("months waiting for a recompute")
        indexes = [
            # Triggers on SQLite: "is this month already marked and unclaimed?"
            models.Index(fields=["month", "claimed"], name="dirtymonth_month_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m}"


class MonthFact(models.Model):
    """One month's additive facts for one scope, kept between recomputes.

    A recompute re-reads the raw tables only for the months that changed
    (dirty, current, previous) and rebuilds quarters, years and every
    cumulative figure (customers active at a date, the open pipeline at a
    month's end) from these rows: the nightly cost follows what changed, not
    the length of the history. `facts` maps a fact's name to a number (as a
    string for money) or to a small histogram.
    """

    month = models.DateField()
    family = models.CharField(max_length=20)
    scope_type = models.CharField(max_length=10, choices=ScopeType.choices)
    scope_id = models.PositiveBigIntegerField(default=0)
    facts = models.JSONField(default=dict)

    class Meta:
        verbose_name = _("monthly KPI fact")
        verbose_name_plural = _("monthly KPI facts")
        constraints = [
            models.UniqueConstraint(
                fields=["family", "month", "scope_type", "scope_id"], name="monthfact_unique_row"
            ),
        ]
        # The unique index (family, month, …) serves the engine's reads: one
        # family over a range of months.

    def __str__(self) -> str:
        return f"{self.family} {self.scope_type}:{self.scope_id} {self.month:%Y-%m}"


class FactMonth(models.Model):
    """A month whose MonthFact rows are stored, and with which engine version.

    A month of the data's span without a row here (a new install, an engine
    whose facts changed meaning) is computed from the raw tables by the next
    recompute, whatever is dirty.
    """

    month = models.DateField(unique=True)
    version = models.PositiveSmallIntegerField()
    computed_at = models.DateTimeField()

    class Meta:
        verbose_name = _("month with stored facts")
        verbose_name_plural = _("months with stored facts")

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} v{self.version}"


class PartialFacts(models.Model):
    """The first days of a month summed, kept between nightly runs: the last,
    partial month of a like-for-like span (on 5 December, 1–5 November).

    The next night moves the cut on by a day: the engine reads that day
    alone and adds it, instead of the month's first days all over again.
    Valid while the month is not read again (a change marks it dirty) and
    the engine's facts keep their meaning (`version`). `facts` is JSON
    mapping a family to [scope type, scope id, {fact: number as text}] rows,
    kept as text: nothing queries inside it, and on M PostgreSQL spent a
    second a night building jsonb out of its few MB.
    """

    month = models.DateField(unique=True)
    cut = models.DateField()
    as_of = models.DateField()
    version = models.PositiveSmallIntegerField()
    facts = models.TextField(default="{}")

    class Meta:
        verbose_name = _("first days of a month, summed")
        verbose_name_plural = _("first days of months, summed")

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} to {self.cut}"


class EngineState(models.Model):
    """What the last run that wrote the current and previous periods saw
    (one row): its day of computation and a signature of everything besides
    the stored facts that its figures depend on (engine and formula
    versions, KPI settings, the roster of salespeople and their teams).

    A nightly run rewrites a previous period only when something may have
    moved it: a month of it or before it was read again, the period was
    still under way at the last run, or the signature changed. Otherwise its
    stored rows are exactly what a recompute from scratch would write.
    """

    as_of = models.DateField()
    signature = models.CharField(max_length=64)
    written_at = models.DateTimeField()

    class Meta:
        verbose_name = _("KPI engine state")
        verbose_name_plural = _("KPI engine state")

    def __str__(self) -> str:
        return f"as of {self.as_of}"


class ForecastQuerySet(models.QuerySet):
    def for_scope(self, scope_type: str, scope_id: int = 0):
        return self.filter(scope_type=scope_type, scope_id=scope_id)


class ForecastSnapshot(models.Model):
    """One revenue forecast of one scope and period (kpis.forecast).

    Kept, not overwritten: the nightly run rewrites the "latest" row of the
    current and next periods, but the first forecast made on or after a
    period's start ("start") and after its middle ("mid") are written once
    and stay, so a closed period shows what was forecast against what
    happened (`actual`, refreshed when the period's months are corrected).
    """

    class Kind(models.TextChoices):
        START = "start", _("At the period's start")
        MID = "mid", _("Mid-period")
        LATEST = "latest", _("Latest")

    scope_type = models.CharField(max_length=10, choices=ScopeType.choices)
    scope_id = models.PositiveBigIntegerField(default=0)
    granularity = models.CharField(max_length=10, choices=Granularity.choices)
    period_start = models.DateField()
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # The day the forecast was made "as of".
    made_on = models.DateField()
    won_so_far = models.DecimalField(max_digits=24, decimal_places=2)
    p10 = models.DecimalField(max_digits=24, decimal_places=2)
    p50 = models.DecimalField(max_digits=24, decimal_places=2)
    p90 = models.DecimalField(max_digits=24, decimal_places=2)
    expected = models.DecimalField(max_digits=24, decimal_places=2)
    target = models.DecimalField(max_digits=24, decimal_places=2, null=True, blank=True)
    # Percentage of the simulated outcomes that reach the target, 0–100.
    chance_of_target = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    open_deals = models.PositiveIntegerField(default=0)
    # The revenue the period really made, once it is over.
    actual = models.DecimalField(max_digits=24, decimal_places=2, null=True, blank=True)
    # The deals simulated (the ones that move it most first) and the
    # historical rates used, for "Explain this number".
    details = models.JSONField(default=dict, blank=True)
    # Written by `backtest_forecast --store` from the history, not on the day.
    backfilled = models.BooleanField(default=False)
    formula_version = models.PositiveSmallIntegerField(default=1)
    computed_at = models.DateTimeField()

    objects = ForecastQuerySet.as_manager()

    class Meta:
        verbose_name = _("revenue forecast")
        verbose_name_plural = _("revenue forecasts")
        constraints = [
            models.UniqueConstraint(
                fields=["scope_type", "scope_id", "granularity", "period_start", "kind"],
                name="forecast_unique_row",
            ),
        ]
        # The unique index serves the forecast page and cards: one scope's
        # rows (scope_type, scope_id, …).

    def __str__(self) -> str:
        return (
            f"forecast {self.kind} {self.scope_type}:{self.scope_id} {self.granularity} {self.period_start}"
        )
