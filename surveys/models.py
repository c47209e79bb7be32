"""Satisfaction surveys: a survey, personal invitations, one response each.

Feeds the KPI engine's nps, csat and survey_response_rate (kpi-spec): answers
are credited to the owner and team of the deal the invitation was sent for,
or to the customer's owner when there is no deal; invitations record that
owner and team when they are created so history never moves.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import secrets

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import Exists, F, Func, OuterRef, Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from crm.models import Activity, Customer, Deal, Language, Team, VisibleQuerySet, list_indexes, owned_scope

# NPS buckets (kpi-spec `nps`): promoters 9–10, passives 7–8, detractors 0–6.
PROMOTER_MIN = 9
PASSIVE_MIN = 7


def new_token() -> str:
    # 32 bytes = 256 bits of randomness, URL-safe; the token is the only key.
    return secrets.token_urlsafe(32)


class SurveyQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True)


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

    objects = SurveyQuerySet.as_manager()

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

    @classmethod
    def default_for(cls, language: str) -> Survey | None:
        """The active default survey in that language, else the English one."""
        defaults = {s.language: s for s in cls.objects.active().filter(is_default=True)}
        return defaults.get(language) or defaults.get(Language.EN)

    @transaction.atomic
    def make_default(self) -> None:
        # Clear the old default first: the partial unique index would refuse two.
        Survey.objects.filter(language=self.language, is_default=True).exclude(pk=self.pk).update(
            is_default=False
        )
        if not self.is_default:
            self.is_default = True
            self.save(update_fields=["is_default"])


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


class QuestionsJSON(Func):
    """The invitation's survey's extra questions as a JSON array (see with_questions)."""

    output_field = models.TextField()
    _columns = "q.id, q.text, q.kind, q.required"

    def __init__(self):
        super().__init__(F("survey_id"))

    def as_postgresql(self, compiler, connection, **extra):
        survey, params = compiler.compile(self.source_expressions[0])
        sql = (
            f"(SELECT COALESCE(json_agg(json_build_array({self._columns}) ORDER BY q.position, q.id), '[]')"
            f"::text FROM surveys_surveyquestion q WHERE q.survey_id = {survey})"
        )
        return sql, params

    def as_sqlite(self, compiler, connection, **extra):
        survey, params = compiler.compile(self.source_expressions[0])
        sql = (
            f"(SELECT json_group_array(json_array({self._columns})) FROM (SELECT * FROM "
            f"surveys_surveyquestion q WHERE q.survey_id = {survey} ORDER BY q.position, q.id) q)"
        )
        return sql, params


class InvitationQuerySet(VisibleQuerySet):
    def with_related(self):
        return self.select_related("customer", "deal", "owner", "team", "survey", "response")

    def answered(self):
        return self.filter(Exists(Response.objects.filter(invitation=OuterRef("pk"))))

    def with_questions(self):
        """Annotate questions_json: the survey's extra questions as a JSON array of
        [id, text, kind, required], in order, read with the invitation.

        The public page needs them on every answer; one query fewer per
        submission than survey.questions.all() (Invitation.extra_questions()).
        """
        return self.annotate(questions_json=QuestionsJSON())

    def unanswered(self):
        return self.exclude(Exists(Response.objects.filter(invitation=OuterRef("pk"))))

    def counted(self):
        """Sent and not bounced: the survey_response_rate denominator."""
        return self.filter(sent_at__isnull=False, bounced_at__isnull=True)

    def due_to_send(self, now: dt.datetime):
        return self.filter(sent_at__isnull=True, bounced_at__isnull=True).filter(
            Q(send_after__isnull=True) | Q(send_after__lte=now)
        )

    def due_for_reminder(self, now: dt.datetime):
        # Bounded below by the expiry: older links take no answers, so the
        # scan is a range of invitation_sent_cover_idx, not all of history.
        return (
            self.filter(
                sent_at__gt=now - dt.timedelta(days=settings.SURVEY_EXPIRY_DAYS),
                sent_at__lte=now - dt.timedelta(days=settings.SURVEY_REMINDER_DAYS),
                reminded_at__isnull=True,
                bounced_at__isnull=True,
            )
            .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
            .unanswered()
        )

    def throttling(self, now: dt.datetime):
        """Invitations that stop their customer from being invited again now.

        A bounced invitation never reached anyone, so it does not count.
        """
        since = now - dt.timedelta(days=settings.SURVEY_THROTTLE_DAYS)
        return self.filter(created_at__gte=since, bounced_at__isnull=True)


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
    # The address the invitation went to (the customer's contact email then).
    email = models.EmailField(_("email"))
    # That address belonged to a user of Boussole when the invitation was
    # made: its answer is flagged and counts in no KPI (self-grading guard).
    to_staff_address = models.BooleanField(
        _("sent to a staff address"), default=False, db_default=False, editable=False
    )
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
            # survey_response_rate: invitations by sent date. The survey results
            # page's response rate for a period and a team or rep reads the
            # index alone (bounced, owner and team included).
            models.Index(
                fields=["sent_at"],
                include=["id", "bounced_at", "owner", "team"],
                name="invitation_sent_cover_idx",
            ),
            # Throttle: a customer's most recent invitation.
            models.Index(fields=["customer", "created_at"], name="invitation_customer_idx"),
            # Invitation list (/surveys/invitations/), newest first: everyone's,
            # a rep's and a team's invitations.
            *list_indexes("invitation", "created_at"),
        ]

    def __str__(self) -> str:
        return f"{self.survey} → {self.customer}"

    def extra_questions(self) -> list[SurveyQuestion]:
        """The survey's extra questions: from with_questions() when the query
        carried them, else one query."""
        raw = getattr(self, "questions_json", None)
        if raw is None:
            return list(self.survey.questions.all())
        return [
            SurveyQuestion(id=pk, survey_id=self.survey_id, text=text, kind=kind, required=bool(required))
            for pk, text, kind, required in json.loads(raw)
        ]

    def public_url(self) -> str:
        return settings.SITE_URL + reverse("survey_answer", args=[self.token])

    def is_expired(self, now: dt.datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    @property
    def is_answered(self) -> bool:
        return hasattr(self, "response")

    @property
    def status(self) -> str:
        if self.is_answered:
            return "answered"
        if self.bounced_at:
            return "bounced"
        if not self.sent_at:
            return "pending"
        if self.is_expired():
            return "expired"
        if self.reminded_at:
            return "reminded"
        return "sent"

    @property
    def status_label(self) -> str:
        return {
            "answered": _("Answered"),
            "bounced": _("Bounced"),
            "pending": _("Waiting to be sent"),
            "expired": _("Expired"),
            "reminded": _("Reminded"),
            "sent": _("Sent"),
        }[self.status]

    def mark_bounced(self, now: dt.datetime | None = None) -> bool:
        """Take a bounced email out of the response-rate denominator.

        An answered invitation evidently arrived, so it cannot bounce.
        """
        if self.is_answered or self.bounced_at:
            return False
        self.bounced_at = now or timezone.now()
        self.save(update_fields=["bounced_at"])
        return True

    def answer(
        self,
        *,
        nps_score: int | None,
        csat_score: int | None,
        comment: str = "",
        extra: dict[SurveyQuestion, int | str] | None = None,
        now: dt.datetime | None = None,
    ) -> tuple[Response, bool]:
        """Record the customer's answer once; returns (response, created).

        The one-to-one's unique index is the guard: of two concurrent submits
        one insert wins and the other gets an IntegrityError, after which it
        reads the winner's row. Both callers then thank the customer.
        """
        now = now or timezone.now()
        extra = {q: v for q, v in (extra or {}).items() if v not in (None, "")}
        # The usual answer is one INSERT, atomic by itself: a transaction is
        # opened only when more than one write follows (extra answers, a
        # bounce to clear, a detractor's follow-up) or when the caller is in
        # one already (then as a savepoint, so a lost race leaves it usable).
        several_writes = bool(extra) or bool(self.bounced_at) or (nps_score is not None and nps_score <= 6)
        atomic = (
            transaction.atomic()
            if several_writes or transaction.get_connection().in_atomic_block
            else contextlib.nullcontext()
        )
        try:
            with atomic:
                response = Response.objects.create(
                    invitation=self,
                    submitted_at=now,
                    nps_score=nps_score,
                    csat_score=csat_score,
                    comment=comment.strip(),
                    from_staff_address=self.to_staff_address,
                )
                Answer.objects.bulk_create(
                    Answer(
                        response=response,
                        question=question,
                        scale_value=value if question.kind == SurveyQuestion.Kind.SCALE else None,
                        text_value=value if question.kind == SurveyQuestion.Kind.TEXT else "",
                    )
                    for question, value in extra.items()
                )
                if self.bounced_at:
                    # An answer proves the email arrived after all.
                    Invitation.objects.filter(pk=self.pk).update(bounced_at=None)
                    self.bounced_at = None
                if response.is_detractor:
                    self._follow_up(response)
        except IntegrityError:
            existing = Response.objects.filter(invitation_id=self.pk).first()
            if existing is None:
                raise
            return existing, False
        return response, True

    def _follow_up(self, response: Response) -> None:
        """Closed loop: a call for the credited rep, and an email to their managers."""
        owner_id = self.owner_id or self.customer.owner_id
        # The page runs in the customer's language; the rep reads the site's.
        with translation.override(settings.LANGUAGE_CODE):
            subject = _("Survey follow-up: %(customer)s scored %(score)s/10") % {
                "customer": self.customer.name,
                "score": response.nps_score,
            }
        Activity.objects.create(
            kind=Activity.Kind.CALL,
            occurred_on=timezone.localdate(response.submitted_at),
            subject=str(subject)[:200],
            notes=response.comment,
            owner_id=owner_id,
            deal_id=self.deal_id,
            customer_id=self.customer_id,
            done=False,
        )
        from surveys import tasks  # the task module imports this one

        response_id = response.pk
        # robust: a broker outage must not turn a stored answer into an error page.
        transaction.on_commit(lambda: tasks.notify_detractor.delay(response_id), robust=True)


class ResponseQuerySet(models.QuerySet):
    def visible_to(self, user):
        if not user.is_authenticated:
            return self.none()
        scope = owned_scope(user, "invitation__owner", "invitation__team")
        return self if scope is None else self.filter(scope)

    def for_deal(self, deal: Deal):
        return self.filter(invitation__deal=deal)

    def for_customer(self, customer: Customer):
        return self.filter(invitation__customer=customer)

    def with_related(self):
        return self.select_related(
            "invitation__customer", "invitation__deal", "invitation__owner", "invitation__survey"
        )


class Response(models.Model):
    # One response per invitation, enforced by the one-to-one's unique index.
    invitation = models.OneToOneField(Invitation, on_delete=models.CASCADE, related_name="response")
    submitted_at = models.DateTimeField(_("submitted at"))
    nps_score = models.PositiveSmallIntegerField(_("recommendation (0–10)"), null=True, blank=True)
    csat_score = models.PositiveSmallIntegerField(_("satisfaction (1–5)"), null=True, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    # The invitation went to a user's own address: kept, shown flagged, and
    # left out of every KPI (kpis.compute filters it).
    from_staff_address = models.BooleanField(_("from a staff address"), default=False, db_default=False)

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
            # nps / csat: responses grouped by period of submitted_at; the survey
            # results page's NPS and CSAT buckets for a period read the index
            # alone (scores and invitation included).
            models.Index(
                fields=["submitted_at"],
                include=["id", "nps_score", "csat_score", "invitation"],
                name="response_submitted_cover_idx",
            ),
            # Survey results: the period's comments, newest first (most answers have none).
            models.Index(
                fields=["submitted_at", "id"], condition=~Q(comment=""), name="response_comment_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.invitation.customer}: NPS {self.nps_score}, CSAT {self.csat_score}"

    @property
    def nps_category(self) -> str:
        if self.nps_score is None:
            return ""
        if self.nps_score >= PROMOTER_MIN:
            return "promoter"
        if self.nps_score >= PASSIVE_MIN:
            return "passive"
        return "detractor"

    @property
    def is_detractor(self) -> bool:
        return self.nps_category == "detractor"


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
