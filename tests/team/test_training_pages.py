"""Training sessions and certifications: who sees, records and confirms what."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from team.models import Certification, TrainingSession
from tests.team.factories import CertificationFactory, TrainingFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _june():
    with time_machine.travel(dt.datetime(2025, 6, 20, 12, tzinfo=dt.UTC), tick=False):
        yield


def _training(**data):
    return {"title": "Objection handling", "kind": "workshop", "date": "2025-06-12", "hours": "4",
            "provider": "Acme", "notes": "", **data}  # fmt: skip


def test_rep_sees_only_trainings_they_attended(world, login):
    mine = TrainingFactory(created_by=world.nina, people=[world.ann, world.bob])
    other = TrainingFactory(created_by=world.nina, people=[world.bob])
    south = TrainingFactory(created_by=world.steve, people=[world.sam])
    page = login(world.ann).get(reverse("training_list"))
    assert list(page.context["page"]) == [mine]
    assert other.title not in page.content.decode() and south.title not in page.content.decode()


def test_manager_sees_the_team_and_admin_everyone(world, login):
    north = TrainingFactory(created_by=world.nina, people=[world.bob])
    south = TrainingFactory(created_by=world.steve, people=[world.sam])
    assert set(login(world.nina).get(reverse("training_list")).context["page"]) == {north}
    assert set(login(world.admin).get(reverse("training_list")).context["page"]) == {north, south}


def test_rep_records_own_training_unconfirmed(world, login):
    client = login(world.ann)
    response = client.post(reverse("training_create"), _training(attendees=[world.ann.pk]))
    assert response.status_code == 302
    session = TrainingSession.objects.get()
    assert not session.is_confirmed
    assert [a.team_id for a in session.attendances.all()] == [world.north.pk]


def test_rep_cannot_record_a_training_for_someone_else(world, login):
    response = login(world.ann).post(reverse("training_create"), _training(attendees=[world.bob.pk]))
    assert response.status_code == 400
    assert "attendees" in response.context["form"].errors
    assert not TrainingSession.objects.exists()


def test_form_shows_field_errors(world, login):
    response = login(world.nina).post(
        reverse("training_create"), _training(hours="0", title="", attendees=[])
    )
    assert response.status_code == 400
    assert set(response.context["form"].errors) >= {"hours", "title", "attendees"}


def test_manager_records_for_the_team_confirmed_but_not_for_another_team(world, login):
    client = login(world.nina)
    assert (
        client.post(reverse("training_create"), _training(attendees=[world.ann.pk, world.bob.pk])).status_code
        == 302
    )
    assert TrainingSession.objects.get().is_confirmed
    response = client.post(reverse("training_create"), _training(attendees=[world.sam.pk]))
    assert response.status_code == 400


def test_manager_confirms_a_reps_training_and_rep_cannot(world, login):
    session = TrainingFactory(created_by=world.ann, confirmed_by=None, confirmed_at=None, people=[world.ann])
    url = reverse("training_confirm", args=[session.pk])
    assert login(world.ann).post(url).status_code == 403
    assert login(world.steve).post(url).status_code == 404  # another team's: no leak
    assert login(world.nina).post(url).status_code == 302
    session.refresh_from_db()
    assert session.confirmed_by == world.nina


def test_confirm_is_post_only(world, login):
    session = TrainingFactory(created_by=world.ann, confirmed_by=None, confirmed_at=None, people=[world.ann])
    assert login(world.nina).get(reverse("training_confirm", args=[session.pk])).status_code == 405


def test_rep_cannot_edit_a_confirmed_training_nor_open_anothers(world, login):
    session = TrainingFactory(created_by=world.nina, people=[world.ann])
    client = login(world.ann)
    assert client.get(reverse("training_edit", args=[session.pk])).status_code == 403
    assert login(world.sam).get(reverse("training_edit", args=[session.pk])).status_code == 404


def test_training_csv_export_is_scoped(world, login):
    TrainingFactory(title="North course", created_by=world.nina, people=[world.ann])
    TrainingFactory(title="South course", created_by=world.steve, people=[world.sam])
    response = login(world.nina).get(reverse("training_list"), {"format": "csv"})
    body = b"".join(response.streaming_content).decode()
    assert "North course" in body and "South course" not in body
    assert body.splitlines()[0].lstrip("\ufeff").startswith("date,title,kind,hours")


def test_rep_records_own_certification_and_manager_confirms(world, login):
    response = login(world.ann).post(
        reverse("certification_create"),
        {
            "user": world.ann.pk,
            "name": "Solution selling",
            "obtained_on": "2025-06-01",
            "expires_on": "2026-06-01",
        },
    )
    assert response.status_code == 302
    cert = Certification.objects.get()
    assert not cert.is_confirmed and cert.team == world.north
    assert login(world.steve).post(reverse("certification_confirm", args=[cert.pk])).status_code == 404
    assert login(world.nina).post(reverse("certification_confirm", args=[cert.pk])).status_code == 302
    cert.refresh_from_db()
    assert cert.is_confirmed


def test_certification_cannot_expire_before_obtained(world, login):
    response = login(world.nina).post(
        reverse("certification_create"),
        {"user": world.ann.pk, "name": "X", "obtained_on": "2025-06-01", "expires_on": "2025-05-01"},
    )
    assert response.status_code == 400
    assert "expires_on" in response.context["form"].errors


def test_rep_cannot_record_a_certification_for_a_colleague(world, login):
    response = login(world.ann).post(
        reverse("certification_create"), {"user": world.bob.pk, "name": "X", "obtained_on": "2025-06-01"}
    )
    assert response.status_code == 400 and "user" in response.context["form"].errors


def test_certification_lists_and_csv_by_role(world, login):
    north = CertificationFactory(user=world.ann, name="North cert")
    south = CertificationFactory(user=world.sam, name="South cert")
    assert list(login(world.bob).get(reverse("certification_list")).context["page"]) == []
    assert list(login(world.nina).get(reverse("certification_list")).context["page"]) == [north]
    assert set(login(world.admin).get(reverse("certification_list")).context["page"]) == {north, south}
    body = b"".join(login(world.nina).get(reverse("certification_list"), {"format": "csv"}).streaming_content)
    assert b"North cert" in body and b"South cert" not in body


def test_anonymous_is_sent_to_login(client):
    assert client.get(reverse("training_list")).status_code == 302


def _count(client, name) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse(name)).status_code == 200
    return len(queries)


@pytest.mark.parametrize("role", ["admin", "nina", "ann"])
@pytest.mark.parametrize("name", ["training_list", "certification_list"])
def test_lists_run_as_many_queries_for_30_rows_as_for_1(world, client, role, name):
    client.force_login(getattr(world, role))

    def rows(n):
        for _ in range(n):
            TrainingFactory(created_by=world.nina, people=[world.ann, world.bob])
            CertificationFactory(user=world.ann)

    rows(1)
    few = _count(client, name)
    rows(29)
    assert _count(client, name) == few
    # session, user, count, page (+ attendees prefetch)
    assert few <= 6


def test_team_page_lists_certifications_expiring_within_60_days(world, login):
    CertificationFactory(user=world.ann, name="Soon", expires_on=dt.date(2025, 8, 1))
    CertificationFactory(user=world.bob, name="Later", expires_on=dt.date(2025, 9, 1))
    CertificationFactory(user=world.sam, name="South soon", expires_on=dt.date(2025, 7, 1))
    CertificationFactory(user=world.ann, name="Gone", expires_on=dt.date(2025, 6, 1))
    CertificationFactory(
        user=world.bob, name="Unconfirmed", expires_on=dt.date(2025, 7, 1), confirmed_at=None
    )
    page = login(world.nina).get(reverse("team_page")).content.decode()
    assert "Soon" in page
    for absent in ("Later", "South soon", "Gone", "Unconfirmed"):
        assert absent not in page
