"""KPI alerts through the API: who sees which (as the Alerts page),
acknowledging, filters that refuse bad input with a 400, bounded queries.

Ann is a salesperson in North (managed by Nina); Bob is her teammate, Steve
manages South, Sam sells there.
"""

from __future__ import annotations

import datetime as dt

import pytest

from alerts.models import Alert, Rule

VIEWERS = ["ann", "bob", "nina", "steve", "sam", "admin"]
# Which alerts each person sees (alerts.models.AlertQuerySet.visible_to).
SEES = {
    "ann": {"ann"},
    "bob": set(),
    "nina": {"north", "ann"},
    "steve": {"sam"},
    "sam": {"sam"},
    "admin": {"company", "north", "ann", "sam", "product"},
}
BAND_WHY = {"value": "10", "low": "900", "high": "1100", "median": "1000", "points": 12, "direction": "down"}


def make_alert(key, **kwargs) -> Alert:
    defaults = {
        "rule": Rule.BAND, "kpi": "revenue", "scope_type": "company", "scope_id": 0,
        "period_start": dt.date(2026, 11, 1), "subject": "", "why": BAND_WHY,
    }  # fmt: skip
    return Alert.objects.create(key=key, **{**defaults, **kwargs})


@pytest.fixture
def alerts(world):
    from tests.factories import ProductFactory

    product = ProductFactory()
    return {
        "company": make_alert("company"),
        "north": make_alert(
            "north", scope_type="team", scope_id=world.north.pk, team=world.north, subject="North"
        ),
        "ann": make_alert(
            "ann", scope_type="rep", scope_id=world.ann.pk, team=world.north, user=world.ann, subject="Ann"
        ),
        "sam": make_alert(
            "sam", scope_type="rep", scope_id=world.sam.pk, team=world.south, user=world.sam, subject="Sam"
        ),
        "product": make_alert(
            "product",
            rule=Rule.DETRACTORS,
            kpi="nps",
            product=product,
            subject=product.name,
            why={"count": 4, "days": 30},
        ),  # fmt: skip
    }


def listed(client, **params) -> set[int]:
    response = client.get("/api/v1/alerts/", {"page_size": 500, **params})
    assert response.status_code == 200, response.json()
    return {row["id"] for row in response.json()["results"]}


@pytest.mark.parametrize("viewer", VIEWERS)
@pytest.mark.parametrize("which", ["company", "north", "ann", "sam", "product"])
def test_each_alert_is_seen_and_acknowledged_by_those_the_page_shows_it_to(
    world, api_as, alerts, viewer, which
):
    alert = alerts[which]
    client = api_as(getattr(world, viewer))
    detail = client.get(f"/api/v1/alerts/{alert.pk}/")
    acknowledged = client.post(f"/api/v1/alerts/{alert.pk}/acknowledge/")
    alert.refresh_from_db()
    if which in SEES[viewer]:
        assert alert.pk in listed(client)
        assert detail.status_code == 200 and detail.json()["id"] == alert.pk
        assert acknowledged.status_code == 200
        assert acknowledged.json()["acknowledged_by"] == getattr(world, viewer).pk
        assert alert.acknowledged_by == getattr(world, viewer)
    else:
        assert alert.pk not in listed(client)
        assert detail.status_code == 404 and set(detail.json()) == {"detail"}
        assert acknowledged.status_code == 404
        assert alert.acknowledged_at is None


@pytest.mark.parametrize("viewer", VIEWERS)
def test_the_list_is_exactly_what_the_alerts_page_lists(world, api_as, login, alerts, viewer):
    from django.urls import reverse

    user = getattr(world, viewer)
    page = login(user).get(reverse("alert_list"), {"show": "all"}).context["items"]
    assert listed(api_as(user)) == {item["alert"].pk for item in page}
    assert {k for k, a in alerts.items() if a.pk in listed(api_as(user))} == SEES[viewer]


def test_an_alert_reads_as_on_the_page(world, api_as, alerts):
    row = api_as(world.ann).get(f"/api/v1/alerts/{alerts['ann'].pk}/").json()
    assert row["rule"] == "band" and row["kpi"] == "revenue" and row["scope_type"] == "rep"
    assert (row["team"], row["user"], row["scope_id"]) == (world.north.pk, world.ann.pk, world.ann.pk)
    assert "outside its usual band" in row["title"] and "below its usual band" in row["message"]
    assert row["why"] == BAND_WHY and row["is_open"] is True and row["acknowledged_at"] is None
    assert row["link"].startswith("/")
    french = api_as(world.ann).get(f"/api/v1/alerts/{alerts['ann'].pk}/", HTTP_ACCEPT_LANGUAGE="fr").json()
    assert french["message"] != row["message"]


def test_acknowledging_twice_keeps_the_first(world, api_as, alerts):
    alert = alerts["ann"]
    first = api_as(world.ann).post(f"/api/v1/alerts/{alert.pk}/acknowledge/").json()
    again = api_as(world.nina).post(f"/api/v1/alerts/{alert.pk}/acknowledge/", {"x": 1}, format="json")
    assert again.status_code == 200
    assert again.json()["acknowledged_by"] == world.ann.pk
    assert again.json()["acknowledged_at"] == first["acknowledged_at"]
    # Acknowledged, still open: the page's badge no longer counts it.
    assert again.json()["is_open"] is True
    assert Alert.objects.visible_to(world.ann).unread().count() == 0


def test_filters(world, api_as, alerts):
    client = api_as(world.admin)
    resolved = alerts["sam"]
    Alert.objects.filter(pk=resolved.pk).update(resolved_at=dt.datetime(2026, 11, 30, tzinfo=dt.UTC))
    alerts["north"].acknowledge(world.nina)
    every = {a.pk for a in alerts.values()}
    assert listed(client, open="false") == {resolved.pk}
    assert listed(client, open="true") == every - {resolved.pk}
    assert listed(client, acknowledged="true") == {alerts["north"].pk}
    assert listed(client, acknowledged="false") == every - {alerts["north"].pk}
    assert listed(client, rule="detractors") == {alerts["product"].pk}
    assert listed(client, kpi="nps") == {alerts["product"].pk}
    assert listed(client, scope="team") == {alerts["north"].pk}
    assert listed(client, team=world.north.pk) == {alerts["north"].pk, alerts["ann"].pk}
    assert listed(client, user=world.sam.pk) == {resolved.pk}
    assert listed(client, product=alerts["product"].product_id) == {alerts["product"].pk}
    today = alerts["ann"].first_seen.date()
    assert listed(client, seen_from=today.isoformat()) == every
    assert listed(client, seen_to=(today - dt.timedelta(days=1)).isoformat()) == set()


@pytest.mark.parametrize(
    "params",
    [
        {"open": "maybe"},
        {"acknowledged": "[]"},
        {"rule": "nope"},
        {"kpi": "no_such_kpi"},
        {"scope": "galaxy"},
        {"team": "0"},
        {"user": "x"},
        {"product": str(2**64)},
        {"seen_from": "2026-13-01"},
        {"seen_to": "yesterday"},
        {"page_size": "-1", "team": "-5"},
    ],
)
def test_bad_filters_are_400_never_500(world, api_as, alerts, params):
    response = api_as(world.nina).get("/api/v1/alerts/", params)
    assert response.status_code == 400
    assert set(response.json()) & set(params)


def test_other_methods_and_odd_ids(world, api_as, alerts):
    client = api_as(world.admin)
    pk = alerts["company"].pk
    assert client.get(f"/api/v1/alerts/{pk}/acknowledge/").status_code == 405
    assert client.delete(f"/api/v1/alerts/{pk}/").status_code == 405
    assert client.patch(f"/api/v1/alerts/{pk}/", {"kpi": "nps"}, format="json").status_code == 405
    assert client.post("/api/v1/alerts/", {}, format="json").status_code == 405
    assert client.get("/api/v1/alerts/abc/").status_code == 404
    assert client.get(f"/api/v1/alerts/{2**70}/").status_code == 404
    assert client.post(f"/api/v1/alerts/{2**70}/acknowledge/").status_code == 404
    assert client.get("/api/v1/alerts/", {"cursor": "garbage"}).status_code == 404
    # A body that is not JSON is ignored (the action takes none), never a 500.
    response = client.post(f"/api/v1/alerts/{pk}/acknowledge/", "{", content_type="application/json")
    assert response.status_code == 200  # acknowledge reads no body


def test_nothing_without_credentials(world, client, alerts):
    assert client.get("/api/v1/alerts/").status_code == 401
    assert client.post(f"/api/v1/alerts/{alerts['company'].pk}/acknowledge/").status_code == 401


def test_the_list_is_paginated_by_cursor_and_its_queries_are_bounded(
    world, api_as, django_assert_max_num_queries
):
    client = api_as(world.nina)
    counts = []
    for batch in range(2):
        for n in range(4):
            make_alert(
                f"n{batch}{n}", scope_type="team", scope_id=world.north.pk, team=world.north, subject="North"
            )
        with django_assert_max_num_queries(6) as captured:
            response = client.get("/api/v1/alerts/", {"page_size": 3})
        assert response.status_code == 200
        counts.append(len(captured.captured_queries))
    assert counts[1] <= counts[0]
    seen, url = [], "/api/v1/alerts/?page_size=3"
    while url:
        page = client.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) == 8
