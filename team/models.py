"""The team itself: training sessions, certifications (kpi-spec "The team").

Managers record for their team and admins for everyone; a salesperson sees
and adds their own, which then waits for a manager's confirmation. An
unconfirmed record counts in no KPI (kpis.compute reads confirmed rows only).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Language, Team, User, VisibleQuerySet, check_date_in_range
from kpis.definitions import KPIS
from surveys.models import new_token


def _is_manager_of(user, person_team_id: int | None) -> bool:
    return user.is_admin_role or (
        user.is_manager and user.team_id is not None and user.team_id == person_team_id
    )


class TrainingQuerySet(models.QuerySet):
    def visible_to(self, user):
        """A rep sees the sessions they attended, a manager those a member of
        their team attended (or that they recorded), an admin all."""
        if not user.is_authenticated:
            return self.none()
        if user.is_admin_role:
            return self
        attended = TrainingAttendance.objects.filter(session=OuterRef("pk"))
        if user.is_manager and user.team_id:
            return self.filter(
                Exists(attended.filter(Q(team_id=user.team_id) | Q(user_id=user.pk))) | Q(created_by=user)
            )
        return self.filter(Exists(attended.filter(user_id=user.pk)))

    def confirmed(self):
        return self.filter(confirmed_at__isnull=False)

    def with_related(self):
        return self.select_related("created_by", "confirmed_by").prefetch_related("attendees")


class TrainingSession(models.Model):
    class Kind(models.TextChoices):
        COURSE = "course", _("Course")
        COACHING = "coaching", _("Coaching")
        WORKSHOP = "workshop", _("Workshop")
        ELEARNING = "e-learning", _("E-learning")

    title = models.CharField(_("title"), max_length=200)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.COURSE)
    date = models.DateField(_("date"), validators=[check_date_in_range])
    hours = models.DecimalField(_("hours"), max_digits=5, decimal_places=2)
    provider = models.CharField(_("provider"), max_length=200, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    attendees = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        through="TrainingAttendance",
        related_name="training_sessions",
        verbose_name=_("attended by"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("recorded by")
    )
    # None: a salesperson's own record, waiting for a manager (counts nowhere).
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TrainingQuerySet.as_manager()

    class Meta:
        ordering = ["-date", "-pk"]
        verbose_name = _("training session")
        verbose_name_plural = _("training sessions")
        constraints = [
            models.CheckConstraint(
                condition=Q(hours__gt=0) & Q(hours__lte=1000), name="training_hours_plausible"
            ),
        ]
        indexes = [
            # training_hours: sessions of the months a run reads, by date.
            models.Index(fields=["date"], name="training_date_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.date})"

    def clean(self) -> None:
        if self.hours is not None and not (Decimal(0) < self.hours <= 1000):
            raise ValidationError({"hours": _("Hours run from more than 0 to 1000.")})

    @property
    def is_confirmed(self) -> bool:
        return self.confirmed_at is not None

    def confirm(self, by) -> None:
        # Optimistic update: two managers confirming at once write once.
        TrainingSession.objects.filter(pk=self.pk, confirmed_at__isnull=True).update(
            confirmed_by=by, confirmed_at=timezone.now()
        )
        self.refresh_from_db(fields=["confirmed_by", "confirmed_at"])

    def can_edit(self, user) -> bool:
        if user.is_admin_role:
            return True
        teams = {a.team_id for a in self.attendances.all()}
        if user.is_manager and user.team_id and (teams <= {user.team_id} or self.created_by_id == user.pk):
            return True
        # A salesperson may correct their own record until it is confirmed.
        return not self.is_confirmed and self.created_by_id == user.pk

    def can_confirm(self, user) -> bool:
        if self.is_confirmed or not (user.is_manager or user.is_admin_role):
            return False
        return user.is_admin_role or all(_is_manager_of(user, a.team_id) for a in self.attendances.all())

    def set_attendees(self, people) -> None:
        """Attendances for exactly these people, each with their team today
        (history never moves when a person changes team later)."""
        people = list(people)
        keep = {p.pk for p in people}
        self.attendances.exclude(user_id__in=keep).delete()
        present = set(self.attendances.values_list("user_id", flat=True))
        TrainingAttendance.objects.bulk_create(
            TrainingAttendance(session=self, user=p, team_id=p.team_id) for p in people if p.pk not in present
        )


class TrainingAttendance(models.Model):
    session = models.ForeignKey(TrainingSession, on_delete=models.CASCADE, related_name="attendances")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="training_attendances"
    )
    # The attendee's team when recorded: training_hours per team never moves.
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("attendance")
        verbose_name_plural = _("attendances")
        constraints = [
            models.UniqueConstraint(fields=["session", "user"], name="training_attendance_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.session_id}"

    def save(self, *args, **kwargs) -> None:
        if self._state.adding and self.team_id is None and self.user_id:
            self.team_id = User.objects.filter(pk=self.user_id).values_list("team_id", flat=True).first()
        super().save(*args, **kwargs)


class CertificationQuerySet(VisibleQuerySet):
    owner_field = "user"
    team_field = "team"

    def confirmed(self):
        return self.filter(confirmed_at__isnull=False)

    def valid_on(self, day: dt.date):
        return (
            self.confirmed()
            .filter(obtained_on__lte=day)
            .filter(Q(expires_on__isnull=True) | Q(expires_on__gte=day))
        )

    def expiring(self, day: dt.date, days: int = 60):
        """Confirmed certifications still valid on `day` that expire within `days`."""
        return self.confirmed().filter(expires_on__gte=day, expires_on__lte=day + dt.timedelta(days=days))


class Certification(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="certifications",
        verbose_name=_("person"),
    )
    # The person's team when recorded (who sees it; a team's list).
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("name"), max_length=200)
    obtained_on = models.DateField(_("obtained on"), validators=[check_date_in_range])
    expires_on = models.DateField(
        _("expires on"), null=True, blank=True, validators=[check_date_in_range],
        help_text=_("Leave empty if it never expires."),
    )  # fmt: skip
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CertificationQuerySet.as_manager()

    class Meta:
        ordering = ["expires_on", "-obtained_on", "pk"]
        verbose_name = _("certification")
        verbose_name_plural = _("certifications")
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_on__isnull=True) | Q(expires_on__gte=models.F("obtained_on")),
                name="certification_expires_after_obtained",
            ),
        ]
        indexes = [
            # The team page's "expiring in the next 60 days", per team.
            models.Index(fields=["team", "expires_on"], name="certification_team_expiry_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} — {self.user}"

    def save(self, *args, **kwargs) -> None:
        if self._state.adding and self.team_id is None and self.user_id:
            self.team_id = User.objects.filter(pk=self.user_id).values_list("team_id", flat=True).first()
        super().save(*args, **kwargs)

    def clean(self) -> None:
        if self.expires_on and self.obtained_on and self.expires_on < self.obtained_on:
            raise ValidationError({"expires_on": _("A certification cannot expire before it is obtained.")})

    @property
    def is_confirmed(self) -> bool:
        return self.confirmed_at is not None

    def confirm(self, by) -> None:
        Certification.objects.filter(pk=self.pk, confirmed_at__isnull=True).update(
            confirmed_by=by, confirmed_at=timezone.now()
        )
        self.refresh_from_db(fields=["confirmed_by", "confirmed_at"])

    def can_edit(self, user) -> bool:
        if _is_manager_of(user, self.team_id):
            return True
        return not self.is_confirmed and self.user_id == user.pk

    def can_confirm(self, user) -> bool:
        return not self.is_confirmed and _is_manager_of(user, self.team_id)


# --- team pulse (eNPS) -------------------------------------------------------------
#
# Anonymity is the contract: a PulseAnswer holds no link to the person who
# gave it — no user, no invitation, no timestamp (the day only). The
# invitation records only that it was answered. Results are never per person,
# and never for a scope with fewer than ENPS_MIN_ANSWERS answers in a period.

ENPS_MIN_ANSWERS = KPIS["enps"].anonymous_below


class MemberSettings(models.Model):
    """A person's own settings: the language their pulse is sent in."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="member_settings"
    )
    language = models.CharField(_("language"), max_length=2, choices=Language.choices, default=Language.EN)

    class Meta:
        verbose_name = _("member settings")
        verbose_name_plural = _("member settings")

    def __str__(self) -> str:
        return f"{self.user}: {self.language}"


class PulseSchedule(models.Model):
    """The admin's schedule (one row): how often the team pulse goes out."""

    every_months = models.PositiveSmallIntegerField(
        _("every (months)"), default=1, choices=[(1, _("Monthly")), (2, _("Every two months")),
                                                 (3, _("Quarterly")), (6, _("Twice a year"))],
    )  # fmt: skip
    day_of_month = models.PositiveSmallIntegerField(
        _("day of the month"), default=1, validators=[MinValueValidator(1), MaxValueValidator(28)]
    )
    is_active = models.BooleanField(_("active"), default=True)
    ask_tools = models.BooleanField(_("ask about tools"), default=True)
    ask_workload = models.BooleanField(_("ask about workload"), default=True)
    ask_support = models.BooleanField(_("ask about support"), default=True)

    class Meta:
        verbose_name = _("pulse schedule")
        verbose_name_plural = _("pulse schedule")
        constraints = [
            models.CheckConstraint(
                condition=Q(day_of_month__gte=1, day_of_month__lte=28), name="pulse_day_1_28"
            ),
        ]

    def __str__(self) -> str:
        return str(_("Team pulse schedule"))

    @classmethod
    def get(cls) -> PulseSchedule:
        return cls.objects.get_or_create(pk=1)[0]

    def due_on(self, day: dt.date, last: dt.date | None) -> bool:
        """Whether a round opens on `day`, given the last round's date."""
        if not self.is_active or day.day < self.day_of_month:
            return False
        if last is None:
            return True
        months = (day.year - last.year) * 12 + day.month - last.month
        return months >= self.every_months


class PulseRound(models.Model):
    opened_on = models.DateField(_("opened on"), unique=True)
    ask_tools = models.BooleanField(default=True)
    ask_workload = models.BooleanField(default=True)
    ask_support = models.BooleanField(default=True)

    class Meta:
        ordering = ["-opened_on"]
        verbose_name = _("pulse round")
        verbose_name_plural = _("pulse rounds")

    def __str__(self) -> str:
        return str(self.opened_on)


class PulseInvitationQuerySet(models.QuerySet):
    def due_for_reminder(self, now: dt.datetime):
        return self.filter(
            answered=False,
            reminded_at__isnull=True,
            sent_at__isnull=False,
            sent_at__lte=now - dt.timedelta(days=settings.SURVEY_REMINDER_DAYS),
            expires_at__gt=now,
        )


class PulseInvitation(models.Model):
    round = models.ForeignKey(PulseRound, on_delete=models.CASCADE, related_name="invitations")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # The person's team when invited: their answer is counted there.
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    language = models.CharField(_("language"), max_length=2, choices=Language.choices, default=Language.EN)
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # Only that it was answered: never when, never what.
    answered = models.BooleanField(default=False)

    objects = PulseInvitationQuerySet.as_manager()

    class Meta:
        verbose_name = _("pulse invitation")
        verbose_name_plural = _("pulse invitations")
        constraints = [
            models.UniqueConstraint(fields=["round", "user"], name="pulse_invitation_once_per_round")
        ]

    def __str__(self) -> str:
        return f"{self.round} → {self.user}"

    def public_url(self) -> str:
        return settings.SITE_URL + reverse("pulse_answer", args=[self.token])

    def is_expired(self, now: dt.datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    def answer(self, *, score: int, tools=None, workload=None, support=None, comment: str = "") -> bool:
        """Store the answer without any link to the person; False if the
        invitation was answered already (a double submit, a race)."""
        with transaction.atomic():
            # The optimistic update is the guard: of two submits one wins.
            if not PulseInvitation.objects.filter(pk=self.pk, answered=False).update(answered=True):
                return False
            PulseAnswer.objects.create(
                round_id=self.round_id,
                team_id=self.team_id,
                submitted_on=timezone.localdate(),
                score=score,
                tools=tools,
                workload=workload,
                support=support,
                comment=comment.strip(),
            )
        self.answered = True
        return True


class PulseAnswerQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Managers read their team's answers (in aggregate), admins all."""
        if not user.is_authenticated or not (user.is_manager or user.is_admin_role):
            return self.none()
        if user.is_admin_role:
            return self
        return self.filter(team_id=user.team_id) if user.team_id else self.none()


class PulseAnswer(models.Model):
    """One anonymous answer. No person, no invitation, no time of day."""

    round = models.ForeignKey(PulseRound, on_delete=models.PROTECT, related_name="answers")
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    submitted_on = models.DateField(_("submitted on"))
    score = models.PositiveSmallIntegerField(_("would recommend working here (0–10)"))
    tools = models.PositiveSmallIntegerField(_("tools (1–5)"), null=True, blank=True)
    workload = models.PositiveSmallIntegerField(_("workload (1–5)"), null=True, blank=True)
    support = models.PositiveSmallIntegerField(_("support (1–5)"), null=True, blank=True)
    comment = models.TextField(_("comment"), blank=True)

    objects = PulseAnswerQuerySet.as_manager()

    class Meta:
        # Never ordered by id on a page: insertion order could pair answers
        # with the order people answered in.
        ordering = ["submitted_on", "score"]
        verbose_name = _("pulse answer")
        verbose_name_plural = _("pulse answers")
        constraints = [
            models.CheckConstraint(condition=Q(score__gte=0, score__lte=10), name="pulse_score_0_10"),
            *(
                models.CheckConstraint(
                    condition=Q(**{f"{f}__isnull": True}) | Q(**{f"{f}__gte": 1, f"{f}__lte": 5}),
                    name=f"pulse_{f}_1_5",
                )
                for f in ("tools", "workload", "support")
            ),
        ]
        indexes = [
            # enps: answers grouped by month of submission, per team.
            models.Index(fields=["submitted_on", "team"], name="pulse_answer_date_team_idx"),
        ]

    def __str__(self) -> str:
        return str(_("Anonymous answer"))


# --- coaching ------------------------------------------------------------------------
#
# A manager's notes and agreed actions about a salesperson: visible to that
# salesperson and the manager who wrote them, nobody else (not admins).


class CoachingQuerySet(models.QuerySet):
    def visible_to(self, user):
        if not user.is_authenticated:
            return self.none()
        return self.filter(Q(rep=user) | Q(author=user))


class CoachingNote(models.Model):
    rep = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField(_("note"), max_length=4000)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CoachingQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("coaching note")
        verbose_name_plural = _("coaching notes")
        indexes = [models.Index(fields=["rep", "author", "created_at"], name="coaching_note_rep_idx")]

    def __str__(self) -> str:
        return self.text[:50]


class CoachingAction(models.Model):
    rep = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.CharField(_("agreed action"), max_length=300)
    due_on = models.DateField(_("due on"), validators=[check_date_in_range])
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CoachingQuerySet.as_manager()

    class Meta:
        ordering = ["done_at", "due_on", "pk"]
        verbose_name = _("coaching action")
        verbose_name_plural = _("coaching actions")
        indexes = [models.Index(fields=["rep", "author", "due_on"], name="coaching_action_rep_idx")]

    def __str__(self) -> str:
        return self.text

    @property
    def is_done(self) -> bool:
        return self.done_at is not None

    def mark_done(self) -> None:
        CoachingAction.objects.filter(pk=self.pk, done_at__isnull=True).update(done_at=timezone.now())
        self.refresh_from_db(fields=["done_at"])
