"""The coaching page: who opens it, who reads the notes, and its figures."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from kpis import definitions
from kpis.models import KpiSnapshot
from team import coaching
from team.coaching import training_window
from team.models import CoachingAction, CoachingNote
from tests.factories import ManagerFactory
from tests.team.factories import TrainingFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _june():
    with time_machine.travel(dt.datetime(2025, 6, 20, 12, tzinfo=dt.UTC), tick=False):
        yield


def _page(client, rep):
    return client.get(reverse("coaching", args=[rep.pk]))


def _snap(kpi, st, sid, month, num, den, details=None, low=False):
    value = None if not den else Decimal(num) * 100 / Decimal(den)
    return KpiSnapshot.objects.create(
        kpi=kpi, scope_type=st, scope_id=sid, granularity="month", period_start=month, value=value,
        numerator=num, denominator=den, details=details or {}, low_sample=low, computed_at=timezone.now(),
    )  # fmt: skip


class TestAccess:
    def test_manager_opens_a_team_members_page_not_another_teams(self, world, login):
        client = login(world.nina)
        assert _page(client, world.ann).status_code == 200
        assert _page(client, world.sam).status_code == 404

    def test_rep_opens_only_their_own(self, world, login):
        client = login(world.ann)
        assert _page(client, world.ann).status_code == 200
        assert _page(client, world.bob).status_code == 404

    def test_notes_are_for_the_rep_and_their_author_only(self, world, login):
        CoachingNote.objects.create(rep=world.ann, author=world.nina, text="Work on discovery calls")
        CoachingAction.objects.create(
            rep=world.ann, author=world.nina, text="Shadow Bob", due_on=dt.date(2025, 7, 1)
        )
        assert "Work on discovery calls" in _page(login(world.nina), world.ann).content.decode()
        assert "Shadow Bob" in _page(login(world.ann), world.ann).content.decode()
        admin_page = _page(login(world.admin), world.ann)
        assert admin_page.status_code == 200
        assert "Work on discovery calls" not in admin_page.content.decode()
        # Another manager of the same team did not write it.
        other = ManagerFactory(username="otto", team=world.north)
        assert "Work on discovery calls" not in _page(login(other), world.ann).content.decode()

    def test_only_the_reps_manager_writes(self, world, login):
        url = reverse("coaching", args=[world.ann.pk])
        data = {"action-text": "Call three lost customers", "action-due_on": "2025-07-01"}
        assert login(world.ann).post(url, data).status_code == 403
        assert login(world.admin).post(url, data).status_code == 403
        assert login(world.nina).post(url, data).status_code == 302
        action = CoachingAction.objects.get()
        assert (action.rep, action.author) == (world.ann, world.nina)
        assert login(world.nina).post(url, {"note-text": "Good month"}).status_code == 302
        assert CoachingNote.objects.get().text == "Good month"

    def test_a_bad_action_shows_field_errors(self, world, login):
        url = reverse("coaching", args=[world.ann.pk])
        response = login(world.nina).post(url, {"action-text": "", "action-due_on": "nope"})
        assert response.status_code == 400
        assert set(response.context["action_form"].errors) == {"text", "due_on"}

    def test_the_rep_or_the_manager_marks_an_action_done_nobody_else(self, world, login):
        action = CoachingAction.objects.create(
            rep=world.ann, author=world.nina, text="X", due_on=dt.date(2025, 7, 1)
        )
        url = reverse("coaching_action_done", args=[action.pk])
        assert login(world.bob).post(url).status_code == 404
        assert login(world.steve).post(url).status_code == 404
        assert login(world.ann).get(url).status_code == 405
        assert login(world.ann).post(url).status_code == 302
        action.refresh_from_db()
        assert action.is_done


class TestFigures:
    def test_before_and_after_use_the_same_whole_months(self):
        monthly = {dt.date(2025, m, 1): (Decimal(w), Decimal(c)) for m, w, c in
                   [(1, 1, 4), (2, 1, 4), (3, 0, 2), (4, 3, 4), (5, 2, 2)]}  # fmt: skip
        # Trained in March; today in June: April and May are over, so 2 months a side.
        window = training_window(monthly, dt.date(2025, 3, 10), dt.date(2025, 6, 20))
        assert (window.months, window.before_n, window.after_n) == (2, 8, 6)
        assert window.before == 25 and window.after.quantize(Decimal("0.1")) == Decimal("83.3")
        assert training_window(monthly, dt.date(2025, 5, 30), dt.date(2025, 6, 20)) is None

    def test_the_page_shows_each_training_with_its_sample_sizes(self, world, login):
        TrainingFactory(
            title="Closing skills", date=dt.date(2025, 3, 10), created_by=world.nina, people=[world.ann]
        )
        for month, won, closed in [(1, 1, 4), (2, 1, 4), (4, 3, 4), (5, 2, 2)]:
            _snap("win_rate", "rep", world.ann.pk, dt.date(2025, month, 1), won, closed)
        page = _page(login(world.nina), world.ann).content.decode()
        assert "Closing skills" in page and "(8 deals)" in page and "(6 deals)" in page
        assert "not proof" in page

    def test_stage_section_only_when_the_process_kpis_exist(self, world, login, monkeypatch):
        # Without the process KPIs (a copy: the registry's order is left alone).
        without = {k: d for k, d in definitions.KPIS.items() if k not in coaching.PROCESS_KPIS}
        with monkeypatch.context() as patch:
            patch.setattr(coaching, "KPIS", without)
            assert "Pipeline stages" not in _page(login(world.nina), world.ann).content.decode()
        may = dt.date(2025, 5, 1)
        mine = {"by_stage": {"qualification": {"rate": "33.3", "median": "4.0", "count": 3}}}
        team = {"by_stage": {"qualification": {"rate": "50.0", "median": "3.0", "count": 20}}}
        _snap("stage_conversion_rate", "rep", world.ann.pk, may, 1, 3, details=mine)
        _snap("stage_conversion_rate", "team", world.north.pk, may, 10, 20, details=team)
        page = _page(login(world.nina), world.ann).content.decode()
        assert "Pipeline stages" in page and "Qualification" in page and "low sample" in page
        assert "33.3" in page and "50.0" in page

    @pytest.mark.parametrize("n", [1, 8])
    def test_query_count_is_constant(self, world, login, n):
        for i in range(n):
            TrainingFactory(date=dt.date(2025, 1, 1 + i), created_by=world.nina, people=[world.ann])
            CoachingNote.objects.create(rep=world.ann, author=world.nina, text=f"n{i}")
            CoachingAction.objects.create(
                rep=world.ann, author=world.nina, text=f"a{i}", due_on=dt.date(2025, 7, 1)
            )
        client = login(world.nina)
        with CaptureQueriesContext(connection) as queries:
            assert _page(client, world.ann).status_code == 200
        # session (none when sessions live in Redis), user, the rep, notes,
        # actions, trainings, snapshots, the header's team
        assert len(queries) <= 8


def test_a_salesperson_finds_their_coaching_page_from_the_training_tabs(world, login):
    page = login(world.ann).get(reverse("training_list")).content.decode()
    assert reverse("coaching", args=[world.ann.pk]) in page
