"""The scorecard's sections: which heading each KPI's card sits under.

A KPI definition may carry its own `section`; otherwise this table decides,
and a KPI nobody placed goes under "Other" rather than disappearing.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

SECTIONS = [
    (
        "sales",
        _("Sales"),
        ["revenue", "deals_won", "win_rate", "avg_deal_size", "sales_cycle_days", "quota_attainment"],
    ),
    (
        "pipeline",
        _("Pipeline"),
        ["open_pipeline_value", "weighted_pipeline_value", "pipeline_velocity", "lead_conversion_rate"],
    ),
    (
        "customers",
        _("Customers & value"),
        [
            "new_customers",
            "marketing_spend",
            "sales_cost",
            "cac",
            "paid_cac",
            "arpa",
            "churn_rate",
            "retention_rate",
            "ltv",
            "ltv_cac_ratio",
            "cac_payback_months",
            "repeat_purchase_rate",
        ],
    ),  # fmt: skip
    ("satisfaction", _("Satisfaction"), ["nps", "csat", "survey_response_rate"]),
    ("activity", _("Activity & team"), ["activities"]),
]
OTHER = ("other", _("Other"))
_PLACE = {kpi: key for key, _label, kpis in SECTIONS for kpi in kpis}


def section_key(defn) -> str:
    return getattr(defn, "section", None) or _PLACE.get(defn.key, OTHER[0])


def group_cards(cards: list) -> list[dict]:
    """Cards under their sections, sections in the table's order, empty ones left out."""
    labels = {key: label for key, label, _kpis in SECTIONS} | {OTHER[0]: OTHER[1]}
    groups: dict[str, list] = {key: [] for key in labels}
    for card in cards:
        groups.setdefault(section_key(card.defn), []).append(card)
    return [
        {"key": key, "label": labels.get(key, key), "cards": cards} for key, cards in groups.items() if cards
    ]
