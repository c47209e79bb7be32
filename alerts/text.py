"""Alerts as sentences, in the active language (the digest and the list)."""

from __future__ import annotations

from decimal import Decimal

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from alerts.models import Alert, Rule
from kpis import scorecards as sc
from kpis.definitions import COMPANY, KPIS


def _value(text, unit: str) -> str:
    return sc.format_value(None if text in (None, "") else Decimal(str(text)), unit)


def title(alert: Alert) -> str:
    label = KPIS[alert.kpi].label if alert.kpi in KPIS else ""
    who = alert.subject or (_("Company") if alert.scope_type == COMPANY else "")
    if alert.rule == Rule.BAND:
        return _("%(kpi)s · %(who)s: outside its usual band") % {"kpi": label, "who": who}
    if alert.rule == Rule.COVERAGE:
        return _("%(who)s: pipeline too thin for the target") % {"who": who}
    if alert.rule == Rule.DETRACTORS:
        return _("%(who)s: a cluster of detractors") % {"who": who}
    if alert.rule == Rule.FORECAST:
        period = sc.Period(alert.granularity, alert.period_start).label
        return _("%(who)s: %(period)s's target at risk from the forecast") % {"who": who, "period": period}
    if alert.rule == Rule.STALLED:
        return _("%(who)s: deals stalled past their stage threshold") % {"who": who}
    return _("%(who)s: survey response rate falling") % {"who": who}


def why(alert: Alert) -> str:
    w = alert.why
    period = sc.Period(alert.granularity, alert.period_start).label
    if alert.rule == Rule.BAND:
        unit = KPIS[alert.kpi].unit
        text = _("%(value)s in %(period)s, %(direction)s its usual band %(low)s – %(high)s "
                 "(median of the %(points)s months before: %(median)s).")  # fmt: skip
        return text % {
            "value": _value(w.get("value"), unit), "period": period,
            "direction": _("above") if w.get("direction") == "up" else _("below"),
            "low": _value(w.get("low"), unit), "high": _value(w.get("high"), unit),
            "points": w.get("points"), "median": _value(w.get("median"), unit),
        }  # fmt: skip
    if alert.rule == Rule.COVERAGE:
        text = _("Open pipeline %(pipeline)s, but %(needed)s is needed to win the %(remaining)s left of "
                 "%(period)s's target at a %(rate)s win rate (last six months).")  # fmt: skip
        return text % {
            "pipeline": _value(w.get("pipeline"), "money"), "needed": _value(w.get("needed"), "money"),
            "remaining": _value(w.get("remaining"), "money"), "period": period,
            "rate": _value(w.get("win_rate"), "percent"),
        }  # fmt: skip
    if alert.rule == Rule.DETRACTORS:
        return _("%(count)s detractors (0–6) in the last %(days)s days.") % {
            "count": w.get("count"),
            "days": w.get("days"),
        }
    if alert.rule == Rule.FORECAST:
        text = _("%(chance)s chance of reaching the %(target)s target of %(period)s (alert below "
                 "%(threshold)s): the median forecast (P50) is %(p50)s, %(gap)s short, with %(won)s won "
                 "so far (P10–P90: %(p10)s – %(p90)s).")  # fmt: skip
        return text % {
            "chance": _value(w.get("chance"), "percent"), "target": _value(w.get("target"), "money"),
            "period": period, "threshold": _value(w.get("threshold"), "percent"),
            "p50": _value(w.get("p50"), "money"), "gap": _value(w.get("gap"), "money"),
            "won": _value(w.get("won"), "money"), "p10": _value(w.get("p10"), "money"),
            "p90": _value(w.get("p90"), "money"),
        }  # fmt: skip
    if alert.rule == Rule.STALLED:
        return stalled_why(w)
    values = " → ".join(_value(v, "percent") for v in w.get("values", []))
    return _("Fell three months running, to %(period)s: %(values)s.") % {"period": period, "values": values}


def link(alert: Alert) -> str:
    """Where to look: the KPI's "What changed" page, or the survey results."""
    from django.urls import reverse

    if alert.rule == Rule.STALLED:
        return process_url(sc.Scope(alert.scope_type, alert.scope_id, alert.subject))
    if alert.rule == Rule.FORECAST:
        return forecast_url(sc.Scope(alert.scope_type, alert.scope_id, alert.subject))
    if alert.rule in (Rule.DETRACTORS, Rule.RESPONSE_RATE):
        who = {"rep": "rep", "team": "team"}.get(alert.scope_type)
        return reverse("survey_results") + (f"?{who}={alert.scope_id}" if who else "")
    scope = sc.Scope(alert.scope_type, alert.scope_id, alert.subject)
    url = sc.breakdown_url(alert.kpi, scope, sc.Period(alert.granularity, alert.period_start))
    return url or reverse("scorecard")


def forecast_url(scope: sc.Scope) -> str:
    """The Forecast page of a scope."""
    from urllib.parse import urlencode

    from django.urls import reverse

    return reverse("forecast") + "?" + urlencode(scope.params())


def stalled_deal(title: str, stage: str, days: int, limit) -> str:
    from crm.models import Stage

    return _("%(title)s: %(stage)s for %(days)s days (threshold %(limit)s)") % {
        "title": title, "stage": Stage(stage).label, "days": sc.format_value(Decimal(days), "count"),
        "limit": _value(limit, "days"),
    }  # fmt: skip


def stalled_why(w: dict) -> str:
    count = int(w.get("count") or 0)
    text = ngettext(
        "%(count)s open deal has sat in its stage longer than the threshold (the time 75 %% of won deals "
        "took to leave that stage).",
        "%(count)s open deals have sat in their stage longer than the threshold (the time 75 %% of won deals "
        "took to leave that stage).",
        count,
    ) % {"count": count}
    oldest = [stalled_deal(d["title"], d["stage"], d["days"], d.get("limit")) for d in w.get("oldest", [])]
    if oldest:
        text += " " + _("Oldest: %(deals)s.") % {"deals": "; ".join(oldest)}
    return text


def process_url(scope: sc.Scope) -> str:
    """The Process page of a scope (its stalled deals)."""
    from urllib.parse import urlencode

    from django.urls import reverse

    return reverse("process_page") + "?" + urlencode(scope.params())
