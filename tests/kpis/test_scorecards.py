"""kpis.scorecards: periods, changes, badges, sparklines, ranking, explain links."""

import datetime as dt
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.http import QueryDict

from kpis import scorecards as sc
from kpis.definitions import KPIS
from kpis.models import DashboardCard, KpiSnapshot
from tests.kpis.factories_performance import snap

D = Decimal


# ---------------------------------------------------------------- periods


def test_period_containing_snaps_to_the_start_of_month_quarter_and_year():
    day = dt.date(2026, 8, 17)
    assert sc.Period.containing(day, "month").start == dt.date(2026, 8, 1)
    assert sc.Period.containing(day, "quarter").start == dt.date(2026, 7, 1)
    assert sc.Period.containing(day, "year").start == dt.date(2026, 1, 1)


def test_previous_and_next_cross_year_boundaries():
    jan = sc.Period("month", dt.date(2026, 1, 1))
    assert jan.previous.start == dt.date(2025, 12, 1)
    assert jan.next.start == dt.date(2026, 2, 1)
    q1 = sc.Period("quarter", dt.date(2026, 1, 1))
    assert q1.previous.start == dt.date(2025, 10, 1)
    assert sc.Period("year", dt.date(2026, 1, 1)).previous.start == dt.date(2025, 1, 1)


def test_period_end_is_inclusive_last_day():
    assert sc.Period("month", dt.date(2028, 2, 1)).end == dt.date(2028, 2, 29)
    assert sc.Period("quarter", dt.date(2026, 10, 1)).end == dt.date(2026, 12, 31)


def test_last_twelve_periods_end_with_this_one_oldest_first():
    periods = sc.Period("month", dt.date(2026, 3, 1)).last(12)
    assert len(periods) == 12
    assert periods[0].start == dt.date(2025, 4, 1)
    assert periods[-1].start == dt.date(2026, 3, 1)


def test_period_labels():
    assert sc.Period("quarter", dt.date(2026, 4, 1)).label == "Q2 2026"
    assert sc.Period("year", dt.date(2026, 1, 1)).label == "2026"
    assert sc.Period("month", dt.date(2026, 3, 1)).label == "March 2026"


@time_machine.travel(dt.datetime(2026, 5, 20, 12, 0, tzinfo=dt.UTC), tick=False)
def test_period_defaults_to_the_current_month():
    assert sc.period_from_params(QueryDict("")) == sc.Period("month", dt.date(2026, 5, 1))


def test_period_from_params_normalises_a_date_inside_the_period():
    params = QueryDict("g=quarter&p=2026-05-14")
    assert sc.period_from_params(params) == sc.Period("quarter", dt.date(2026, 4, 1))


@pytest.mark.parametrize(
    "query", ["g=week&p=2026-01-01", "p=not-a-date", "g=year&p=2026-13-45", "p=99999-01-01"]
)
def test_tampered_period_falls_back_without_error(query):
    period = sc.period_from_params(QueryDict(query), today=dt.date(2026, 5, 20))
    assert period.start <= dt.date(2026, 5, 20) <= period.end


def test_a_valid_granularity_survives_a_bad_date():
    period = sc.period_from_params(QueryDict("g=year&p=garbage"), today=dt.date(2026, 5, 20))
    assert period == sc.Period("year", dt.date(2026, 1, 1))


# ---------------------------------------------------------------- formatting


def test_format_value_by_unit():
    assert sc.format_value(D("12345.678"), "money") == "€12,345.68"
    assert sc.format_value(D("12345.678"), "money", short=True) == "€12,346"
    assert sc.format_value(D("45.26"), "percent") == "45.3 %"
    assert sc.format_value(D("7"), "count") == "7"
    assert sc.format_value(D("-12.34"), "score") == "-12.3"
    assert sc.format_value(D("31.25"), "days") == "31.3 days"
    assert sc.format_value(None, "money") == "n/a"


# ---------------------------------------------------------------- changes


def test_money_change_is_relative_and_green_when_up_is_better():
    change = sc.change_between(D("120"), D("100"), KPIS["revenue"])
    assert (change.text, change.arrow, change.tone) == ("+20.0 %", "▲", "good")


def test_rate_change_is_in_points():
    change = sc.change_between(D("50"), D("45"), KPIS["win_rate"])
    assert change.text == "+5.0 pts"


def test_a_fall_is_good_when_down_is_better():
    change = sc.change_between(D("30"), D("40"), KPIS["sales_cycle_days"])
    assert (change.arrow, change.tone) == ("▼", "good")


def test_change_is_neutral_when_no_direction_is_better():
    assert sc.change_between(D("30"), D("40"), KPIS["marketing_spend"]).tone == "neutral"


def test_no_change_without_both_values_or_from_zero():
    assert sc.change_between(None, D("1"), KPIS["revenue"]) is None
    assert sc.change_between(D("1"), None, KPIS["revenue"]) is None
    assert sc.change_between(D("10"), D("0"), KPIS["revenue"]) is None


# ---------------------------------------------------------------- badges


def _row(**kw):
    return KpiSnapshot(kpi="win_rate", scope_type="rep", period_start=dt.date(2026, 1, 1), **kw)


def test_missing_snapshot_is_na_not_computed_yet():
    (badge,) = sc.badges_for(KPIS["revenue"], None)
    assert badge.kind == "na" and "Not computed" in badge.reason


def test_zero_denominator_is_na_with_reason():
    (badge,) = sc.badges_for(KPIS["win_rate"], _row(value=None, numerator=D(0), denominator=D(0)))
    assert badge.kind == "na" and "denominator is 0" in badge.reason


def test_quota_without_target_says_so():
    (badge,) = sc.badges_for(KPIS["quota_attainment"], _row(value=None, denominator=None))
    assert "No target" in badge.reason


def test_low_sample_and_maturing_badges_explain_why(settings):
    settings.KPI_MIN_SAMPLE = 5
    badges = sc.badges_for(
        KPIS["lead_conversion_rate"], _row(value=D(50), denominator=D(2), low_sample=True, maturing=True)
    )
    assert [b.kind for b in badges] == ["low", "maturing"]
    assert "Based on 2 only, fewer than 5" in badges[0].reason
    assert "days ago" in badges[1].reason


# ---------------------------------------------------------------- sparklines


def test_sparkline_breaks_at_missing_periods():
    segments = sc.sparkline([D(1), D(2), None, D(3), D(4)])
    assert len(segments) == 2


def test_sparkline_is_empty_without_values():
    assert sc.sparkline([None, None]) == []


def test_flat_sparkline_does_not_divide_by_zero():
    assert sc.sparkline([D(5), D(5)]) == ["0.0,30.0 120.0,30.0"]


# ---------------------------------------------------------------- ranking


def _r(key, value, low=False):
    return sc.Ranked(key, f"P{key}", None if value is None else D(value), low)


def test_ties_share_a_rank_and_the_next_rank_skips():
    ranked = sc.rank([_r(1, 10), _r(2, 30), _r(3, 30), _r(4, 5)])
    assert [(r.key, r.rank) for r in ranked] == [(2, 1), (3, 1), (1, 3), (4, 4)]


def test_low_sample_rows_rank_after_every_full_sample():
    ranked = sc.rank([_r(1, 10), _r(2, 99, low=True), _r(3, 20)])
    assert [(r.key, r.rank) for r in ranked] == [(3, 1), (1, 2), (2, 3)]


def test_rows_without_a_value_are_unranked_and_last():
    ranked = sc.rank([_r(1, None), _r(2, 5)])
    assert [(r.key, r.rank) for r in ranked] == [(2, 1), (1, None)]


def test_lower_is_better_ranks_ascending():
    ranked = sc.rank([_r(1, 40), _r(2, 20)], better="down")
    assert [r.key for r in ranked] == [2, 1]


@pytest.mark.django_db
def test_leaderboard_rows_give_rank_movement(world):
    march, feb = dt.date(2026, 3, 1), dt.date(2026, 2, 1)
    snap("revenue", world.ann, feb, 100)
    snap("revenue", world.bob, feb, 200)
    snap("revenue", world.ann, march, 300)
    snap("revenue", world.bob, march, 200)
    period = sc.Period("month", march)
    rows = sc.leaderboard_rows("revenue", period, "rep", [(world.ann.pk, "Ann"), (world.bob.pk, "Bob")])
    assert [(r.label, r.rank, r.movement) for r in rows] == [("Ann", 1, 1), ("Bob", 2, -1)]


# ---------------------------------------------------------------- explain links


def _query(url):
    parts = urlsplit(url)
    return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}


def test_revenue_links_to_a_reps_won_deals_closed_in_the_period():
    scope = sc.Scope("rep", 7, "Ann")
    label, url = sc.records_link(KPIS["revenue"], scope, sc.Period("month", dt.date(2026, 2, 1)))
    path, query = _query(url)
    assert path == "/deals/"
    assert query == {
        "owner": "7",
        "stage": "won",
        "closed_from": "2026-02-01",
        "closed_to": "2026-02-28",
        "sort": "-closed_on",
    }


def test_win_rate_links_to_every_deal_closed_in_the_period():
    _label, url = sc.records_link(
        KPIS["win_rate"], sc.Scope("team", 3, "North"), sc.Period("quarter", dt.date(2026, 1, 1))
    )
    assert _query(url) == (
        "/deals/",
        {"team": "3", "closed_from": "2026-01-01", "closed_to": "2026-03-31", "sort": "-closed_on"},
    )


def test_open_pipeline_links_to_open_deals():
    _label, url = sc.records_link(
        KPIS["open_pipeline_value"], sc.Scope("company", 0, "Co"), sc.Period("month", dt.date(2026, 1, 1))
    )
    assert url == "/deals/?stage=open"


def test_lead_conversion_links_to_prospects_created_in_the_period():
    _label, url = sc.records_link(
        KPIS["lead_conversion_rate"], sc.Scope("rep", 4, "A"), sc.Period("year", dt.date(2026, 1, 1))
    )
    assert _query(url)[1] == {"owner": "4", "created_from": "2026-01-01", "created_to": "2026-12-31"}


def test_nps_links_to_survey_results_for_the_rep():
    _label, url = sc.records_link(
        KPIS["nps"], sc.Scope("rep", 4, "A"), sc.Period("month", dt.date(2026, 1, 1))
    )
    assert _query(url) == ("/surveys/results/", {"rep": "4", "from": "2026-01-01", "to": "2026-01-31"})


def test_spend_links_to_campaigns():
    _label, url = sc.records_link(
        KPIS["marketing_spend"], sc.Scope("team", 1, "N"), sc.Period("month", dt.date(2026, 1, 1))
    )
    assert url == "/campaigns/"


# ---------------------------------------------------------------- cards


@pytest.mark.django_db
def test_build_cards_reads_value_change_attainment_and_history(world):
    march = dt.date(2026, 3, 1)
    snap("revenue", world.ann, march, 5000)
    snap("revenue", world.ann, dt.date(2026, 2, 1), 4000)
    snap("revenue", world.ann, dt.date(2025, 3, 1), 1000)  # 13 months back: not in the sparkline
    snap("quota_attainment", world.ann, march, 80, numerator=5000, denominator=6250)
    scope, period = sc.Scope("rep", world.ann.pk, "Ann"), sc.Period("month", march)
    rows = sc.scorecard_snapshots(scope, period, ["revenue", "quota_attainment"])
    (card,) = sc.build_cards(scope, period, ["revenue"], rows)
    assert card.display == "€5,000"
    assert card.change.text == "+25.0 %"
    assert card.attainment == "80.0 % of target €6,250"
    assert len(card.spark) == 1  # Feb and Mar adjoin: one segment
    assert "Mar 2026: €5,000.00" in card.spark_labels


# ---------------------------------------------------------------- dashboard edits


ALLOWED = ["revenue", "win_rate", "nps", "activities"]


@pytest.mark.parametrize(
    ("action", "kpi", "expected"),
    [
        ("add", "nps", ["revenue", "win_rate", "nps"]),
        ("add", "revenue", ["revenue", "win_rate"]),  # already there
        ("add", "churn_rate", ["revenue", "win_rate"]),  # not for this scope
        ("remove", "revenue", ["win_rate"]),
        ("up", "win_rate", ["win_rate", "revenue"]),
        ("up", "revenue", ["revenue", "win_rate"]),  # already first
        ("down", "revenue", ["win_rate", "revenue"]),
        ("down", "win_rate", ["revenue", "win_rate"]),  # already last
    ],
)
def test_dashboard_rearranged(action, kpi, expected):
    assert DashboardCard.rearranged(["revenue", "win_rate"], action, kpi, ALLOWED) == expected


def test_the_last_card_cannot_be_removed():
    assert DashboardCard.rearranged(["revenue"], "remove", "revenue", ALLOWED) == ["revenue"]
