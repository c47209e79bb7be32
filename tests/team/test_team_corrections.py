"""A correction to a training, attendance, certification or pulse answer,
by any write path, reaches every period it touches (kpi-spec)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.models import User
from kpis.compute import recompute
from kpis.models import DirtyMonth
from team.models import Certification, PulseAnswer, PulseRound, TrainingAttendance, TrainingSession
from tests.kpis.test_corrections import TODAY, assert_nightly_equals_from_scratch
from tests.team.factories import CertificationFactory, TrainingFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def team_history(world):
    User.objects.update(date_joined=timezone.make_aware(dt.datetime(2025, 1, 1)))
    # Data since 2025: the nightly run's previous year has figures, as from scratch.
    TrainingFactory(date=dt.date(2025, 3, 10), created_by=world.nina, people=[world.sam])
    session = TrainingFactory(date=dt.date(2026, 6, 10), created_by=world.nina, people=[world.ann, world.bob])
    cert = CertificationFactory(
        user=world.ann, obtained_on=dt.date(2026, 3, 1), expires_on=dt.date(2026, 9, 30)
    )
    pulse = PulseRound.objects.create(opened_on=dt.date(2026, 6, 1))
    for score in (10, 9, 7, 5, 2, 10):
        PulseAnswer.objects.create(
            round=pulse, team=world.north, submitted_on=dt.date(2026, 6, 3), score=score
        )
    recompute(today=TODAY)
    DirtyMonth.objects.all().delete()
    return session, cert


def test_a_training_re_dated_by_a_queryset_update(world, team_history):
    session, _cert = team_history
    TrainingSession.objects.filter(pk=session.pk).update(date=dt.date(2026, 2, 3), hours=Decimal("7"))
    assert_nightly_equals_from_scratch()


def test_an_attendee_removed_and_a_training_deleted(world, team_history):
    session, _cert = team_history
    TrainingAttendance.objects.filter(session=session, user=world.bob).delete()
    assert_nightly_equals_from_scratch()
    TrainingSession.objects.filter(pk=session.pk).delete()
    assert_nightly_equals_from_scratch()


def test_a_certification_expiring_earlier_and_one_deleted(world, team_history):
    _session, cert = team_history
    Certification.objects.filter(pk=cert.pk).update(expires_on=dt.date(2026, 4, 15))
    assert_nightly_equals_from_scratch()
    Certification.objects.filter(pk=cert.pk).delete()
    assert_nightly_equals_from_scratch()


def test_pulse_answers_deleted(world, team_history):
    PulseAnswer.objects.filter(score=10).delete()
    assert_nightly_equals_from_scratch()


def test_withheld_pulse_figures_are_the_same_after_a_nightly_run_as_from_scratch(world, team_history):
    pulse = PulseRound.objects.create(opened_on=dt.date(2026, 4, 1))
    for day, team, scores in [
        (dt.date(2026, 4, 3), world.north, [10, 9, 8, 6, 3, 10]),
        (dt.date(2026, 5, 5), world.north, [2, 2, 2]),
        (dt.date(2026, 4, 7), world.south, [9] * 5),
        (dt.date(2026, 5, 7), world.south, [9] * 5),
        (dt.date(2026, 8, 7), world.south, [7] * 4),
    ]:
        for score in scores:
            PulseAnswer.objects.create(round=pulse, team=team, submitted_on=day, score=score)
    assert_nightly_equals_from_scratch()
    PulseAnswer.objects.filter(submitted_on=dt.date(2026, 5, 5)).update(submitted_on=dt.date(2026, 8, 8))
    assert_nightly_equals_from_scratch()
