"""Activities: log against a prospect, deal or customer; "my week"."""

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from crm.models import Activity
from tests.factories import ActivityFactory, CustomerFactory, DealFactory, ProspectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _frozen():
    # A Wednesday: "my week" is Monday 16 to Sunday 22 June 2025.
    with time_machine.travel(dt.datetime(2025, 6, 18, 10, 0), tick=False):
        yield


def test_log_a_call_against_a_deal(world, login):
    deal = DealFactory(owner=world.ann)
    client = login(world.ann)
    field = client.get(reverse("activity_create"), {"deal": deal.pk}).context["form"]["deal"]
    assert field.value() == f"{deal.title} (#{deal.pk})"
    response = client.post(
        reverse("activity_create"),
        {"kind": "call", "occurred_on": "2025-06-18", "subject": "Intro call", "deal": deal.pk, "done": "on"},
    )
    assert response["Location"] == deal.get_absolute_url()
    activity = Activity.objects.get()
    assert (activity.owner, activity.team, activity.deal) == (world.ann, world.north, deal)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({}, "__all__"),  # linked to nothing
        ({"kind": "telepathy"}, "kind"),
        ({"occurred_on": "2099-01-01"}, "occurred_on"),
        ({"subject": ""}, "subject"),
    ],
)
def test_bad_activity_input(world, login, data, field):
    prospect = ProspectFactory(owner=world.ann)
    base = {"kind": "note", "occurred_on": "2025-06-18", "subject": "S"}
    if field != "__all__":
        base["prospect"] = prospect.pk
    response = login(world.ann).post(reverse("activity_create"), {**base, **data})
    assert response.status_code == 200 and field in response.context["form"].errors
    assert not Activity.objects.exists()


def test_cannot_log_against_someone_elses_customer(world, login):
    theirs = CustomerFactory(owner=world.sam)
    response = login(world.ann).post(
        reverse("activity_create"),
        {"kind": "email", "occurred_on": "2025-06-18", "subject": "S", "customer": theirs.pk},
    )
    assert "customer" in response.context["form"].errors


def test_my_week_is_the_default_view(world, login):
    ActivityFactory(owner=world.ann, subject="Monday call", occurred_on=dt.date(2025, 6, 16))
    ActivityFactory(owner=world.ann, subject="Last week", occurred_on=dt.date(2025, 6, 13))
    ActivityFactory(owner=world.bob, subject="Bob's call", occurred_on=dt.date(2025, 6, 17))
    body = login(world.ann).get(reverse("activity_list")).content.decode()
    assert "Monday call" in body and "Last week" not in body and "Bob&#x27;s call" not in body
    # A manager's week is their own too, until they pick a person or period.
    assert "Monday call" not in login(world.nina).get(reverse("activity_list")).content.decode()
    body = (
        login(world.nina)
        .get(reverse("activity_list"), {"from": "2025-06-16", "to": "2025-06-22"})
        .content.decode()
    )
    assert "Monday call" in body and "Bob&#x27;s call" in body


def test_activity_filters(world, login):
    ActivityFactory(owner=world.ann, kind="call", subject="C", occurred_on=dt.date(2025, 6, 16))
    ActivityFactory(owner=world.bob, kind="meeting", subject="M", occurred_on=dt.date(2025, 6, 17))
    client = login(world.nina)

    def subjects(**params):
        return sorted(a.subject for a in client.get(reverse("activity_list"), params).context["page"])

    week = {"from": "2025-06-16", "to": "2025-06-22"}
    assert subjects(**week, kind="meeting") == ["M"]
    assert subjects(**week, owner=world.ann.pk) == ["C"]
    assert subjects(**week, team=world.north.pk) == ["C", "M"]
    assert subjects(**week, kind="x", owner="y") == ["C", "M"]


@pytest.mark.parametrize("rows", [1, 50])
def test_week_queries_are_bounded(world, login, django_assert_max_num_queries, rows):
    deal = DealFactory(owner=world.ann)
    for _ in range(rows):
        ActivityFactory(owner=world.ann, deal=deal, occurred_on=dt.date(2025, 6, 17))
    client = login(world.ann)
    # session, user, header team, count, page (deal, prospect, customer and
    # owner joined), the to-do list (one query, whatever its length).
    with django_assert_max_num_queries(6):
        assert client.get(reverse("activity_list")).status_code == 200


def test_mark_a_planned_activity_done(world, login):
    planned = ActivityFactory(owner=world.ann, done=False, occurred_on=dt.date(2025, 6, 19))
    client = login(world.ann)
    assert "Mark done" in client.get(reverse("activity_list")).content.decode()
    response = client.post(reverse("activity_done", args=[planned.pk]), headers={"HX-Request": "true"})
    body = response.content.decode()
    assert body.strip().startswith(f'<tr id="activity-{planned.pk}">') and "Mark done" not in body
    planned.refresh_from_db()
    assert planned.done
    sams = ActivityFactory(owner=world.sam, done=False)
    assert client.post(reverse("activity_done", args=[sams.pk])).status_code == 404
    assert client.get(reverse("activity_done", args=[planned.pk])).status_code == 405


def test_my_week_is_a_to_do_list(world, login):
    deal = DealFactory(owner=world.ann)
    ActivityFactory(
        owner=world.ann, deal=deal, subject="Old call", occurred_on=dt.date(2025, 5, 2), done=False
    )
    ActivityFactory(
        owner=world.ann, deal=deal, subject="Today's demo", occurred_on=dt.date(2025, 6, 18), done=False
    )
    ActivityFactory(
        owner=world.ann, deal=deal, subject="Friday mail", occurred_on=dt.date(2025, 6, 20), done=False
    )
    ActivityFactory(
        owner=world.ann, deal=deal, subject="Monday visit", occurred_on=dt.date(2025, 6, 16), done=True
    )
    ActivityFactory(
        owner=world.ann, deal=deal, subject="Last week", occurred_on=dt.date(2025, 6, 10), done=True
    )
    ActivityFactory(owner=world.bob, subject="Bob's call", occurred_on=dt.date(2025, 6, 18), done=False)
    todo = login(world.ann).get(reverse("activity_list")).context["todo"]
    assert [(g["key"], [a.subject for a in g["items"]]) for g in todo] == [
        ("overdue", ["Old call"]),
        ("today", ["Today's demo"]),
        ("week", ["Friday mail"]),
        ("done", ["Monday visit"]),
    ]


def test_a_filtered_list_is_not_a_to_do_list(world, login):
    response = login(world.ann).get(reverse("activity_list"), {"from": "2025-06-09", "to": "2025-06-15"})
    assert response.context["todo"] is None


def test_quick_complete_from_the_to_do_list(world, login):
    planned = ActivityFactory(owner=world.ann, subject="Demo", done=False, occurred_on=dt.date(2025, 6, 18))
    response = login(world.ann).post(
        reverse("activity_done", args=[planned.pk]),
        headers={"HX-Request": "true", "HX-Target": f"todo-{planned.pk}"},
    )
    body = response.content.decode()
    assert body.strip().startswith(f'<li id="todo-{planned.pk}" class="todo-item is-done">')
    assert "marked done" in body
    planned.refresh_from_db()
    assert planned.done
