"""The team pulse pages: the anonymous answer page (/p/<token>/), the results
for managers and admins, and the admin's schedule.

Results are never per person and never for a scope with fewer than
ENPS_MIN_ANSWERS answers in the period: the eNPS comes from the engine's
snapshots (withheld there), the items and comments from the answers only
when the same rule holds — on the page, its CSV and the explain link alike.
"""

from __future__ import annotations

import random
import re

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Avg, Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from crm.models import Team
from crm.views_common import csv_response
from kpis import scorecards as sc
from kpis.definitions import COMPANY, MONTH, TEAM
from kpis.models import KpiSnapshot
from surveys import ratelimit
from team.forms import PulseForm, PulseScheduleForm
from team.models import ENPS_MIN_ANSWERS, PulseAnswer, PulseInvitation, PulseSchedule

TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")


def _public(request: HttpRequest, template: str, context: dict, status: int = 200) -> HttpResponse:
    response = render(request, template, context, status=status)
    response["Referrer-Policy"] = "same-origin"
    response["Cache-Control"] = "no-store, private"
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Content-Language"] = translation.get_language()
    return response


def pulse_answer(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows the form; only POST records (mail scanners open links)."""
    if request.method not in ("GET", "HEAD", "POST"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD, POST"})
    if request.method == "POST" and not ratelimit.allow(
        request, "pulse", settings.SURVEY_RATE_LIMIT_PER_HOUR
    ):
        return _public(request, "surveys/public/too_many.html", {}, status=429)
    invitation = (
        PulseInvitation.objects.select_related("round").filter(token=token, sent_at__isnull=False).first()
        if TOKEN_RE.fullmatch(token)
        else None
    )
    if invitation is None:
        return _public(request, "surveys/public/not_found.html", {}, status=404)
    with translation.override(invitation.language):
        if invitation.answered:
            page = "surveys/public/thanks.html" if request.method == "POST" else "team/public/already.html"
            return _public(request, page, {})
        if invitation.is_expired():
            return _public(request, "surveys/public/expired.html", {}, status=410)
        form = PulseForm(request.POST if request.method == "POST" else None, pulse=invitation.round)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            invitation.answer(
                score=data["score"],
                tools=data.get("tools"),
                workload=data.get("workload"),
                support=data.get("support"),
                comment=data.get("comment", ""),
            )
            return _public(request, "team/public/thanks.html", {})
        return _public(request, "team/public/pulse.html", {"form": form}, status=400 if form.errors else 200)


# --- results ---------------------------------------------------------------------


def _scope(request: HttpRequest) -> tuple[str, int, Team | None]:
    """A manager's team; an admin's choice of the company or any team."""
    user = request.user
    if not (user.is_manager or user.is_admin_role):
        raise PermissionDenied(_("The pulse results are for managers and admins."))
    value = request.GET.get("team", "")
    if user.is_admin_role:
        if not value:
            return COMPANY, 0, None
        team = Team.objects.filter(pk=value).first() if value.isdigit() else None
        if team is None:
            raise Http404
        return TEAM, team.pk, team
    if value and value != str(user.team_id):
        raise Http404  # another team's results: no existence leak
    if not user.team_id:
        raise Http404(_("You have no team yet."))
    return TEAM, user.team_id, user.team


def pulse_summary(scope_type: str, scope_id: int, period: sc.Period) -> dict:
    """The period's results for a scope, or only `shown=False` when fewer
    than ENPS_MIN_ANSWERS answers (or the engine withheld the figure)."""
    snap = KpiSnapshot.objects.filter(
        kpi="enps", scope_type=scope_type, scope_id=scope_id, granularity=period.granularity,
        period_start=period.start,
    ).first()  # fmt: skip
    answers = PulseAnswer.objects.filter(submitted_on__range=(period.start, period.end))
    if scope_type == TEAM:
        answers = answers.filter(team_id=scope_id)
    stats = answers.aggregate(
        n=Count("pk"), tools=Avg("tools"), workload=Avg("workload"), support=Avg("support")
    )
    # The engine's row decides too: it also withholds a team whose figure the
    # company's minus the other teams' would reveal; before it has run, the
    # page shows nothing rather than judge alone.
    withheld = snap is None or snap.details.get("suppressed")
    if stats["n"] < ENPS_MIN_ANSWERS or withheld:
        return {"shown": False, "computed": snap is not None}
    comments = [c for c in answers.exclude(comment="").values_list("comment", flat=True)]
    # Shuffled: no order (of answering, of score) can point at a person.
    random.shuffle(comments)
    return {
        "shown": True,
        "answers": stats["n"],
        "enps": snap.value,
        "details": snap.details,
        "items": [
            (_("Tools"), stats["tools"]),
            (_("Workload"), stats["workload"]),
            (_("Support"), stats["support"]),
        ],
        "comments": comments,
    }


def _trend(scope_type: str, scope_id: int, period: sc.Period) -> dict:
    months = period.last(12) if period.granularity == MONTH else sc.Period(MONTH, period.start).last(12)
    starts = [p.start for p in months]
    values = dict(
        KpiSnapshot.objects.filter(
            kpi="enps", scope_type=scope_type, scope_id=scope_id, granularity=MONTH, period_start__in=starts
        ).values_list("period_start", "value")
    )
    labels = [str(p.label) for p in months]
    points = [None if values.get(s) is None else float(values[s]) for s in starts]
    return {"labels": labels, "values": points, "table": list(zip(labels, points, strict=True))}


@login_required
@require_GET
def pulse_results(request: HttpRequest) -> HttpResponse:
    scope_type, scope_id, team = _scope(request)
    period = sc.period_from_params(request.GET)
    summary = pulse_summary(scope_type, scope_id, period)
    if request.GET.get("format") == "csv":
        rows = [summary] if summary["shown"] else []
        return csv_response(
            "team-pulse.csv",
            ["scope", "period_start", "answers", "enps", "tools", "workload", "support"],
            rows,
            lambda s: [str(team or _("The whole company")), period.start.isoformat(), s["answers"], s["enps"],
                       *(round(v, 2) if v is not None else "" for _label, v in s["items"])],
        )  # fmt: skip
    keep = {"team": team.pk} if team and request.user.is_admin_role else {}
    context = {
        "team": team,
        "teams": list(Team.objects.all()) if request.user.is_admin_role else [],
        "period": period,
        "summary": summary,
        "trend": _trend(scope_type, scope_id, period),
        "minimum": ENPS_MIN_ANSWERS,
        "query": keep,
        "granularities": list(sc.GRANULARITY_LABELS.items()),
    }
    return render(request, "team/pulse_results.html", context)


@login_required
def pulse_schedule(request: HttpRequest) -> HttpResponse:
    if not request.user.is_admin_role:
        raise PermissionDenied
    form = PulseScheduleForm(request.POST or None, instance=PulseSchedule.get())
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Pulse schedule saved."))
        return redirect("pulse_schedule")
    return render(request, "team/pulse_schedule.html", {"form": form}, status=400 if form.errors else 200)
