"""Satisfaction surveys: a survey, personal invitations, one response each.

Feeds the KPI engine's nps, csat and survey_response_rate (kpi-spec): answers
are credited to the owner and team of the deal the invitation was sent for,
or to the customer's owner when there is no deal; invitations record that
owner and team when they are created so history never moves.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.models import Customer, Deal, Language, Team, owned_scope


def new_token() -> str:
    # 32 bytes = 256 bits of randomness, URL-safe; the token is the only key.
    return secrets.token_urlsafe(32)


class Survey(models.Model):
    name = models.CharField(_("name"), max_length=200)
    language = models.CharField(_("language"), max_length=2, choices=Language.choices, default=Language.EN)
    nps_question = models.CharField(
        _("recommendation question (0–10)"),
        max_length=300,
        default="How likely are you to recommend us to a friend or colleague?",
    )
    csat_question = models.CharField(
        _("satisfaction question (1–5)"),
        max_length=300,
        default="How satisfied are you with our service?",
    )
    ask_comment = models.BooleanField(_("ask for a comment"), default=True)
    is_default = models.BooleanField(_("default survey"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("survey")
        verbose_name_plural = _("surveys")
        constraints = [
            # At most one default survey per language.
            models.UniqueConstraint(
                fields=["language"],
                condition=Q(is_default=True),
                name="survey_one_default_per_language",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class SurveyQuestion(models.Model):
    """An optional extra question: a 1–5 scale or free text."""

    class Kind(models.TextChoices):
        SCALE = "scale", _("Scale 1–5")
        TEXT = "text", _("Free text")

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="questions")
    text = models.CharField(_("question"), max_length=300)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.SCALE)
    required = models.BooleanField(_("required"), default=False)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["position", "pk"]
        verbose_name = _("extra question")
        verbose_name_plural = _("extra questions")

    def __str__(self) -> str:
        return self.text


class InvitationQuerySet(models.QuerySet):
    def visible_to(self, user):
        if not user.is_authenticated:
            return self.none()
        scope = owned_scope(user)
        return self if scope is None else self.filter(scope)


class Invitation(models.Model):
    survey = models.ForeignKey(Survey, on_delete=models.PROTECT, related_name="invitations")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="invitations")
    deal = models.ForeignKey(
        Deal, null=True, blank=True, on_delete=models.SET_NULL, related_name="invitations"
    )
    # Credited owner and team, fixed when the invitation is created (kpi-spec).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    email = models.EmailField(_("email"))
    language = models.CharField(_("language"), max_length=2, choices=Language.choices, default=Language.EN)
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    send_after = models.DateTimeField(_("send after"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    reminded_at = models.DateTimeField(_("reminded at"), null=True, blank=True)
    bounced_at = models.DateTimeField(_("bounced at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        indexes = [
            # survey_response_rate: invitations by sent date.
            models.Index(fields=["sent_at"], name="invitation_sent_idx"),
            # Throttle: a customer's most recent invitation.
            models.Index(fields=["customer", "created_at"], name="invitation_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.survey} → {self.customer}"


class ResponseQuerySet(models.QuerySet):
    def visible_to(self, user):
        if not user.is_authenticated:
            return self.none()
        scope = owned_scope(user, "invitation__owner", "invitation__team")
        return self if scope is None else self.filter(scope)


class Response(models.Model):
    # One response per invitation, enforced by the one-to-one's unique index.
    invitation = models.OneToOneField(Invitation, on_delete=models.CASCADE, related_name="response")
    submitted_at = models.DateTimeField(_("submitted at"))
    nps_score = models.PositiveSmallIntegerField(_("recommendation (0–10)"), null=True, blank=True)
    csat_score = models.PositiveSmallIntegerField(_("satisfaction (1–5)"), null=True, blank=True)
    comment = models.TextField(_("comment"), blank=True)

    objects = ResponseQuerySet.as_manager()

    class Meta:
        ordering = ["-submitted_at"]
        verbose_name = _("response")
        verbose_name_plural = _("responses")
        constraints = [
            models.CheckConstraint(
                condition=Q(nps_score__isnull=True) | Q(nps_score__gte=0, nps_score__lte=10),
                name="response_nps_0_10",
            ),
            models.CheckConstraint(
                condition=Q(csat_score__isnull=True) | Q(csat_score__gte=1, csat_score__lte=5),
                name="response_csat_1_5",
            ),
        ]
        indexes = [
            # nps / csat: responses grouped by period of submitted_at.
            models.Index(fields=["submitted_at"], name="response_submitted_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.invitation.customer}: NPS {self.nps_score}, CSAT {self.csat_score}"


class Answer(models.Model):
    """The answer to an extra question."""

    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(SurveyQuestion, on_delete=models.CASCADE, related_name="answers")
    scale_value = models.PositiveSmallIntegerField(null=True, blank=True)
    text_value = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["response", "question"], name="answer_one_per_question"),
            models.CheckConstraint(
                condition=Q(scale_value__isnull=True) | Q(scale_value__gte=1, scale_value__lte=5),
                name="answer_scale_1_5",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.question}: {self.scale_value or self.text_value}"
