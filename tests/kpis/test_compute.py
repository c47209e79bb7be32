"""Every KPI of ../shared/kpi-spec.md against small hand-computed fixtures."""

import datetime as dt
from decimal import Decimal

import pytest
from django.test import override_settings

from crm.models import Activity, Customer, Stage
from kpis.compute import apply_churn_rule, recompute
from kpis.models import KpiSnapshot
from tests.factories import (
    ActivityFactory,
    CampaignFactory,
    CampaignSpendFactory,
    CustomerFactory,
    InvitationFactory,
    ProspectFactory,
    ResponseFactory,
    TargetFactory,
)
from tests.kpis.conftest import d
from tests.kpis.factories import lost, open_deal, won

pytestmark = pytest.mark.django_db

TODAY = dt.date(2025, 6, 15)
MAR, APR, JAN = dt.date(2025, 3, 1), dt.date(2025, 4, 1), dt.date(2025, 1, 1)
Q1, Q2, Y2025 = JAN, APR, JAN
UTC = dt.UTC


def run(today=TODAY, start=dt.date(2025, 1, 1), end=dt.date(2025, 6, 1)):
    return recompute(start, end, today=today)


@pytest.fixture
def deals(world):
    """ann: two wins and a loss in March; bob: a loss in March; sam: a win in April."""
    won(world.ann, "1000", dt.date(2025, 3, 1), dt.date(2025, 3, 11))  # 10 days
    won(world.ann, "3000", dt.date(2025, 2, 1), dt.date(2025, 3, 31))  # 58 days
    lost(world.ann, dt.date(2025, 3, 1), dt.date(2025, 3, 15))
    lost(world.bob, dt.date(2025, 3, 1), dt.date(2025, 3, 20))
    won(world.sam, "500", dt.date(2025, 4, 1), dt.date(2025, 4, 11))  # 10 days
    open_deal(world.ann, "700")  # open: in no closed-deal KPI
    return world


class TestDealKpis:
    def test_rep_month(self, deals, snap):
        run()
        ann = deals.ann.pk
        assert snap("revenue", "rep", ann, "month", MAR).value == d("4000")
        assert snap("deals_won", "rep", ann, "month", MAR).value == 2
        rate = snap("win_rate", "rep", ann, "month", MAR)
        assert (rate.numerator, rate.denominator) == (2, 3)
        assert rate.value == d("66.666667")
        assert snap("avg_deal_size", "rep", ann, "month", MAR).value == d("2000")
        cycle = snap("sales_cycle_days", "rep", ann, "month", MAR)
        assert (cycle.value, cycle.numerator, cycle.denominator) == (34, 68, 2)

    def test_team_rate_is_sum_over_sum_not_mean_of_rates(self, deals, snap):
        run()
        # ann 2/3 and bob 0/1: the team's rate is 2/4 = 50 %, not (66.7 + 0) / 2.
        north = snap("win_rate", "team", deals.north.pk, "month", MAR)
        assert (north.numerator, north.denominator, north.value) == (2, 4, 50)
        assert snap("win_rate", "rep", deals.bob.pk, "month", MAR).value == 0

    def test_company_quarter_and_year_from_their_own_rows(self, deals, snap):
        run()
        assert snap("win_rate", "company", 0, "quarter", Q1).value == 50
        assert snap("win_rate", "company", 0, "quarter", Q2).value == 100
        year = snap("win_rate", "company", 0, "year", Y2025)
        assert (year.numerator, year.denominator, year.value) == (3, 5, 60)
        assert snap("revenue", "company", 0, "year", Y2025).value == d("4500")
        assert snap("avg_deal_size", "company", 0, "year", Y2025).value == d("1500")
        assert snap("sales_cycle_days", "company", 0, "year", Y2025).value == 26

    def test_zero_denominator_is_na_never_zero(self, deals, snap):
        run()
        sue = deals.sue.pk
        assert snap("revenue", "rep", sue, "month", MAR).value == 0
        for kpi in ("win_rate", "avg_deal_size", "sales_cycle_days", "pipeline_velocity"):
            assert snap(kpi, "rep", sue, "month", MAR).value is None, kpi
        assert snap("win_rate", "team", deals.south.pk, "month", MAR).value is None

    def test_deal_closed_on_31_march_is_march_and_q1(self, world, snap):
        won(world.ann, "100", dt.date(2025, 3, 1), dt.date(2025, 3, 31))
        run()
        assert snap("revenue", "company", 0, "month", MAR).value == 100
        assert snap("revenue", "company", 0, "month", APR).value == 0
        assert snap("revenue", "company", 0, "quarter", Q1).value == 100

    def test_history_stays_with_the_deals_team_when_the_owner_moves(self, world, snap):
        won(world.ann, "800", dt.date(2025, 3, 1), dt.date(2025, 3, 5))
        world.ann.team = world.south
        world.ann.save()
        run()
        assert snap("revenue", "team", world.north.pk, "month", MAR).value == 800
        assert snap("revenue", "team", world.south.pk, "month", MAR).value == 0
        assert snap("revenue", "rep", world.ann.pk, "month", MAR).value == 800

    def test_reopened_deal_counts_neither_won_nor_lost(self, world, snap):
        deal = open_deal(world.ann, "900", opened_on=dt.date(2025, 3, 1))
        deal.mark_won(Decimal("900"), closed_on=dt.date(2025, 3, 10))
        deal.reopen()
        run()
        assert snap("deals_won", "company", 0, "month", MAR).value == 0
        assert snap("win_rate", "company", 0, "month", MAR).value is None
        assert snap("new_customers", "company", 0, "month", MAR).value == 0
        assert snap("open_pipeline_value", "company", 0, "month", dt.date(2025, 6, 1)).value == 900

    def test_low_sample_flag_only_on_rates_below_the_minimum(self, deals, snap):
        for i in range(5):
            won(deals.sue, "10", dt.date(2025, 3, 1), dt.date(2025, 3, 2 + i))
        run()
        assert snap("win_rate", "rep", deals.ann.pk, "month", MAR).low_sample  # 3 closed
        assert not snap("win_rate", "rep", deals.sue.pk, "month", MAR).low_sample  # 5 closed
        assert not snap("revenue", "rep", deals.ann.pk, "month", MAR).low_sample
        # n/a has nothing to flag.
        assert not snap("win_rate", "rep", deals.sam.pk, "month", MAR).low_sample


class TestPipeline:
    def test_open_and_weighted_pipeline_at_each_periods_end(self, world, snap):
        # Opened on 1 January 2025 in these stages (their creation entries).
        open_deal(world.ann, "1000", stage=Stage.PROPOSAL)  # × 0.50
        open_deal(world.ann, "2000", stage=Stage.NEGOTIATION)  # × 0.75
        open_deal(world.sam, "400", stage=Stage.PROSPECTING)  # × 0.10
        run()
        june, q2 = dt.date(2025, 6, 1), APR
        assert snap("open_pipeline_value", "rep", world.ann.pk, "month", june).value == 3000
        assert snap("weighted_pipeline_value", "rep", world.ann.pk, "month", june).value == 2000
        assert snap("weighted_pipeline_value", "company", 0, "quarter", q2).value == 2040
        assert snap("open_pipeline_value", "team", world.south.pk, "year", Y2025).value == 400
        # kpi-spec v2: past periods too, at their end (they were open then).
        march = snap("open_pipeline_value", "company", 0, "month", MAR)
        assert march.value == 3400 and march.details["count"] == 3

    def test_velocity_uses_todays_open_deals_and_the_periods_rates(self, deals, snap):
        run()
        # ann: 1 open deal × 66.67 % × 2000 ÷ 34 days.
        v = snap("pipeline_velocity", "rep", deals.ann.pk, "month", MAR)
        expected = Decimal(1) * Decimal(2) / Decimal(3) * Decimal(2000) / Decimal(34)
        assert abs(v.value - expected) < Decimal("0.00001")
        # bob: no won deal, so no average size or cycle: n/a.
        assert snap("pipeline_velocity", "rep", deals.bob.pk, "month", MAR).value is None


class TestProspectsAndCustomers:
    def test_lead_conversion_cohort_with_maturing_flag(self, world, snap):
        campaign = CampaignFactory()
        customer = CustomerFactory(owner=world.ann)
        for _i in range(4):
            ProspectFactory(owner=world.ann, created_on=dt.date(2025, 1, 10), source_campaign=campaign)
        ProspectFactory(
            owner=world.ann,
            created_on=dt.date(2025, 1, 20),
            customer=customer,
            converted_on=dt.date(2025, 5, 2),
            status="converted",
        )
        # kpi-spec v2: it counts once its customer pays (a won deal), 2 May.
        won(world.ann, "100", dt.date(2025, 5, 2), dt.date(2025, 5, 2), customer=customer)
        # Converted but never paying: not a conversion.
        ProspectFactory(
            owner=world.bob,
            created_on=dt.date(2025, 1, 21),
            customer=CustomerFactory(owner=world.bob),
            status="converted",
        )
        ProspectFactory(owner=world.bob, created_on=dt.date(2025, 5, 20))
        run()
        jan = snap("lead_conversion_rate", "rep", world.ann.pk, "month", JAN)
        assert (jan.numerator, jan.denominator, jan.value) == (1, 5, 20)
        assert not jan.maturing  # ended 31 January, more than 90 days before 15 June
        may = snap("lead_conversion_rate", "team", world.north.pk, "month", dt.date(2025, 5, 1))
        assert may.value == 0 and may.maturing
        assert snap("lead_conversion_rate", "campaign", campaign.pk, "month", JAN).value == 0
        assert snap("lead_conversion_rate", "rep", world.bob.pk, "month", JAN).value == 0
        # Paying after the day of computation: not converted yet then.
        recompute(JAN, JAN, today=dt.date(2025, 4, 1))
        assert snap("lead_conversion_rate", "rep", world.ann.pk, "month", JAN).value == 0

    def test_new_customers_credited_to_first_deals_owner_and_team_and_cac(self, world, snap):
        campaign = CampaignFactory(team=world.north)
        CampaignSpendFactory(campaign=campaign, spent_on=dt.date(2025, 3, 3), amount=Decimal("600"))
        CampaignSpendFactory(spent_on=dt.date(2025, 3, 4), amount=Decimal("300"))  # no team
        customer = CustomerFactory(owner=world.sam, source_campaign=campaign)  # owned by south
        deal = open_deal(world.ann, "1000", customer=customer, opened_on=dt.date(2025, 3, 1))
        deal.mark_won(Decimal("1000"), closed_on=dt.date(2025, 3, 9))
        other = CustomerFactory(owner=world.ann)
        open_deal(world.ann, "50", customer=other, opened_on=MAR).mark_won(
            Decimal("50"), closed_on=dt.date(2025, 3, 20)
        )
        run()
        assert snap("new_customers", "rep", world.ann.pk, "month", MAR).value == 2
        assert snap("new_customers", "rep", world.sam.pk, "month", MAR).value == 0
        assert snap("new_customers", "team", world.north.pk, "month", MAR).value == 2
        assert snap("new_customers", "campaign", campaign.pk, "month", MAR).value == 1
        assert snap("marketing_spend", "company", 0, "month", MAR).value == 900
        assert snap("marketing_spend", "team", world.north.pk, "month", MAR).value == 600
        assert snap("cac", "company", 0, "month", MAR).value == 450
        assert snap("cac", "team", world.north.pk, "month", MAR).value == 300
        assert snap("cac", "campaign", campaign.pk, "month", MAR).value == 600
        assert snap("cac", "company", 0, "month", APR).value is None  # no new customer
        assert snap("revenue", "campaign", campaign.pk, "month", MAR).value == 1000
        assert snap("cac", "rep", world.ann.pk, "month", MAR) is None  # not a rep KPI


def _customer(owner, acquired, churned=None, wins=()):
    """A customer with won deals on the given (date, amount) pairs."""
    customer = CustomerFactory(owner=owner)
    for day, amount in wins:
        won(owner, amount, day, day, customer=customer)
    Customer.objects.filter(pk=customer.pk).update(acquired_on=acquired, churned_on=churned)
    customer.refresh_from_db()
    return customer


class TestCustomerKpis:
    @pytest.fixture
    def book(self, world):
        a = _customer(world.ann, dt.date(2024, 6, 10), wins=[(dt.date(2024, 6, 10), "1200")])
        b = _customer(
            world.ann,
            dt.date(2024, 6, 20),
            churned=dt.date(2025, 3, 15),
            wins=[(dt.date(2024, 6, 20), "600"), (dt.date(2025, 2, 1), "600")],
        )
        c = _customer(world.sam, dt.date(2025, 3, 5), wins=[(dt.date(2025, 3, 5), "2400")])
        return a, b, c

    def test_churn_and_retention(self, world, book, snap):
        run()
        churn = snap("churn_rate", "company", 0, "month", MAR)
        # Active at 1 March: a and b; b churned on 15 March; c was acquired in March.
        assert (churn.numerator, churn.denominator, churn.value) == (1, 2, 50)
        assert snap("retention_rate", "company", 0, "month", MAR).value == 50
        assert snap("churn_rate", "team", world.north.pk, "month", MAR).value == 50
        assert snap("churn_rate", "team", world.south.pk, "month", MAR).value is None
        assert snap("churn_rate", "company", 0, "month", APR).value == 0  # a and c, none lost
        # Every recompute applies the inactivity rule as of its day: a's last
        # won deal was on 10 June 2024, so on 15 June 2025 a churned on 10 June.
        q2 = snap("retention_rate", "company", 0, "quarter", Q2)
        assert (q2.numerator, q2.denominator, q2.value) == (1, 2, 50)
        with override_settings(KPI_CHURN_INACTIVITY_DAYS=0):
            run()
        assert snap("retention_rate", "company", 0, "quarter", Q2).value == 100

    def test_repeat_purchase_rate(self, world, book, snap):
        run()
        # By 31 January only b's first deal: 0 of 2; by 28 February b has two: 1 of 2.
        assert snap("repeat_purchase_rate", "company", 0, "month", JAN).value == 0
        assert snap("repeat_purchase_rate", "company", 0, "month", dt.date(2025, 2, 1)).value == 50
        rate = snap("repeat_purchase_rate", "company", 0, "month", MAR)
        assert (rate.numerator, rate.denominator) == (1, 3)

    def test_arpa_over_twelve_months(self, world, book, snap):
        run()
        # 12 months to 31 March 2025: Apr 2024..Mar 2025 = 1200 + 600 + 600 + 2400 = 4800,
        # ÷ 12 = 400 a month, over 3 customers with a won deal: 133.33.
        arpa = snap("arpa", "company", 0, "month", MAR)
        assert (arpa.numerator, arpa.denominator) == (400, 3)
        assert arpa.value == d("133.333333")
        # North (customer.team): 1200 + 600 + 600 = 2400 → 200 / 2 customers.
        assert snap("arpa", "team", world.north.pk, "month", MAR).value == 100
        # The year's window is the year itself: 600 + 2400 over 2 customers.
        assert snap("arpa", "company", 0, "year", Y2025).value == d("125")

    def test_ltv_cac_ratio_and_payback(self, world, book, snap):
        CampaignSpendFactory(spent_on=dt.date(2025, 3, 10), amount=Decimal("100"))
        run()
        # Monthly churn Oct..Mar: 0,0,0,0,0 (2 active) and March 1/2 → mean 1/12.
        ltv = snap("ltv", "company", 0, "month", MAR)
        assert ltv.denominator == d("0.083333")
        assert abs(ltv.value - Decimal("133.333333") * 12) < Decimal("0.001")
        assert snap("cac", "company", 0, "month", MAR).value == 100  # 100 ÷ 1 new customer (c)
        ratio = snap("ltv_cac_ratio", "company", 0, "month", MAR)
        assert abs(ratio.value - Decimal("16")) < Decimal("0.0001")
        payback = snap("cac_payback_months", "company", 0, "month", MAR)
        assert payback.value == d("0.75")  # 100 ÷ 133.33
        # February: no churn in the six months, so LTV is n/a.
        assert snap("ltv", "company", 0, "month", dt.date(2025, 2, 1)).value is None

    @override_settings(KPI_GROSS_MARGIN=Decimal("0.5"))
    def test_gross_margin(self, world, book, snap):
        run()
        assert snap("ltv", "company", 0, "month", MAR).numerator == d("66.666667")


class TestChurnRule:
    def test_customer_churns_a_set_number_of_days_after_its_last_won_deal(self, world):
        quiet = _customer(world.ann, dt.date(2024, 1, 10), wins=[(dt.date(2024, 1, 10), "10")])
        busy = _customer(
            world.ann,
            dt.date(2024, 1, 10),
            wins=[(dt.date(2024, 1, 10), "10"), (dt.date(2024, 12, 1), "10")],
        )
        assert apply_churn_rule(today=dt.date(2025, 2, 1)) == 1
        quiet.refresh_from_db()
        busy.refresh_from_db()
        assert quiet.churned_on == dt.date(2025, 1, 9)  # 2024 is a leap year: 365 days later
        assert busy.churned_on is None
        assert apply_churn_rule(today=dt.date(2025, 2, 1)) == 0  # already churned

    def test_a_customer_marked_lost_keeps_its_date(self, world):
        customer = _customer(world.ann, dt.date(2023, 1, 1), wins=[(dt.date(2023, 1, 1), "1")])
        customer.mark_churned(dt.date(2023, 6, 1))
        apply_churn_rule(today=dt.date(2025, 2, 1))
        customer.refresh_from_db()
        assert customer.churned_on == dt.date(2023, 6, 1)

    @override_settings(KPI_CHURN_INACTIVITY_DAYS=0)
    def test_zero_turns_the_rule_off(self, world):
        _customer(world.ann, dt.date(2020, 1, 1), wins=[(dt.date(2020, 1, 1), "1")])
        assert apply_churn_rule(today=dt.date(2025, 2, 1)) == 0


class TestSurveys:
    def test_nps_and_csat_in_the_company_time_zone(self, world, snap):
        # 31 March 23:30 in Paris (summer time) is 21:30 UTC: March, Q1.
        march_late = dt.datetime(2025, 3, 31, 21, 30, tzinfo=UTC)
        # 31 March 22:30 UTC is 1 April 00:30 in Paris: April, Q2.
        april_early = dt.datetime(2025, 3, 31, 22, 30, tzinfo=UTC)
        for score, csat in [(10, 5), (9, 4), (8, 3), (6, None), (3, 1)]:
            inv = InvitationFactory(customer=CustomerFactory(owner=world.ann), sent_at=march_late)
            ResponseFactory(invitation=inv, submitted_at=march_late, nps_score=score, csat_score=csat)
        inv = InvitationFactory(customer=CustomerFactory(owner=world.sam), sent_at=april_early)
        ResponseFactory(invitation=inv, submitted_at=april_early, nps_score=0, csat_score=5)
        run()
        nps = snap("nps", "rep", world.ann.pk, "month", MAR)
        assert nps.details == {"promoters": 2, "passives": 1, "detractors": 2}
        assert (nps.numerator, nps.denominator, nps.value) == (0, 5, 0)
        assert snap("nps", "company", 0, "quarter", Q1).value == 0
        assert snap("nps", "company", 0, "month", APR).value == -100
        assert snap("nps", "company", 0, "quarter", Q2).value == -100
        csat = snap("csat", "team", world.north.pk, "month", MAR)
        assert (csat.numerator, csat.denominator) == (2, 4)  # 4 and 5 of four answers
        assert snap("csat", "company", 0, "month", APR).value == 100

    def test_response_rate_leaves_bounces_out(self, world, snap):
        sent = dt.datetime(2025, 3, 31, 21, 30, tzinfo=UTC)
        customer = CustomerFactory(owner=world.ann)
        answered = [InvitationFactory(customer=customer, sent_at=sent) for _ in range(2)]
        for inv in answered:
            ResponseFactory(invitation=inv, submitted_at=sent)
        InvitationFactory(customer=customer, sent_at=sent)
        InvitationFactory(customer=customer, sent_at=sent, bounced_at=sent)
        InvitationFactory(customer=customer, sent_at=None)  # never sent
        run()
        rate = snap("survey_response_rate", "rep", world.ann.pk, "month", MAR)
        assert (rate.numerator, rate.denominator) == (2, 3)
        assert snap("survey_response_rate", "rep", world.ann.pk, "month", APR).value is None


class TestQuotaAndActivities:
    def test_quota_sums_the_months_of_a_quarter(self, deals, snap):
        for month in (1, 2, 3):
            TargetFactory(user=deals.ann, month=dt.date(2025, month, 1), amount=Decimal("2000"))
        TargetFactory(user=None, team=deals.north, month=MAR, amount=Decimal("8000"))
        run()
        q = snap("quota_attainment", "rep", deals.ann.pk, "quarter", Q1)
        assert (q.numerator, q.denominator) == (4000, 6000)
        assert q.value == d("66.666667")
        assert snap("quota_attainment", "rep", deals.ann.pk, "month", MAR).value == 200
        assert snap("quota_attainment", "team", deals.north.pk, "month", MAR).value == 50
        assert snap("quota_attainment", "rep", deals.bob.pk, "month", MAR).value is None
        assert snap("quota_attainment", "company", 0, "month", MAR) is None

    def test_activities_count_calls_meetings_and_emails(self, world, snap):
        for kind in ("call", "meeting", "email", "note"):
            ActivityFactory(owner=world.ann, kind=kind, occurred_on=dt.date(2025, 3, 31))
        run()
        assert Activity.objects.count() == 4
        assert snap("activities", "rep", world.ann.pk, "month", MAR).value == 3
        assert snap("activities", "team", world.north.pk, "quarter", Q1).value == 3
        assert snap("activities", "company", 0, "month", APR).value == 0


class TestRunning:
    def test_recompute_twice_gives_the_same_rows(self, deals):
        first = run()
        rows = list(KpiSnapshot.objects.order_by("pk").values_list(
            "pk", "kpi", "scope_type", "scope_id", "granularity", "period_start",
            "value", "numerator", "denominator", "low_sample", "maturing",
        ))  # fmt: skip
        second = run()
        assert first.rows == second.rows == len(rows)
        again = list(KpiSnapshot.objects.order_by("pk").values_list(
            "pk", "kpi", "scope_type", "scope_id", "granularity", "period_start",
            "value", "numerator", "denominator", "low_sample", "maturing",
        ))  # fmt: skip
        assert again == rows

    def test_every_kpi_is_written_for_its_scopes(self, deals):
        from kpis.definitions import KPIS

        CampaignFactory()
        run()
        written = set(KpiSnapshot.objects.values_list("kpi", "scope_type").distinct())
        expected = {(key, scope) for key, defn in KPIS.items() for scope in defn.scopes}
        assert written == expected

    def test_without_a_range_every_period_with_data(self, deals, snap):
        recompute(today=TODAY)
        assert snap("revenue", "company", 0, "month", MAR).value == 4000
        assert snap("revenue", "company", 0, "month", dt.date(2025, 6, 1)) is not None
        # The earliest data is the open deal's opening, 1 January: the
        # pipeline holds it from then.
        assert snap("open_pipeline_value", "company", 0, "month", JAN).value == 700
        assert snap("revenue", "company", 0, "month", dt.date(2024, 12, 1)) is None
        assert snap("revenue", "company", 0, "month", dt.date(2025, 7, 1)) is None

    def test_progress_is_reported(self, deals):
        calls = []
        recompute(MAR, MAR, ["month"], today=TODAY, progress=lambda d, t: calls.append((d, t)))
        assert calls[-1][0] == calls[-1][1]
        assert [c[0] for c in calls] == list(range(1, len(calls) + 1))
