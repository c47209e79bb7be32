"""The forecast model (kpi-spec: Forecast): rates learnt from the stage
history with the small-sample fallback, the overdue rule, the seeded
simulation's percentiles, and the chance of reaching the target."""

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest

from crm.models import Stage
from kpis import forecast as fc
from kpis.definitions import COMPANY, MONTH, QUARTER, REP, TEAM
from tests.factories import TargetFactory
from tests.kpis.factories import open_deal, won
from tests.kpis.forecast_fixtures import AS_OF, closed_deal, history

pytestmark = pytest.mark.django_db

PROPOSAL = fc.OPEN_STAGES.index(Stage.PROPOSAL)


def by_deal(forecasts, scope_type, scope_id, granularity, start):
    [f] = [
        f
        for f in forecasts
        if (f.scope_type, f.scope_id, f.granularity, f.period_start)
        == (scope_type, scope_id, granularity, start)
    ]
    return f, {d["id"]: d for d in f.details["deals"]}


# ---------------------------------------------------------------- learning


def test_age_buckets_are_documented_edges():
    assert [fc.age_bucket(d) for d in (0, 30, 31, 60, 61, 90, 91, 180, 181, 999)] == [
        0,
        0,
        1,
        1,
        2,
        2,
        3,
        3,
        4,
        4,
    ]
    assert fc.age_bucket(-3) == 0
    assert [fc.bucket_label(i) for i in range(5)] == ["0–30", "31–60", "61–90", "91–180", "181+"]


def test_rates_are_counted_per_rep_team_and_company():
    w = history()
    rates = fc.learn(AS_OF)
    assert rates.cell(REP, w["a"].pk, PROPOSAL, 0) == (3, 6)
    assert rates.cell(REP, w["b"].pk, PROPOSAL, 0) == (2, 2)
    assert rates.cell(TEAM, w["north"].pk, PROPOSAL, 0) == (5, 8)
    assert rates.cell(TEAM, w["south"].pk, PROPOSAL, 0) == (0, 4)
    assert rates.cell(COMPANY, 0, PROPOSAL, 0) == (5, 12)
    # Nobody stood in Proposal later than 30 days old.
    assert rates.cell(COMPANY, 0, PROPOSAL, 1) == (0, 0)


def test_a_stage_spanning_two_buckets_counts_once_in_each():
    w = history()
    # In Proposal from day 20 to day 45 (ages 20–44): buckets 0–30 and 31–60.
    closed_deal(w["a"], True, dt.date(2025, 2, 3), [(Stage.PROSPECTING, 0), (Stage.PROPOSAL, 20)], 45)
    # Back and forth within one bucket: still one example.
    closed_deal(w["a"], False, dt.date(2025, 2, 3),
                [(Stage.PROPOSAL, 0), (Stage.QUALIFICATION, 2), (Stage.PROPOSAL, 4)], 10)  # fmt: skip
    rates = fc.learn(AS_OF)
    assert rates.cell(REP, w["a"].pk, PROPOSAL, 0) == (4, 8)
    assert rates.cell(REP, w["a"].pk, PROPOSAL, 1) == (1, 1)


def test_deals_closed_after_the_day_are_not_learnt_from():
    w = history()
    closed_deal(w["a"], True, dt.date(2025, 6, 1), [(Stage.PROPOSAL, 0)], 15)  # closes 16 June
    assert fc.learn(AS_OF).cell(REP, w["a"].pk, PROPOSAL, 0) == (3, 6)
    assert fc.learn(dt.date(2025, 6, 16)).cell(REP, w["a"].pk, PROPOSAL, 0) == (4, 7)
    assert fc.learn(dt.date(2025, 6, 16), include_today=False).cell(REP, w["a"].pk, PROPOSAL, 0) == (3, 6)


# ---------------------------------------------------------------- scoring


def test_probabilities_fall_back_below_the_minimum_sample():
    w = history()
    a1 = open_deal(w["a"], "1000", opened_on=dt.date(2025, 6, 1), expected_close_on=dt.date(2025, 6, 20))
    b1 = open_deal(w["b"], "2000", opened_on=dt.date(2025, 6, 5), expected_close_on=dt.date(2025, 6, 25))
    c1 = open_deal(w["c"], "3000", opened_on=dt.date(2025, 6, 1), expected_close_on=dt.date(2025, 6, 30))
    scopes = [(REP, w["a"].pk), (REP, w["b"].pk), (REP, w["c"].pk), (TEAM, w["north"].pk), (COMPANY, 0)]
    out = fc.forecast_all(AS_OF, scopes=scopes, granularities=[MONTH])
    june = dt.date(2025, 6, 1)
    _f, deals = by_deal(out, REP, w["a"].pk, MONTH, june)
    assert (deals[a1.pk]["probability"], deals[a1.pk]["source"]) == (0.5, REP)  # A's own 3/6
    _f, deals = by_deal(out, REP, w["b"].pk, MONTH, june)
    assert (deals[b1.pk]["probability"], deals[b1.pk]["source"]) == (0.625, TEAM)  # B has 2: North's 5/8
    _f, deals = by_deal(out, REP, w["c"].pk, MONTH, june)
    assert (deals[c1.pk]["probability"], deals[c1.pk]["source"]) == (0.4167, COMPANY)  # South has 4: 5/12
    _f, deals = by_deal(out, TEAM, w["north"].pk, MONTH, june)
    assert {pk: d["probability"] for pk, d in deals.items()} == {a1.pk: 0.625, b1.pk: 0.625}
    f, deals = by_deal(out, COMPANY, 0, MONTH, june)
    assert {d["probability"] for d in deals.values()} == {0.4167}
    assert f.expected == Decimal("2500.00")  # (1000 + 2000 + 3000) × 5/12
    rates = {
        (r["stage"], r["age"], r["source"]): (r["wins"], r["closed"], r["deals"]) for r in f.details["rates"]
    }
    assert rates == {(Stage.PROPOSAL, "0–30", COMPANY): (5, 12, 3)}


def test_a_cell_nobody_stood_in_uses_the_stage_then_the_fixed_probability():
    w = history()
    old = open_deal(w["a"], "1000", opened_on=dt.date(2025, 3, 1))  # 101 days old in Proposal
    nego = open_deal(w["a"], "1000", stage=Stage.NEGOTIATION, opened_on=dt.date(2025, 6, 1))
    out = fc.forecast_all(AS_OF, scopes=[(COMPANY, 0)], granularities=[MONTH])
    _f, deals = by_deal(out, COMPANY, 0, MONTH, dt.date(2025, 6, 1))
    assert (deals[old.pk]["probability"], deals[old.pk]["source"]) == (0.4167, "stage")
    assert (deals[nego.pk]["probability"], deals[nego.pk]["source"]) == (0.75, "default")


# ---------------------------------------------------------------- timing


def test_overdue_rule_halves_the_probability_every_30_days():
    assert fc.overdue_factor(0) == 1
    assert fc.overdue_factor(-5) == 1
    assert fc.overdue_factor(30) == 0.5
    assert fc.overdue_factor(60) == 0.25
    assert fc.overdue_factor(15) == pytest.approx(0.7071, abs=1e-4)


def test_overdue_and_undated_deals_count_in_the_current_period():
    w = history()
    overdue = open_deal(w["a"], "1000", opened_on=dt.date(2025, 6, 1), expected_close_on=dt.date(2025, 5, 11))
    undated = open_deal(w["a"], "1000", opened_on=dt.date(2025, 6, 1))
    july = open_deal(w["a"], "1000", opened_on=dt.date(2025, 6, 1), expected_close_on=dt.date(2025, 7, 2))
    far = open_deal(w["a"], "1000", opened_on=dt.date(2025, 6, 1), expected_close_on=dt.date(2026, 1, 5))
    out = fc.forecast_all(AS_OF, scopes=[(REP, w["a"].pk)])
    _f, june = by_deal(out, REP, w["a"].pk, MONTH, dt.date(2025, 6, 1))
    assert set(june) == {overdue.pk, undated.pk}
    assert june[overdue.pk]["overdue_days"] == 30
    assert june[overdue.pk]["probability"] == 0.25  # 0.5 halved after 30 days
    assert june[undated.pk]["probability"] == 0.5
    _f, jul = by_deal(out, REP, w["a"].pk, MONTH, dt.date(2025, 7, 1))
    assert set(jul) == {july.pk}
    _f, q2 = by_deal(out, REP, w["a"].pk, QUARTER, dt.date(2025, 4, 1))
    _f, q3 = by_deal(out, REP, w["a"].pk, QUARTER, dt.date(2025, 7, 1))
    _f, q4 = by_deal(out, REP, w["a"].pk, QUARTER, dt.date(2025, 10, 1))
    assert (set(q2), set(q3), set(q4)) == ({overdue.pk, undated.pk}, {july.pk}, set())
    assert far.pk not in {pk for f in out for pk in (d["id"] for d in f.details["deals"])}


# ---------------------------------------------------------------- simulation


def test_seeded_binomial_percentiles():
    # 10 deals of 100 at p = 0.3: Binomial(10, 0.3) × 100, whose CDF gives
    # P10 = 100 (0.149), P50 = 300 (0.650), P90 = 500 (0.953).
    totals = fc.simulate(np.full(10, 100.0), np.full(10, 0.3), seed=1)
    assert fc.percentiles(totals) == (100.0, 300.0, 500.0)
    assert totals.mean() == pytest.approx(300, abs=3)
    # Same seed, same draws; chunks of deals give the same totals.
    assert np.array_equal(totals, fc.simulate(np.full(10, 100.0), np.full(10, 0.3), seed=1))


def test_simulation_is_chunked_not_looped(monkeypatch):
    monkeypatch.setattr(fc, "CHUNK_CELLS", fc.DRAWS * 3)  # chunks of 3 deals
    totals = fc.simulate(np.full(10, 100.0), np.full(10, 0.3), seed=1)
    assert fc.percentiles(totals) == (100.0, 300.0, 500.0)


def test_many_deals_use_the_normal_with_the_same_moments(monkeypatch):
    monkeypatch.setattr(fc, "EXACT_LIMIT", 100)
    totals = fc.simulate(np.full(400, 50.0), np.full(400, 0.5), seed=3)
    assert totals.mean() == pytest.approx(10_000, rel=0.005)
    assert totals.std() == pytest.approx(50 * 10, rel=0.03)  # √(400 × ¼) × 50


def test_pinned_forecast_won_so_far_target_and_chance():
    w = history()
    won(w["a"], "800", dt.date(2025, 5, 20), dt.date(2025, 6, 3))
    open_deal(w["a"], "1000", opened_on=dt.date(2025, 6, 1), expected_close_on=dt.date(2025, 6, 20))
    open_deal(w["a"], "2500", opened_on=dt.date(2025, 6, 2), expected_close_on=dt.date(2025, 6, 28))
    open_deal(w["a"], "700", opened_on=dt.date(2025, 6, 2))
    TargetFactory(user=w["a"], month=dt.date(2025, 6, 1), amount=Decimal("3000"))
    out = fc.forecast_all(AS_OF, scopes=[(REP, w["a"].pk)], granularities=[MONTH])
    f, _deals = by_deal(out, REP, w["a"].pk, MONTH, dt.date(2025, 6, 1))
    assert f.won_so_far == Decimal("800")
    assert f.open_deals == 3
    assert f.target == Decimal("3000")
    # Three deals at p = 0.5: eight equally likely sums 0, 700, 1000, 1700,
    # 2500, 3200, 3500, 4200 over the 800 won. P10 = 800 + 0, P90 = 800 +
    # 4200; P50 sits where the CDF is exactly ½ (1700 | 2500): the seed
    # pins it to the upper one.
    assert (f.p10, f.p50, f.p90) == (Decimal("800.00"), Decimal("3300.00"), Decimal("5000.00"))
    assert f.expected == Decimal("2900.00")
    # 3000 needs 2200 from the deals: 2500 alone or with others → ½.
    assert f.chance_of_target == Decimal("50.2")
    top = [d["amount"] for d in f.details["deals"]]
    assert top == ["2500.00", "1000.00", "700.00"]
    # Run again: the same figures to the cent.
    again = fc.forecast_all(AS_OF, scopes=[(REP, w["a"].pk)], granularities=[MONTH])
    assert again[0].p50 == f.p50 and again[0].chance_of_target == f.chance_of_target


def test_a_team_target_is_its_own_and_the_company_sums_teams():
    w = history()
    TargetFactory(user=None, team=w["north"], month=dt.date(2025, 6, 1), amount=Decimal("1000"))
    TargetFactory(user=None, team=w["south"], month=dt.date(2025, 7, 1), amount=Decimal("500"))
    TargetFactory(user=w["a"], month=dt.date(2025, 6, 1), amount=Decimal("9999"))
    out = fc.forecast_all(AS_OF, scopes=[(COMPANY, 0), (TEAM, w["north"].pk)], granularities=[QUARTER])
    company, _ = by_deal(out, COMPANY, 0, QUARTER, dt.date(2025, 4, 1))
    q3, _ = by_deal(out, COMPANY, 0, QUARTER, dt.date(2025, 7, 1))
    q4, _ = by_deal(out, COMPANY, 0, QUARTER, dt.date(2025, 10, 1))
    north, _ = by_deal(out, TEAM, w["north"].pk, QUARTER, dt.date(2025, 4, 1))
    assert (company.target, q3.target, q4.target, north.target) == (
        Decimal(1000),
        Decimal(500),
        None,
        Decimal(1000),
    )
    assert q4.chance_of_target is None
    assert company.chance_of_target == Decimal("0.0")  # nothing open, nothing won
