"""Notifications: who sees which alert, the unread badge, acknowledging."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from alerts.models import Alert, Rule

pytestmark = pytest.mark.django_db


def _alert(key, **kwargs):
    defaults = {"rule": Rule.BAND, "kpi": "revenue", "scope_type": "company", "scope_id": 0,
                "period_start": dt.date(2026, 11, 1), "subject": "",
                "why": {"value": "10", "low": "900", "high": "1100", "median": "1000", "points": 12,
                        "direction": "down"}}  # fmt: skip
    return Alert.objects.create(key=key, **{**defaults, **kwargs})


@pytest.fixture
def alerts(world):
    return {
        "company": _alert("c"),
        "north": _alert("n", scope_type="team", scope_id=world.north.pk, team=world.north, subject="North"),
        "ann": _alert(
            "a", scope_type="rep", scope_id=world.ann.pk, team=world.north, user=world.ann, subject="Ann Rep"
        ),  # fmt: skip
        "sam": _alert(
            "s", scope_type="rep", scope_id=world.sam.pk, team=world.south, user=world.sam, subject="Sam Rep"
        ),  # fmt: skip
    }


def _listed(client) -> set:
    return {item["alert"].key for item in client.get(reverse("alert_list")).context["items"]}


def test_each_role_sees_its_own_alerts(world, alerts, login):
    assert _listed(login(world.ann)) == {"a"}
    assert _listed(login(world.nina)) == {"n", "a"}
    assert _listed(login(world.admin)) == {"c", "n", "a", "s"}


def test_the_badge_counts_unread_open_alerts(world, alerts, login):
    client = login(world.nina)
    assert client.get(reverse("alert_count")).context["count"] == 2
    alerts["north"].acknowledge(world.nina)
    assert client.get(reverse("alert_count")).context["count"] == 1
    page = client.get(reverse("dashboard")).content.decode()
    assert 'hx-get="/alerts/count/"' in page


def test_acknowledging_records_who_and_when(world, alerts, login):
    client = login(world.ann)
    response = client.post(reverse("alert_acknowledge", args=[alerts["ann"].pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response["HX-Trigger"] == "alerts-changed"
    alert = Alert.objects.get(key="a")
    assert alert.acknowledged_by == world.ann and alert.acknowledged_at is not None
    # A second click keeps the first acknowledgement.
    first = alert.acknowledged_at
    login(world.nina).post(reverse("alert_acknowledge", args=[alert.pk]))
    assert Alert.objects.get(key="a").acknowledged_at == first


def test_no_acknowledging_what_one_cannot_see(world, alerts, login):
    client = login(world.ann)
    assert client.post(reverse("alert_acknowledge", args=[alerts["sam"].pk])).status_code == 404
    assert client.post(reverse("alert_acknowledge", args=[alerts["company"].pk])).status_code == 404
    assert client.get(reverse("alert_acknowledge", args=[alerts["ann"].pk])).status_code == 405
    assert login(world.nina).post(reverse("alert_acknowledge", args=[alerts["sam"].pk])).status_code == 404


def test_the_list_says_why_in_the_readers_language(world, alerts, login):
    client = login(world.admin)
    body = client.get(reverse("alert_list")).content.decode()
    assert "outside its usual band" in body and "below its usual band" in body
    body = client.get(reverse("alert_list"), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    # The catalogue for this branch's new messages is merged later; the
    # period in the sentence is already in the reader's language.
    assert "novembre 2026" in body and "November 2026" not in body


def test_the_list_reads_a_fixed_number_of_queries(world, alerts, login):
    client = login(world.admin)

    def count():
        with CaptureQueriesContext(connection) as q:
            client.get(reverse("alert_list"))
        return len(q)

    before = count()
    for i in range(10):
        _alert(f"more{i}", scope_type="team", scope_id=world.south.pk, team=world.south, subject="South")
    assert count() == before


def test_resolved_alerts_show_on_request(world, alerts, login):
    Alert.objects.filter(key="a").update(resolved_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    client = login(world.ann)
    assert _listed(client) == set()
    keys = {i["alert"].key for i in client.get(reverse("alert_list"), {"show": "all"}).context["items"]}
    assert keys == {"a"}
