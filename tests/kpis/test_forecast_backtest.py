"""backtest_forecast: the forecast replayed from the history as it stood at
the start of each period, scored against what happened."""

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from crm.models import DealStageChange, Stage
from kpis import forecast as fc
from kpis.definitions import COMPANY, MONTH
from kpis.models import ForecastSnapshot
from tests.kpis.factories import open_deal
from tests.kpis.forecast_fixtures import at, history

pytestmark = pytest.mark.django_db

JULY = dt.date(2025, 7, 1)


def replayable(owner, amount, opened, path, won_on=None):
    """A deal with the stage history `path` [(stage, day)], won on `won_on`."""
    deal = open_deal(owner, amount, stage=path[-1][0], opened_on=opened)
    deal.stage_changes.all().delete()
    previous = ""
    for stage, day in path:
        DealStageChange.objects.create(deal=deal, from_stage=previous, to_stage=stage, changed_at=at(day))
        previous = stage
    if won_on:
        deal.mark_won(Decimal(amount), closed_on=won_on)
        DealStageChange.objects.filter(deal=deal, to_stage=Stage.WON).update(changed_at=at(won_on))
    return deal


@pytest.fixture
def replay():
    w = history()
    # Open on 1 July in Proposal, won on 10 July.
    a = replayable(w["a"], "1000", dt.date(2025, 6, 20),
                   [(Stage.PROSPECTING, dt.date(2025, 6, 20)), (Stage.PROPOSAL, dt.date(2025, 6, 25))],
                   won_on=dt.date(2025, 7, 10))  # fmt: skip
    # Open on 1 July in Prospecting (moved to Proposal on 5 July), still open.
    path = [(Stage.PROSPECTING, dt.date(2025, 6, 28)), (Stage.PROPOSAL, dt.date(2025, 7, 5))]
    b = replayable(w["c"], "400", dt.date(2025, 6, 28), path)
    # Opened after 1 July: not in the forecast made that morning.
    replayable(
        w["a"],
        "900",
        dt.date(2025, 7, 2),
        [(Stage.PROPOSAL, dt.date(2025, 7, 2))],
        won_on=dt.date(2025, 7, 20),
    )
    return {**w, "won": a, "open": b}


def test_replay_sees_the_deals_open_that_morning_in_their_stage_then(replay):
    rows = fc.backtest(JULY, JULY, today=dt.date(2025, 9, 1))
    # July only: Q3 is not over on 1 September.
    assert {(r.forecast.granularity, r.forecast.scope_type) for r in rows} == {
        (MONTH, COMPANY),
        (MONTH, "team"),
    }
    [company] = [r for r in rows if r.forecast.scope_type == COMPANY]
    deals = {d["id"]: d for d in company.forecast.details["deals"]}
    assert set(deals) == {replay["won"].pk, replay["open"].pk}
    assert deals[replay["won"].pk]["stage"] == Stage.PROPOSAL
    assert deals[replay["won"].pk]["probability"] == 0.4167  # company's 5/12, learnt before July
    assert deals[replay["open"].pk]["stage"] == Stage.PROSPECTING
    assert company.forecast.won_so_far == 0
    assert company.actual == Decimal("1900")  # both July wins, the late one included


def test_command_prints_each_period_the_coverage_and_the_error(replay):
    out, err = StringIO(), StringIO()
    call_command(
        "backtest_forecast", "--from", "2025-07", "--to", "2025-07", "--store", stdout=out, stderr=err
    )
    assert "[1/1] 2025-07: 2 open deals replayed" in err.getvalue()
    text = out.getvalue()
    assert "2025-07    company" in text
    assert "month    company    1 periods: P10–P90 held the actual" in text
    assert "P50 off by" in text
    stored = ForecastSnapshot.objects.filter(
        kind="start", backfilled=True, scope_type=COMPANY, granularity=MONTH
    ).get()
    assert (stored.period_start, stored.actual) == (JULY, Decimal("1900"))
    # Stored again: nothing duplicated, nothing overwritten.
    call_command(
        "backtest_forecast",
        "--from",
        "2025-07",
        "--to",
        "2025-07",
        "--store",
        stdout=StringIO(),
        stderr=StringIO(),
    )
    assert ForecastSnapshot.objects.filter(kind="start", scope_type=COMPANY, granularity=MONTH).count() == 1


def test_command_refuses_a_backwards_range():
    with pytest.raises(CommandError):
        call_command("backtest_forecast", "--from", "2025-07", "--to", "2025-06", stdout=StringIO())
