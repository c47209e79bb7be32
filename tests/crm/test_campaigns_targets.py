"""Campaigns with spend lines, and the month × person targets grid."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from crm.models import Campaign, CampaignSpend, Target
from tests.factories import CampaignFactory, CampaignSpendFactory, ProspectFactory, TargetFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(dt.datetime(2025, 6, 18, 10, 0), tick=False):
        yield


def test_list_shows_total_spend_and_prospects_brought(world, login):
    campaign = CampaignFactory(name="Fair", team=world.north)
    CampaignSpendFactory(campaign=campaign, amount=Decimal("100"))
    CampaignSpendFactory(campaign=campaign, amount=Decimal("250.50"))
    for _ in range(3):
        ProspectFactory(owner=world.ann, source_campaign=campaign)
    response = login(world.nina).get(reverse("campaign_list"))
    row = response.context["page"][0]
    assert (row.total_spend, row.prospect_count) == (Decimal("350.50"), 3)


def test_manager_creates_a_campaign_for_their_team_only(world, login):
    client = login(world.nina)
    data = {"name": "Spring", "channel": "email", "starts_on": "2025-03-01", "team": world.south.pk}
    response = client.post(reverse("campaign_create"), data)
    assert "team" in response.context["form"].errors
    data["team"] = world.north.pk
    client.post(reverse("campaign_create"), data)
    assert Campaign.objects.get().team == world.north
    data.update(name="Bad", ends_on="2025-01-01")
    assert "ends_on" in client.post(reverse("campaign_create"), data).context["form"].errors


def test_manager_cannot_edit_another_teams_or_company_campaign(world, login):
    south = CampaignFactory(team=world.south)
    company = CampaignFactory(team=None)
    client = login(world.nina)
    assert client.get(reverse("campaign_edit", args=[south.pk])).status_code == 403
    assert client.get(reverse("campaign_edit", args=[company.pk])).status_code == 403
    assert client.post(reverse("campaign_spend_add", args=[south.pk]), {}).status_code == 403
    assert login(world.admin).get(reverse("campaign_edit", args=[company.pk])).status_code == 200


def test_spend_lines_are_validated(world, login):
    campaign = CampaignFactory(team=world.north)
    client = login(world.nina)
    url = reverse("campaign_spend_add", args=[campaign.pk])
    response = client.post(url, {"spent_on": "2025-06-01", "amount": "-5"})
    assert response.status_code == 400 and "amount" in response.context["spend_form"].errors
    client.post(url, {"spent_on": "2025-06-01", "amount": "500", "note": "Booth"})
    line = CampaignSpend.objects.get()
    assert line.amount == Decimal("500")
    client.post(reverse("campaign_spend_delete", args=[campaign.pk, line.pk]))
    assert not CampaignSpend.objects.exists()


def test_targets_grid_has_members_and_a_team_row(world, login):
    TargetFactory(user=world.ann, month=dt.date(2025, 3, 1), amount=Decimal("9000"))
    TargetFactory(user=None, team=world.north, month=dt.date(2025, 3, 1), amount=Decimal("40000"))
    response = login(world.nina).get(reverse("target_grid"), {"year": "2025"})
    labels = [row["label"] for row in response.context["rows"]]
    assert labels == ["Ann Rep", "Bob Rep", "Nina Manager", "Team North"]
    assert response.context["rows"][0]["cells"][2]["amount"] == Decimal("9000")
    assert response.context["rows"][3]["cells"][2]["amount"] == Decimal("40000")


def test_grid_cell_saves_updates_and_clears(world, login):
    client = login(world.nina)
    url = reverse("target_cell", args=["user", world.ann.pk, "2025-04-01"])
    response = client.post(url, {"amount": "12000"}, headers={"HX-Request": "true"})
    assert response.status_code == 200 and "Saved" in response.content.decode()
    assert Target.objects.get().amount == Decimal("12000")
    client.post(url, {"amount": "15000"}, headers={"HX-Request": "true"})
    assert Target.objects.get().amount == Decimal("15000")
    client.post(url, {"amount": ""}, headers={"HX-Request": "true"})
    assert not Target.objects.exists()
    team_url = reverse("target_cell", args=["team", world.north.pk, "2025-04-01"])
    client.post(team_url, {"amount": "50000"})
    assert Target.objects.get().team == world.north


@pytest.mark.parametrize("amount", ["-1", "1e12", "lots"])
def test_grid_cell_shows_errors_in_place(world, login, amount):
    url = reverse("target_cell", args=["user", world.ann.pk, "2025-04-01"])
    response = login(world.nina).post(url, {"amount": amount}, headers={"HX-Request": "true"})
    body = response.content.decode()
    assert response.status_code == 200 and 'aria-invalid="true"' in body and "<html" not in body
    assert not Target.objects.exists()


@pytest.mark.parametrize(
    ("kind", "who", "month"),
    [("user", "sam", "2025-04-01"), ("team", "south", "2025-04-01"), ("robot", "ann", "2025-04-01"),
     ("user", "ann", "2025-13-01")],
)  # fmt: skip
def test_grid_cell_refuses_other_teams_and_junk(world, login, kind, who, month):
    url = reverse("target_cell", args=[kind, getattr(world, who).pk, month])
    assert login(world.nina).post(url, {"amount": "1"}).status_code == 404
    assert not Target.objects.exists()


@pytest.mark.parametrize("rows", [1, 50])
def test_campaign_list_and_grid_queries_are_bounded(world, login, django_assert_max_num_queries, rows):
    for i in range(rows):
        campaign = CampaignFactory(team=world.north)
        CampaignSpendFactory(campaign=campaign)
        if i < 12:  # one target per month at most
            TargetFactory(user=world.ann, month=dt.date(2025, i + 1, 1))
    client = login(world.nina)
    # session, user, header team, count, page (spend and prospects by subquery).
    with django_assert_max_num_queries(5):
        assert client.get(reverse("campaign_list")).status_code == 200
    # session, user, header team, members, every target of the year.
    with django_assert_max_num_queries(5):
        assert client.get(reverse("target_grid"), {"year": "2025"}).status_code == 200


def test_grid_cell_without_javascript_returns_to_the_grid(world, login):
    url = reverse("target_cell", args=["user", world.ann.pk, "2025-04-01"])
    response = login(world.admin).post(url, {"amount": "100"})
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('target_grid')}?year=2025&team={world.north.pk}"
    assert Target.objects.get().amount == Decimal("100")
    response = login(world.nina).post(url, {"amount": "-1"}, follow=True)
    assert "The amount cannot be negative." in response.content.decode()
