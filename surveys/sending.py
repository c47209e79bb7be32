"""Creating and sending survey invitations: plain functions, called by the
Celery tasks in surveys.tasks and by the "send survey now" views.

Every step is safe to run twice at the same time: an invitation is claimed
with an optimistic `update()` whose row count says whether this run won, and
the throttle check holds a lock on the customer row.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from crm.models import Customer, Deal, Role, Stage, User

from .models import Invitation, Response, Survey

log = logging.getLogger(__name__)

# A deal won longer ago than the delay plus this many days is never surveyed
# automatically: the customer would barely remember, and a first deployment
# would otherwise invite the whole history at once.
AUTO_INVITE_WINDOW_DAYS = 30


def _credit(customer: Customer, deal: Deal | None) -> tuple[int | None, int | None]:
    # kpi-spec: answers go to the deal's owner and team, or the customer's.
    if deal is not None:
        return deal.owner_id, deal.team_id
    return customer.owner_id, customer.team_id


def is_throttled(customer: Customer, now: dt.datetime | None = None) -> bool:
    now = now or timezone.now()
    return Invitation.objects.filter(customer=customer).throttling(now).exists()


@transaction.atomic
def create_invitation(
    customer: Customer,
    deal: Deal | None = None,
    survey: Survey | None = None,
    now: dt.datetime | None = None,
) -> Invitation:
    """A new invitation for the customer, due now.

    Raises ValidationError (with a message for the user) when the customer
    has no email, no survey exists in any language, or the customer was
    invited within SURVEY_THROTTLE_DAYS.
    """
    now = now or timezone.now()
    # Lock the customer so two concurrent sends cannot both pass the throttle.
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if not customer.contact_email:
        raise ValidationError(_("This customer has no contact email."))
    if is_throttled(customer, now):
        raise ValidationError(
            _("This customer was already invited in the last %(days)d days.")
            % {"days": settings.SURVEY_THROTTLE_DAYS}
        )
    survey = survey or Survey.default_for(customer.language)
    if survey is None:
        raise ValidationError(_("There is no active default survey."))
    owner_id, team_id = _credit(customer, deal)
    return Invitation.objects.create(
        survey=survey,
        customer=customer,
        deal=deal,
        owner_id=owner_id,
        team_id=team_id,
        email=customer.contact_email,
        to_staff_address=User.objects.filter(email__iexact=customer.contact_email).exists(),
        language=customer.language,
        send_after=now,
    )


def create_due_invitations(now: dt.datetime | None = None) -> int:
    """Invitations for deals won SURVEY_DELAY_DAYS ago that have none yet.

    One invitation per customer per run (the most recent won deal), skipping
    customers without email and customers inside the throttle window.
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    latest = today - dt.timedelta(days=settings.SURVEY_DELAY_DAYS)
    earliest = latest - dt.timedelta(days=AUTO_INVITE_WINDOW_DAYS)
    throttled = Invitation.objects.filter(customer=OuterRef("customer")).throttling(now)
    candidates = (
        Deal.objects.filter(
            stage=Stage.WON,
            closed_on__range=(earliest, latest),
            customer__isnull=False,
            invitations__isnull=True,
        )
        .exclude(customer__contact_email="")
        .exclude(Exists(throttled))
        .select_related("customer")
        .order_by("customer_id", "-closed_on", "-pk")
    )
    created = 0
    seen: set[int] = set()
    for deal in candidates:
        if deal.customer_id in seen:
            continue
        seen.add(deal.customer_id)
        try:
            create_invitation(deal.customer, deal=deal, now=now)
        except ValidationError:
            continue  # invited meanwhile by hand, or no survey: skip, never fail the run
        created += 1
    return created


def _message(invitation: Invitation, *, reminder: bool) -> EmailMultiAlternatives:
    """The invitation email, in the customer's language."""
    with translation.override(invitation.language):
        context = {
            "invitation": invitation,
            "customer": invitation.customer,
            "owner": invitation.owner,
            "url": invitation.public_url(),
            "reminder": reminder,
            "expires_on": timezone.localdate(invitation.expires_at) if invitation.expires_at else None,
        }
        subject = render_to_string("surveys/email/invitation_subject.txt", context)
        text = render_to_string("surveys/email/invitation.txt", context)
        html = render_to_string("surveys/email/invitation.html", context)
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[invitation.email],
        headers={"Auto-Submitted": "auto-generated"},
    )
    message.attach_alternative(html, "text/html")
    return message


def _deliver(invitation: Invitation, *, reminder: bool, now: dt.datetime) -> bool:
    try:
        _message(invitation, reminder=reminder).send()
    except smtplib.SMTPRecipientsRefused:
        # The server refused the address outright: a hard bounce.
        invitation.mark_bounced(now)
        log.warning("Survey invitation %s bounced: recipient refused", invitation.pk)
        return False
    return True


def send_invitation(invitation_id: int, now: dt.datetime | None = None) -> bool:
    """Send one invitation if nobody has sent it yet; True when this call sent it."""
    now = now or timezone.now()
    expires_at = now + dt.timedelta(days=settings.SURVEY_EXPIRY_DAYS)
    claimed = Invitation.objects.filter(
        pk=invitation_id, sent_at__isnull=True, bounced_at__isnull=True
    ).update(sent_at=now, expires_at=expires_at)
    if not claimed:
        return False
    invitation = Invitation.objects.with_related().get(pk=invitation_id)
    try:
        return _deliver(invitation, reminder=False, now=now)
    except Exception:
        # Leave it unsent so the next run tries again.
        Invitation.objects.filter(pk=invitation_id).update(sent_at=None, expires_at=None)
        raise


def send_reminder(invitation_id: int, now: dt.datetime | None = None) -> bool:
    """The one reminder, if it is due and not yet sent; True when this call sent it."""
    now = now or timezone.now()
    claimed = Invitation.objects.filter(pk=invitation_id).due_for_reminder(now).update(reminded_at=now)
    if not claimed:
        return False
    invitation = Invitation.objects.with_related().get(pk=invitation_id)
    try:
        return _deliver(invitation, reminder=True, now=now)
    except Exception:
        Invitation.objects.filter(pk=invitation_id).update(reminded_at=None)
        raise


def send_due_invitations(now: dt.datetime | None = None) -> dict[str, int]:
    """The beat job: create due invitations, send them, send due reminders."""
    now = now or timezone.now()
    counts = {"created": create_due_invitations(now), "sent": 0, "reminded": 0, "failed": 0}
    due = list(Invitation.objects.due_to_send(now).values_list("pk", flat=True))
    reminders = list(Invitation.objects.due_for_reminder(now).values_list("pk", flat=True))
    for key, function, ids in (("sent", send_invitation, due), ("reminded", send_reminder, reminders)):
        for pk in ids:
            try:
                counts[key] += function(pk, now)
            except Exception:
                # One broken address or a mail server hiccup must not stop the others.
                log.exception("Could not send survey email for invitation %s", pk)
                counts["failed"] += 1
    return counts


def notify_detractor(response_id: int) -> int:
    """Email the credited team's managers about a detractor; returns emails sent."""
    response = Response.objects.with_related().filter(pk=response_id).first()
    if response is None:
        return 0
    invitation = response.invitation
    managers = User.objects.filter(team_id=invitation.team_id, role=Role.MANAGER, is_active=True).exclude(
        email=""
    )
    recipients = [m.email for m in managers] if invitation.team_id else []
    if not recipients:
        return 0
    context = {
        "response": response,
        "invitation": invitation,
        "customer": invitation.customer,
        "owner": invitation.owner or invitation.customer.owner,
        "results_url": settings.SITE_URL + reverse("survey_results"),
    }
    subject = render_to_string("surveys/email/detractor_subject.txt", context)
    body = render_to_string("surveys/email/detractor.txt", context)
    EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipients,
    ).send()
    return len(recipients)
