"""Edge cases found in review of the engine against the KPI spec."""

import datetime as dt
from decimal import Decimal

import pytest

from crm.models import Activity, Customer, Deal
from kpis.compute import recompute
from kpis.models import KpiSnapshot
from tests.factories import ActivityFactory, CustomerFactory, UserFactory
from tests.kpis.factories import won

pytestmark = pytest.mark.django_db

MARCH = dt.date(2025, 3, 1)
TODAY = dt.date(2025, 6, 15)


def value(kpi, scope_type="company", scope_id=0, start=MARCH, granularity="month"):
    row = KpiSnapshot.objects.filter(
        kpi=kpi, scope_type=scope_type, scope_id=scope_id, granularity=granularity, period_start=start
    ).first()
    return row.value if row else "missing"


def acquired(customer, day):
    Customer.objects.filter(pk=customer.pk).update(acquired_on=day)


def test_arpa_leaves_out_won_deals_without_a_customer(world):
    won(world.ann, "1200", dt.date(2025, 3, 1), dt.date(2025, 3, 10))
    won(world.ann, "1200", dt.date(2025, 3, 1), dt.date(2025, 3, 10), customer=None, title="No account")
    recompute(MARCH, MARCH, today=TODAY)
    # 1,200 over 12 months for one customer: 100 a month, for the company as for the team.
    assert value("arpa") == Decimal("100")
    assert value("arpa", "team", world.north.pk) == Decimal("100")


def test_churn_counts_only_customers_active_at_the_start(world):
    steady = CustomerFactory(owner=world.ann)
    acquired(steady, dt.date(2025, 1, 5))
    for _ in range(2):  # acquired and lost within March: not in the base
        fleeting = CustomerFactory(owner=world.ann)
        Customer.objects.filter(pk=fleeting.pk).update(
            acquired_on=dt.date(2025, 3, 2), churned_on=dt.date(2025, 3, 20)
        )
    lost_one = CustomerFactory(owner=world.ann)
    Customer.objects.filter(pk=lost_one.pk).update(
        acquired_on=dt.date(2025, 1, 5), churned_on=dt.date(2025, 3, 9)
    )
    recompute(MARCH, MARCH, today=TODAY)
    assert value("churn_rate") == Decimal("50")
    assert value("retention_rate") == Decimal("50")


def test_new_customer_is_credited_to_the_deals_team_even_when_it_has_none(world):
    loner = UserFactory(team=None)
    customer = CustomerFactory(owner=world.ann)  # customer.team is North
    deal = won(loner, "500", dt.date(2025, 3, 1), dt.date(2025, 3, 3), customer=customer)
    customer.refresh_acquisition()
    assert Customer.objects.get(pk=customer.pk).first_deal == deal
    recompute(MARCH, MARCH, today=TODAY)
    assert value("new_customers", "team", world.north.pk) == Decimal("0")
    assert value("new_customers", "rep", loner.pk) == Decimal("1")


def test_planned_activities_are_not_counted(world):
    ActivityFactory(owner=world.ann, occurred_on=dt.date(2025, 3, 4), kind=Activity.Kind.CALL)
    ActivityFactory(owner=world.ann, occurred_on=dt.date(2025, 3, 5), kind=Activity.Kind.CALL, done=False)
    recompute(MARCH, MARCH, today=TODAY)
    assert value("activities", "rep", world.ann.pk) == Decimal("1")


def test_a_recompute_drops_rows_of_scopes_that_dropped_out(world):
    deal = won(world.ann, "100", dt.date(2025, 3, 1), dt.date(2025, 3, 10))
    recompute(MARCH, MARCH, today=TODAY)
    assert value("revenue", "rep", world.ann.pk) == Decimal("100")
    # A closed deal's credit moves only by reopening it (kpi-spec).
    deal.reopen()
    Deal.objects.filter(pk=deal.pk).update(owner=world.bob)
    deal.refresh_from_db()
    deal.mark_won(Decimal("100"), dt.date(2025, 3, 10))
    world.ann.is_active = False
    world.ann.save()
    recompute(MARCH, MARCH, today=TODAY)
    assert value("revenue", "rep", world.ann.pk) == "missing"
    assert value("revenue", "rep", world.bob.pk) == Decimal("100")


def test_past_pipeline_is_rebuilt_from_the_stage_history(world):
    # kpi-spec v2: no longer a record kept from the day it was computed, but
    # the deals open at the period's end per the stage history.
    KpiSnapshot.objects.create(
        kpi="open_pipeline_value", scope_type="company", scope_id=0, granularity="month",
        period_start=MARCH, value=Decimal("42"), computed_at=dt.datetime(2025, 3, 31, tzinfo=dt.UTC),
    )  # fmt: skip
    won(world.ann, "100", dt.date(2025, 2, 1), dt.date(2025, 4, 10))  # open on 31 March
    recompute(MARCH, MARCH, today=TODAY)
    assert value("open_pipeline_value") == Decimal("100")


def test_funnel_and_pipeline_details_are_computed_from_raw_rows(world):
    """The team page reads these details instead of the raw tables."""
    from crm.models import Prospect, Stage
    from tests.factories import DealFactory, ProspectFactory

    for status in ["new", "new", "qualified", "converted"]:
        customer = CustomerFactory(owner=world.ann) if status == "converted" else None
        ProspectFactory(owner=world.ann, created_on=dt.date(2025, 3, 5), status=status, customer=customer)
    ProspectFactory(owner=world.sam, created_on=dt.date(2025, 3, 5))  # other team
    DealFactory(owner=world.ann, opened_on=dt.date(2025, 3, 2), stage=Stage.PROPOSAL, amount=700)
    DealFactory(owner=world.bob, opened_on=dt.date(2025, 1, 2), stage=Stage.PROPOSAL, amount=300)
    recompute(dt.date(2025, 1, 1), dt.date(2025, 6, 1), today=TODAY)
    north = world.north.pk

    def details(kpi, start=MARCH):
        return KpiSnapshot.objects.get(
            kpi=kpi, scope_type="team", scope_id=north, granularity="month", period_start=start
        ).details

    assert details("lead_conversion_rate") == {"qualified": 2}
    assert details("deals_won") == {"opened": 1}
    by_stage = details("open_pipeline_value", dt.date(2025, 6, 1))["by_stage"]
    assert by_stage["proposal"] == {"count": 2, "amount": "1000.00"}
    assert by_stage["negotiation"]["count"] == 0
    assert Prospect.objects.count() == 5
