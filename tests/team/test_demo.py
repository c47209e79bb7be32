"""The team's demo data: trainings, certifications, three months of pulse answers."""

import datetime as dt
import random
from types import SimpleNamespace

import pytest

from crm.models import User
from team.demo import reset_team_demo, seed_team
from team.models import Certification, PulseAnswer, PulseRound, TrainingSession

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 6, 15)


def _seed(world):
    managers = [world.nina, world.steve]
    reps = [SimpleNamespace(user=u, team=u.team) for u in (world.ann, world.bob, world.sam, world.sue)]
    return seed_team(random.Random(1), TODAY, managers, reps)


def test_demo_has_trainings_certifications_and_three_months_of_pulse(world):
    counts = _seed(world)
    assert (
        counts["training sessions"] > 6 and TrainingSession.objects.filter(confirmed_at__isnull=True).exists()
    )
    assert Certification.objects.expiring(TODAY).exists()
    assert list(PulseRound.objects.order_by("opened_on").values_list("opened_on", flat=True)) == [
        dt.date(2026, 4, 1), dt.date(2026, 5, 1), dt.date(2026, 6, 1)]  # fmt: skip
    # The middle month of the second team has one answer fewer.
    may = PulseAnswer.objects.filter(round__opened_on=dt.date(2026, 5, 1))
    assert may.filter(team=world.south).count() == may.filter(team=world.north).count() - 1
    assert _seed(world) == {}  # twice: nothing duplicated


def test_reset_removes_it(world):
    _seed(world)
    reset_team_demo(User.objects.all())
    assert not TrainingSession.objects.exists() and not Certification.objects.exists()
    assert not PulseAnswer.objects.exists() and not PulseRound.objects.exists()
