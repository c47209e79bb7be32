"""Alerts raised after the nightly recompute, and the weekly digest's
settings and deliveries (docs/alerts.md)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kpis.models import Granularity, ScopeType


class Rule(models.TextChoices):
    BAND = "band", _("Outside its usual band")
    COVERAGE = "coverage", _("Pipeline too thin for the target")
    DETRACTORS = "detractors", _("Cluster of detractors")
    RESPONSE_RATE = "response_rate", _("Survey response rate falling")
    FORECAST = "forecast", _("Target at risk from the forecast")
    STALLED = "stalled", _("Deals stalled past their stage threshold")


class AlertQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Admins: every alert; managers: their team's and its people's;
        salespeople: their own."""
        if user.is_admin_role:
            return self
        if user.is_manager and user.team_id:
            return self.filter(Q(team_id=user.team_id) | Q(user_id=user.pk))
        return self.filter(user_id=user.pk)

    def open(self):
        return self.filter(resolved_at__isnull=True)

    def unread(self):
        return self.open().filter(acknowledged_at__isnull=True)


class Alert(models.Model):
    """Something a person should look at. One open alert per `key` (the rule
    and what it is about): while the condition holds, the nightly run only
    refreshes it (`last_seen`, the figures of `why`); once the condition no
    longer holds it is resolved, and a later breach is a new alert."""

    rule = models.CharField(_("rule"), max_length=20, choices=Rule.choices)
    key = models.CharField(max_length=120)
    kpi = models.CharField(_("KPI"), max_length=40, blank=True)
    scope_type = models.CharField(_("scope"), max_length=10, choices=ScopeType.choices)
    scope_id = models.PositiveBigIntegerField(default=0)
    # What the alert is about, for visibility (kpis scopes have no FK).
    team = models.ForeignKey("crm.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts"
    )
    product = models.ForeignKey(
        "crm.Product", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    subject = models.CharField(_("about"), max_length=200)
    granularity = models.CharField(max_length=10, choices=Granularity.choices, default=Granularity.MONTH)
    period_start = models.DateField(_("period"))
    # The figures behind the message, rendered in the reader's language.
    why = models.JSONField(default=dict)
    first_seen = models.DateTimeField(_("first seen"), default=timezone.now)
    last_seen = models.DateTimeField(_("last seen"), default=timezone.now)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("acknowledged by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)

    objects = AlertQuerySet.as_manager()

    class Meta:
        ordering = ["-first_seen", "-pk"]
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        constraints = [
            # The same alert is never raised twice while it holds.
            models.UniqueConstraint(
                fields=["key"], condition=Q(resolved_at__isnull=True), name="alert_one_open_per_key"
            ),
            models.CheckConstraint(
                condition=Q(acknowledged_by__isnull=True) | Q(acknowledged_at__isnull=False),
                name="alert_ack_consistent",
            ),
        ]
        indexes = [
            # The header's unread count and the list: a team's open alerts, newest first.
            models.Index(fields=["team", "resolved_at", "acknowledged_at"], name="alert_team_open_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_rule_display()}: {self.subject}"

    @property
    def is_unread(self) -> bool:
        return self.resolved_at is None and self.acknowledged_at is None

    def acknowledge(self, user) -> bool:
        """Mark as seen; an optimistic update so two clicks record the first."""
        now = timezone.now()
        done = Alert.objects.filter(pk=self.pk, acknowledged_at__isnull=True).update(
            acknowledged_by=user, acknowledged_at=now
        )
        if done:
            self.acknowledged_by, self.acknowledged_at = user, now
        return bool(done)


class DigestPreference(models.Model):
    """A person's weekly digest setting. No row: the default (on for
    managers and admins, off for salespeople), in the site's language."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="digest")
    weekly_digest = models.BooleanField(_("send me the weekly digest"), default=True)
    language = models.CharField(
        _("language"), max_length=10, choices=settings.LANGUAGES, default=settings.LANGUAGE_CODE
    )

    class Meta:
        verbose_name = _("digest setting")
        verbose_name_plural = _("digest settings")

    def __str__(self) -> str:
        return f"{self.user_id}: {'on' if self.weekly_digest else 'off'}"

    @staticmethod
    def default_for(user) -> bool:
        return bool(user.is_manager or user.is_admin_role)


class DigestDelivery(models.Model):
    """One digest sent to one person for one week: the row is claimed before
    the email goes, so a task that runs twice sends once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    week = models.DateField()  # the Monday of the week it was sent for
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("digest sent")
        verbose_name_plural = _("digests sent")
        constraints = [models.UniqueConstraint(fields=["user", "week"], name="digest_once_per_week")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.week}"


def week_of(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())
