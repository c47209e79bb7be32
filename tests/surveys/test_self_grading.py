"""Issue 19: salespeople cannot grade themselves through surveys."""

import datetime as dt

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from crm.forms import CustomerForm
from kpis.compute import recompute
from kpis.models import KpiSnapshot
from surveys import sending
from surveys.models import Response
from tests.factories import CustomerFactory, DealFactory, UserFactory
from tests.surveys.factories import SentInvitationFactory

pytestmark = pytest.mark.django_db


def form_data(customer, **changes):
    data = {
        "name": customer.name,
        "contact_name": customer.contact_name,
        "contact_email": customer.contact_email,
        "language": customer.language,
        "sector": customer.sector,
        "country": customer.country,
        "employees": customer.employees or "",
        "source_campaign": "",
        "owner": customer.owner_id,
    }
    return {**data, **changes}


def test_a_rep_cannot_change_their_customers_contact_email(world, login):
    customer = CustomerFactory(owner=world.ann, contact_email="buyer@client.test")
    response = login(world.ann).post(
        reverse("customer_edit", args=[customer.pk]), form_data(customer, contact_email=world.ann.email)
    )
    assert response.status_code == 200 and "Ask your manager" in response.content.decode()
    customer.refresh_from_db()
    assert customer.contact_email == "buyer@client.test"
    # Other fields stay theirs to edit.
    form = CustomerForm(form_data(customer, contact_name="New Name"), instance=customer, user=world.ann)
    assert form.is_valid(), form.errors


def test_a_manager_may_change_it(world, login):
    customer = CustomerFactory(owner=world.ann, contact_email="buyer@client.test")
    response = login(world.nina).post(
        reverse("customer_edit", args=[customer.pk]), form_data(customer, contact_email="new@client.test")
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.contact_email == "new@client.test"


def test_a_recent_survey_locks_the_email_for_a_rep_who_is_not_the_owner(world):
    customer = CustomerFactory(owner=world.sam, contact_email="buyer@client.test")
    other_rep = UserFactory(team=world.north)
    form = CustomerForm(form_data(customer, contact_email="x@client.test"), instance=customer, user=other_rep)
    assert form.is_valid(), form.errors  # no survey sent, not theirs: allowed
    SentInvitationFactory(customer=customer, sent_at=timezone.now() - dt.timedelta(days=3))
    customer.refresh_from_db()  # the valid form above wrote into the instance
    form = CustomerForm(form_data(customer, contact_email="x@client.test"), instance=customer, user=other_rep)
    assert not form.is_valid() and "contact_email" in form.errors


def test_the_invitation_records_the_address_it_went_to(world):
    customer = CustomerFactory(owner=world.ann, contact_email="buyer@client.test")
    invitation = sending.create_invitation(customer)
    customer.contact_email = "changed@client.test"
    customer.save()
    sending.send_invitation(invitation.pk)
    invitation.refresh_from_db()
    assert invitation.email == "buyer@client.test" and invitation.sent_at
    assert mail.outbox[-1].to == ["buyer@client.test"]
    assert not invitation.to_staff_address


def test_an_answer_from_a_users_address_is_flagged_and_counts_in_no_kpi(world, client):
    customer = CustomerFactory(owner=world.ann, contact_email=world.ann.email.upper())
    DealFactory(owner=world.ann, customer=customer)
    invitation = sending.create_invitation(customer)
    assert invitation.to_staff_address
    sending.send_invitation(invitation.pk)
    answer = {"nps_score": "10", "csat_score": "5"}
    assert client.post(reverse("survey_answer", args=[invitation.token]), answer).status_code == 200
    response = Response.objects.get(invitation=invitation)
    assert response.from_staff_address
    page = client.get(reverse("customer_detail", args=[customer.pk]))
    assert page.status_code == 302  # the public client is logged out; the manager reads it:
    client.force_login(world.nina)
    assert (
        "Staff address: not counted"
        in client.get(reverse("customer_detail", args=[customer.pk])).content.decode()
    )
    recompute(today=timezone.localdate())
    month = timezone.localdate().replace(day=1)
    nps = KpiSnapshot.objects.filter(kpi="nps", scope_type="rep", scope_id=world.ann.pk, period_start=month)
    assert not nps.exists() or nps.get().denominator == 0
