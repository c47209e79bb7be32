"""Pages compare a period under way like for like, and a leaderboard where
nobody has a figure yet ranks nobody (kpi-spec: like for like)."""

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from kpis.compute import recompute
from kpis.models import KpiSnapshot
from tests.kpis.factories import won

pytestmark = pytest.mark.django_db
DEC_5 = dt.datetime(2026, 12, 5, 10, tzinfo=dt.UTC)
DEC_1 = dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC)


@time_machine.travel(DEC_5, tick=False)
def test_a_card_compares_with_the_same_days_of_the_previous_month(world, login):
    won(world.ann, "100", dt.date(2026, 11, 1), dt.date(2026, 11, 3))
    won(world.ann, "5000", dt.date(2026, 11, 1), dt.date(2026, 11, 25))
    won(world.ann, "150", dt.date(2026, 12, 1), dt.date(2026, 12, 2))
    recompute(today=dt.date(2026, 12, 5))
    response = login(world.ann).get(reverse("scorecard"))
    card = next(c for c in response.context["cards"] if c.key == "revenue")
    assert card.compare_label == "1–5 Nov"
    assert card.change.text == "+50.0 %"  # 150 against 100, not against 5,100
    assert "vs 1–5 Nov" in response.content.decode()
    # November, now closed, is compared whole with October.
    response = login(world.ann).get(reverse("scorecard"), {"g": "month", "p": "2026-11-01"})
    card = next(c for c in response.context["cards"] if c.key == "revenue")
    assert card.compare_label == "October 2026"


@time_machine.travel(DEC_1, tick=False)
def test_on_the_first_day_nobody_is_ranked_and_nobody_moved(world, login):
    won(world.ann, "100", dt.date(2026, 11, 1), dt.date(2026, 11, 20))
    won(world.bob, "300", dt.date(2026, 11, 1), dt.date(2026, 11, 21))
    recompute(today=dt.date(2026, 12, 1))
    response = login(world.nina).get(reverse("leaderboard"))
    assert not response.context["ranked"]
    assert all(r.rank is None and r.movement is None for r in response.context["rows"])
    body = response.content.decode()
    assert "nobody is ranked" in body and "▲" not in body


@time_machine.travel(DEC_5, tick=False)
def test_ranks_move_against_the_same_days_of_the_previous_month(world, login):
    won(world.ann, "100", dt.date(2026, 11, 1), dt.date(2026, 11, 2))  # led on 1–5 Nov
    won(world.bob, "900", dt.date(2026, 11, 1), dt.date(2026, 11, 28))  # won November later on
    won(world.bob, "50", dt.date(2026, 12, 1), dt.date(2026, 12, 3))
    won(world.ann, "20", dt.date(2026, 12, 1), dt.date(2026, 12, 4))
    recompute(today=dt.date(2026, 12, 5))
    rows = {r.label: r for r in login(world.nina).get(reverse("leaderboard")).context["rows"]}
    bob, ann = rows[str(world.bob)], rows[str(world.ann)]
    assert (bob.rank, bob.previous_rank, bob.movement) == (1, 2, 1)
    assert (ann.rank, ann.previous_rank, ann.movement) == (2, 1, -1)
    assert bob.extra["compare_label"] == "1–5 Nov"


def test_the_kpi_status_page_lists_corrections_waiting(world, login):
    deal = won(world.ann, "100", dt.date(2026, 3, 1), dt.date(2026, 3, 2))
    recompute(today=dt.date(2026, 12, 5))
    assert (
        "None: every correction is in the figures."
        in login(world.nina).get(reverse("kpi_status")).content.decode()
    )
    deal.amount = 7
    deal.save()
    body = login(world.nina).get(reverse("kpi_status")).content.decode()
    assert "March 2026" in body
    assert KpiSnapshot.objects.exists()
