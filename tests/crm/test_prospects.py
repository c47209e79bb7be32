"""Prospects: add, edit, move along, convert in one transaction, mark lost."""

import datetime as dt
from decimal import Decimal
from unittest import mock

import pytest
import time_machine
from django.urls import reverse

from crm.models import Customer, Deal, Prospect, Stage
from tests.factories import CampaignFactory, CustomerFactory, ProspectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(dt.datetime(2025, 6, 18, 10, 0), tick=False):
        yield


def test_rep_adds_a_prospect_they_own(world, login):
    campaign = CampaignFactory()
    response = login(world.ann).post(
        reverse("prospect_create"),
        {"name": "Zoe", "company": "Zeta", "source_campaign": campaign.pk, "owner": world.sam.pk},
    )
    prospect = Prospect.objects.get()
    assert response["Location"] == prospect.get_absolute_url()
    assert (prospect.owner, prospect.team, prospect.status) == (world.ann, world.north, "new")
    assert prospect.created_on == dt.date(2025, 6, 18)


def test_manager_reassigns_and_team_follows_the_owner(world, login):
    prospect = ProspectFactory(owner=world.ann)
    login(world.admin).post(
        reverse("prospect_edit", args=[prospect.pk]), {"name": "P", "owner": world.sam.pk}
    )
    prospect.refresh_from_db()
    assert (prospect.owner, prospect.team) == (world.sam, world.south)
    response = login(world.nina).post(
        reverse("prospect_edit", args=[ProspectFactory(owner=world.bob).pk]),
        {"name": "P", "owner": world.sue.pk},
    )
    assert "owner" in response.context["form"].errors


def test_status_moves_along_but_not_to_converted_by_hand(world, login):
    prospect = ProspectFactory(owner=world.ann)
    client = login(world.ann)
    client.post(reverse("prospect_status", args=[prospect.pk]), {"status": "contacted"})
    prospect.refresh_from_db()
    assert prospect.status == "contacted"
    response = client.post(reverse("prospect_status", args=[prospect.pk]), {"status": "converted"})
    assert response.status_code == 400
    prospect.refresh_from_db()
    assert prospect.status == "contacted"


def test_mark_lost_needs_a_reason(world, login):
    prospect = ProspectFactory(owner=world.ann)
    client = login(world.ann)
    assert client.post(reverse("prospect_lost", args=[prospect.pk]), {"reason": " "}).status_code == 400
    client.post(reverse("prospect_lost", args=[prospect.pk]), {"reason": "No budget"})
    prospect.refresh_from_db()
    assert (prospect.status, prospect.lost_reason) == ("lost", "No budget")
    # A lost prospect cannot be converted any more.
    response = client.post(
        reverse("prospect_convert", args=[prospect.pk]),
        {"mode": "new", "customer_name": "X", "deal_title": "D", "amount": "1"},
    )
    assert response.status_code == 400 and not Customer.objects.exists()


def test_convert_to_a_new_customer_opens_a_deal(world, login):
    campaign = CampaignFactory()
    prospect = ProspectFactory(owner=world.ann, source_campaign=campaign, email="z@z.example")
    response = login(world.ann).post(
        reverse("prospect_convert", args=[prospect.pk]),
        {"mode": "new", "customer_name": "Zeta SA", "deal_title": "Zeta pilot", "amount": "2500"},
    )
    deal = Deal.objects.get()
    assert response["Location"] == deal.get_absolute_url()
    prospect.refresh_from_db()
    customer = Customer.objects.get()
    assert (prospect.status, prospect.customer, prospect.converted_on) == (
        "converted", customer, dt.date(2025, 6, 18),
    )  # fmt: skip
    assert customer.source_campaign == campaign and customer.owner == world.ann
    assert customer.contact_email == "z@z.example"
    assert (deal.customer, deal.prospect, deal.owner, deal.team) == (
        customer,
        prospect,
        world.ann,
        world.north,
    )
    assert (deal.stage, deal.amount) == (Stage.PROSPECTING, Decimal("2500"))
    assert deal.stage_changes.count() == 1


def test_convert_links_an_existing_visible_customer_only(world, login):
    mine = CustomerFactory(owner=world.ann)
    theirs = CustomerFactory(owner=world.sam)
    prospect = ProspectFactory(owner=world.ann)
    client = login(world.ann)
    data = {"mode": "existing", "customer": theirs.pk, "deal_title": "D", "amount": "1"}
    response = client.post(reverse("prospect_convert", args=[prospect.pk]), data)
    assert response.status_code == 400 and "customer" in response.context["convert_form"].errors
    data["customer"] = mine.pk
    client.post(reverse("prospect_convert", args=[prospect.pk]), data)
    assert Deal.objects.get().customer == mine and Customer.objects.count() == 2


def test_convert_is_all_or_nothing(world, login):
    prospect = ProspectFactory(owner=world.ann)
    with mock.patch("crm.models.DealStageChange.objects.create", side_effect=RuntimeError):
        with pytest.raises(RuntimeError):
            login(world.ann).post(
                reverse("prospect_convert", args=[prospect.pk]),
                {"mode": "new", "customer_name": "X", "deal_title": "D", "amount": "1"},
            )
    prospect.refresh_from_db()
    assert prospect.status == "new"
    assert not Customer.objects.exists() and not Deal.objects.exists()


def test_convert_twice_makes_one_customer(world, login):
    prospect = ProspectFactory(owner=world.ann)
    client = login(world.ann)
    data = {
        "mode": "new", "customer_name": "X", "deal_title": "D", "amount": "1",
        "submit_token": "7d6a3f2e-1111-4c3b-9a55-2e3b7c9d0a12",
    }  # fmt: skip
    first = client.post(reverse("prospect_convert", args=[prospect.pk]), data)
    second = client.post(reverse("prospect_convert", args=[prospect.pk]), data)
    assert first["Location"] == second["Location"]
    del data["submit_token"]
    third = client.post(reverse("prospect_convert", args=[prospect.pk]), data)
    assert third.status_code == 400
    assert Customer.objects.count() == 1 and Deal.objects.count() == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [("amount", "-1"), ("amount", "5000000000"), ("expected_close_on", "2020-01-01"), ("mode", "steal")],
)
def test_convert_bad_input(world, login, field, value):
    prospect = ProspectFactory(owner=world.ann)
    data = {"mode": "new", "customer_name": "X", "deal_title": "D", "amount": "1", field: value}
    response = login(world.ann).post(reverse("prospect_convert", args=[prospect.pk]), data)
    assert response.status_code == 400 and field in response.context["convert_form"].errors
    assert not Customer.objects.exists()


def test_list_filters_and_csv(world, login):
    campaign = CampaignFactory()
    ProspectFactory(owner=world.ann, name="Alpha", status="qualified", source_campaign=campaign)
    ProspectFactory(owner=world.bob, name="Beta", created_on=dt.date(2025, 3, 1))
    client = login(world.nina)

    def names(**params):
        return sorted(p.name for p in client.get(reverse("prospect_list"), params).context["page"])

    assert names() == ["Alpha", "Beta"]
    assert names(status="qualified") == ["Alpha"]
    assert names(campaign=campaign.pk) == ["Alpha"]
    assert names(owner=world.bob.pk) == ["Beta"]
    assert names(created_from="2025-02-01") == ["Beta"]
    assert names(created_to="2025-02-01", team=world.north.pk) == ["Alpha"]
    assert names(q="alp") == ["Alpha"]
    assert names(status="bogus", campaign="x", created_from="yesterday") == ["Alpha", "Beta"]
    response = client.get(reverse("prospect_list"), {"status": "qualified", "format": "csv"})
    lines = b"".join(response.streaming_content).decode().lstrip("\ufeff").splitlines()
    assert lines[0].split(",")[:3] == ["id", "name", "company"] and len(lines) == 2
    assert ",Alpha," in lines[1]


@pytest.mark.parametrize("rows", [1, 50])
def test_list_queries_are_bounded(world, login, django_assert_max_num_queries, rows):
    campaign = CampaignFactory()
    for _ in range(rows):
        ProspectFactory(owner=world.ann, source_campaign=campaign)
    # session, user, header team, the manager's rows outside the team, page
    # (owner, campaign joined), capped count, owner, team and campaign choices.
    client = login(world.nina)
    with django_assert_max_num_queries(9):
        assert client.get(reverse("prospect_list")).status_code == 200


def test_converted_prospect_page_links_customer_and_deal(world, login):
    prospect = ProspectFactory(owner=world.ann)
    client = login(world.ann)
    client.post(
        reverse("prospect_convert", args=[prospect.pk]),
        {"mode": "new", "customer_name": "Zeta SA", "deal_title": "Zeta pilot", "amount": "1"},
    )
    body = client.get(prospect.get_absolute_url()).content.decode()
    assert "Zeta SA" in body and "Zeta pilot" in body
    assert reverse("prospect_convert", args=[prospect.pk]) not in body


def test_csv_neutralises_formulas(world, login):
    ProspectFactory(owner=world.ann, name='=HYPERLINK("http://evil")', company="+33 1 23")
    response = login(world.ann).get(reverse("prospect_list"), {"format": "csv"})
    body = b"".join(response.streaming_content).decode()
    assert ',"\'=HYPERLINK(""http://evil"")",\'+33 1 23,' in body


def test_double_submit_adds_one_prospect(world, login):
    client = login(world.ann)
    data = {"name": "Zoe", "submit_token": "5f0e8a43-2f6b-4d8e-9a3c-1b2c3d4e5f60"}
    first = client.post(reverse("prospect_create"), data)
    second = client.post(reverse("prospect_create"), data)
    assert Prospect.objects.count() == 1 and first["Location"] == second["Location"]
