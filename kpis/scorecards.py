"""Building scorecards and leaderboards from KPI snapshots.

Everything a performance page shows is worked out here, in plain Python over
snapshot rows fetched with a fixed number of queries: periods and their
neighbours, changes against the previous period, badges and their reasons,
sparklines, rankings with ties, and the links behind "Explain this number".
Views only pick the scope and render. Labels, units and the better direction
come from `kpis.definitions`; no formula is restated here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.db.models import Count, Max
from django.urls import NoReverseMatch, reverse
from django.utils import formats, timezone
from django.utils.safestring import mark_safe
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from crm.models import Stage, check_date_in_range
from kpis.definitions import (
    COMPANY,
    GRANULARITIES,
    KPIS,
    MONTH,
    QUARTER,
    REP,
    TEAM,
    YEAR,
    KpiDefinition,
)
from kpis.models import KpiSnapshot
from ui.formatting import money

SPARK_PERIODS = 12
SPARK_WIDTH, SPARK_HEIGHT = 120, 32

# What a viewer may rank people by (issue 6); the order is the picker's.
LEADERBOARD_KPIS = (
    "revenue",
    "deals_won",
    "win_rate",
    "avg_deal_size",
    "lead_conversion_rate",
    "nps",
    "quota_attainment",
    "activities",
)

# The per-rep table of the team page.
CORE_KPIS = (
    "revenue",
    "quota_attainment",
    "deals_won",
    "win_rate",
    "avg_deal_size",
    "sales_cycle_days",
    "lead_conversion_rate",
    "open_pipeline_value",
    "activities",
    "nps",
)

# Dashboard cards before a user chooses their own, by the scope they see.
DEFAULT_DASHBOARD = {
    REP: ("revenue", "quota_attainment", "deals_won", "win_rate", "open_pipeline_value", "activities"),
    TEAM: ("revenue", "quota_attainment", "win_rate", "open_pipeline_value", "lead_conversion_rate", "nps"),
    COMPANY: ("revenue", "new_customers", "win_rate", "cac", "churn_rate", "nps"),
}

GRANULARITY_LABELS = {
    MONTH: gettext_lazy("Month"),
    QUARTER: gettext_lazy("Quarter"),
    YEAR: gettext_lazy("Year"),
}


# ---------------------------------------------------------------- periods


def period_start(day: dt.date, granularity: str) -> dt.date:
    """The first day of the month, quarter or year that holds `day`."""
    if granularity == YEAR:
        return day.replace(month=1, day=1)
    if granularity == QUARTER:
        return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    return day.replace(day=1)


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


_STEP = {MONTH: 1, QUARTER: 3, YEAR: 12}


@dataclass(frozen=True)
class Period:
    granularity: str
    start: dt.date

    @classmethod
    def containing(cls, day: dt.date, granularity: str = MONTH) -> Period:
        return cls(granularity, period_start(day, granularity))

    def shift(self, steps: int) -> Period:
        return Period(self.granularity, _add_months(self.start, steps * _STEP[self.granularity]))

    @property
    def previous(self) -> Period:
        return self.shift(-1)

    @property
    def next(self) -> Period:
        return self.shift(1)

    @property
    def end(self) -> dt.date:
        return self.next.start - dt.timedelta(days=1)

    def last(self, n: int) -> list[Period]:
        """The n periods ending with this one, oldest first."""
        return [self.shift(-i) for i in range(n - 1, -1, -1)]

    @property
    def label(self) -> str:
        if self.granularity == YEAR:
            return str(self.start.year)
        if self.granularity == QUARTER:
            return _("Q%(quarter)s %(year)s") % {
                "quarter": (self.start.month - 1) // 3 + 1,
                "year": self.start.year,
            }
        return formats.date_format(self.start, "YEAR_MONTH_FORMAT")

    @property
    def short_label(self) -> str:
        if self.granularity == MONTH:
            return formats.date_format(self.start, "M Y")
        return self.label

    def params(self) -> dict[str, str]:
        return {"g": self.granularity, "p": self.start.isoformat()}


class PeriodForm(forms.Form):
    g = forms.ChoiceField(
        label=gettext_lazy("Period"),
        choices=[(g, GRANULARITY_LABELS[g]) for g in GRANULARITIES],
        required=False,
    )
    p = forms.DateField(label=gettext_lazy("Starting"), required=False, validators=[check_date_in_range])


def period_from_params(params, today: dt.date | None = None) -> Period:
    """The period a page shows: from ?g=&p=, else the current month.

    A tampered value falls back to the default rather than failing: the
    period picker only ever produces valid links.
    """
    today = today or timezone.localdate()
    form = PeriodForm(params)
    granularity, day = MONTH, today
    if form.is_valid():
        granularity = form.cleaned_data["g"] or MONTH
        day = form.cleaned_data["p"] or today
    else:
        if params.get("g") in GRANULARITIES:
            granularity = params["g"]
    return Period.containing(day, granularity)


# ---------------------------------------------------------------- scopes


@dataclass(frozen=True)
class Scope:
    type: str
    id: int
    label: str

    def params(self) -> dict[str, str]:
        if self.type == REP:
            return {"rep": str(self.id)}
        if self.type == TEAM:
            return {"team": str(self.id)}
        return {"scope": COMPANY}


# ---------------------------------------------------------------- formatting


def _number(value: Decimal | float | int, places: int) -> str:
    """A number in the active language's separators, grouped by thousands.

    Python's own formatting plus a separator swap: Django's number_format is
    ten times slower, and a scorecard formats several hundred numbers.
    """
    # Half up, as people round (31.25 days reads 31.3), not banker's rounding.
    rounded = Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    text = f"{rounded:,.{places}f}"
    decimal_sep = formats.get_format("DECIMAL_SEPARATOR")
    thousand_sep = formats.get_format("THOUSAND_SEPARATOR")
    if (decimal_sep, thousand_sep) != (".", ","):
        text = text.replace(",", "\x00").replace(".", decimal_sep).replace("\x00", thousand_sep)
    return text


def format_value(value: Decimal | None, unit: str, *, short: bool = False) -> str:
    """A KPI value as people read it: money with the language's symbol and
    2 decimals (none from 1,000 on when `short`, for cards), percentages 1."""
    if value is None:
        return _("n/a")
    if unit == "money":
        return money(value, short=short)
    if unit == "money_per_day":
        return _("%(amount)s/day") % {"amount": money(value, short=short)}
    if unit == "percent":
        return f"{_number(value, 1)} %"
    if unit == "score":
        return _number(value, 1)
    if unit == "count":
        return _number(value, 0)
    if unit == "days":
        return _("%(n)s days") % {"n": _number(value, 1)}
    if unit == "months":
        return _("%(n)s months") % {"n": _number(value, 1)}
    if unit == "hours":
        return _("%(n)s hours") % {"n": _number(value, 1)}
    if unit == "ratio":
        return f"{_number(value, 2)} ×"
    return _number(value, 2)


def format_plain(value: Decimal | None) -> str:
    """A numerator or denominator: whole numbers bare, others 2 decimals."""
    if value is None:
        return _("n/a")
    if value == value.to_integral_value():
        return _number(value, 0)
    return _number(value, 2)


def chart_number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


# ---------------------------------------------------------------- changes and badges


@dataclass
class Change:
    text: str
    arrow: str  # ▲ ▼ or =
    tone: str  # good | bad | neutral
    description: str  # what a screen reader says


def change_between(
    current: Decimal | None, previous: Decimal | None, defn: KpiDefinition, against: str | None = None
) -> Change | None:
    """The change against the comparison period, coloured by the better direction.

    Rates and scores change in points (45 % → 50 % is +5.0 pts, not +11 %);
    other KPIs in percent of the previous value. None when either side is
    n/a or a relative change would divide by zero.
    """
    if current is None or previous is None:
        return None
    if defn.unit in ("percent", "score"):
        diff = current - previous
        text = _("%(sign)s%(n)s pts") % {"sign": "+" if diff > 0 else "", "n": _number(diff, 1)}
    else:
        if previous == 0:
            return None
        diff = (current - previous) / abs(previous) * 100
        text = f"{'+' if diff > 0 else ''}{_number(diff, 1)} %"
    if diff == 0:
        if against:
            return Change(text, "=", "neutral", _("unchanged from %(span)s") % {"span": against})
        return Change(text, "=", "neutral", _("unchanged from the previous period"))
    arrow = "▲" if diff > 0 else "▼"
    if defn.better is None:
        tone = "neutral"
    else:
        tone = "good" if (diff > 0) == (defn.better == "up") else "bad"
    word = _("up") if diff > 0 else _("down")
    if against:
        return Change(
            text,
            arrow,
            tone,
            _("%(word)s %(text)s on %(span)s") % {"word": word, "text": text, "span": against},
        )
    return Change(
        text, arrow, tone, _("%(word)s %(text)s on the previous period") % {"word": word, "text": text}
    )


# ---------------------------------------------------------------- like for like


@dataclass
class Comparison:
    """What a figure is compared with: the previous period whole, or, while a
    period is under way, the same elapsed span of the previous one (kpi-spec:
    like for like), as the engine stored it in the snapshot's details."""

    value: Decimal | None
    label: str  # "1–5 Nov", or the previous period's label
    partial: bool
    low_sample: bool = False


def span_label(start: dt.date, end: dt.date, today: dt.date | None = None) -> str:
    """A short date range in the active language: "1–5 Nov", "1 Jul – 4 Sep"."""
    today = today or timezone.localdate()
    with_year = end.year != today.year
    day_month = "j M Y" if with_year else "j M"
    if start == end:
        return formats.date_format(end, day_month)
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.day}–{formats.date_format(end, day_month)}"
    return f"{formats.date_format(start, 'j M')} – {formats.date_format(end, day_month)}"


def _decimal(text) -> Decimal | None:
    return None if text is None else Decimal(text)


def comparison(
    period: Period, snap: KpiSnapshot | None, previous: KpiSnapshot | None, today: dt.date | None = None
) -> Comparison:
    today = today or timezone.localdate()
    stored = snap.details.get("compare") if snap is not None and snap.details else None
    if stored and period.start <= today <= period.end:
        start, end = dt.date.fromisoformat(stored["start"]), dt.date.fromisoformat(stored["end"])
        return Comparison(
            _decimal(stored["value"]), span_label(start, end, today), True, bool(stored.get("low_sample"))
        )
    value = previous.value if previous is not None else None
    return Comparison(value, period.previous.label, False, bool(previous and previous.low_sample))


@dataclass
class Badge:
    kind: str  # na | low | maturing
    label: str
    reason: str
    css: str = ""


def badges_for(defn: KpiDefinition, snap: KpiSnapshot | None) -> list[Badge]:
    badges: list[Badge] = []
    if snap is None:
        badges.append(Badge("na", _("n/a"), _("Not computed yet for this period.")))
        return badges
    if snap.value is None:
        if defn.key == "quota_attainment" and not snap.denominator:
            reason = _("No target is set for this period.")
        elif snap.denominator is not None and snap.denominator == 0:
            reason = _("Nothing to divide by in this period: the denominator is 0.")
        else:
            reason = _("A figure this KPI needs is missing for the period; see its definition.")
        badges.append(Badge("na", _("n/a"), reason))
    if snap.low_sample:
        badges.append(
            Badge(
                "low",
                _("Low sample"),
                _("Based on %(n)s only, fewer than %(min)s: read it with care.")
                % {"n": format_plain(snap.denominator), "min": settings.KPI_MIN_SAMPLE},
                "warn",
            )
        )
    if snap.maturing:
        badges.append(
            Badge(
                "maturing",
                _("Maturing"),
                _("This period ended less than %(days)s days ago: the figure can still rise.")
                % {"days": settings.KPI_COHORT_MATURITY_DAYS},
                "warn",
            )
        )
    return badges


# ---------------------------------------------------------------- sparklines


def sparkline(
    values: list[Decimal | None], width: int = SPARK_WIDTH, height: int = SPARK_HEIGHT
) -> list[str]:
    """SVG polyline point lists for a sparkline; n/a periods break the line.

    Drawn on the server: a dozen points per card need no JavaScript.
    """
    known = [v for v in values if v is not None]
    if not known:
        return []
    low, high = min(known), max(known)
    span = (high - low) or Decimal(1)
    step = width / max(len(values) - 1, 1)
    segments: list[list[str]] = [[]]
    for i, v in enumerate(values):
        if v is None:
            if segments[-1]:
                segments.append([])
            continue
        y = height - 2 - float((v - low) / span) * (height - 4)
        segments[-1].append(f"{i * step:.1f},{y:.1f}")
    # A lone point still shows as a dot: repeat it so the polyline has length.
    return [" ".join(s if len(s) > 1 else s * 2) for s in segments if s]


def spark_shape(
    values: list[Decimal | None], point_in_time: bool, width: int = SPARK_WIDTH, height: int = SPARK_HEIGHT
) -> dict | None:
    """What a card's sparkline draws, in SVG coordinates.

    A balance read at a point in time (open pipeline) is bars: a line between
    month-end balances suggests a flow that never happened. A flow is a line
    over a light area, with a dot on every known period so a lone month still
    reads; n/a periods are gaps (no bar, a break in the line), never zeros.

    The SVG elements are written here, not in the card's template: a
    scorecard draws 40 of them, and a template loop per bar or dot was a
    third of the page's time (docs/benchmarks.md). Only numbers go in.
    """
    known = [v for v in values if v is not None]
    if not known:
        return None
    n = len(values)
    if point_in_time:
        low = min(Decimal(0), min(known))
        span = (max(known) - low) or Decimal(1)
        slot = width / n
        bars = []
        for i, v in enumerate(values):
            if v is None:
                continue
            h = max(float((v - low) / span) * (height - 2), 1.5)
            x, w = i * slot + slot * 0.15, slot * 0.7
            bars.append(f'<rect x="{x:.1f}" y="{height - h:.1f}" width="{w:.1f}" height="{h:.1f}" rx="1"/>')
        return {"kind": "bars", "svg": mark_safe("".join(bars))}
    low, high = min(known), max(known)
    span = (high - low) or Decimal(1)
    step = width / max(n - 1, 1)
    points: list[tuple[float, float] | None] = [
        None if v is None else (i * step, height - 3 - float((v - low) / span) * (height - 6))
        for i, v in enumerate(values)
    ]
    segments: list[list[tuple[float, float]]] = [[]]
    for point in points:
        if point is None:
            if segments[-1]:
                segments.append([])
        else:
            segments[-1].append(point)
    lines, areas = [], []
    for seg in (s for s in segments if len(s) > 1):
        line = " ".join(f"{x:.1f},{y:.1f}" for x, y in seg)
        lines.append(
            f'<polyline points="{line}" fill="none" stroke="currentColor" stroke-width="2" '
            'vector-effect="non-scaling-stroke" stroke-linecap="round" stroke-linejoin="round"/>'
        )
        area = f"{seg[0][0]:.1f},{height} {line} {seg[-1][0]:.1f},{height}"
        areas.append(f'<polygon class="spark-area" points="{area}"/>')
    dots = [
        f'<line class="spark-dot" x1="{x:.1f}" y1="{y:.1f}" x2="{x:.1f}" y2="{y:.1f}" '
        'vector-effect="non-scaling-stroke"/>'
        for x, y in (p for p in points if p is not None)
    ]
    return {"kind": "line", "svg": mark_safe("".join([*areas, *lines, *dots]))}


# ---------------------------------------------------------------- explain links

CONTRACT_PATHS = {
    "deal_list": "/deals/",
    "prospect_list": "/prospects/",
    "customer_list": "/customers/",
    "activity_list": "/activities/",
    "survey_results": "/surveys/results/",
    "campaign_list": "/campaigns/",
    "sales_cost_list": "/sales-costs/",
}


def _url(name: str, params: dict[str, str]) -> str:
    # The list pages are built by other issues; their paths are fixed by the
    # contract, so a branch without them still links to the right place.
    try:
        path = reverse(name)
    except NoReverseMatch:
        path = CONTRACT_PATHS[name]
    query = urlencode({k: v for k, v in params.items() if v not in ("", None)})
    return f"{path}?{query}" if query else path


def records_link(defn: KpiDefinition, scope: Scope, period: Period) -> tuple[str, str] | None:
    """(label, url) of the records a KPI counts, filtered to the scope and period.

    The list pages apply `visible_to` themselves, so a viewer only ever sees
    the records they may see.
    """
    who = {REP: {"owner": scope.id}, TEAM: {"team": scope.id}}.get(scope.type, {})
    start, end = period.start.isoformat(), period.end.isoformat()
    kind = defn.records
    if defn.key in ("time_in_stage_days", "stage_conversion_rate", "stalled_deals"):
        # The Process page: its funnel links to the exact deals of each stage.
        scope_param = {COMPANY: "company"}.get(scope.type, f"{scope.type}-{scope.id}")
        return _("Stages and stalled deals"), _url("process_page", {"scope": scope_param, **period.params()})
    if defn.key == "lost_reasons":
        closed = {"closed_from": start, "closed_to": end, "sort": "-closed_on"}
        return _("Deals lost in the period"), _url("deal_list", {**who, "stage": "lost", **closed})
    if kind == "deals":
        if defn.point_in_time or defn.key == "pipeline_velocity":
            return _("Open deals"), _url("deal_list", {**who, "stage": "open"})
        # Sorted by close date: the period's deals in the order they closed,
        # read as one range of the deal list's close-date index.
        closed = {"closed_from": start, "closed_to": end, "sort": "-closed_on"}
        if defn.key == "win_rate":
            return _("Deals closed in the period"), _url("deal_list", {**who, **closed})
        return _("Deals won in the period"), _url("deal_list", {**who, "stage": "won", **closed})
    if kind == "prospects":
        return _("Prospects created in the period"), _url(
            "prospect_list", {**who, "created_from": start, "created_to": end}
        )
    if kind == "customers":
        if defn.key in ("new_customers", "cac"):
            return _("Customers acquired in the period"), _url(
                "customer_list", {**who, "acquired_from": start, "acquired_to": end}
            )
        if defn.key == "churn_rate":
            return _("Churned customers"), _url("customer_list", {**who, "churned": "yes"})
        return _("Customers"), _url("customer_list", who)
    if kind in ("responses", "invitations"):
        survey_who = {REP: {"rep": scope.id}, TEAM: {"team": scope.id}}.get(scope.type, {})
        return _("Survey results for the period"), _url(
            "survey_results", {**survey_who, "from": start, "to": end}
        )
    if kind == "activities":
        return _("Activities in the period"), _url("activity_list", {**who, "from": start, "to": end})
    if kind == "spend":
        return _("Campaigns and their spend"), _url("campaign_list", {})
    if kind == "training":
        return _("Training sessions"), _url("training_list", {})
    if kind == "certifications":
        return _("Certifications"), _url("certification_list", {})
    if kind == "pulse":
        # The results page applies the anonymity threshold itself.
        team = {"team": scope.id} if scope.type == TEAM else {}
        return _("Team pulse results"), _url("pulse_results", {**team, **period.params()})
    if kind == "sales_cost":
        team = {"team": scope.id} if scope.type == TEAM else {}
        return _("Sales cost lines"), _url("sales_cost_list", {"year": str(period.start.year), **team})
    return None


# ---------------------------------------------------------------- cards


@dataclass
class Card:
    defn: KpiDefinition
    period: Period
    snapshot: KpiSnapshot | None
    display: str
    change: Change | None
    previous_display: str
    compare_label: str
    attainment: str | None
    attainment_value: Decimal | None
    spark: list[str]
    spark_labels: str
    badges: list[Badge]
    numerator: str
    denominator: str
    details: dict
    link: tuple[str, str] | None
    # "What changed" (kpis.breakdown), for the KPIs it can break down.
    breakdown: str = ""
    shape: dict | None = None

    @property
    def key(self) -> str:
        return self.defn.key

    @property
    def value(self) -> Decimal | None:
        return self.snapshot.value if self.snapshot else None


def _scorecard_rows(scope: Scope, period: Period, kpis: list[str]):
    """The KPIs × the last 12 periods; snapshot_scorecard_idx (scope,
    granularity, period_start) serves it."""
    starts = [p.start for p in period.last(SPARK_PERIODS)]
    return KpiSnapshot.objects.for_scope(scope.type, scope.id).filter(
        granularity=period.granularity, period_start__range=(starts[0], starts[-1]), kpi__in=kpis
    )


def scorecard_snapshots(scope: Scope, period: Period, kpis: list[str]) -> list[KpiSnapshot]:
    """Every row a scorecard needs, in one query."""
    return list(_scorecard_rows(scope, period, kpis))


# Rendered cards are kept this long at most, for the same snapshots: a new
# recompute changes the key at once; this bounds what a deploy leaves stale.
CARDS_CACHE_SECONDS = 600
CARDS_CACHE_PREFIX = "kpis:cards:"


def cards_cache_key(page: str, scope: Scope, period: Period, kpis: list[str], *parts) -> str:
    """A cache key for a page's rendered cards, or "" when there are no rows.

    Cards are a function of their snapshot rows, the day (like-for-like
    labels), the language and `parts` (what else the caller's cards depend
    on). The rows change only through the engine, which stamps every row it
    writes with its run's time and deletes what is gone: the newest stamp
    and the number of rows identify them (one index range, 1 query).
    """
    stamp = _scorecard_rows(scope, period, kpis).aggregate(newest=Max("computed_at"), rows=Count("pk"))
    if not stamp["rows"]:
        return ""
    raw = [page, scope.type, scope.id, period.granularity, period.start, sorted(kpis), get_language(),
           timezone.localdate(), stamp["newest"], stamp["rows"], *parts]  # fmt: skip
    return CARDS_CACHE_PREFIX + hashlib.sha256(repr(raw).encode()).hexdigest()


def build_cards(scope: Scope, period: Period, kpis: list[str], rows: list[KpiSnapshot]) -> list[Card]:
    """A card per KPI, in the order given, from rows fetched beforehand."""
    by_kpi: dict[str, dict[dt.date, KpiSnapshot]] = defaultdict(dict)
    for row in rows:
        by_kpi[row.kpi][row.period_start] = row
    history = period.last(SPARK_PERIODS)
    today = timezone.localdate()
    # Formatting a date is slow next to the rest: once per period, not per card.
    history_labels = [p.short_label for p in history]
    quota = by_kpi.get("quota_attainment", {}).get(period.start)
    cards = []
    for key in kpis:
        defn = KPIS[key]
        series = by_kpi.get(key, {})
        snap = series.get(period.start)
        against = comparison(period, snap, series.get(period.previous.start), today)
        value = snap.value if snap else None
        attainment = None
        attainment_value = None
        # Attainment belongs on the revenue card: it is revenue against target.
        if key == "revenue" and quota is not None and quota.value is not None:
            attainment_value = quota.value
            attainment = _("%(pct)s of target %(target)s") % {
                "pct": format_value(quota.value, "percent"),
                "target": format_value(quota.denominator, "money", short=True),
            }
        values = [series[p.start].value if p.start in series else None for p in history]
        spark_labels = ", ".join(
            f"{label}: {format_value(v, defn.unit)}" for label, v in zip(history_labels, values, strict=True)
        )
        cards.append(
            Card(
                defn=defn,
                period=period,
                snapshot=snap,
                display=format_value(value, defn.unit, short=True),
                change=change_between(value, against.value, defn, against.label),
                previous_display=format_value(against.value, defn.unit, short=True),
                compare_label=against.label,
                attainment=attainment,
                attainment_value=attainment_value,
                spark=sparkline(values),
                spark_labels=spark_labels,
                badges=badges_for(defn, snap),
                numerator=format_plain(snap.numerator if snap else None),
                denominator=format_plain(snap.denominator if snap else None),
                details=(snap.details or {}) if snap else {},
                link=records_link(defn, scope, period),
                breakdown=breakdown_url(key, scope, period),
                shape=spark_shape(values, defn.point_in_time),
            )
        )
    return cards


def breakdown_url(kpi: str, scope: Scope, period: Period) -> str:
    """The "What changed" page of a KPI, or "" when it cannot be broken down."""
    from kpis.breakdown import supported

    if not supported(kpi):
        return ""
    value = COMPANY if scope.type == COMPANY else f"{scope.type}-{scope.id}"
    query = urlencode({"kpi": kpi, "scope": value, **period.params()})
    return f"{reverse('what_changed')}?{query}"


def computed_at(rows: list[KpiSnapshot], period: Period) -> dt.datetime | None:
    """When the figures of the shown period were last computed."""
    stamps = [r.computed_at for r in rows if r.period_start == period.start]
    return max(stamps) if stamps else None


# ---------------------------------------------------------------- ranking


@dataclass
class Ranked:
    key: int  # the scope id (a user or a team)
    label: str
    value: Decimal | None
    low_sample: bool = False
    rank: int | None = None
    previous_rank: int | None = None
    extra: dict = field(default_factory=dict)

    @property
    def movement(self) -> int | None:
        """Places gained since the previous period (negative: lost)."""
        if self.rank is None or self.previous_rank is None:
            return None
        return self.previous_rank - self.rank


def rank(rows: list[Ranked], better: str | None = "up") -> list[Ranked]:
    """Order rows best first and give them standard competition ranks (1, 1, 3).

    Rows with a full sample come first; low-sample rows are ranked after all
    of them (kpi-spec: small samples); rows without a value get no rank and
    go last, by name.
    """
    descending = better != "down"

    def ordered(group: list[Ranked]) -> list[Ranked]:
        return sorted(group, key=lambda r: (-r.value if descending else r.value, r.label.lower()))

    full = ordered([r for r in rows if r.value is not None and not r.low_sample])
    low = ordered([r for r in rows if r.value is not None and r.low_sample])
    none = sorted((r for r in rows if r.value is None), key=lambda r: r.label.lower())
    position, last_value, last_rank = 0, None, 0
    for group in (full, low):
        last_value = None
        for row in group:
            position += 1
            if row.value != last_value:
                last_rank = position
                last_value = row.value
            row.rank = last_rank
    for row in none:
        row.rank = None
    return full + low + none


def rank_positions(rows: list[Ranked], better: str | None = "up") -> dict[int, int]:
    """{scope id: rank} for a list of rows, for rank movement."""
    return {r.key: r.rank for r in rank(rows, better) if r.rank is not None}


# ---------------------------------------------------------------- leaderboards


def leaderboard_rows(
    kpi: str,
    period: Period,
    scope_type: str,
    entities: list[tuple[int, str]],
    *,
    with_quota: bool = False,
) -> list[Ranked]:
    """Rank people (or teams) by one KPI for a period, with movement since the previous one.

    One query over snapshot_leaderboard_idx: the KPI (and quota_attainment for
    the target columns) for the current and previous periods. While the period
    is under way, the previous figures and ranks are those of the same elapsed
    span (like for like). When nobody has a figure yet, nobody is ranked:
    ties on nothing are no ranking, and no movement happened.
    """
    defn = KPIS[kpi]
    ids = [pk for pk, _label in entities]
    kpis = [kpi, "quota_attainment"] if with_quota and kpi != "quota_attainment" else [kpi]
    snaps = KpiSnapshot.objects.filter(
        kpi__in=kpis,
        granularity=period.granularity,
        period_start__in=[period.start, period.previous.start],
        scope_type=scope_type,
        scope_id__in=ids,
    ).only(
        "kpi",
        "scope_id",
        "period_start",
        "value",
        "numerator",
        "denominator",
        "low_sample",
        "maturing",
        "computed_at",
        "details",
    )
    found: dict[tuple[str, int, dt.date], KpiSnapshot] = {
        (s.kpi, s.scope_id, s.period_start): s for s in snaps
    }
    today = timezone.localdate()
    against = {
        pk: comparison(
            period, found.get((kpi, pk, period.start)), found.get((kpi, pk, period.previous.start)), today
        )  # fmt: skip
        for pk, _label in entities
    }
    before = [Ranked(pk, label, against[pk].value, against[pk].low_sample) for pk, label in entities]
    previous = rank_positions(before, defn.better) if _anyone_has_a_figure(before, defn) else {}
    rows = []
    for pk, label in entities:
        snap = found.get((kpi, pk, period.start))
        current = Ranked(pk, label, snap.value if snap else None, bool(snap and snap.low_sample))
        prev = against[pk]
        quota = found.get(("quota_attainment", pk, period.start))
        current.previous_rank = previous.get(pk)
        current.extra = {
            "display": format_value(current.value, defn.unit),
            "badges": badges_for(defn, snap) if snap is None or snap.value is not None else [],
            "computed_at": snap.computed_at if snap else None,
            "previous": prev.value,
            "previous_display": format_value(prev.value, defn.unit),
            "compare_label": prev.label,
            "change": change_between(current.value, prev.value, defn, prev.label),
            "numerator": snap.numerator if snap else None,
            "denominator": snap.denominator if snap else None,
            "target": quota.denominator if quota else None,
            "target_display": format_value(quota.denominator if quota else None, "money"),
            "attainment": quota.value if quota else None,
            "attainment_display": format_value(quota.value if quota else None, "percent"),
        }
        rows.append(current)
    ranked = rank(rows, defn.better)
    if not _anyone_has_a_figure(ranked, defn):
        for row in ranked:
            row.rank = row.previous_rank = None
    return ranked


def _anyone_has_a_figure(rows: list[Ranked], defn: KpiDefinition) -> bool:
    """A rate of 0 % is a figure; a revenue or a count of 0 is nothing yet."""
    return any(r.value is not None and (r.value != 0 or defn.is_rate) for r in rows)


def leaderboard_chart(defn: KpiDefinition, rows: list[Ranked], me: int | None) -> dict:
    """What the bar chart draws: ranked rows with a value, best first."""
    shown = [r for r in rows if r.value is not None]
    return {
        "labels": [r.label for r in shown],
        "values": [chart_number(r.value) for r in shown],
        "low": [r.low_sample for r in shown],
        "mine": [r.key == me for r in shown],
        "label": str(defn.label),
        "unit": defn.unit,
        "currency": settings.CURRENCY,
    }


# ---------------------------------------------------------------- team page


@dataclass
class TeamTable:
    columns: list[KpiDefinition]
    rows: list[tuple[object, list[dict]]]
    totals: list[dict]
    team_values: dict[str, Decimal | None]
    computed_at: dt.datetime | None
    # The team's own snapshot rows by KPI (the funnel reads their details).
    team_snaps: dict[str, KpiSnapshot] = field(default_factory=dict)


def team_table(team, members: list, period: Period) -> TeamTable:
    """Core KPIs per person and for the team, for one period: one query."""
    from django.db.models import Q

    snaps = KpiSnapshot.objects.filter(
        Q(scope_type=REP, scope_id__in=[m.pk for m in members]) | Q(scope_type=TEAM, scope_id=team.pk),
        kpi__in=CORE_KPIS,
        granularity=period.granularity,
        period_start=period.start,
    ).only(
        "kpi",
        "scope_type",
        "scope_id",
        "value",
        "denominator",
        "details",
        "low_sample",
        "maturing",
        "computed_at",
    )
    found = {(s.scope_type, s.scope_id, s.kpi): s for s in snaps}
    columns = [KPIS[k] for k in CORE_KPIS]

    def cells(scope_type: str, pk: int) -> list[dict]:
        out = []
        for d in columns:
            snap = found.get((scope_type, pk, d.key))
            value = snap.value if snap else None
            out.append(
                {
                    "kpi": d.key,
                    "value": value,
                    "display": format_value(value, d.unit),
                    "low": bool(snap and snap.low_sample),
                    "maturing": bool(snap and snap.maturing),
                }
            )
        return out

    stamps = [s.computed_at for s in found.values()]
    return TeamTable(
        columns=columns,
        rows=[(m, cells(REP, m.pk)) for m in members],
        totals=cells(TEAM, team.pk),
        team_values={c["kpi"]: c["value"] for c in cells(TEAM, team.pk)},
        computed_at=max(stamps) if stamps else None,
        team_snaps={kpi: snap for (st, _pk, kpi), snap in found.items() if st == TEAM},
    )


@dataclass
class FunnelStep:
    label: str
    count: int | None
    drop: str | None  # drop-off from the previous step, as text
    width: int  # bar width in percent of the first step


def team_funnel(table: TeamTable) -> list[FunnelStep]:
    """Prospects → qualified → deals → won for a team and period, from the
    team's snapshots (no query): prospects created is lead conversion's
    denominator, qualified its details, deals opened deals_won's details."""
    snaps = table.team_snaps
    leads, won = snaps.get("lead_conversion_rate"), snaps.get("deals_won")

    def count(value) -> int | None:
        return None if value is None else int(value)

    counts = [
        (_("Prospects"), count(leads.denominator) if leads else None),
        (_("Qualified"), count(leads.details.get("qualified")) if leads else None),
        (_("Deals opened"), count(won.details.get("opened")) if won else None),
        (_("Deals won"), count(won.value) if won else None),
    ]
    first = counts[0][1] or max((c or 0 for _label, c in counts), default=0) or 1
    steps, before = [], None
    for label, count in counts:
        drop = None
        if before and count is not None and count <= before:
            drop = format_value(Decimal(before - count) / before * 100, "percent")
        steps.append(FunnelStep(label, count, drop, min(100, round((count or 0) * 100 / first))))
        before = count
    return steps


def revenue_vs_target(team, period: Period) -> dict:
    """Monthly revenue and target of a team for the 12 months ending with the period: one query.

    The target is quota_attainment's denominator (the sum of the month's
    targets), so no Target row is read on the page.
    """
    last_month = Period.containing(period.end, MONTH)
    months = last_month.last(12)
    snaps = KpiSnapshot.objects.for_scope(TEAM, team.pk).filter(
        kpi__in=["revenue", "quota_attainment"],
        granularity=MONTH,
        period_start__gte=months[0].start,
        period_start__lte=months[-1].start,
    )
    found = {(s.kpi, s.period_start): s for s in snaps}

    def value(kpi: str, start: dt.date, attr: str) -> float | None:
        snap = found.get((kpi, start))
        return chart_number(getattr(snap, attr)) if snap else None

    revenue = [found.get(("revenue", m.start)) for m in months]
    target = [found.get(("quota_attainment", m.start)) for m in months]
    return {
        "labels": [m.short_label for m in months],
        # The same figures as text, for the table under the chart.
        "table": [
            (
                m.short_label,
                format_value(r.value if r else None, "money"),
                format_value(t.denominator if t else None, "money"),
            )
            for m, r, t in zip(months, revenue, target, strict=True)
        ],
        "revenue": [value("revenue", m.start, "value") for m in months],
        "target": [value("quota_attainment", m.start, "denominator") for m in months],
        "revenue_label": str(KPIS["revenue"].label),
        "target_label": _("Target"),
        "currency": settings.CURRENCY,
    }


def pipeline_by_stage(team) -> list[dict]:
    """Open deals of a team by stage, from the latest open_pipeline_value
    snapshot's details (the pipeline on the day it was computed): one query."""
    snap = (
        KpiSnapshot.objects.filter(
            kpi="open_pipeline_value", scope_type=TEAM, scope_id=team.pk, granularity=MONTH
        )
        .order_by("-period_start")
        .only("details")
        .first()
    )
    by_stage = snap.details.get("by_stage", {}) if snap else {}
    grouped = {
        stage: {"count": row["count"], "amount": Decimal(row["amount"])} for stage, row in by_stage.items()
    }
    total = sum((g["amount"] or 0 for g in grouped.values()), Decimal(0)) or Decimal(1)
    out = []
    for stage in Stage.open_stages():
        g = grouped.get(stage, {})
        amount = g.get("amount") or Decimal(0)
        out.append(
            {
                "stage": stage,
                "label": stage.label,
                "count": g.get("count", 0),
                "amount": format_value(amount, "money"),
                "share": round(amount * 100 / total),
            }
        )
    return out
