"""KPI engine status: the last recomputes, "as of", and Recompute now."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from kpis.compute import pending_months
from kpis.models import KpiSnapshot, RecomputeRun
from kpis.scorecards import Period
from kpis.tasks import enqueue

BUTTON = "kpis/includes/recompute_button.html"


def _require_manager(user) -> None:
    # Recomputing touches everyone's figures: managers and admins only.
    if not (user.is_manager or user.is_admin_role):
        raise PermissionDenied


@login_required
@require_GET
def kpi_status(request: HttpRequest) -> HttpResponse:
    _require_manager(request.user)
    runs = list(RecomputeRun.objects.select_related("requested_by")[:10])
    as_of = KpiSnapshot.objects.aggregate(as_of=Max("computed_at"))["as_of"]
    # Months a correction touched since the last run: the next one (nightly,
    # or Recompute now) brings them, and every period made of them, level.
    pending = [Period("month", month) for month in pending_months()]
    return render(
        request,
        "kpis/status.html",
        {"runs": runs, "run": runs[0] if runs else None, "as_of": as_of, "pending": pending},
    )


@login_required
@require_POST
def kpi_recompute(request: HttpRequest) -> HttpResponse:
    _require_manager(request.user)
    with transaction.atomic():
        # A second click while a run is queued or running follows that run.
        run = RecomputeRun.objects.active().select_for_update().first()
        if run is None:
            run = RecomputeRun.objects.create(requested_by=request.user, kind=RecomputeRun.Kind.MANUAL)
            transaction.on_commit(lambda: enqueue(run))
    if request.htmx:
        return render(request, BUTTON, {"run": run})
    messages.info(request, _("The KPIs are being recomputed."))
    return redirect("kpi_status")


@login_required
@require_GET
def kpi_run(request: HttpRequest, pk: int) -> HttpResponse:
    """A run's progress: the button's htmx poll."""
    _require_manager(request.user)
    run = get_object_or_404(RecomputeRun, pk=pk)
    if not request.htmx:
        return redirect("kpi_status")
    return render(request, BUTTON, {"run": run})
