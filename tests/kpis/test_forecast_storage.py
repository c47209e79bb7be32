"""Forecast snapshots: written nightly, the start and mid-period forecasts
kept, closed periods' actuals refreshed by corrections, forecast_accuracy."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from crm.models import Stage
from kpis import forecast as fc
from kpis.definitions import COMPANY, MONTH, QUARTER, REP
from kpis.models import ForecastSnapshot, RecomputeRun
from kpis.tasks import run_recorded
from tests.kpis.factories import open_deal, won
from tests.kpis.forecast_fixtures import at, history

pytestmark = pytest.mark.django_db

JUNE = dt.date(2025, 6, 1)


def rows(kind, granularity=MONTH, start=JUNE, scope=(COMPANY, 0)):
    return ForecastSnapshot.objects.filter(
        scope_type=scope[0], scope_id=scope[1], granularity=granularity, period_start=start, kind=kind
    )


def store_on(day, **kwargs):
    """The nightly run of `day`, on that day."""
    with time_machine.travel(dt.datetime.combine(day, dt.time(2, 0), tzinfo=dt.UTC), tick=False):
        return fc.store(day, **kwargs)


def test_start_and_mid_forecasts_are_kept_latest_is_rewritten():
    w = history()
    deal = open_deal(w["a"], "1000", opened_on=dt.date(2025, 5, 25), expected_close_on=dt.date(2025, 6, 20))
    store_on(JUNE)
    start = rows("start").get()
    assert (start.made_on, start.open_deals, start.expected) == (JUNE, 1, Decimal("416.67"))
    assert not rows("mid").exists()
    # Next month's forecast exists only as "latest" until July starts.
    assert rows("latest", start=dt.date(2025, 7, 1)).exists()
    assert not rows("start", start=dt.date(2025, 7, 1)).exists()

    open_deal(w["b"], "5000", opened_on=dt.date(2025, 6, 5), expected_close_on=dt.date(2025, 6, 25))
    store_on(dt.date(2025, 6, 10))
    assert rows("start").get().computed_at == start.computed_at  # kept
    assert rows("latest").get().open_deals == 2
    assert not rows("mid").exists()

    store_on(dt.date(2025, 6, 16))  # June's middle: 16 June
    assert rows("mid").get().made_on == dt.date(2025, 6, 16)
    deal.mark_won(Decimal("1000"), closed_on=dt.date(2025, 6, 17))
    store_on(dt.date(2025, 6, 20))
    assert rows("mid").get().made_on == dt.date(2025, 6, 16)
    assert rows("latest").get().won_so_far == Decimal("1000")
    # Quarters: Q2's start forecast was made on 1 June (the first run in it).
    assert rows("start", QUARTER, dt.date(2025, 4, 1)).get().made_on == JUNE
    assert rows("mid", QUARTER, dt.date(2025, 4, 1)).get().made_on == JUNE  # past 16 May


def test_closed_period_gets_its_actual_and_corrections_reach_it():
    w = history()
    late = won(w["a"], "700", dt.date(2025, 5, 1), dt.date(2025, 6, 5))
    store_on(JUNE)
    assert rows("start").get().actual is None
    store_on(dt.date(2025, 7, 1))
    assert rows("start").get().actual == Decimal("700")
    assert rows("start", scope=(REP, w["a"].pk)).get().actual == Decimal("700")
    # A correction: the June deal is re-dated into May.
    late.closed_on = dt.date(2025, 5, 30)
    late.save()
    store_on(dt.date(2025, 7, 2))  # not marked dirty: unchanged
    assert rows("start").get().actual == Decimal("700")
    store_on(dt.date(2025, 7, 3), dirty_months=[dt.date(2025, 5, 1), JUNE])
    assert rows("start").get().actual == Decimal("0")


def test_accuracy_is_coverage_and_mean_absolute_percentage_error():
    def row(p10, p50, p90, actual):
        return ForecastSnapshot(p10=Decimal(p10), p50=Decimal(p50), p90=Decimal(p90),
                                actual=None if actual is None else Decimal(actual))  # fmt: skip

    result = fc.accuracy([
        row(80, 100, 120, 110),  # held, error 10/110
        row(80, 100, 120, 200),  # missed, error 100/200
        row(0, 0, 0, 0),  # held; no revenue: no percentage error
        row(80, 100, 120, None),  # not closed yet: left out
    ])  # fmt: skip
    assert (result.periods, result.covered) == (3, 2)
    assert result.coverage == Decimal("66.7")
    assert result.mape == Decimal("29.5")  # (9.09 + 50) / 2
    empty = fc.accuracy([])
    assert (empty.coverage, empty.mape) == (None, None)


def test_a_run_as_of_a_past_day_replays_that_day_and_marks_it(world_day=dt.date(2025, 6, 10)):
    w = history()
    # Today it stands in Negotiation; on 10 June it was in Proposal.
    deal = open_deal(w["a"], "1000", stage=Stage.NEGOTIATION, opened_on=dt.date(2025, 6, 1))
    deal.stage_changes.update(to_stage=Stage.PROPOSAL, changed_at=at(dt.date(2025, 6, 1)))
    deal.stage_changes.create(
        from_stage=Stage.PROPOSAL, to_stage=Stage.NEGOTIATION, changed_at=at(dt.date(2025, 6, 20))
    )
    fc.store(world_day)  # real today is later
    start = rows("start", scope=(REP, w["a"].pk)).get()
    assert start.backfilled
    assert [d["stage"] for d in start.details["deals"]] == [Stage.PROPOSAL]
    assert start.details["deals"][0]["probability"] == 0.5  # A's own Proposal rate


def test_the_nightly_run_writes_forecasts(world_day=dt.date(2025, 6, 10)):
    w = history()
    open_deal(w["a"], "1000", stage=Stage.PROPOSAL, opened_on=dt.date(2025, 6, 1))
    run = run_recorded(RecomputeRun.Kind.NIGHTLY, today=world_day)
    assert run.status == RecomputeRun.Status.DONE
    latest = ForecastSnapshot.objects.filter(kind="latest")
    # Company, 2 teams, 3 reps × 3 months and 3 quarters.
    assert latest.count() == 6 * 6
    assert rows("latest", scope=(REP, w["a"].pk)).get().open_deals == 1
    # Twice: an upsert, never a duplicate.
    run_recorded(RecomputeRun.Kind.NIGHTLY, today=world_day)
    assert latest.count() == 36


def test_a_correction_reaches_a_closed_periods_actual_through_the_nightly_run():
    w = history()
    deal = won(w["a"], "700", dt.date(2025, 5, 1), dt.date(2025, 6, 5))
    store_on(JUNE)
    with time_machine.travel(dt.datetime(2025, 7, 2, 2, tzinfo=dt.UTC), tick=False):
        run_recorded(RecomputeRun.Kind.NIGHTLY, today=dt.date(2025, 7, 2))
        assert rows("start").get().actual == Decimal("700")
        # Corrected through the ORM: the triggers mark May and June dirty.
        deal.amount = Decimal("750")
        deal.save()
        run_recorded(RecomputeRun.Kind.NIGHTLY, today=dt.date(2025, 7, 2))
    assert rows("start").get().actual == Decimal("750")
    assert rows("start").get().made_on == JUNE  # the forecast itself stays


def test_a_run_as_of_an_earlier_day_keeps_the_later_latest_forecast():
    w = history()
    open_deal(w["a"], "1000", opened_on=dt.date(2025, 6, 1), expected_close_on=dt.date(2025, 6, 25))
    store_on(dt.date(2025, 6, 20))
    store_on(dt.date(2025, 6, 12))  # e.g. recompute_kpis --today 2025-06-12 afterwards
    latest = rows("latest").get()
    assert (latest.made_on, latest.open_deals) == (dt.date(2025, 6, 20), 1)
