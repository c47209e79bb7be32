"""Bench-only views: the floors the benchmark measures Boussole's pages against.

- `bare_submit`: the least a survey submission can cost in Django: the same
  POST parsed by a form, one invitation looked up by token, one row
  inserted with the ORM, a tiny response. Same middleware (sessions, CSRF).
- `live_*`: the performance pages computed on request from the raw tables,
  as CRMs without snapshots do: one aggregate query per fact table over the
  13 months a scorecard shows (current, previous and the sparkline), for the
  scope asked. They render a plain table, so the time is the SQL's.
- `live_board`: the pipeline board bounded as a board should be: per stage a
  count and total from one aggregate, and the 25 largest deals as cards (as the board).

Never routed in production: only bench.settings (ROOT_URLCONF=bench.urls)
mounts them.
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib.auth.decorators import login_required
from django.db.models import Count, F, Q, Sum, Window
from django.db.models.functions import RowNumber, TruncMonth
from django.http import Http404, HttpRequest, HttpResponse
from django.template import RequestContext, Template
from django.utils import timezone
from django.views.decorators.http import require_POST

from crm.models import Activity, Customer, Deal, Prospect, Stage, Team, User
from crm.models import today as company_today
from surveys.models import Invitation, Response

BOARD_CARDS = 25  # as crm.views_deals.BOARD_CARDS_PER_COLUMN
# A plain page: the floor's time is its SQL's, not a template's.
LIVE_PAGE = Template(
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title></head>'
    "<body><h1>{{ title }}</h1><pre>{{ data|pprint }}</pre></body></html>"
)


def render(request: HttpRequest, title: str, data) -> HttpResponse:
    return HttpResponse(LIVE_PAGE.render(RequestContext(request, {"title": title, "data": data})))


class BareAnswerForm(forms.Form):
    nps_score = forms.TypedChoiceField(choices=[(i, i) for i in range(11)], coerce=int)
    csat_score = forms.TypedChoiceField(choices=[(i, i) for i in range(1, 6)], coerce=int)
    comment = forms.CharField(required=False, max_length=4000)


@require_POST
def bare_submit(request: HttpRequest, token: str) -> HttpResponse:
    form = BareAnswerForm(request.POST)
    if not form.is_valid():
        return HttpResponse("invalid", status=400)
    invitation_id = Invitation.objects.filter(token=token).values_list("pk", flat=True).first()
    if invitation_id is None:
        raise Http404
    Response.objects.create(
        invitation_id=invitation_id,
        submitted_at=timezone.now(),
        nps_score=form.cleaned_data["nps_score"],
        csat_score=form.cleaned_data["csat_score"],
        comment=form.cleaned_data["comment"],
    )
    return HttpResponse("Thank you")


def _closed_deal_counts() -> dict:
    won, lost = Q(stage=Stage.WON), Q(stage=Stage.LOST)
    return {
        "won": Count("pk", filter=won),
        "lost": Count("pk", filter=lost),
        "revenue": Sum("amount", filter=won),
    }


def _months(today: dt.date, count: int = 13) -> tuple[dt.date, list[dt.date]]:
    index = today.year * 12 + today.month - 1
    months = [dt.date((index - i) // 12, (index - i) % 12 + 1, 1) for i in range(count - 1, -1, -1)]
    return months[0], months


def _scorecard_rows(team_id: int | None, today: dt.date) -> dict:
    """A scope's scorecard figures for 13 months, from the raw tables (the
    company when team_id is None)."""
    scope = Q() if team_id is None else Q(team_id=team_id)
    response_scope = Q() if team_id is None else Q(invitation__team_id=team_id)
    first, months = _months(today)
    per_month: dict[dt.date, dict] = {m: {} for m in months}

    def merge(rows):
        for row in rows:
            per_month.setdefault(row.pop("month"), {}).update(row)

    merge(
        Deal.objects.filter(scope, stage__in=[Stage.WON, Stage.LOST], closed_on__gte=first)
        .annotate(month=TruncMonth("closed_on"))
        .values("month")
        .annotate(**_closed_deal_counts())
        .order_by()
    )
    merge(
        Prospect.objects.filter(scope, created_on__gte=first)
        .annotate(month=TruncMonth("created_on"))
        .values("month")
        .annotate(prospects=Count("pk"), converted=Count("pk", filter=Q(customer__isnull=False)))
        .order_by()
    )
    merge(
        Customer.objects.filter(scope, acquired_on__gte=first)
        .annotate(month=TruncMonth("acquired_on"))
        .values("month")
        .annotate(new_customers=Count("pk"))
        .order_by()
    )
    merge(
        Activity.objects.filter(scope, occurred_on__gte=first, kind__in=Activity.COUNTED_KINDS)
        .annotate(month=TruncMonth("occurred_on"))
        .values("month")
        .annotate(activities=Count("pk"))
        .order_by()
    )
    merge(
        Response.objects.filter(response_scope, submitted_at__date__gte=first)
        .annotate(month=TruncMonth("submitted_at"))
        .values("month")
        .annotate(
            promoters=Count("pk", filter=Q(nps_score__gte=9)),
            detractors=Count("pk", filter=Q(nps_score__lte=6)),
            answers=Count("nps_score"),
        )
        .order_by()
    )
    pipeline = Deal.objects.filter(scope).open().aggregate(n=Count("pk"), total=Sum("amount"))
    return {"months": per_month, "pipeline": pipeline}


def _admin_or_manager(user: User) -> None:
    if not (user.is_admin_role or user.is_manager):
        raise Http404


@login_required
def live_scorecard(request: HttpRequest) -> HttpResponse:
    _admin_or_manager(request.user)
    team_id = None if request.user.is_admin_role else request.user.team_id
    data = _scorecard_rows(team_id, company_today())
    return render(request, "Scorecard (live)", data)


@login_required
def live_leaderboard(request: HttpRequest) -> HttpResponse:
    _admin_or_manager(request.user)
    first = company_today().replace(day=1)
    rows = list(
        Deal.objects.visible_to(request.user)
        .filter(stage__in=[Stage.WON, Stage.LOST], closed_on__gte=first)
        .values("owner_id", "owner__first_name", "owner__last_name")
        .annotate(**_closed_deal_counts())
        .order_by("-revenue")
    )
    return render(request, "Leaderboard (live)", rows)


@login_required
def live_team(request: HttpRequest, team_id: int) -> HttpResponse:
    _admin_or_manager(request.user)
    if not request.user.is_admin_role and request.user.team_id != team_id:
        raise Http404
    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        raise Http404
    first = company_today().replace(day=1)
    deals = (
        Deal.objects.filter(team_id=team_id, stage__in=[Stage.WON, Stage.LOST], closed_on__gte=first)
        .values("owner_id")
        .annotate(**_closed_deal_counts())
        .order_by()
    )
    activities = (
        Activity.objects.filter(team_id=team_id, occurred_on__gte=first, kind__in=Activity.COUNTED_KINDS)
        .values("owner_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    pipeline = (
        Deal.objects.filter(team_id=team_id)
        .open()
        .values("owner_id")
        .annotate(n=Count("pk"), total=Sum("amount"))
        .order_by()
    )
    members = list(User.objects.filter(team_id=team_id).values("pk", "first_name", "last_name"))
    data = {"team": str(team), "members": members, "deals": list(deals), "activities": list(activities),
            "pipeline": list(pipeline)}  # fmt: skip
    return render(request, "Team (live)", data)


@login_required
def live_board(request: HttpRequest) -> HttpResponse:
    visible = Deal.objects.visible_to(request.user).open()
    totals = {
        row["stage"]: row
        for row in visible.values("stage").annotate(n=Count("pk"), total=Sum("amount")).order_by()
    }
    ranked = visible.annotate(
        rank=Window(RowNumber(), partition_by=[F("stage")], order_by=[F("amount").desc(), F("pk").asc()])
    )
    cards = list(
        ranked.filter(rank__lte=BOARD_CARDS).values("pk", "title", "stage", "amount", "owner__first_name")
    )
    columns = [
        {"stage": stage, "totals": totals.get(stage), "deals": [c for c in cards if c["stage"] == stage]}
        for stage in Stage.open_stages()
    ]
    return render(request, "Board (live)", columns)
