"""Performance pages: scorecards, leaderboards, the team page, the dashboard.

Pages read KPI snapshots only (kpis.scorecards builds what they show),
including the team page's funnel and pipeline by stage, which come from the
details the engine stores beside lead conversion, deals won and open pipeline.
Every switch is an htmx GET that swaps the page body and pushes the URL, so
links can be shared and the back button works; without JavaScript the same
links and forms load whole pages.
"""

from __future__ import annotations

import csv
import logging
from urllib.parse import urlencode

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from crm.models import Deal, Team, User
from crm.views_common import safe_cell
from kpis import scorecards as sc
from kpis.definitions import COMPANY, KPIS, REP, TEAM, for_scope
from kpis.models import DashboardCard, save_dashboard
from kpis.sections import group_cards
from team.views import team_expiring_certifications

logger = logging.getLogger(__name__)


def _render(request: HttpRequest, template: str, context: dict, partial: str = "body") -> HttpResponse:
    # A history-restore request wants the whole page, not the fragment.
    if request.htmx and not request.htmx.history_restore_request:
        template = f"{template}#{partial}"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _query(**params) -> str:
    return "?" + urlencode({k: v for k, v in params.items() if v not in (None, "")})


def _csv_response(filename: str, header: list[str], rows: list[list]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(header)
    # Names and labels are typed by people: one starting like a formula gets
    # a quote, so a spreadsheet shows it instead of running it (issue 19).
    writer.writerows([safe_cell(value) for value in row] for row in rows)
    return response


def _team_of(user: User) -> Team | None:
    return user.team if user.team_id else None


def _get_team_for_user(user: User, team_id) -> Team:
    """A team the user may look at (admins: any; managers: their own), else 404."""
    try:
        team = Team.objects.get(pk=int(team_id))
    except (TypeError, ValueError, Team.DoesNotExist):
        raise Http404(_("No such team.")) from None
    if not user.is_admin_role and team.pk != user.team_id:
        raise Http404(_("No such team."))
    return team


def _get_rep_for_user(user: User, rep_id) -> User:
    """A person whose scorecard the user may see (User.visible_to), else 404."""
    try:
        return User.objects.visible_to(user).select_related("team").get(pk=int(rep_id))
    except (TypeError, ValueError, User.DoesNotExist):
        raise Http404(_("No such salesperson.")) from None


def _default_scope(user: User) -> sc.Scope:
    if user.is_admin_role:
        return sc.Scope(COMPANY, 0, _("Company"))
    if user.is_manager and user.team_id:
        return sc.Scope(TEAM, user.team_id, str(user.team))
    return sc.Scope(REP, user.pk, str(user))


def _scope_from_request(request: HttpRequest) -> sc.Scope:
    """The scorecard's scope from ?scope=company|team-<id>|rep-<id> (or ?team=, ?rep=).

    Salespeople see their own; managers their team and its people (404 for
    anyone else's); admins everything. The company scorecard is for admins.
    """
    user = request.user
    raw = request.GET.get("scope", "")
    kind, _sep, ident = raw.partition("-")
    if request.GET.get("rep"):
        kind, ident = REP, request.GET["rep"]
    elif request.GET.get("team"):
        kind, ident = TEAM, request.GET["team"]
    if kind == COMPANY:
        if not user.is_admin_role:
            raise PermissionDenied(_("The company scorecard is for admins."))
        return sc.Scope(COMPANY, 0, _("Company"))
    if kind == TEAM:
        if not (user.is_manager or user.is_admin_role):
            raise Http404(_("No such scorecard."))
        team = _get_team_for_user(user, ident)
        return sc.Scope(TEAM, team.pk, str(team))
    if kind == REP:
        rep = _get_rep_for_user(user, ident)
        return sc.Scope(REP, rep.pk, str(rep))
    if raw:
        raise Http404(_("No such scorecard."))
    return _default_scope(user)


def _scope_choices(user: User, current: sc.Scope) -> list[tuple[str, str, bool]]:
    """(value, label, selected) for the scope picker: what this user may open.

    One query for the people (and one for teams, admins only).
    """
    choices: list[tuple[str, str]] = []
    if user.is_salesperson or not (user.is_admin_role or user.team_id):
        return []
    if user.is_admin_role:
        choices.append((COMPANY, _("Company")))
        choices += [(f"{TEAM}-{t.pk}", _("Team: %(team)s") % {"team": t}) for t in Team.objects.all()]
    else:
        choices.append((f"{TEAM}-{user.team_id}", _("Team: %(team)s") % {"team": user.team}))
    people = User.objects.visible_to(user).filter(is_active=True, role__in=["salesperson", "manager"])
    choices += [(f"{REP}-{p.pk}", str(p)) for p in people]
    value = COMPANY if current.type == COMPANY else f"{current.type}-{current.id}"
    return [(v, label, v == value) for v, label in choices]


def _scope_value(scope: sc.Scope) -> str:
    return COMPANY if scope.type == COMPANY else f"{scope.type}-{scope.id}"


def _period_nav(period: sc.Period, **keep) -> dict:
    return {
        "period": period,
        "prev_query": _query(**keep, **period.previous.params()),
        "next_query": _query(**keep, **period.next.params()),
        "granularities": [(g, label) for g, label in sc.GRANULARITY_LABELS.items()],
    }


@login_required
@require_GET
def scorecard(request: HttpRequest) -> HttpResponse:
    scope = _scope_from_request(request)
    period = sc.period_from_params(request.GET)
    kpis = [d.key for d in for_scope(scope.type)]
    if request.GET.get("format") == "csv":
        return _scorecard_csv(scope, period, _built_cards(request, scope, period, kpis)[1])
    keep = {"scope": _scope_value(scope)}
    context = {
        "scope": scope,
        "scope_value": keep["scope"],
        "scope_choices": _scope_choices(request.user, scope),
        "csv_query": _query(**keep, **period.params(), format="csv"),
        **_period_nav(period, **keep),
    }
    context.update(_scorecard_cards(request, scope, period, kpis))
    return _render(request, "kpis/scorecard.html", context)


def _scorecard_cards(request: HttpRequest, scope: sc.Scope, period: sc.Period, kpis: list[str]) -> dict:
    """The cards, rendered, and when they were computed: built from the
    snapshot rows (1 query), or taken from the cache while those rows are
    unchanged (sc.cards_cache_key, 1 query). Rendering 40 cards with their
    sparklines is most of the page's time, and the rows change once a night."""
    # A salesperson's cards lose the links to manager pages (_reachable_links).
    links = "all" if request.user.is_manager or request.user.is_admin_role else "own"
    key = sc.cards_cache_key("scorecard", scope, period, kpis, links)
    cached = _cache_call(cache.get, key) if key else None
    if cached is not None:
        return cached
    rows, cards = _built_cards(request, scope, period, kpis)
    html = render_to_string("kpis/scorecard.html#cards", {"sections": group_cards(cards)}, request)
    built = {"cards_html": html, "as_of": sc.computed_at(rows, period)}
    if key:
        _cache_call(cache.set, key, built, sc.CARDS_CACHE_SECONDS)
    return {**built, "cards": cards}  # the cards themselves for tests and debugging


def _built_cards(request: HttpRequest, scope: sc.Scope, period: sc.Period, kpis: list[str]):
    """The snapshot rows (1 query) and the cards built from them, as this viewer may follow them."""
    rows = sc.scorecard_snapshots(scope, period, kpis)
    return rows, _reachable_links(request.user, sc.build_cards(scope, period, kpis, rows))


def _cache_call(method, *args):
    """A cache read or write that never fails the page: with Redis down the
    cards are rendered every time (operations.md), as before the cache."""
    try:
        return method(*args)
    except Exception as exc:  # any cache fault: Redis down, timeouts, refused connections
        logger.warning("Scorecard cards not cached: the cache failed (%r).", exc)
        return None


# "Explain this number" links to pages only managers and admins open.
_MANAGER_PAGES = ("/surveys/results/", "/campaigns/", "/sales-costs/")


def _reachable_links(user, cards: list[sc.Card]) -> list[sc.Card]:
    """Drop the records links a salesperson would get a 403 from."""
    if user.is_manager or user.is_admin_role:
        return cards
    for card in cards:
        if card.link and card.link[1].startswith(_MANAGER_PAGES):
            card.link = None
    return cards


def _scorecard_csv(scope: sc.Scope, period: sc.Period, cards: list[sc.Card]) -> HttpResponse:
    header = [
        "kpi", "label", "scope", "period", "period_start", "value", "unit", "display",
        "numerator", "denominator", "change", "low_sample", "maturing", "computed_at",
    ]  # fmt: skip
    rows = []
    for card in cards:
        snap = card.snapshot
        rows.append([
            card.key, str(card.defn.label), scope.label, period.label, period.start.isoformat(),
            "" if card.value is None else card.value, card.defn.unit, card.display,
            "" if not snap or snap.numerator is None else snap.numerator,
            "" if not snap or snap.denominator is None else snap.denominator,
            card.change.text if card.change else "",
            bool(snap and snap.low_sample), bool(snap and snap.maturing),
            snap.computed_at.isoformat() if snap else "",
        ])  # fmt: skip
    name = f"scorecard-{scope.type}-{scope.id}-{period.granularity}-{period.start}.csv"
    return _csv_response(name, header, rows)


# ---------------------------------------------------------------- leaderboards


class LeaderboardForm(forms.Form):
    kpi = forms.ChoiceField(
        label=gettext_lazy("Rank by"),
        choices=[(k, KPIS[k].label) for k in sc.LEADERBOARD_KPIS],
        required=False,
    )
    board = forms.ChoiceField(
        label=gettext_lazy("Board"),
        choices=[("reps", gettext_lazy("People")), ("teams", gettext_lazy("Teams"))],
        required=False,
    )
    team = forms.IntegerField(required=False, min_value=1)


@login_required
@require_GET
def leaderboard(request: HttpRequest) -> HttpResponse:
    user = request.user
    form = LeaderboardForm(request.GET)
    data = form.cleaned_data if form.is_valid() else {}
    kpi = data.get("kpi") or "revenue"
    period = sc.period_from_params(request.GET)
    board = data.get("board") or ("teams" if user.is_admin_role and not data.get("team") else "reps")
    team = None
    if board == "teams":
        if not user.is_admin_role:
            raise PermissionDenied(_("The board of teams is for admins."))
        entities = [(t.pk, str(t)) for t in Team.objects.all()]  # 1 query
        scope_type = TEAM
    else:
        team = _get_team_for_user(user, data["team"]) if data.get("team") else _team_of(user)
        if team is None and user.is_admin_role:
            team = Team.objects.first()  # an admin without a team: the first team
        # 1 query: the team's salespeople (managers coach; they are not ranked).
        members = User.objects.filter(team=team, is_active=True, role="salesperson") if team else []
        entities = [(m.pk, str(m)) for m in members]
        scope_type = REP
    # Targets are private: a salesperson sees names, ranks and the metric only,
    # and only their own attainment (a colleague's revenue ÷ attainment would
    # give away that colleague's target).
    full_columns = user.is_manager or user.is_admin_role
    if not full_columns and kpi == "quota_attainment":
        entities = [(pk, label) for pk, label in entities if pk == user.pk]
    rows = sc.leaderboard_rows(kpi, period, scope_type, entities, with_quota=full_columns)  # 1 query
    # "What changed" per row: everyone's for managers and admins, one's own
    # for a salesperson (who sees it against "the rest of the team").
    for r in rows:
        if full_columns or (scope_type == REP and r.key == user.pk):
            r.extra["breakdown"] = sc.breakdown_url(kpi, sc.Scope(scope_type, r.key, r.label), period)
    if request.GET.get("format") == "csv":
        return _leaderboard_csv(kpi, period, rows, full_columns, board, team)
    keep = {"kpi": kpi, "board": board, "team": team.pk if team and user.is_admin_role else None}
    me = user.pk if scope_type == REP else user.team_id
    context = {
        "form": form,
        "kpi": KPIS[kpi],
        "kpi_choices": [(k, KPIS[k].label) for k in sc.LEADERBOARD_KPIS],
        "board": board,
        "team": team,
        "teams": list(Team.objects.all()) if user.is_admin_role else [],  # 1 query, admins
        "rows": rows,
        # Nobody has a figure yet (the first day of a period): no ranking.
        "ranked": any(r.rank for r in rows),
        "compare_label": rows[0].extra["compare_label"] if rows else "",
        "me": me,
        "full_columns": full_columns,
        "chart": sc.leaderboard_chart(KPIS[kpi], rows, me),
        "chart_height": 60 + 34 * sum(1 for r in rows if r.value is not None),
        "as_of": max((r.extra["computed_at"] for r in rows if r.extra.get("computed_at")), default=None),
        "csv_query": _query(**keep, **period.params(), format="csv"),
        **_period_nav(period, **keep),
    }
    return _render(request, "kpis/leaderboard.html", context)


def _leaderboard_csv(kpi, period, rows, full_columns, board, team) -> HttpResponse:
    header = ["rank", "name", "kpi", "period", "value", "display", "low_sample", "movement"]
    if full_columns:
        header += ["previous_value", "numerator", "denominator", "target", "attainment"]
    out = []
    for r in rows:
        line = [
            r.rank or "", r.label, kpi, period.label, "" if r.value is None else r.value,
            r.extra["display"], r.low_sample, "" if r.movement is None else r.movement,
        ]  # fmt: skip
        if full_columns:
            line += [r.extra.get(k) if r.extra.get(k) is not None else "" for k in
                     ("previous", "numerator", "denominator", "target", "attainment")]  # fmt: skip
        out.append(line)
    who = "teams" if board == "teams" else f"team-{team.pk if team else 0}"
    return _csv_response(f"leaderboard-{who}-{kpi}-{period.granularity}-{period.start}.csv", header, out)


# ---------------------------------------------------------------- team page


@login_required
@require_GET
def team_page(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not (user.is_manager or user.is_admin_role):
        raise PermissionDenied(_("The team page is for managers."))
    if request.GET.get("team"):
        team = _get_team_for_user(user, request.GET["team"])
    else:
        team = _team_of(user) or (Team.objects.first() if user.is_admin_role else None)
        if team is None:
            raise Http404(_("You have no team yet."))
    period = sc.period_from_params(request.GET)
    # 1 query: the team's salespeople, and its manager only if they sell too
    # (own deals); a row of n/a for a manager who doesn't is noise.
    sells = Exists(Deal.objects.filter(owner=OuterRef("pk")))
    members = list(
        User.objects.filter(team=team, is_active=True).filter(
            Q(role="salesperson") | Q(role="manager") & sells
        )
    )
    table = sc.team_table(team, members, period)  # 1 query
    funnel = sc.team_funnel(table)  # no query: the team's snapshots above
    trend = sc.revenue_vs_target(team, period)  # 1 query
    pipeline = sc.pipeline_by_stage(team)  # 1 query, on snapshots
    expiring = team_expiring_certifications(team)  # 1 query (team/views.py)
    keep = {"team": team.pk if user.is_admin_role else None}
    from kpis.forecast_views import quarter_card  # the forecast views import this module

    context = {
        "forecast": quarter_card(sc.Scope(TEAM, team.pk, str(team))),  # 1 query
        "forecast_url": reverse("forecast") + _query(scope=f"{TEAM}-{team.pk}"),
        "team": team,
        "teams": list(Team.objects.all()) if user.is_admin_role else [],  # 1 query, admins
        "table": table,
        "funnel": funnel,
        "trend": trend,
        "pipeline": pipeline,
        "expiring": expiring,
        "as_of": table.computed_at,
        **_period_nav(period, **keep),
    }
    return _render(request, "kpis/team.html", context)


# ---------------------------------------------------------------- dashboard


def _dashboard_scope(user: User) -> sc.Scope:
    return _default_scope(user)


class DashboardEditForm(forms.Form):
    action = forms.ChoiceField(
        choices=[("add", "add"), ("remove", "remove"), ("up", "up"), ("down", "down"), ("reset", "reset")]
    )
    kpi = forms.ChoiceField(choices=[(k, d.label) for k, d in KPIS.items()], required=False)


def _dashboard_context(request: HttpRequest, kpis: list[str], customised: bool, params) -> dict:
    user = request.user
    scope = _dashboard_scope(user)
    period = sc.period_from_params(params)
    rows = sc.scorecard_snapshots(scope, period, [*kpis, "quota_attainment"])  # 1 query
    cards = _reachable_links(request.user, sc.build_cards(scope, period, kpis, rows))
    available = [d for d in for_scope(scope.type) if d.key not in kpis]
    from kpis.forecast_views import quarter_card  # the forecast views import this module

    return {
        "forecast": quarter_card(scope),  # 1 query
        "forecast_url": reverse("forecast"),
        "scope": scope,
        "cards": cards,
        "available": available,
        "customised": customised,
        "as_of": sc.computed_at(rows, period),
        "csv_query": _query(**period.params(), format="csv"),
        **_period_nav(period),
    }


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    user = request.user
    scope = _dashboard_scope(user)
    saved = [c.kpi for c in DashboardCard.objects.for_user(user)]  # 1 query
    allowed = {d.key for d in for_scope(scope.type)}
    kpis = [k for k in saved if k in allowed] if saved else list(sc.DEFAULT_DASHBOARD[scope.type])
    if request.GET.get("format") == "csv":
        period = sc.period_from_params(request.GET)
        rows = sc.scorecard_snapshots(scope, period, [*kpis, "quota_attainment"])
        return _scorecard_csv(scope, period, sc.build_cards(scope, period, kpis, rows))
    return _render(
        request,
        "kpis/dashboard.html",
        _dashboard_context(request, kpis, bool(saved), request.GET),
        partial="board",
    )


@login_required
@require_POST
def dashboard_edit(request: HttpRequest) -> HttpResponse:
    """Add, remove or move one card; the first edit saves the defaults too."""
    user = request.user
    form = DashboardEditForm(request.POST)
    if not form.is_valid():
        return HttpResponse(_("That change is not possible."), status=400)
    scope = _dashboard_scope(user)
    allowed = [d.key for d in for_scope(scope.type)]
    saved = [c.kpi for c in DashboardCard.objects.for_user(user) if c.kpi in allowed]
    current = saved or list(sc.DEFAULT_DASHBOARD[scope.type])
    action, kpi = form.cleaned_data["action"], form.cleaned_data["kpi"]
    if action == "reset":
        kpis = list(sc.DEFAULT_DASHBOARD[scope.type])
    else:
        kpis = DashboardCard.rearranged(current, action, kpi, allowed)
    save_dashboard(user, kpis)
    if not request.htmx:
        period = sc.period_from_params(request.POST)
        return redirect(reverse("dashboard") + _query(**period.params()))
    context = _dashboard_context(request, kpis, True, request.POST)
    context["open_editor"] = True
    return render(request, "kpis/dashboard.html#board", context)
