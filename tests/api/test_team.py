"""Training sessions and certifications through the API: who sees, records
and confirms what, exactly as on the pages (team/views.py); bad input is a
400, never a 500.

Ann is a salesperson in North (managed by Nina); Bob is her teammate, Steve
manages South, Sam sells there.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from team.models import Certification, TrainingSession
from tests.team.factories import CertificationFactory, TrainingFactory

VIEWERS = ["ann", "bob", "nina", "steve", "sam", "admin"]
# Whose records each person sees (a session by its attendee).
SEES = {
    "ann": {"ann"},
    "bob": {"bob"},
    "nina": {"ann", "bob"},
    "steve": {"sam"},
    "sam": {"sam"},
    "admin": {"ann", "bob", "sam"},
}
PAGES = {"training-sessions": "training_list", "certifications": "certification_list"}


@pytest.fixture
def records(world):
    manager = {"ann": world.nina, "bob": world.nina, "sam": world.steve}
    return {
        "training-sessions": {
            who: TrainingFactory(created_by=manager[who], people=[getattr(world, who)]) for who in manager
        },
        "certifications": {who: CertificationFactory(user=getattr(world, who)) for who in manager},
    }


def ids(client, resource, **params) -> set[int]:
    response = client.get(f"/api/v1/{resource}/", {"page_size": 500, **params})
    assert response.status_code == 200, response.json()
    return {row["id"] for row in response.json()["results"]}


@pytest.mark.parametrize("viewer", VIEWERS)
@pytest.mark.parametrize("resource", sorted(PAGES))
def test_each_record_is_seen_by_those_the_page_shows_it_to(world, api_as, login, records, resource, viewer):
    user = getattr(world, viewer)
    client = api_as(user)
    listed = ids(client, resource)
    page = {r.pk for r in login(user).get(reverse(PAGES[resource])).context["page"]}
    assert listed == page
    for whose, record in records[resource].items():
        detail = client.get(f"/api/v1/{resource}/{record.pk}/")
        if whose in SEES[viewer]:
            assert record.pk in listed and detail.status_code == 200
        else:
            assert record.pk not in listed and detail.status_code == 404
            assert set(detail.json()) == {"detail"}


def training(**data) -> dict:
    return {"title": "Objection handling", "kind": "workshop", "date": "2025-06-12", "hours": "4", **data}


# (viewer, for whom) → the answer: 201 and whether it counts at once, or 400.
CREATES = [
    ("ann", "ann", (201, False)),
    ("ann", "bob", 400),
    ("ann", "sam", 400),
    ("nina", "ann", (201, True)),
    ("nina", "sam", 400),
    ("steve", "ann", 400),
    ("steve", "sam", (201, True)),
    ("admin", "sam", (201, True)),
    ("admin", "ann", (201, True)),
]


@pytest.mark.parametrize(("viewer", "whom", "expected"), CREATES)
def test_recording_a_training_follows_the_page(world, api_as, viewer, whom, expected):
    person = getattr(world, whom)
    response = api_as(getattr(world, viewer)).post(
        "/api/v1/training-sessions/", training(attendees=[person.pk]), format="json"
    )
    if expected == 400:
        assert response.status_code == 400 and "attendees" in response.json()
        assert not TrainingSession.objects.exists()
        return
    assert response.status_code == 201, response.json()
    row = response.json()
    assert row["attendees"] == [person.pk] and row["is_confirmed"] is expected[1]
    assert row["created_by"] == getattr(world, viewer).pk and row["hours"] == "4.00"
    session = TrainingSession.objects.get()
    assert [a.team_id for a in session.attendances.all()] == [person.team_id]


@pytest.mark.parametrize(("viewer", "whom", "expected"), CREATES)
def test_recording_a_certification_follows_the_page(world, api_as, viewer, whom, expected):
    person = getattr(world, whom)
    body = {"user": person.pk, "name": "Solution selling", "obtained_on": "2025-06-01", "expires_on": None}
    response = api_as(getattr(world, viewer)).post("/api/v1/certifications/", body, format="json")
    if expected == 400:
        assert response.status_code == 400 and "user" in response.json()
        assert not Certification.objects.exists()
        return
    assert response.status_code == 201, response.json()
    row = response.json()
    assert (row["user"], row["team"], row["is_confirmed"]) == (person.pk, person.team_id, expected[1])
    assert row["expires_on"] is None


def test_a_salesperson_records_their_own_by_default(world, api_as):
    client = api_as(world.ann)
    made = client.post("/api/v1/training-sessions/", training(), format="json").json()
    assert made["attendees"] == [world.ann.pk] and made["is_confirmed"] is False
    cert = client.post(
        "/api/v1/certifications/", {"name": "X", "obtained_on": "2025-06-01"}, format="json"
    ).json()
    assert cert["user"] == world.ann.pk and cert["is_confirmed"] is False
    # A manager must say for whom.
    response = api_as(world.nina).post("/api/v1/training-sessions/", training(), format="json")
    assert response.status_code == 400 and "attendees" in response.json()


# Confirming Ann's own record: her manager and admins; she may see it but not
# confirm it (403); others do not see it (404).
CONFIRMS = {"ann": 403, "bob": 404, "nina": 200, "steve": 404, "sam": 404, "admin": 200}


@pytest.mark.parametrize("viewer", VIEWERS)
@pytest.mark.parametrize("resource", sorted(PAGES))
def test_confirming_a_salespersons_own_record(world, api_as, resource, viewer):
    if resource == "training-sessions":
        record = TrainingFactory(
            created_by=world.ann, confirmed_by=None, confirmed_at=None, people=[world.ann]
        )
    else:
        record = CertificationFactory(user=world.ann, confirmed_by=None, confirmed_at=None)
    client = api_as(getattr(world, viewer))
    response = client.post(f"/api/v1/{resource}/{record.pk}/confirm/")
    assert response.status_code == CONFIRMS[viewer]
    record.refresh_from_db()
    if CONFIRMS[viewer] == 200:
        assert response.json()["is_confirmed"] is True
        assert record.confirmed_by == getattr(world, viewer)
        again = client.post(f"/api/v1/{resource}/{record.pk}/confirm/")
        assert again.status_code == 400 and "non_field_errors" in again.json()
    else:
        assert record.confirmed_at is None


def test_a_session_with_people_of_two_teams_is_confirmed_by_an_admin_only(world, api_as):
    session = TrainingFactory(
        created_by=world.admin, confirmed_by=None, confirmed_at=None, people=[world.ann, world.sam]
    )
    assert api_as(world.nina).post(f"/api/v1/training-sessions/{session.pk}/confirm/").status_code == 403
    assert api_as(world.admin).post(f"/api/v1/training-sessions/{session.pk}/confirm/").status_code == 200


def test_filters(world, api_as, records):
    client = api_as(world.admin)
    pending = TrainingFactory(
        created_by=world.ann, confirmed_by=None, confirmed_at=None, people=[world.ann, world.bob],
        date=dt.date(2025, 8, 1), kind="coaching",
    )  # fmt: skip
    sessions = records["training-sessions"]
    assert ids(client, "training-sessions", status="pending") == {pending.pk}
    assert ids(client, "training-sessions", kind="coaching") == {pending.pk}
    assert ids(client, "training-sessions", attendee=world.ann.pk) == {sessions["ann"].pk, pending.pk}
    assert ids(client, "training-sessions", team=world.north.pk) == {
        sessions["ann"].pk, sessions["bob"].pk, pending.pk,
    }  # fmt: skip
    assert ids(client, "training-sessions", date_from="2025-07-01") == {pending.pk}
    certs = records["certifications"]
    late = CertificationFactory(user=world.bob, confirmed_at=None, expires_on=None)
    assert ids(client, "certifications", status="pending") == {late.pk}
    assert ids(client, "certifications", status="confirmed") == {c.pk for c in certs.values()}
    assert ids(client, "certifications", team=world.south.pk) == {certs["sam"].pk}
    assert ids(client, "certifications", user=world.bob.pk) == {certs["bob"].pk, late.pk}
    assert ids(client, "certifications", expires_to="2030-01-01") == {c.pk for c in certs.values()}


@pytest.mark.parametrize(
    "body",
    [
        training(hours="0", attendees=[1]),
        training(hours="abc"),
        training(hours="100000"),
        training(date="2025-13-01"),
        training(date="1900-01-01"),
        training(title=""),
        training(kind="nap"),
        training(attendees=[]),
        training(attendees=[0]),
        training(attendees="x"),
        training(attendees=[2**64]),
        {"title": ["x"]},
        [],
    ],
)
def test_bad_trainings_are_400_never_500(world, api_as, body):
    response = api_as(world.nina).post("/api/v1/training-sessions/", body, format="json")
    assert response.status_code == 400, response.content
    assert not TrainingSession.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"name": "X", "obtained_on": "2025-06-01", "expires_on": "2025-05-01"},
        {"name": "X", "obtained_on": "2025-06-01", "user": 0},
        {"name": "X", "obtained_on": "someday"},
        {"name": "", "obtained_on": "2025-06-01"},
        {"name": "X" * 201, "obtained_on": "2025-06-01"},
        {"name": "X", "obtained_on": "3025-06-01"},
        {"name": "X"},
        "nonsense",
    ],
)
def test_bad_certifications_are_400_never_500(world, api_as, body):
    response = api_as(world.ann).post("/api/v1/certifications/", body, format="json")
    assert response.status_code == 400, response.content
    assert not Certification.objects.exists()


@pytest.mark.parametrize(
    ("resource", "params"),
    [
        ("training-sessions", {"status": "maybe"}),
        ("training-sessions", {"attendee": "0"}),
        ("training-sessions", {"date_from": "soon"}),
        ("certifications", {"team": "x"}),
        ("certifications", {"expires_to": "2025-02-30"}),
    ],
)
def test_bad_filters_are_400(world, api_as, resource, params):
    response = api_as(world.admin).get(f"/api/v1/{resource}/", params)
    assert response.status_code == 400 and set(response.json()) == set(params)


def test_no_changes_but_through_the_pages(world, api_as, records):
    client = api_as(world.admin)
    pk = records["training-sessions"]["ann"].pk
    assert client.patch(f"/api/v1/training-sessions/{pk}/", {"title": "X"}, format="json").status_code == 405
    assert client.delete(f"/api/v1/certifications/{records['certifications']['ann'].pk}/").status_code == 405
    assert client.get(f"/api/v1/training-sessions/{pk}/confirm/").status_code == 405


@pytest.mark.parametrize("resource", sorted(PAGES))
def test_lists_run_a_bounded_number_of_queries(world, api_as, resource, django_assert_max_num_queries):
    client = api_as(world.nina)
    counts = []
    for _batch in range(2):
        for _ in range(4):
            TrainingFactory(created_by=world.nina, people=[world.ann, world.bob])
            CertificationFactory(user=world.ann)
        with django_assert_max_num_queries(7) as captured:
            assert client.get(f"/api/v1/{resource}/").status_code == 200
        counts.append(len(captured.captured_queries))
    assert counts[1] <= counts[0]
