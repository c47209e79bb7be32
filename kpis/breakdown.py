"""What changed: a KPI's change against its comparison period, broken down.

A figure is compared like for like (kpi-spec): a period under way against the
same elapsed span of the previous one, as the engine stored it in the
snapshot's `details["compare"]`; a closed period against the previous one
whole. Every number here comes from snapshots (and the per-product sums the
engine stores in revenue's details); nothing reads the raw tables.

The maths (docs/what-changed.md):

- **Sums** (revenue, deals won, activities…): a segment's contribution is
  its own change, current − previous; the contributions add up to the change.
- **Ratios of sums** (win rate, NPS, average deal size, CAC…): the total is
  R = Σnᵢ ÷ Σdᵢ = Σ wᵢ·rᵢ with wᵢ = dᵢ ÷ Σd (the segment's share of the
  denominator) and rᵢ = nᵢ ÷ dᵢ (its own rate). The change splits exactly,
  per segment, into (midpoint, "Shapley" form of the shift-share analysis):
      mix  = (wᵢ₁ − wᵢ₀) · (r̄ᵢ − R̄)      r̄ᵢ, R̄: the mean of both periods
      rate = (rᵢ₁ − rᵢ₀) · w̄ᵢ            w̄ᵢ: the mean share of both periods
  Σ mix + Σ rate = R₁ − R₀. Centring the mix on R̄ makes a segment whose share
  grows show a negative mix when its rate is below the average (more volume
  in lower-rate segments) without changing the total (Σ(wᵢ₁ − wᵢ₀) = 0). A
  segment present in one period only has no rate in the other: its rate
  stands in for the missing one, so all of its effect is mix.
- **Revenue = volume × deal size**: ΔRevenue = ΔWon · S̄ + ΔSize · W̄ (means
  of both periods), exact.

Whatever the segments do not explain (a rep who moved team and brought their
history, a team-wide target) is one "Other" line, so the table always adds
up to the change shown on the card.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.models import Campaign, Product, Team, User
from kpis import scorecards as sc
from kpis.definitions import CAMPAIGN, COMPANY, KPIS, REP, TEAM, KpiDefinition
from kpis.models import KpiSnapshot

ZERO = Decimal(0)
TWO = Decimal(2)

# Additive over segments: a scope's figure is the sum of its parts'.
SUM_KPIS = frozenset({
    "revenue", "deals_won", "new_customers", "marketing_spend", "sales_cost", "open_pipeline_value",
    "weighted_pipeline_value", "activities",
})  # fmt: skip
# Ratios of two additive sums (numerator and denominator of the snapshot).
RATIO_KPIS = frozenset({
    "win_rate", "lead_conversion_rate", "csat", "survey_response_rate", "nps", "churn_rate",
    "retention_rate", "repeat_purchase_rate", "quota_attainment", "avg_deal_size", "sales_cycle_days",
    "cac", "paid_cac",
})  # fmt: skip
# Read from revenue's per-product sums: (won, lost, revenue) per product.
PRODUCT_KPIS = frozenset({"revenue", "deals_won", "win_rate", "avg_deal_size"})

DIMENSION_LABELS = {
    TEAM: gettext_lazy("By team"),
    REP: gettext_lazy("By person"),
    CAMPAIGN: gettext_lazy("By campaign"),
    "product": gettext_lazy("By product"),
    "mine": gettext_lazy("Against the rest of the team"),
}


def supported(kpi: str) -> bool:
    return kpi in SUM_KPIS or kpi in RATIO_KPIS


# ---------------------------------------------------------------- the maths


@dataclass
class Segment:
    key: str
    label: str
    n0: Decimal = ZERO  # previous numerator (the value, for a sum)
    d0: Decimal = ZERO
    n1: Decimal = ZERO
    d1: Decimal = ZERO
    url: str = ""
    mix: Decimal = ZERO
    rate: Decimal = ZERO
    mine: bool = False

    @property
    def total(self) -> Decimal:
        return self.mix + self.rate


def decompose_sum(segments: list[Segment]) -> list[Segment]:
    """Each segment's contribution to a sum's change is its own change."""
    for s in segments:
        s.mix, s.rate = ZERO, s.n1 - s.n0
    return segments


def _ratio(n: Decimal, d: Decimal) -> Decimal | None:
    return None if not d else n / d


def decompose_ratio(segments: list[Segment], scale: Decimal = Decimal(1)) -> tuple[list[Segment], Decimal]:
    """Mix and rate effects per segment (module docstring); returns the
    segments and what they leave unexplained (a segment with a numerator but
    no denominator), so that Σ mix + Σ rate + rest = R₁ − R₀ always."""
    D0 = sum((s.d0 for s in segments), ZERO)
    D1 = sum((s.d1 for s in segments), ZERO)
    N0 = sum((s.n0 for s in segments), ZERO)
    N1 = sum((s.n1 for s in segments), ZERO)
    R0, R1 = _ratio(N0, D0), _ratio(N1, D1)
    change = (R1 or ZERO) * scale - (R0 or ZERO) * scale if R0 is not None and R1 is not None else ZERO
    if R0 is None or R1 is None:
        # One side is n/a: there is no change to explain.
        for s in segments:
            s.mix = s.rate = ZERO
        return segments, ZERO
    mean_total = (R0 + R1) / TWO
    for s in segments:
        r0, r1 = _ratio(s.n0, s.d0), _ratio(s.n1, s.d1)
        if r0 is None and r1 is None:
            s.mix = s.rate = ZERO
            continue
        r0 = r1 if r0 is None else r0
        r1 = r0 if r1 is None else r1
        w0, w1 = s.d0 / D0, s.d1 / D1
        s.mix = (w1 - w0) * ((r0 + r1) / TWO - mean_total) * scale
        s.rate = (r1 - r0) * (w0 + w1) / TWO * scale
    explained = sum((s.total for s in segments), ZERO)
    return segments, change - explained


def volume_and_size(won0: Decimal, rev0: Decimal, won1: Decimal, rev1: Decimal) -> tuple[Decimal, Decimal]:
    """Revenue's change as (volume effect, deal-size effect); they add up to
    rev1 − rev0 exactly. With no deal on one side, its size is the other's."""
    size0, size1 = _ratio(rev0, won0), _ratio(rev1, won1)
    if size0 is None and size1 is None:
        return ZERO, ZERO
    size0 = size1 if size0 is None else size0
    size1 = size0 if size1 is None else size1
    volume = (won1 - won0) * (size0 + size1) / TWO
    size = (size1 - size0) * (won0 + won1) / TWO
    return volume, size


# ---------------------------------------------------------------- reading snapshots


@dataclass
class Side:
    value: Decimal | None
    numerator: Decimal
    denominator: Decimal


def _num(text) -> Decimal:
    return ZERO if text in (None, "") else Decimal(text)


def _sides(snap: KpiSnapshot | None, prev: KpiSnapshot | None, partial: bool) -> tuple[Side, Side]:
    """(previous, current) of one scope: like for like while under way."""
    current = Side(
        snap.value if snap else None,
        (snap.numerator or ZERO) if snap else ZERO,
        (snap.denominator or ZERO) if snap else ZERO,
    )
    stored = (snap.details or {}).get("compare") if snap is not None else None
    if partial and stored:
        before = Side(
            None if stored.get("value") is None else Decimal(stored["value"]),
            _num(stored.get("numerator")),
            _num(stored.get("denominator")),
        )
    else:
        before = Side(
            prev.value if prev else None,
            (prev.numerator or ZERO) if prev else ZERO,
            (prev.denominator or ZERO) if prev else ZERO,
        )
    return before, current


def _products(snap: KpiSnapshot | None, prev: KpiSnapshot | None, partial: bool) -> tuple[dict, dict]:
    now = (snap.details or {}).get("by_product", {}) if snap else {}
    if partial and snap is not None and "compare" in (snap.details or {}):
        before = snap.details["compare"].get("by_product", {})
    else:
        before = (prev.details or {}).get("by_product", {}) if prev else {}
    return before, now


def _product_parts(kpi: str, facts: list[str] | None) -> tuple[Decimal, Decimal]:
    won, lost, revenue = (_num(x) for x in (facts or [None, None, None]))
    return {
        "revenue": (revenue, ZERO),
        "deals_won": (won, ZERO),
        "win_rate": (won, won + lost),
        "avg_deal_size": (revenue, won),
    }[kpi]


# ---------------------------------------------------------------- the page's model


@dataclass
class Breakdown:
    defn: KpiDefinition
    scope: sc.Scope
    period: sc.Period
    dimension: str
    dimensions: list[tuple[str, str]]
    compare_label: str
    partial: bool
    previous: Decimal | None
    current: Decimal | None
    kind: str  # sum | ratio | none
    segments: list[Segment] = field(default_factory=list)
    other: Decimal = ZERO
    volume: Decimal | None = None
    size: Decimal | None = None

    @property
    def change(self) -> Decimal | None:
        if self.previous is None or self.current is None:
            return None
        return self.current - self.previous

    def fmt(self, value: Decimal | None) -> str:
        if value is None:
            return _("n/a")
        unit = self.defn.unit
        if unit in ("percent", "score"):
            return _("%(sign)s%(n)s pts") % {"sign": "+" if value > 0 else "", "n": sc._number(value, 1)}
        text = sc.format_value(abs(value), unit)
        return ("+" if value > 0 else "−" if value < 0 else "") + text

    def rows(self) -> list[dict]:
        """The table's lines, largest effect first, then "Other"."""
        out = []
        for s in sorted(self.segments, key=lambda s: (-abs(s.total), s.label.lower())):
            out.append({
                "label": s.label, "url": s.url, "mine": s.mine,
                "before": self._side_display(s.n0, s.d0), "after": self._side_display(s.n1, s.d1),
                "mix": self.fmt(s.mix), "rate": self.fmt(s.rate), "total": self.fmt(s.total),
                "tone": _tone(s.total, self.defn),
            })  # fmt: skip
        if self.other:
            out.append({
                "label": _("Other (not attributable to one line)"), "url": "", "mine": False,
                "before": "", "after": "", "mix": "", "rate": "", "total": self.fmt(self.other),
                "tone": _tone(self.other, self.defn),
            })  # fmt: skip
        return out

    def _side_display(self, n: Decimal, d: Decimal) -> str:
        if self.kind == "sum":
            return sc.format_value(n, self.defn.unit)
        value = _ratio(n, d)
        if value is None:
            return _("n/a")
        return sc.format_value(value * scale_of(self.defn), self.defn.unit)

    def chart(self) -> dict:
        """The waterfall: previous, one step per line, current (float bars)."""
        labels, bars, colours = [str(self.compare_label)], [], []
        start = float(self.previous or 0)
        bars.append([0, start])
        colours.append("base")
        level = start
        steps = [(r["label"], s.total) for r, s in zip(self.rows(), self._ordered(), strict=False)]
        if self.other:
            steps.append((_("Other"), self.other))
        for label, delta in steps:
            labels.append(label)
            bars.append([level, level + float(delta)])
            colours.append(_tone(delta, self.defn))
            level += float(delta)
        labels.append(str(self.period.label))
        bars.append([0, float(self.current or 0)])
        colours.append("base")
        return {
            "labels": labels,
            "bars": bars,
            "tones": colours,
            "unit": self.defn.unit,
            "currency": settings.CURRENCY,
            "label": str(self.defn.label),
        }

    def _ordered(self) -> list[Segment]:
        return sorted(self.segments, key=lambda s: (-abs(s.total), s.label.lower()))


def _tone(delta: Decimal, defn: KpiDefinition) -> str:
    if not delta or defn.better is None:
        return "neutral"
    return "good" if (delta > 0) == (defn.better == "up") else "bad"


def scale_of(defn: KpiDefinition) -> Decimal:
    return Decimal(100) if defn.unit in ("percent", "score") else Decimal(1)


def dimensions_for(scope: sc.Scope, kpi: str, viewer: User) -> list[str]:
    """The breakdowns a viewer may open for a scope's KPI, the default first."""
    defn = KPIS[kpi]
    dims: list[str] = []
    if scope.type == COMPANY:
        dims.append(TEAM)
        if CAMPAIGN in defn.scopes:
            dims.append(CAMPAIGN)
    elif scope.type == TEAM and REP in defn.scopes:
        dims.append(REP)
    elif scope.type == REP and TEAM in defn.scopes:
        dims.append("mine")
    if kpi in PRODUCT_KPIS and scope.type != CAMPAIGN:
        dims.append("product")
    return dims


def build(viewer: User, scope: sc.Scope, period: sc.Period, kpi: str, dimension: str | None,
          today: dt.date | None = None) -> Breakdown:  # fmt: skip
    """The breakdown of one KPI of one scope: 2 queries (the segments' names,
    then every snapshot needed), whatever the number of segments."""
    today = today or timezone.localdate()
    defn = KPIS[kpi]
    dims = dimensions_for(scope, kpi, viewer) if supported(kpi) else []
    dimension = dimension if dimension in dims else (dims[0] if dims else "")
    partial = period.start <= today <= period.end
    previous_start = period.previous.start

    # Who the segments are (1 query), and the snapshot filter for them.
    entities: list[tuple[int, str]] = []
    segment_type = ""
    if dimension == TEAM:
        entities = [(t.pk, str(t)) for t in Team.objects.all()]
        segment_type = TEAM
    elif dimension == REP:
        members = User.objects.filter(team_id=scope.id).sales_staff()
        entities = [(m.pk, str(m)) for m in members]
        segment_type = REP
    elif dimension == CAMPAIGN:
        entities = [(c.pk, str(c)) for c in Campaign.objects.all()]
        segment_type = CAMPAIGN
    elif dimension == "product":
        entities = [(p.pk, str(p)) for p in Product.objects.all()]
    team_id = None
    if dimension == "mine":
        # The salesperson's own team (whoever looks: them, their manager, an admin).
        team_id = viewer.team_id if scope.id == viewer.pk else (
            User.objects.filter(pk=scope.id).values_list("team_id", flat=True).first()
        )  # fmt: skip
        segment_type = TEAM
    wanted = Q(scope_type=scope.type, scope_id=scope.id)
    if dimension == "mine":
        wanted |= Q(scope_type=TEAM, scope_id=team_id or 0)
    elif segment_type:
        wanted |= Q(scope_type=segment_type, scope_id__in=[pk for pk, _label in entities])
    kpis = {kpi}
    if dimension == "product" or kpi == "revenue":
        kpis |= {"revenue", "deals_won"}
    # 1 query: the KPI(s) for the scope and its segments, both periods.
    snaps = KpiSnapshot.objects.filter(
        wanted, kpi__in=sorted(kpis), granularity=period.granularity,
        period_start__in=[period.start, previous_start],
    )  # fmt: skip
    found = {(s.kpi, s.scope_type, s.scope_id, s.period_start): s for s in snaps}

    def pair(k: str, st: str, sid: int) -> tuple[KpiSnapshot | None, KpiSnapshot | None]:
        return found.get((k, st, sid, period.start)), found.get((k, st, sid, previous_start))

    snap, prev = pair(kpi, scope.type, scope.id)
    before, after = _sides(snap, prev, partial)
    label = sc.comparison(period, snap, prev, today).label
    result = Breakdown(
        defn=defn, scope=scope, period=period, dimension=dimension,
        dimensions=[(d, str(DIMENSION_LABELS[d])) for d in dims], compare_label=label, partial=partial,
        previous=before.value, current=after.value, kind="none" if not dims else
        ("sum" if kpi in SUM_KPIS else "ratio"),
    )  # fmt: skip
    if not dims:
        return result
    is_sum = kpi in SUM_KPIS

    def segment(key: str, label: str, b: Side, a: Side, url: str = "", mine: bool = False) -> Segment:
        return Segment(key, label, b.numerator, b.denominator, a.numerator, a.denominator, url, mine=mine)

    segments: list[Segment] = []
    if dimension == "product":
        pb, pa = _products(*pair("revenue", scope.type, scope.id), partial)
        names = dict(entities)
        for pid in sorted(set(pb) | set(pa), key=lambda p: names.get(int(p), "").lower()):
            n0, d0 = _product_parts(kpi, pb.get(pid))
            n1, d1 = _product_parts(kpi, pa.get(pid))
            name = names.get(int(pid)) or _("No product")
            url = records_url(defn, scope, period, {"product": pid} if pid != "0" else {})
            segments.append(Segment(pid, name, n0, d0, n1, d1, url))
    elif dimension == "mine":
        team_before, team_after = _sides(*pair(kpi, TEAM, team_id or 0), partial)
        if team_id is None:
            # Nobody else to compare with: the whole team is them.
            team_before, team_after = before, after
        own = scope.id == viewer.pk
        who = _("You") if own else scope.label
        url = records_url(defn, scope, period, {})
        segments.append(segment(str(scope.id), who, before, after, url, mine=own))
        rest_b = Side(
            None, team_before.numerator - before.numerator, team_before.denominator - before.denominator
        )
        rest_a = Side(
            None, team_after.numerator - after.numerator, team_after.denominator - after.denominator
        )
        segments.append(segment("rest", _("The rest of the team"), rest_b, rest_a))
        # The breakdown explains the team's change: that is what both lines add up to.
        result.previous, result.current = team_before.value, team_after.value
        result.compare_label = sc.comparison(period, *pair(kpi, TEAM, team_id or 0), today).label
    else:
        for pk, name in entities:
            b, a = _sides(*pair(kpi, segment_type, pk), partial)
            if not (b.numerator or b.denominator or a.numerator or a.denominator):
                continue
            child = sc.Scope(segment_type, pk, name)
            segments.append(segment(str(pk), name, b, a, records_url(defn, child, period, {}),
                                    mine=segment_type == REP and pk == viewer.pk))  # fmt: skip
        # Whatever the lines do not hold (no team, no campaign, moved people).
        rest_b = Side(None, before.numerator - sum((s.n0 for s in segments), ZERO),
                      before.denominator - sum((s.d0 for s in segments), ZERO))  # fmt: skip
        rest_a = Side(None, after.numerator - sum((s.n1 for s in segments), ZERO),
                      after.denominator - sum((s.d1 for s in segments), ZERO))  # fmt: skip
        if rest_b.numerator or rest_b.denominator or rest_a.numerator or rest_a.denominator:
            segments.append(segment("rest", _("Not in any line above"), rest_b, rest_a))
    if is_sum:
        result.segments = decompose_sum(segments)
        change = result.change if result.change is not None else ZERO
        result.other = change - sum((s.total for s in segments), ZERO) if result.change is not None else ZERO
    else:
        result.segments, result.other = decompose_ratio(segments, scale_of(defn))
        if result.change is not None:
            # The scope's own stored value is what the card shows; keep the table equal to it.
            result.other = result.change - sum((s.total for s in result.segments), ZERO)
    if abs(result.other) < Decimal("0.000001") * 10:
        result.other = ZERO
    if kpi == "revenue":
        won_b, won_a = _sides(*pair("deals_won", scope.type, scope.id), partial)
        if dimension == "mine" and team_id is not None:
            won_b, won_a = _sides(*pair("deals_won", TEAM, team_id), partial)
            before, after = _sides(*pair("revenue", TEAM, team_id), partial)
        result.volume, result.size = volume_and_size(
            won_b.numerator, before.numerator, won_a.numerator, after.numerator
        )
    return result


def records_url(defn: KpiDefinition, scope: sc.Scope, period: sc.Period, extra: dict) -> str:
    """The records a line counts, filtered to its scope and period (the list
    pages apply visible_to: a viewer never sees more than they may)."""
    if scope.type == CAMPAIGN:
        # Campaign lines: the campaign's page lists its prospects and customers.
        return reverse("campaign_detail", args=[scope.id])
    link = sc.records_link(defn, scope, period)
    if link is None:
        return ""
    url = link[1]
    if extra:
        url += ("&" if "?" in url else "?") + urlencode(extra)
    return url
