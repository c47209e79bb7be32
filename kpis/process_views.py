"""The Process page (issue 12): where deals stall and why they are lost.

Everything it shows is read from the internal-process snapshots
(kpis.process, kpi-spec "Internal processes") in a fixed number of queries;
two lists of deals — the stalled deals now, and the exact deals behind a
funnel bar — are lists of records, filtered by what the snapshots say
(thresholds) and by `visible_to`, never aggregates.

Salespeople see their own; managers their team and its people; admins any
team or the company (kpis.performance_views' scope rules: 403 for the company
view of a non-admin, 404 for a scope the viewer may not open).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.db.models import OuterRef, Q, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from crm.models import Activity, Deal, DealStageChange, LostReason, Stage, User, today
from kpis import process
from kpis import scorecards as sc
from kpis.definitions import COMPANY, REP, TEAM
from kpis.models import KpiSnapshot
from kpis.performance_views import (
    _csv_response,
    _period_nav,
    _query,
    _render,
    _scope_choices,
    _scope_from_request,
    _scope_value,
)

PROCESS_KPIS = (
    "time_in_stage_days",
    "stage_conversion_rate",
    "lead_response_hours",
    "stalled_deals",
    "activities_per_won_deal",
    "lost_reasons",
)
OPEN_STAGES = [s for s in Stage.open_stages()]
STALLED_LIMIT = 50
DEALS_LIMIT = 200


def _people(scope: sc.Scope) -> list[User]:
    """The salespeople of the per-rep tables (1 query)."""
    staff = User.objects.sales_staff().select_related("team")
    if scope.type == REP:
        return list(staff.filter(pk=scope.id))
    if scope.type == TEAM:
        return list(staff.filter(team_id=scope.id))
    return list(staff)


def _snapshots(scope: sc.Scope, period: sc.Period, people: list[User]) -> dict[tuple, KpiSnapshot]:
    """Every snapshot the page reads, in 1 query: the scope's for the period
    and the previous one, the company's for the period, and each person's."""
    who = Q(scope_type=scope.type, scope_id=scope.id) | Q(scope_type=COMPANY, scope_id=0)
    if people:
        who |= Q(scope_type=REP, scope_id__in=[p.pk for p in people])
    rows = KpiSnapshot.objects.filter(
        who,
        kpi__in=PROCESS_KPIS,
        granularity=period.granularity,
        period_start__in=[period.start, period.previous.start],
    )
    return {(r.kpi, r.scope_type, r.scope_id, r.period_start): r for r in rows}


def _num(value) -> float | None:
    return None if value in (None, "") else float(Decimal(value))


def _funnel(row: KpiSnapshot | None, lost: KpiSnapshot | None, link) -> list[dict]:
    by_stage = (row.details.get("by_stage") if row else None) or {}
    lost_at = (lost.details.get("by_stage") if lost else None) or {}
    steps = []
    widest = max([1] + [by_stage.get(s, {}).get("entered", 0) for s in OPEN_STAGES])
    for stage in OPEN_STAGES:
        v = by_stage.get(stage, {})
        left, moved = v.get("count", 0), v.get("moved_on", 0)
        lost_here = sum(lost_at.get(stage, {}).values())
        steps.append({
            "stage": stage, "label": stage.label, "entered": v.get("entered", 0), "left": left,
            "moved_on": moved, "lost": lost_here, "drop": left - moved, "rate": v.get("rate"),
            "max": widest,
            "links": {what: link(stage, what) for what in ("entered", "left", "moved_on", "dropped", "lost")},
        })  # fmt: skip
    return steps


def _stage_times(current, previous, company) -> list[dict]:
    out = []
    for stage in OPEN_STAGES:

        def pick(row, name, stage=stage):
            by = (row.details.get("by_stage") if row else None) or {}
            return by.get(stage, {}).get(name)

        out.append({
            "stage": stage, "label": stage.label, "count": pick(current, "count") or 0,
            "median": pick(current, "median"), "p75": pick(current, "p75"),
            "previous_median": pick(previous, "median"), "previous_p75": pick(previous, "p75"),
            "company_median": pick(company, "median"), "company_p75": pick(company, "p75"),
        })  # fmt: skip
    return out


def _stalled_deals(user: User, scope: sc.Scope, stalled_row: KpiSnapshot | None) -> list[Deal]:
    """The open deals past their stage's threshold now, oldest first (the
    thresholds the engine stored; 2 queries)."""
    if stalled_row is None:
        return []
    thresholds = stalled_row.details.get("thresholds") or {}
    company = thresholds.get("0", {})
    day = today()
    since = Subquery(
        DealStageChange.objects.filter(deal=OuterRef("pk"))
        .order_by("-changed_at", "-pk")
        .values("changed_at")[:1]
    )
    qs = Deal.objects.visible_to(user).open().select_related("owner", "team")
    if scope.type == TEAM:
        qs = qs.filter(team_id=scope.id)
    elif scope.type == REP:
        qs = qs.filter(owner_id=scope.id)
    qs = qs.annotate(
        entered_at=since,
        last_activity=Subquery(
            Activity.objects.filter(deal=OuterRef("pk"), done=True)
            .order_by("-occurred_on")
            .values("occurred_on")[:1]
        ),
    )
    # A deal is past its threshold when it entered its stage before
    # today − threshold (its team's, else the company's).
    teams = {int(t) for t in thresholds if t != "0"}
    cond = Q()
    for stage in OPEN_STAGES:
        for team_id in teams:
            limit = thresholds[str(team_id)].get(stage)
            if limit is not None:
                cond |= Q(team_id=team_id, stage=stage, entered_at__lt=_cutoff(day, limit))
        if company.get(stage) is not None:
            cond |= Q(stage=stage, entered_at__lt=_cutoff(day, company[stage])) & ~Q(team_id__in=teams)
    if not cond:
        return []
    deals = list(qs.filter(cond).order_by("entered_at", "pk")[:STALLED_LIMIT])
    for deal in deals:
        entered = timezone.localtime(deal.entered_at).date() if deal.entered_at else deal.opened_on
        deal.days_in_stage = (day - entered).days
    return deals


def _cutoff(day: dt.date, limit) -> dt.datetime:
    """A deal is past `limit` days in its stage when today − the company-zone
    day it entered is more than `limit`: when it entered before midnight of
    today − ⌊limit⌋."""
    whole = int(Decimal(limit).to_integral_value(rounding="ROUND_FLOOR"))
    return timezone.make_aware(dt.datetime.combine(day - dt.timedelta(days=whole), dt.time.min))


@login_required
@require_GET
def process_page(request: HttpRequest) -> HttpResponse:
    scope = _scope_from_request(request)
    period = sc.period_from_params(request.GET)
    people = _people(scope)  # 1 query
    rows = _snapshots(scope, period, people)  # 1 query

    def get(kpi, st=scope.type, sid=scope.id, start=period.start):
        return rows.get((kpi, st, sid, start))

    keep = {"scope": _scope_value(scope)}

    def link(stage, what):
        return reverse("process_deals") + _query(**keep, **period.params(), stage=stage, what=what)

    conversion = get("stage_conversion_rate")
    funnel = _funnel(conversion, get("lost_reasons"), link)
    times = _stage_times(
        get("time_in_stage_days"),
        get("time_in_stage_days", start=period.previous.start),
        get("time_in_stage_days", st=COMPANY, sid=0),
    )
    reasons = {r.code: r.label for r in LostReason.objects.all()}  # 1 query
    lost = get("lost_reasons")
    lost_by_reason = (lost.details.get("by_reason") if lost else None) or {}
    lost_by_stage = (lost.details.get("by_stage") if lost else None) or {}
    # The chart's series: the reasons that occur (all of them when none does).
    reason_codes = [c for c in reasons if c in lost_by_reason] or list(reasons)
    stage_labels = {**{s.value: s.label for s in OPEN_STAGES}, "": _("Not recorded")}
    reps = []
    for person in people:
        lead = rows.get(("lead_response_hours", REP, person.pk, period.start))
        lost_rep = rows.get(("lost_reasons", REP, person.pk, period.start))
        stalled_rep = rows.get(("stalled_deals", REP, person.pk, period.start))
        reps.append({
            "person": person,
            "lead": sc.format_value(lead.value if lead else None, "hours"),
            "lead_value": lead.value if lead else None,
            "touched": (lead.details or {}).get("touched", 0) if lead else 0,
            "prospects": (lead.details or {}).get("prospects", 0) if lead else 0,
            "never_share": (lead.details or {}).get("never_touched_share") if lead else None,
            "lost": ((lost_rep.details or {}).get("by_reason") or {}) if lost_rep else {},
            "stalled": int(stalled_rep.value) if stalled_rep and stalled_rep.value is not None else None,
        })  # fmt: skip
    stalled_now = _stalled_deals(request.user, scope, _current_stalled(scope))  # 2 queries
    card_rows = sc.scorecard_snapshots(scope, period, list(PROCESS_KPIS))  # 1 query, with history
    cards = sc.build_cards(scope, period, list(PROCESS_KPIS), card_rows)
    if request.GET.get("format") == "csv":
        return _process_csv(scope, period, funnel, times, reps, reasons)
    chart = {
        "stages": [t["label"] for t in times],
        "series": [
            {"label": _("Median"), "values": [_num(t["median"]) for t in times]},
            {"label": _("75th percentile"), "values": [_num(t["p75"]) for t in times]},
            {"label": _("Median, previous period"), "values": [_num(t["previous_median"]) for t in times]},
            {"label": _("Median, company"), "values": [_num(t["company_median"]) for t in times]},
        ],
        "lost_by_rep": {
            "labels": [str(r["person"]) for r in reps],
            "series": [
                {"label": reasons[c], "values": [r["lost"].get(c, 0) for r in reps]} for c in reason_codes
            ],
        },
        "lost_by_stage": {
            "labels": [stage_labels.get(s, s) for s in lost_by_stage],
            "series": [
                {"label": reasons[c], "values": [lost_by_stage[s].get(c, 0) for s in lost_by_stage]}
                for c in reason_codes
            ],
        },
    }
    context = {
        "scope": scope,
        "scope_value": keep["scope"],
        "scope_choices": _scope_choices(request.user, scope),  # 1 query (2 for admins)
        "cards": cards,
        "funnel": funnel,
        "times": times,
        "reps": reps,
        "reasons": reasons,
        "reason_codes": reason_codes,
        "lost_total": int(lost.value) if lost and lost.value is not None else 0,
        "lost_by_reason": [
            (reasons.get(c, c), n) for c, n in sorted(lost_by_reason.items(), key=lambda i: -i[1])
        ],
        "lost_by_stage": [(stage_labels.get(s, s), by) for s, by in lost_by_stage.items()],
        "stalled": stalled_now,
        "stalled_limit": STALLED_LIMIT,
        "chart": chart,
        "as_of": sc.computed_at(card_rows, period),
        "csv_query": _query(**keep, **period.params(), format="csv"),
        **_period_nav(period, **keep),
    }
    return _render(request, "kpis/process.html", context)


def _current_stalled(scope: sc.Scope) -> KpiSnapshot | None:
    """The thresholds of today's computation: the current month's snapshot of
    the scope (1 query)."""
    start = today().replace(day=1)
    return KpiSnapshot.objects.filter(
        kpi="stalled_deals", scope_type=COMPANY if scope.type == REP else scope.type,
        scope_id=0 if scope.type == REP else scope.id, granularity="month", period_start=start,
    ).first()  # fmt: skip


def _process_csv(scope, period, funnel, times, reps, reasons) -> HttpResponse:
    header = ["section", "name", "entered", "left", "moved_on", "lost", "median_days", "p75_days",
              "previous_median_days", "company_median_days", "lead_response_hours",
              "never_touched_share"]  # fmt: skip
    out = []
    for step, t in zip(funnel, times, strict=True):
        out.append(["stage", step["stage"], step["entered"], step["left"], step["moved_on"], step["lost"],
                    t["median"] or "", t["p75"] or "", t["previous_median"] or "", t["company_median"] or "",
                    "", ""])  # fmt: skip
    for r in reps:
        value = r["lead_value"]
        out.append(["rep", r["person"].username, "", "", "", sum(r["lost"].values()), "", "", "", "",
                    "" if value is None else value, r["never_share"] or ""])  # fmt: skip
    name = f"process-{scope.type}-{scope.id}-{period.granularity}-{period.start}.csv"
    return _csv_response(name, header, out)


# ---------------------------------------------------------------- the deals behind a bar

WHAT = {
    "entered": gettext_lazy("Deals that entered %(stage)s"),
    "left": gettext_lazy("Deals that left %(stage)s"),
    "moved_on": gettext_lazy("Deals that moved on from %(stage)s"),
    "dropped": gettext_lazy("Deals that left %(stage)s without moving on"),
    "lost": gettext_lazy("Deals lost at %(stage)s"),
}


def _deal_ids(scope: sc.Scope, period: sc.Period, stage: str, what: str) -> list[int]:
    """The ids of the deals behind a funnel bar, by the engine's own reading
    of the stage history (kpis.process): one query."""
    sql = process._Sql()
    lo_sql, lo = sql.date(period.start)
    hi_sql, hi = sql.date(period.end)
    who = {TEAM: "x.team_id = %s", REP: "x.owner_id = %s"}.get(scope.type)
    who_params = [scope.id] if who else []
    # The period's instants in the company's zone; bounded by its stage changes.
    near = process._near([(period.start, period.end)])
    instants = [sql.ops.adapt_datetimefield_value(t) for t in near[0]]
    if what == "entered":
        day, day_params = sql.day("c.changed_at")
        query = (
            f"SELECT DISTINCT x.id FROM {DealStageChange._meta.db_table} c JOIN {Deal._meta.db_table} x "
            f"ON x.id = c.deal_id WHERE c.to_stage = %s AND c.changed_at >= %s AND c.changed_at < %s "
            f"AND {day} >= {lo_sql} AND {day} <= {hi_sql}"
        )
        params = [stage, *instants, *day_params, lo, *day_params, hi]
    elif what == "lost":
        ids = (
            Deal.objects.lost()
            .filter(closed_on__range=(period.start, period.end))
            .annotate(
                at=Subquery(
                    DealStageChange.objects.filter(deal=OuterRef("pk"), to_stage=Stage.LOST)
                    .order_by("-changed_at", "-pk")
                    .values("from_stage")[:1]
                )
            )
            .filter(at=stage)
        )
        if scope.type == TEAM:
            ids = ids.filter(team_id=scope.id)
        elif scope.type == REP:
            ids = ids.filter(owner_id=scope.id)
        return list(ids.values_list("pk", flat=True)[: DEALS_LIMIT + 1])
    else:
        stays, stay_params = process._stays(sql, near)
        moved = {"moved_on": " AND x.moved_on = 1", "dropped": " AND x.moved_on = 0"}.get(what, "")
        query = (
            f"SELECT DISTINCT x.deal_id FROM ({stays}) x WHERE x.stage = %s "
            f"AND x.e >= {lo_sql} AND x.e <= {hi_sql}{moved}"
        )
        params = [*stay_params, stage, lo, hi]
    if who:
        query += f" AND {who}"
        params += who_params
    with connection.cursor() as cursor:
        cursor.execute(query + f" LIMIT {DEALS_LIMIT + 1}", params)
        return [row[0] for row in cursor.fetchall()]


@login_required
@require_GET
def process_deals(request: HttpRequest) -> HttpResponse:
    scope = _scope_from_request(request)
    period = sc.period_from_params(request.GET)
    stage, what = request.GET.get("stage", ""), request.GET.get("what", "")
    if stage not in Stage.open_stages() or what not in WHAT:
        raise Http404(_("No such list."))
    ids = _deal_ids(scope, period, stage, what)
    deals = list(
        Deal.objects.visible_to(request.user).filter(pk__in=ids[:DEALS_LIMIT]).select_related("owner", "team")
        .order_by("-opened_on", "-pk")
    )  # fmt: skip
    context = {
        "scope": scope,
        "period": period,
        "stage": Stage(stage),
        "title": WHAT[what] % {"stage": Stage(stage).label},
        "deals": deals,
        "more": len(ids) > DEALS_LIMIT,
        "back": reverse("process_page") + _query(scope=_scope_value(scope), **period.params()),
    }
    return render(request, "kpis/process_deals.html", context)
