"""Creating, sending and reminding: the jobs behind surveys.tasks."""

import datetime as dt
import smtplib
from unittest import mock

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from crm.models import Language
from surveys import sending, tasks
from surveys.models import Invitation, Survey
from tests.factories import CustomerFactory, InvitationFactory, ResponseFactory
from tests.surveys.factories import SentInvitationFactory, WonDealFactory

NOW = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield NOW


def won(days_ago: int, **kwargs):
    return WonDealFactory(closed_on=timezone.localdate(NOW) - dt.timedelta(days=days_ago), **kwargs)


# --- creating invitations after a won deal -------------------------------------------------


def test_a_deal_won_delay_days_ago_gets_an_invitation(world, frozen, settings):
    settings.SURVEY_DELAY_DAYS = 3
    deal = won(3, owner=world.ann, customer__language=Language.FR)
    won(2, owner=world.bob)  # too recent
    assert sending.create_due_invitations(NOW) == 1
    invitation = Invitation.objects.get()
    assert invitation.deal == deal and invitation.customer == deal.customer
    assert (invitation.owner, invitation.team) == (world.ann, world.north)
    assert invitation.email == deal.customer.contact_email
    assert invitation.language == "fr" and invitation.survey.language == "fr"
    assert invitation.sent_at is None


def test_customers_without_email_are_skipped(world, frozen):
    won(5, owner=world.ann, customer__contact_email="")
    assert sending.create_due_invitations(NOW) == 0


def test_creating_twice_makes_one_invitation(world, frozen):
    won(5, owner=world.ann)
    assert sending.create_due_invitations(NOW) == 1
    assert sending.create_due_invitations(NOW) == 0
    assert Invitation.objects.count() == 1


def test_old_wins_are_not_surveyed_on_first_run(world, frozen):
    won(200, owner=world.ann)
    assert sending.create_due_invitations(NOW) == 0


def test_two_won_deals_of_one_customer_make_one_invitation(world, frozen):
    first = won(6, owner=world.ann)
    won(5, owner=world.ann, customer=first.customer)
    assert sending.create_due_invitations(NOW) == 1


# --- the throttle ------------------------------------------------------------------------------


def test_a_customer_is_not_invited_twice_within_the_throttle_window(world, settings):
    settings.SURVEY_THROTTLE_DAYS = 90
    customer = CustomerFactory(owner=world.ann)
    with time_machine.travel(NOW, tick=False):
        sending.create_invitation(customer)
    with time_machine.travel(NOW + dt.timedelta(days=89), tick=False):
        with pytest.raises(ValidationError, match="already invited in the last 90 days"):
            sending.create_invitation(customer)
        deal = won(4, owner=world.ann, customer=customer)
        assert sending.create_due_invitations() == 0
    with time_machine.travel(NOW + dt.timedelta(days=91), tick=False):
        assert sending.create_invitation(customer, deal=deal).deal == deal


def test_a_bounced_invitation_does_not_throttle(world, frozen):
    customer = CustomerFactory(owner=world.ann)
    first = sending.create_invitation(customer)
    first.mark_bounced()
    assert sending.create_invitation(customer).pk != first.pk


def test_no_email_is_a_clear_error(world, frozen):
    with pytest.raises(ValidationError, match="no contact email"):
        sending.create_invitation(CustomerFactory(owner=world.ann, contact_email=""))


def test_english_survey_stands_in_for_a_missing_language(world, frozen):
    Survey.objects.filter(language="fr").update(is_active=False)
    invitation = sending.create_invitation(CustomerFactory(owner=world.ann, language="fr"))
    assert invitation.survey.language == "en" and invitation.language == "fr"


# --- sending and the email ---------------------------------------------------------------------


def test_sending_emails_the_personal_link(world, frozen, mailoutbox, settings):
    settings.SITE_URL = "https://crm.example.com"
    invitation = sending.create_invitation(
        CustomerFactory(owner=world.ann, contact_name="Jane", contact_email="jane@acme.example")
    )
    assert sending.send_invitation(invitation.pk, NOW) is True
    [mail] = mailoutbox
    assert mail.to == ["jane@acme.example"]
    assert mail.subject == "How did we do? One minute of your time"
    assert "Hello Jane," in mail.body
    assert f"https://crm.example.com/s/{invitation.token}/" in mail.body
    assert "no tracking" in mail.body
    html = mail.alternatives[0][0]
    assert f'href="https://crm.example.com/s/{invitation.token}/"' in html
    assert "<img" not in html  # no tracking pixel
    invitation.refresh_from_db()
    assert invitation.sent_at == NOW
    assert invitation.expires_at == NOW + dt.timedelta(days=settings.SURVEY_EXPIRY_DAYS)


def test_email_is_in_the_customers_language(world, frozen, mailoutbox, settings):
    settings.SURVEY_EXPIRY_DAYS = 30
    invitation = sending.create_invitation(CustomerFactory(owner=world.ann, language="fr"))
    sending.send_invitation(invitation.pk, NOW)
    [mail] = mailoutbox
    # Dates use the French locale's one date format (config/formats/fr).
    assert "9 avr. 2026" in mail.body
    assert '<html lang="fr">' in mail.alternatives[0][0]


def test_an_invitation_is_sent_once(world, frozen, mailoutbox):
    invitation = sending.create_invitation(CustomerFactory(owner=world.ann))
    assert sending.send_invitation(invitation.pk, NOW) is True
    assert sending.send_invitation(invitation.pk, NOW) is False
    assert len(mailoutbox) == 1


def test_a_failed_send_is_retried_next_run(world, frozen, mailoutbox):
    invitation = sending.create_invitation(CustomerFactory(owner=world.ann))
    with mock.patch("surveys.sending.EmailMultiAlternatives.send", side_effect=OSError("down")):
        assert sending.send_due_invitations(NOW)["failed"] == 1
    invitation.refresh_from_db()
    assert invitation.sent_at is None
    assert sending.send_due_invitations(NOW)["sent"] == 1


def test_a_refused_recipient_marks_the_invitation_bounced(world, frozen):
    invitation = sending.create_invitation(CustomerFactory(owner=world.ann))
    refused = smtplib.SMTPRecipientsRefused({invitation.email: (550, b"no such user")})
    with mock.patch("surveys.sending.EmailMultiAlternatives.send", side_effect=refused):
        assert sending.send_invitation(invitation.pk, NOW) is False
    invitation.refresh_from_db()
    assert invitation.bounced_at == NOW


# --- reminders ---------------------------------------------------------------------------------


def test_one_reminder_after_the_configured_days(world, mailoutbox, settings):
    settings.SURVEY_REMINDER_DAYS = 7
    invitation = SentInvitationFactory(
        customer__owner=world.ann, sent_at=NOW, expires_at=NOW + dt.timedelta(days=30)
    )
    assert sending.send_due_invitations(NOW + dt.timedelta(days=6))["reminded"] == 0
    later = NOW + dt.timedelta(days=7, minutes=1)
    assert sending.send_due_invitations(later)["reminded"] == 1
    assert sending.send_due_invitations(later + dt.timedelta(days=7))["reminded"] == 0
    [mail] = mailoutbox
    assert mail.subject.startswith("Reminder:")
    assert invitation.token in mail.body
    invitation.refresh_from_db()
    assert invitation.reminded_at == later


@pytest.mark.parametrize("state", ["answered", "bounced", "expired"])
def test_no_reminder_when_answered_bounced_or_expired(world, mailoutbox, state):
    invitation = SentInvitationFactory(
        customer__owner=world.ann,
        sent_at=NOW,
        expires_at=NOW + dt.timedelta(days=5 if state == "expired" else 30),
        bounced_at=NOW if state == "bounced" else None,
    )
    if state == "answered":
        ResponseFactory(invitation=invitation)
    assert sending.send_due_invitations(NOW + dt.timedelta(days=8))["reminded"] == 0
    assert mailoutbox == []


# --- bounce ------------------------------------------------------------------------------------


def test_bounced_invitations_leave_the_response_rate_denominator(world):
    sent = SentInvitationFactory.create_batch(3, customer__owner=world.ann)
    ResponseFactory(invitation=sent[0])
    assert sent[1].mark_bounced() is True
    assert Invitation.objects.counted().count() == 2
    assert Invitation.objects.counted().answered().count() == 1


def test_an_answered_invitation_cannot_bounce(world):
    response = ResponseFactory(invitation=SentInvitationFactory(customer__owner=world.ann))
    assert Invitation.objects.get(pk=response.invitation_id).mark_bounced() is False


# --- the beat job end to end -------------------------------------------------------------------


def test_beat_task_creates_sends_and_reports(world, frozen, mailoutbox):
    won(4, owner=world.ann)
    won(4, owner=world.sam, customer__contact_email="")
    InvitationFactory(customer__owner=world.bob, sent_at=None, send_after=NOW + dt.timedelta(days=1))
    counts = tasks.send_due_invitations()
    assert counts == {"created": 1, "sent": 1, "reminded": 0, "failed": 0}
    assert len(mailoutbox) == 1
    assert tasks.send_due_invitations() == {"created": 0, "sent": 0, "reminded": 0, "failed": 0}


def test_detractor_email_goes_to_the_credited_teams_managers(world, mailoutbox):
    response = ResponseFactory(
        invitation=SentInvitationFactory(customer__owner=world.sam, owner=world.sam, team=world.south),
        nps_score=2,
        comment="Too slow.",
    )
    assert sending.notify_detractor(response.pk) == 1
    [mail] = mailoutbox
    assert mail.to == [world.steve.email]
    assert "2/10" in mail.subject and "Too slow." in mail.body
    assert "/surveys/results/" in mail.body
