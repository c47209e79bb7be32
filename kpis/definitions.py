"""One definition per KPI of ../shared/kpi-spec.md.

Pages, exports and the generated docs read these; nothing else restates a
formula. Bump `formula_version` when a KPI's meaning changes: it is stored on
every snapshot so old rows can be told from new.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

COMPANY, TEAM, REP, CAMPAIGN = "company", "team", "rep", "campaign"
MONTH, QUARTER, YEAR = "month", "quarter", "year"
GRANULARITIES = (MONTH, QUARTER, YEAR)


@dataclass(frozen=True)
class KpiDefinition:
    key: str
    label: str
    unit: str  # money | percent | count | days | hours | ratio | months | money_per_day | score
    better: str | None  # "up", "down", or None when neither is better
    scopes: tuple[str, ...]
    description: str
    formula_version: int = 1
    # Rates (and NPS) carry the "low sample" flag when their denominator is
    # below KPI_MIN_SAMPLE (kpi-spec: small samples).
    is_rate: bool = False
    # A cohort KPI is "maturing" while its period ended less than
    # KPI_COHORT_MATURITY_DAYS ago.
    is_cohort: bool = False
    # A point-in-time KPI describes the day of computation, not a period.
    point_in_time: bool = False
    # Which records "Explain this number" links to.
    records: str = (
        ""  # deals | prospects | customers | responses | invitations | activities | spend | sales_cost
    )
    # Anonymity: below this many answers in a scope and period, nothing but
    # "withheld" is stored (enps; 0: no such rule).
    anonymous_below: int = 0


def _d(*args, **kwargs) -> KpiDefinition:
    return KpiDefinition(*args, **kwargs)


ALL_SCOPES = (COMPANY, TEAM, REP, CAMPAIGN)
PEOPLE = (COMPANY, TEAM, REP)
ORG = (COMPANY, TEAM)

KPIS: dict[str, KpiDefinition] = {
    d.key: d
    for d in [
        _d(
            "revenue",
            _("Revenue"),
            "money",
            "up",
            ALL_SCOPES,
            _("Total amount of the deals won with a close date in the period."),
            records="deals",
        ),
        _d(
            "deals_won",
            _("Deals won"),
            "count",
            "up",
            PEOPLE,
            _("Number of deals won with a close date in the period."),
            records="deals",
        ),
        _d(
            "win_rate",
            _("Win rate"),
            "percent",
            "up",
            PEOPLE,
            _("Deals won ÷ deals won or lost, both closed in the period. Open deals are left out."),
            is_rate=True,
            records="deals",
        ),
        _d(
            "avg_deal_size",
            _("Average deal size"),
            "money",
            "up",
            PEOPLE,
            _("Revenue ÷ deals won in the period."),
            records="deals",
        ),
        _d(
            "sales_cycle_days",
            _("Sales cycle"),
            "days",
            "down",
            PEOPLE,
            _("Average number of days from opening to closing, over the deals won in the period."),
            records="deals",
        ),
        _d(
            "lead_conversion_rate",
            _("Lead conversion"),
            "percent",
            "up",
            ALL_SCOPES,
            _(
                "Of the prospects created in the period, the share that has become a paying customer "
                "(one with a won deal) so far. Recent periods are still maturing: their prospects have "
                "had little time to convert."
            ),
            # v2: a paying customer (a won deal), not a conversion alone.
            formula_version=2,
            is_rate=True,
            is_cohort=True,
            records="prospects",
        ),
        _d(
            "new_customers",
            _("New customers"),
            "count",
            "up",
            ALL_SCOPES,
            _("Customers whose first won deal closed in the period, credited to that deal's owner and team."),
            records="customers",
        ),
        _d(
            "marketing_spend",
            _("Marketing spend"),
            "money",
            None,
            (COMPANY, TEAM, CAMPAIGN),
            _("Total campaign spend lines dated in the period."),
            records="spend",
        ),
        _d(
            "sales_cost",
            _("Sales cost"),
            "money",
            None,
            ORG,
            _(
                "Total sales cost lines dated in the period: salaries, commissions, tools and travel of "
                "the sales organisation, per team or company-wide."
            ),
            records="sales_cost",
        ),
        _d(
            "cac",
            _("Customer acquisition cost"),
            "money",
            "down",
            (COMPANY, TEAM, CAMPAIGN),
            _(
                "What acquiring a customer really costs: (marketing spend + sales cost) ÷ new customers "
                "in the same period. For a campaign, its spend ÷ the customers whose first touch was "
                "that campaign."
            ),
            # v2: the blended CAC (sales cost included).
            formula_version=2,
            records="customers",
        ),
        _d(
            "paid_cac",
            _("Paid CAC"),
            "money",
            "down",
            ORG,
            _("Marketing spend alone ÷ new customers in the same period."),
            records="customers",
        ),
        _d(
            "arpa",
            _("Revenue per account (monthly)"),
            "money",
            "up",
            ORG,
            _(
                "Over the 12 months ending with the period: monthly revenue ÷ customers with a won "
                "deal in those months."
            ),
            records="deals",
        ),
        _d(
            "churn_rate",
            _("Churn rate"),
            "percent",
            "down",
            ORG,
            _(
                "Of the customers active at the period's start, the share lost during it "
                "(so churn and retention add up to 100 %)."
            ),
            # v2: customers acquired and lost within the period leave the
            # numerator, as they are not in the base either.
            formula_version=2,
            is_rate=True,
            records="customers",
        ),
        _d(
            "retention_rate",
            _("Retention rate"),
            "percent",
            "up",
            ORG,
            _(
                "Customers active at the period's start and still active at its end ÷ customers "
                "active at its start."
            ),
            is_rate=True,
            records="customers",
        ),
        _d(
            "ltv",
            _("Customer lifetime value"),
            "money",
            "up",
            ORG,
            _(
                "Revenue per account × gross margin ÷ the mean monthly churn rate of the six full "
                "months ending with the period. n/a when no customer churned."
            ),
            formula_version=2,  # follows churn_rate v2
            records="customers",
        ),
        _d(
            "ltv_cac_ratio",
            _("LTV ÷ CAC"),
            "ratio",
            "up",
            ORG,
            _("Lifetime value ÷ acquisition cost, same period and scope."),
            formula_version=3,  # v2 followed ltv v2; v3 follows the blended cac
            records="customers",
        ),
        _d(
            "cac_payback_months",
            _("CAC payback"),
            "months",
            "down",
            ORG,
            _("Months of margin from one account needed to earn back its acquisition cost."),
            formula_version=2,  # follows the blended cac
            records="customers",
        ),
        _d(
            "repeat_purchase_rate",
            _("Repeat purchase rate"),
            "percent",
            "up",
            ORG,
            _(
                "Customers with two or more won deals ÷ customers with at least one, counting deals "
                "closed by the period's end."
            ),
            is_rate=True,
            records="customers",
        ),
        _d(
            "nps",
            _("Net Promoter Score"),
            "score",
            "up",
            PEOPLE,
            _(
                "Promoters (9–10) minus detractors (0–6), as a share of all answers to the 0–10 "
                "question submitted in the period, from −100 to 100."
            ),
            is_rate=True,
            records="responses",
        ),
        _d(
            "csat",
            _("Customer satisfaction"),
            "percent",
            "up",
            PEOPLE,
            _("Share of 1–5 satisfaction answers that are 4 or 5."),
            is_rate=True,
            records="responses",
        ),
        _d(
            "survey_response_rate",
            _("Survey response rate"),
            "percent",
            "up",
            PEOPLE,
            _("Invitations sent in the period that were answered ÷ those that did not bounce."),
            is_rate=True,
            records="invitations",
        ),
        _d(
            "open_pipeline_value",
            _("Open pipeline"),
            "money",
            "up",
            PEOPLE,
            _(
                "Total amount of the deals open at the period's end (today for the period under way), "
                "each in the stage the stage history says it stood in then."
            ),
            # v2: every period's end, rebuilt from the stage history.
            formula_version=2,
            point_in_time=True,
            records="deals",
        ),
        _d(
            "weighted_pipeline_value",
            _("Weighted pipeline"),
            "money",
            "up",
            PEOPLE,
            _(
                "Open deals' amounts, each times the win probability of the stage it stood in at the "
                "period's end (today for the period under way)."
            ),
            formula_version=2,
            point_in_time=True,
            records="deals",
        ),
        _d(
            "pipeline_velocity",
            _("Pipeline velocity"),
            "money_per_day",
            "up",
            PEOPLE,
            _(
                "Deals open at the period's end × win rate × average deal size ÷ sales cycle: money "
                "the pipeline turns into revenue per day."
            ),
            # v2: the deals open at the same instant as the open pipeline.
            formula_version=2,
            records="deals",
        ),
        _d(
            "quota_attainment",
            _("Quota attainment"),
            "percent",
            "up",
            (TEAM, REP),
            _(
                "Revenue ÷ target. A quarter's or year's target is the sum of its months. n/a "
                "without a target."
            ),
            records="deals",
        ),
        _d(
            "activities",
            _("Activities"),
            "count",
            "up",
            PEOPLE,
            _("Calls, meetings and emails done, dated in the period (planned ones are not counted)."),
            formula_version=2,  # v2: planned activities (not done yet) are left out
            records="activities",
        ),
        # The team (team/kpis.py).
        _d(
            "training_hours",
            _("Training hours"),
            "count",
            "up",
            PEOPLE,
            _(
                "Hours of confirmed training sessions held in the period, counted once per attendee "
                "(person-hours), credited to the attendee and the team they were in."
            ),
            records="training",
        ),
        _d(
            "certified_share",
            _("Certified salespeople"),
            "percent",
            "up",
            ORG,
            _(
                "Active salespeople holding a confirmed certification valid at the period's end (today "
                "for the period under way) ÷ active salespeople at that day. A team is its members of today."
            ),
            is_rate=True,
            records="certifications",
        ),
        _d(
            "enps",
            _("Employee NPS"),
            "score",
            "up",
            ORG,
            _(
                "Team pulse answers submitted in the period: promoters (9–10) minus detractors (0–6), as a "
                "share of all answers, from −100 to 100. Withheld for fewer than 5 answers (anonymity), "
                "never shown per person."
            ),
            is_rate=True,
            records="pulse",
            anonymous_below=5,
        ),
        _d(
            "active_selling_days",
            _("Active selling days"),
            "percent",
            "up",
            PEOPLE,
            _(
                "Working days (Monday–Friday) with at least one done call, meeting or email ÷ working days "
                "in the period (from the day a salesperson joined; up to today for the period under way). "
                "A team or the company: Σ days ÷ Σ working days over its active salespeople."
            ),
            is_rate=True,
            records="activities",
        ),
        # Internal processes (kpi-spec: "examine our internal processes"), the Process page.
        _d(
            "time_in_stage_days",
            _("Time in stage"),
            "days",
            "down",
            PEOPLE,
            _(
                "For each open stage, the median number of days deals spent in it, over the deals that "
                "left it in the period (from the stage history); the figure is the sum of the stage "
                "medians. Each stage's median, 75th percentile and count are kept."
            ),
            records="deals",
        ),
        _d(
            "stage_conversion_rate",
            _("Stage conversion"),
            "percent",
            "up",
            PEOPLE,
            _(
                "For each open stage, the deals that left it in the period for a later stage or won ÷ the "
                "deals that left it in the period; the figure is the product of the stage rates (the "
                "pipeline's end-to-end rate, over the stages some deal left)."
            ),
            records="deals",
        ),
        _d(
            "lead_response_hours",
            _("Lead response time"),
            "hours",
            "down",
            PEOPLE,
            _(
                "Median hours from a prospect's creation to its first call, meeting or email done, over "
                "the prospects created in the period that have one (days × 24: both are recorded by "
                "day). The share of those prospects never touched is kept too. Recent periods are "
                "still maturing."
            ),
            is_cohort=True,
            records="prospects",
        ),
        _d(
            "stalled_deals",
            _("Stalled deals"),
            "count",
            "down",
            PEOPLE,
            _(
                "Deals open today that have sat in their stage longer than the 75th percentile of the "
                "time won deals spent in that stage (the team's own won deals, the company's when the "
                "team has fewer than 5). Computed for the period under way only."
            ),
            point_in_time=True,
            records="deals",
        ),
        _d(
            "activities_per_won_deal",
            _("Activities per won deal"),
            "ratio",
            None,
            PEOPLE,
            _("Calls, meetings and emails done on the deals won in the period ÷ deals won in the period."),
            records="deals",
        ),
        _d(
            "lost_reasons",
            _("Lost deals by reason"),
            "count",
            None,
            PEOPLE,
            _(
                "Deals lost with a close date in the period, counted per reason from the managed list "
                "(price, timing, competitor, no decision, product fit, other) and per stage they were "
                "lost at."
            ),
            records="deals",
        ),
    ]
}


def get(key: str) -> KpiDefinition:
    return KPIS[key]


def for_scope(scope_type: str) -> list[KpiDefinition]:
    return [d for d in KPIS.values() if scope_type in d.scopes]
