"""Customers: list with revenue, page with deals and survey answers, churn."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from crm.models import Customer, Stage
from tests.factories import CustomerFactory, DealFactory, InvitationFactory, ResponseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(dt.datetime(2025, 6, 18, 10, 0), tick=False):
        yield


def _won(customer, amount, on):
    deal = DealFactory(owner=customer.owner, customer=customer, amount=Decimal(amount))
    deal.mark_won(Decimal(amount), on)
    return deal


def test_list_shows_revenue_without_multiplying_rows(world, login):
    acme = CustomerFactory(owner=world.ann, name="Acme")
    _won(acme, "100", dt.date(2025, 2, 1))
    _won(acme, "250", dt.date(2025, 3, 1))
    DealFactory(owner=world.ann, customer=acme, amount=Decimal("999"))  # open: not revenue
    CustomerFactory(owner=world.ann, name="Empty")
    response = login(world.ann).get(reverse("customer_list"), {"sort": "-revenue"})
    rows = [(c.name, c.revenue, c.deal_count) for c in response.context["page"]]
    assert rows == [("Acme", Decimal("350"), 3), ("Empty", Decimal("0"), 0)]
    assert response.context["totals"].count == 2


def test_list_filters(world, login):
    acme = CustomerFactory(owner=world.ann, name="Acme")
    _won(acme, "100", dt.date(2025, 2, 1))
    acme.refresh_from_db()
    acme.mark_churned(dt.date(2025, 5, 1), "Moved away")
    CustomerFactory(owner=world.bob, name="Bobco")
    client = login(world.nina)

    def names(**params):
        return sorted(c.name for c in client.get(reverse("customer_list"), params).context["page"])

    assert names(churned="yes") == ["Acme"]
    assert names(churned="no") == ["Bobco"]
    assert names(acquired_from="2025-01-01", acquired_to="2025-02-28") == ["Acme"]
    assert names(owner=world.bob.pk) == ["Bobco"]
    assert names(q="bob", team=world.north.pk) == ["Bobco"]
    assert names(churned="maybe", acquired_from="x") == ["Acme", "Bobco"]


def test_page_shows_deals_revenue_and_visible_survey_answers(world, login):
    acme = CustomerFactory(owner=world.ann, name="Acme")
    _won(acme, "100", dt.date(2025, 2, 1))
    ResponseFactory(invitation=InvitationFactory(customer=acme), comment="Lovely")
    # An answer credited to another team's rep is not Ann's to read.
    ResponseFactory(
        invitation=InvitationFactory(customer=acme, owner=world.sam, team=world.south),
        comment="Hidden",
    )
    body = login(world.ann).get(acme.get_absolute_url()).content.decode()
    assert "Lovely" in body and "Hidden" not in body and "100.00" in body
    assert "Mark churned" not in body  # reps do not churn customers
    assert "Hidden" in login(world.admin).get(acme.get_absolute_url()).content.decode()


def test_manager_marks_a_customer_churned(world, login):
    acme = CustomerFactory(owner=world.ann)
    _won(acme, "100", dt.date(2025, 2, 1))
    client = login(world.nina)
    response = client.post(
        reverse("customer_churn", args=[acme.pk]), {"churned_on": "2025-01-01", "reason": "x"}
    )
    assert response.status_code == 400 and "churned_on" in response.context["churn_form"].errors
    response = client.post(
        reverse("customer_churn", args=[acme.pk]), {"churned_on": "2025-06-01", "reason": ""}
    )
    assert "reason" in response.context["churn_form"].errors
    client.post(reverse("customer_churn", args=[acme.pk]), {"churned_on": "2025-06-01", "reason": "Budget"})
    acme.refresh_from_db()
    assert (acme.churned_on, acme.churn_reason) == (dt.date(2025, 6, 1), "Budget")


def test_rep_cannot_churn_their_customer(world, login):
    acme = CustomerFactory(owner=world.ann)
    _won(acme, "100", dt.date(2025, 2, 1))
    response = login(world.ann).post(
        reverse("customer_churn", args=[acme.pk]), {"churned_on": "2025-06-01", "reason": "x"}
    )
    assert response.status_code == 403
    acme.refresh_from_db()
    assert acme.churned_on is None


def test_create_and_edit_customer(world, login):
    client = login(world.ann)
    client.post(reverse("customer_create"), {"name": "New", "language": "fr", "owner": world.sam.pk})
    customer = Customer.objects.get()
    assert (customer.owner, customer.team) == (world.ann, world.north)
    response = client.post(
        reverse("customer_edit", args=[customer.pk]), {"name": "New", "language": "fr", "employees": "-3"}
    )
    assert "employees" in response.context["form"].errors


def test_csv_export(world, login):
    acme = CustomerFactory(owner=world.ann, name="Acme")
    _won(acme, "100", dt.date(2025, 2, 1))
    response = login(world.ann).get(reverse("customer_list"), {"format": "csv"})
    lines = b"".join(response.streaming_content).decode().lstrip("\ufeff").splitlines()
    assert lines[0].endswith("revenue,deals")
    assert lines[1].startswith(f"{acme.pk},Acme,") and lines[1].endswith(",100.00,1")


@pytest.mark.parametrize("rows", [1, 50])
def test_list_queries_are_bounded(world, login, django_assert_max_num_queries, rows):
    for _ in range(rows):
        customer = CustomerFactory(owner=world.ann)
        DealFactory(owner=world.ann, customer=customer, stage=Stage.WON, closed_on=dt.date(2025, 1, 5))
    # session, user, header team, the manager's rows outside the team (none:
    # the team index serves), page (owner and team joined), revenue and deal
    # count of the page's customers (one grouped query), capped count, owner
    # and team choices.
    client = login(world.nina)
    with django_assert_max_num_queries(9):
        assert client.get(reverse("customer_list")).status_code == 200
