"""Revenue forecasts through the API: the scopes the Forecast page shows each
person, the rows it reads, filters that refuse bad input with a 400.

Ann is a salesperson in North (managed by Nina); Bob is her teammate, Steve
manages South, Sam sells there.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from kpis.models import ForecastSnapshot

VIEWERS = ["ann", "bob", "nina", "steve", "sam", "admin"]
SEES = {
    "ann": {"rep-ann"},
    "bob": set(),
    "nina": {"rep-ann", "team-north"},
    "steve": {"rep-sam", "team-south"},
    "sam": {"rep-sam"},
    "admin": {"rep-ann", "rep-sam", "team-north", "team-south", "company"},
}
Q4 = dt.date(2026, 10, 1)


def forecast(
    scope_type, scope_id, granularity="quarter", start=Q4, kind="latest", **fields
) -> ForecastSnapshot:
    values = {"won_so_far": 100, "p10": 1000, "p50": 2000, "p90": 3000, "expected": 2100, "open_deals": 1}
    return ForecastSnapshot.objects.create(
        scope_type=scope_type, scope_id=scope_id, granularity=granularity, period_start=start, kind=kind,
        made_on=dt.date(2026, 11, 15), computed_at=timezone.now(), **{**values, **fields},
    )  # fmt: skip


@pytest.fixture
def rows(world):
    return {
        "rep-ann": forecast("rep", world.ann.pk, target=Decimal("2500"), chance_of_target=Decimal("41.5")),
        "rep-sam": forecast("rep", world.sam.pk),
        "team-north": forecast("team", world.north.pk),
        "team-south": forecast("team", world.south.pk),
        "company": forecast("company", 0),
    }


def ids(client, **params) -> set[int]:
    response = client.get("/api/v1/forecasts/", {"page_size": 500, **params})
    assert response.status_code == 200, response.json()
    return {row["id"] for row in response.json()["results"]}


@pytest.mark.parametrize("viewer", VIEWERS)
def test_each_forecast_is_seen_by_those_the_forecast_page_shows_it_to(world, api_as, login, rows, viewer):
    user = getattr(world, viewer)
    client = api_as(user)
    listed = ids(client)
    page = login(user)
    for name, row in rows.items():
        detail = client.get(f"/api/v1/forecasts/{row.pk}/")
        scope = "company" if row.scope_type == "company" else f"{row.scope_type}-{row.scope_id}"
        page_status = page.get(reverse("forecast"), {"scope": scope}).status_code
        if name in SEES[viewer]:
            assert row.pk in listed and detail.status_code == 200 and page_status == 200
        else:
            assert row.pk not in listed and detail.status_code == 404 and page_status in (403, 404)
            assert set(detail.json()) == {"detail"}


def test_a_forecast_reads_as_stored(world, api_as, rows):
    row = api_as(world.ann).get(f"/api/v1/forecasts/{rows['rep-ann'].pk}/").json()
    assert (row["scope_type"], row["scope_id"], row["scope_name"]) == ("rep", world.ann.pk, str(world.ann))
    assert (row["granularity"], row["period_start"], row["kind"]) == ("quarter", "2026-10-01", "latest")
    assert (row["p10"], row["p50"], row["p90"], row["expected"]) == (
        "1000.00",
        "2000.00",
        "3000.00",
        "2100.00",
    )
    assert (row["target"], row["chance_of_target"], row["actual"]) == ("2500.00", "41.5", None)
    assert row["details"] == {} and row["made_on"] == "2026-11-15"


def test_per_scope_and_period(world, api_as, rows):
    nov = forecast("team", world.north.pk, "month", dt.date(2026, 11, 1))
    dec = forecast("team", world.north.pk, "month", dt.date(2026, 12, 1))
    kept = forecast(
        "team", world.north.pk, "month", dt.date(2026, 11, 1), kind="start", actual=Decimal("1800")
    )
    client = api_as(world.nina)
    team = {"scope": "team", "scope_id": world.north.pk}
    assert ids(client, **team) == {rows["team-north"].pk, nov.pk, dec.pk, kept.pk}
    assert ids(client, **team, granularity="month", **{"from": "2026-11", "to": "2026-11"}) == {
        nov.pk,
        kept.pk,
    }
    assert ids(client, **team, kind="start") == {kept.pk}
    assert ids(client, **team, granularity="quarter") == {rows["team-north"].pk}
    # Another team's: no rows, as the page would not show it.
    assert ids(api_as(world.nina), scope="team", scope_id=world.south.pk) == set()


@pytest.mark.parametrize(
    "params",
    [
        {"scope": "campaign"},
        {"scope_id": "-1"},
        {"granularity": "year"},
        {"kind": "earliest"},
        {"from": "2026-13"},
        {"to": "2026-11-01"},
        {"scope_id": str(2**64)},
    ],
)
def test_bad_filters_are_400_never_500(world, api_as, rows, params):
    response = api_as(world.admin).get("/api/v1/forecasts/", params)
    assert response.status_code == 400 and set(response.json()) == set(params)


def test_read_only(world, api_as, rows):
    client = api_as(world.admin)
    assert client.post("/api/v1/forecasts/", {}, format="json").status_code == 405
    assert client.delete(f"/api/v1/forecasts/{rows['company'].pk}/").status_code == 405


def test_the_list_runs_a_bounded_number_of_queries(world, api_as, django_assert_max_num_queries):
    client = api_as(world.admin)
    counts = []
    for batch in range(2):
        for n in range(4):
            month = dt.date(2025, 1 + batch * 4 + n, 1)
            forecast("rep", world.ann.pk, "month", month)
            forecast("team", world.north.pk, "month", month)
        with django_assert_max_num_queries(7) as captured:
            assert client.get("/api/v1/forecasts/").status_code == 200
        counts.append(len(captured.captured_queries))
    assert counts[1] <= counts[0]
