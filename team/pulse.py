"""The team pulse (eNPS): rounds, invitations, sending and reminders.

Plain functions called by the Celery task (team.tasks) and the tests. It
reuses the survey engine's rules: personal one-shot links (the token is the
only key), one reminder after SURVEY_REMINDER_DAYS, links that expire after
SURVEY_EXPIRY_DAYS, and the same claim-by-update so a job run twice sends
once. The throttle: one invitation per person per round, and nobody is
invited again while an earlier pulse link of theirs is still open.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from crm.models import Role, User
from team.models import MemberSettings, PulseInvitation, PulseRound, PulseSchedule

log = logging.getLogger(__name__)


def open_round(day: dt.date, now: dt.datetime | None = None) -> PulseRound | None:
    """A new round on `day` with an invitation for every active member of
    the sales staff who has an email and no pulse link still open; None when
    a round already opened that day."""
    now = now or timezone.now()
    schedule = PulseSchedule.get()
    try:
        with transaction.atomic():
            pulse = PulseRound.objects.create(
                opened_on=day,
                ask_tools=schedule.ask_tools,
                ask_workload=schedule.ask_workload,
                ask_support=schedule.ask_support,
            )
    except IntegrityError:
        return None  # another run opened it (unique opened_on)
    still_open = PulseInvitation.objects.filter(answered=False, expires_at__gt=now).values("user_id")
    people = (
        User.objects.filter(is_active=True, role__in=[Role.SALESPERSON, Role.MANAGER])
        .exclude(email="")
        .exclude(pk__in=still_open)
    )
    languages = dict(MemberSettings.objects.values_list("user_id", "language"))
    default = settings.LANGUAGE_CODE[:2]
    PulseInvitation.objects.bulk_create(
        PulseInvitation(round=pulse, user=p, team_id=p.team_id, language=languages.get(p.pk, default))
        for p in people
    )
    return pulse


def _message(invitation: PulseInvitation, *, reminder: bool) -> EmailMultiAlternatives:
    with translation.override(invitation.language):
        context = {
            "invitation": invitation,
            "url": invitation.public_url(),
            "reminder": reminder,
            "expires_on": timezone.localdate(invitation.expires_at) if invitation.expires_at else None,
        }
        subject = render_to_string("team/email/pulse_subject.txt", context)
        body = render_to_string("team/email/pulse.txt", context)
    return EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[invitation.user.email],
        headers={"Auto-Submitted": "auto-generated"},
    )


def send_invitation(invitation_id: int, now: dt.datetime | None = None) -> bool:
    now = now or timezone.now()
    expires_at = now + dt.timedelta(days=settings.SURVEY_EXPIRY_DAYS)
    claimed = PulseInvitation.objects.filter(pk=invitation_id, sent_at__isnull=True).update(
        sent_at=now, expires_at=expires_at
    )
    if not claimed:
        return False
    invitation = PulseInvitation.objects.select_related("user").get(pk=invitation_id)
    try:
        _message(invitation, reminder=False).send()
    except Exception:
        PulseInvitation.objects.filter(pk=invitation_id).update(sent_at=None, expires_at=None)
        raise
    return True


def send_reminder(invitation_id: int, now: dt.datetime | None = None) -> bool:
    now = now or timezone.now()
    claimed = PulseInvitation.objects.filter(pk=invitation_id).due_for_reminder(now).update(reminded_at=now)
    if not claimed:
        return False
    invitation = PulseInvitation.objects.select_related("user").get(pk=invitation_id)
    try:
        _message(invitation, reminder=True).send()
    except Exception:
        PulseInvitation.objects.filter(pk=invitation_id).update(reminded_at=None)
        raise
    return True


def run(now: dt.datetime | None = None) -> dict[str, int]:
    """The beat job: open a round when the schedule says so, send what is
    due, remind once. Safe to run twice at the same time."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    schedule = PulseSchedule.get()
    last = PulseRound.objects.order_by("-opened_on").values_list("opened_on", flat=True).first()
    counts = {"opened": 0, "sent": 0, "reminded": 0, "failed": 0}
    if schedule.due_on(today, last) and open_round(today, now) is not None:
        counts["opened"] = 1
    due = list(PulseInvitation.objects.filter(sent_at__isnull=True).values_list("pk", flat=True))
    reminders = list(PulseInvitation.objects.due_for_reminder(now).values_list("pk", flat=True))
    for key, function, ids in (("sent", send_invitation, due), ("reminded", send_reminder, reminders)):
        for pk in ids:
            try:
                counts[key] += function(pk, now)
            except Exception:
                log.exception("Could not send the team pulse for invitation %s", pk)
                counts["failed"] += 1
    return counts
