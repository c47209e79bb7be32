"""Issue 19: every business date is validated in one range (crm.models:
EARLIEST_DATE..LATEST_DATE, the KPI engine's) on every form, the API, the
admin and imports, so no entry point can store a date the engine skips."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from crm.models import Campaign, Deal, Target
from kpis.compute import data_span
from tests.factories import CampaignFactory, DealFactory

pytestmark = pytest.mark.django_db


def test_target_cell_refuses_a_month_the_engine_cannot_place(world, login):
    client = login(world.nina)
    for month in ("9999-12-01", "0001-01-01", "2101-01-01"):
        url = reverse("target_cell", args=["user", world.ann.pk, month])
        assert client.post(url, {"amount": "10"}, headers={"HX-Request": "true"}).status_code == 404
    assert not Target.objects.exists()
    assert data_span(dt.date(2026, 1, 1)).warnings == []


def test_api_target_month_out_of_range_is_a_400(world, api_as):
    response = api_as(world.nina).post(
        "/api/v1/targets/", {"user": world.ann.pk, "month": "9999-12-01", "amount": "5"}, format="json"
    )
    assert response.status_code == 400 and "month" in response.json()
    assert not Target.objects.exists()


def test_campaign_end_is_checked_like_its_start(world, login, api_as):
    data = {"name": "Fair", "channel": "email", "team": world.north.pk, "starts_on": "2026-01-01"}
    response = login(world.nina).post(reverse("campaign_create"), {**data, "ends_on": "9999-12-31"})
    assert response.status_code == 200 and "not plausible" in response.content.decode()
    response = api_as(world.nina).post("/api/v1/campaigns/", {**data, "ends_on": "9999-12-31"}, format="json")
    assert response.status_code == 400 and "ends_on" in response.json()
    assert not Campaign.objects.exists()


def test_models_refuse_dates_outside_the_range_for_the_admin(world):
    campaign = CampaignFactory.build(ends_on=dt.date(9999, 1, 1))
    with pytest.raises(ValidationError) as info:
        campaign.full_clean(exclude=["team"])
    assert "ends_on" in info.value.message_dict
    deal = DealFactory(owner=world.ann)
    deal.expected_close_on = dt.date(1, 1, 1)
    with pytest.raises(ValidationError):
        deal.full_clean()
    target = Target(user=world.ann, month=dt.date(9999, 12, 1), amount=1)
    with pytest.raises(ValidationError):
        target.full_clean()
    assert Deal.objects.count() == 1


def test_admin_form_refuses_a_target_in_year_9999(world, client):
    client.force_login(world.admin)
    world.admin.is_staff = world.admin.is_superuser = True
    world.admin.save()
    response = client.post(
        reverse("admin:crm_target_add"), {"user": world.ann.pk, "month": "9999-12-01", "amount": "5"}
    )
    assert response.status_code == 200 and "Dates run from" in response.content.decode()
    assert not Target.objects.exists()
