"""KPI snapshots: one row per (kpi, scope, granularity, period start).

Written by kpis.compute with an upsert; read by every performance page.
"""

from django.conf import settings
from django.db import models, transaction
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
        ]

    def __str__(self) -> str:
        return f"{self.kpi} {self.scope_type}:{self.scope_id} {self.granularity} {self.period_start}"


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
