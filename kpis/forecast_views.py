"""The forecast page and the current quarter's forecast card.

Read ForecastSnapshot rows only (kpis.forecast writes them nightly): the
latest forecast of the current and next periods, and the forecasts kept
from the start of closed periods with what those periods made.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from crm.models import Stage
from crm.models import today as company_today
from kpis import forecast as fc
from kpis import scorecards as sc
from kpis.definitions import MONTH, QUARTER
from kpis.models import ForecastSnapshot
from kpis.performance_views import _render, _scope_choices, _scope_from_request, _scope_value
from kpis.periods import period_end, period_start

SOURCE_LABELS = {
    "rep": gettext_lazy("the salesperson's own deals"),
    "team": gettext_lazy("the team's deals"),
    "company": gettext_lazy("the company's deals"),
    "stage": gettext_lazy("the company's deals in this stage, any age"),
    "default": gettext_lazy("the stage's fixed probability (no history yet)"),
}
GRANULARITY_TITLES = {MONTH: gettext_lazy("Months"), QUARTER: gettext_lazy("Quarters")}
# The accuracy chart shows this many closed periods of each granularity.
HISTORY = {MONTH: 12, QUARTER: 8}


def money(value: Decimal | None) -> str:
    return sc.format_value(value, "money")


def period_label(start: dt.date, granularity: str) -> str:
    return sc.Period(granularity, start).label


@dataclass
class ForecastView:
    """One stored forecast as the page shows it."""

    row: ForecastSnapshot

    @property
    def label(self) -> str:
        return period_label(self.row.period_start, self.row.granularity)

    def __getattr__(self, name):
        # p10, p50, … read as money, e.g. `f.p50_display`.
        if name.endswith("_display"):
            return money(getattr(self.row, name.removesuffix("_display")))
        raise AttributeError(name)

    @property
    def chance(self) -> str:
        return sc.format_value(self.row.chance_of_target, "percent")

    @property
    def top_deals(self) -> list[dict]:
        return [self._deal(d) for d in self.row.details.get("deals", [])[: fc.TOP_DEALS]]

    @property
    def deals(self) -> list[dict]:
        return [self._deal(d) for d in self.row.details.get("deals", [])]

    @property
    def more_deals(self) -> int:
        return max(self.row.open_deals - len(self.row.details.get("deals", [])), 0)

    @property
    def rates(self) -> list[dict]:
        return [
            {
                **r,
                "stage_label": Stage(r["stage"]).label,
                "rate_display": sc.format_value(Decimal(str(r["rate"])) * 100, "percent"),
                "source_label": SOURCE_LABELS.get(r["source"], r["source"]),
            }
            for r in self.row.details.get("rates", [])
        ]

    @staticmethod
    def _deal(d: dict) -> dict:
        return {
            **d,
            "url": reverse("deal_detail", args=[d["id"]]),
            "amount_display": money(Decimal(d["amount"])),
            "stage_label": Stage(d["stage"]).label,
            "probability_display": sc.format_value(Decimal(str(d["probability"])) * 100, "percent"),
            "source_label": SOURCE_LABELS.get(d["source"], d["source"]),
        }


def _fan(views: list[ForecastView]) -> dict:
    """What the fan chart draws (json_script): one point per period."""
    return {
        "currency": settings.CURRENCY,
        "labels": [v.label for v in views],
        "won": [sc.chart_number(v.row.won_so_far) for v in views],
        "p10": [sc.chart_number(v.row.p10) for v in views],
        "p50": [sc.chart_number(v.row.p50) for v in views],
        "p90": [sc.chart_number(v.row.p90) for v in views],
        "target": [sc.chart_number(v.row.target) for v in views],
        "names": {
            "won": _("Won so far"),
            "band": _("P10–P90 range"),
            "p50": _("P50 (median)"),
            "target": _("Target"),
            "actual": _("Actual"),
        },
    }


def _accuracy(rows: list[ForecastSnapshot], granularity: str) -> dict:
    closed = [r for r in rows if r.granularity == granularity][-HISTORY[granularity] :]
    acc = fc.accuracy(closed)
    views = [ForecastView(r) for r in closed]
    chart = _fan(views)
    chart["actual"] = [sc.chart_number(r.actual) for r in closed]
    return {
        "granularity": granularity,
        "title": GRANULARITY_TITLES[granularity],
        "views": views,
        "accuracy": acc,
        "chart": chart,
        "chart_id": f"accuracy-{granularity}",
        "data_id": f"accuracy-{granularity}-data",
    }


@login_required
@require_GET
def forecast_page(request: HttpRequest) -> HttpResponse:
    user = request.user
    scope = _scope_from_request(request)  # 403/404 for what the user may not see
    today = company_today()
    current = {g: period_start(today, g) for g in fc.GRANULARITIES}
    # 1 query: the latest forecasts of the current and next periods.
    latest = [
        ForecastView(r)
        for r in ForecastSnapshot.objects.for_scope(scope.type, scope.id)
        .filter(kind=ForecastSnapshot.Kind.LATEST)
        .order_by("granularity", "period_start")
        if r.period_start >= current[r.granularity]
    ]
    # 1 query: forecasts made at the start of closed periods (without their
    # deal lists), with what the periods made.
    kept = [
        r
        for r in ForecastSnapshot.objects.for_scope(scope.type, scope.id)
        .filter(kind=ForecastSnapshot.Kind.START, actual__isnull=False, period_start__lt=current[MONTH])
        .defer("details")
        .order_by("period_start")
        if period_end(r.period_start, r.granularity) < today
    ]
    sections = []
    for g in fc.GRANULARITIES:
        views = [v for v in latest if v.row.granularity == g]
        sections.append(
            {"granularity": g, "title": GRANULARITY_TITLES[g], "views": views, "chart": _fan(views),
             "chart_id": f"fan-{g}", "data_id": f"fan-{g}-data"}
        )  # fmt: skip
    context = {
        "scope": scope,
        "scope_value": _scope_value(scope),
        "choices": _scope_choices(user, scope),
        "sections": sections,
        "accuracy": [_accuracy(kept, g) for g in fc.GRANULARITIES],
        "as_of": max((v.row.computed_at for v in latest), default=None),
        "made_on": max((v.row.made_on for v in latest), default=None),
        "draws": sc.format_plain(Decimal(fc.DRAWS)),
        "min_sample": settings.KPI_MIN_SAMPLE,
        "half_life": fc.OVERDUE_HALF_LIFE_DAYS,
    }
    return _render(request, "kpis/forecast.html", context)


def quarter_card(scope: sc.Scope) -> ForecastView | None:
    """The current quarter's latest forecast for a card (1 query)."""
    row = (
        ForecastSnapshot.objects.for_scope(scope.type, scope.id)
        .filter(kind=ForecastSnapshot.Kind.LATEST, granularity=QUARTER)
        .filter(period_start=period_start(company_today(), QUARTER))
        .first()
    )
    return ForecastView(row) if row else None
