"""The internal-process KPIs against the hand-computed world of
tests/kpis/process_fixture.py (run on SQLite and on PostgreSQL: the
percentiles are the database's own on each)."""

import datetime as dt

import pytest

from kpis.compute import recompute, refresh
from kpis.models import DirtyMonth, KpiSnapshot
from tests.kpis.conftest import d
from tests.kpis.process_fixture import JUN, MAR, Q1, THRESHOLDS, TODAY, build, noon

pytestmark = pytest.mark.django_db


@pytest.fixture
def built(world):
    deals = build(world)
    recompute(dt_start(), JUN, today=TODAY)
    return world, deals


def dt_start():
    return dt.date(2025, 1, 1)


def stages(row) -> dict:
    return {
        s: (v["count"], v["median"], v["p75"], v["moved_on"])
        for s, v in row.details["by_stage"].items()
        if v["count"]
    }


def test_time_in_stage_counts_skips_backward_moves_and_reopened_deals(built, snap):
    world, _ = built
    team = snap("time_in_stage_days", "team", world.north.pk, "month", MAR)
    assert team.value == d("29.5")
    assert stages(team) == {
        "prospecting": (5, "3", "4", 4),
        "qualification": (2, "7", "7.5", 1),
        "proposal": (3, "7", "8.5", 2),
        "negotiation": (2, "12.5", "16.25", 2),
    }
    # The quarter is read from its own rows: the same stays.
    assert snap("time_in_stage_days", "team", world.north.pk, "quarter", Q1).value == d("29.5")
    assert snap("time_in_stage_days", "company", 0, "month", MAR).value == d("29.5")
    ann = snap("time_in_stage_days", "rep", world.ann.pk, "month", MAR)
    assert stages(ann)["prospecting"] == (4, "2.5", "3.25", 3)
    # A month where no deal left a stage: n/a, not 0.
    assert snap("time_in_stage_days", "team", world.north.pk, "month", dt.date(2025, 1, 1)).value is None


def test_stage_conversion_is_the_product_of_the_stage_rates(built, snap):
    world, _ = built
    row = snap("stage_conversion_rate", "team", world.north.pk, "month", MAR)
    assert row.value == d("26.666667")
    # The funnel: deals entering each stage in March (D6 entered Prospecting in February).
    entered = {s: v["entered"] for s, v in row.details["by_stage"].items()}
    assert entered == {"prospecting": 4, "qualification": 3, "proposal": 3, "negotiation": 2}
    rates = {s: v["rate"] for s, v in row.details["by_stage"].items()}
    assert rates == {
        "prospecting": "80",
        "qualification": "50",
        "proposal": "66.666667",
        "negotiation": "100",
    }


def test_lead_response_is_a_median_of_hours_with_the_share_never_touched(built, snap):
    world, _ = built
    row = snap("lead_response_hours", "rep", world.ann.pk, "month", MAR)
    assert (row.value, row.denominator, row.maturing) == (24, 3, True)
    assert row.details["p75"] == "36"
    assert (row.details["prospects"], row.details["never_touched"]) == (5, 2)
    assert row.details["never_touched_share"] == "40"


def test_stalled_deals_use_the_p75_of_won_deals_and_fall_back_to_the_company(built, snap):
    world, deals = built
    company = snap("stalled_deals", "company", 0, "month", JUN)
    assert company.value == 2
    assert company.details["by_stage"] == {"qualification": 1, "prospecting": 1}
    assert {k: d(v) for k, v in company.details["thresholds"]["0"].items()} == THRESHOLDS
    assert snap("stalled_deals", "team", world.north.pk, "month", JUN).value == 1
    assert snap("stalled_deals", "team", world.south.pk, "month", JUN).value == 1
    assert snap("stalled_deals", "rep", world.bob.pk, "month", JUN).value == 1
    assert snap("stalled_deals", "rep", world.ann.pk, "month", JUN).value == 0
    # Only the period under way has it: the past has no "now".
    assert snap("stalled_deals", "company", 0, "month", MAR) is None


def test_activities_per_won_deal_counts_done_calls_meetings_and_emails(built, snap):
    world, _ = built
    row = snap("activities_per_won_deal", "rep", world.ann.pk, "month", MAR)
    assert (row.value, row.numerator, row.denominator) == (d("0.75"), 3, 4)


def test_lost_reasons_per_reason_and_per_stage_lost_at(built, snap):
    world, _ = built
    row = snap("lost_reasons", "team", world.north.pk, "month", MAR)
    assert row.value == 2
    assert row.details["by_reason"] == {"competitor": 1, "price": 1}
    # D7 was imported lost: its history does not say at which stage ("").
    assert row.details["by_stage"] == {"qualification": {"competitor": 1}, "": {"price": 1}}


def test_a_stage_history_correction_reaches_its_months_and_equals_a_full_recompute(built, snap):
    world, deals = built
    from crm.models import DealStageChange

    # D2 left Proposal for won on 9 March; it is corrected to 9 April.
    change = DealStageChange.objects.get(deal=deals["D2"], to_stage="won")
    DealStageChange.objects.filter(pk=change.pk).update(changed_at=noon(dt.date(2025, 4, 9)))
    assert set(DirtyMonth.objects.months()) >= {MAR, dt.date(2025, 4, 1)}
    refresh(today=TODAY)
    after = {
        (r.kpi, r.scope_type, r.scope_id, r.granularity, r.period_start): (r.value, r.details)
        for r in KpiSnapshot.objects.filter(kpi__in=["time_in_stage_days", "stage_conversion_rate"])
    }
    row = snap("time_in_stage_days", "team", world.north.pk, "month", MAR)
    assert row.details["by_stage"]["proposal"]["count"] == 2  # D2's stay now ends in April
    recompute(dt_start(), JUN, today=TODAY)
    again = {
        (r.kpi, r.scope_type, r.scope_id, r.granularity, r.period_start): (r.value, r.details)
        for r in KpiSnapshot.objects.filter(kpi__in=["time_in_stage_days", "stage_conversion_rate"])
    }
    assert after == again


def test_renaming_a_reason_code_marks_the_months_of_its_lost_deals(built, snap):
    from crm.models import LostReason

    world, _ = built
    DirtyMonth.objects.all().delete()
    LostReason.objects.filter(code="competitor").update(code="rival")
    assert MAR in set(DirtyMonth.objects.months())
    refresh(today=TODAY)
    row = snap("lost_reasons", "team", world.north.pk, "month", MAR)
    assert row.details["by_reason"] == {"rival": 1, "price": 1}
