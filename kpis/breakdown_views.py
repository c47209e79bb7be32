"""The "What changed" page: a KPI's change against its comparison period,
by team, person, campaign or product (kpis.breakdown)."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from kpis import breakdown as bd
from kpis import scorecards as sc
from kpis.definitions import KPIS
from kpis.performance_views import _query, _render, _scope_from_request, _scope_value


class BreakdownForm(forms.Form):
    kpi = forms.ChoiceField(choices=[(k, d.label) for k, d in KPIS.items()])
    dim = forms.CharField(required=False, max_length=20)


@login_required
@require_GET
def what_changed(request: HttpRequest) -> HttpResponse:
    form = BreakdownForm(request.GET)
    if not form.is_valid():
        raise Http404(_("No such figure."))
    kpi = form.cleaned_data["kpi"]
    # Visibility: the scorecard's rule (own / team / company), 403 or 404 otherwise.
    scope = _scope_from_request(request)
    if scope.type not in KPIS[kpi].scopes:
        raise Http404(_("No such figure."))
    period = sc.period_from_params(request.GET)
    result = bd.build(request.user, scope, period, kpi, form.cleaned_data["dim"])  # 2 queries
    keep = {"kpi": kpi, "scope": _scope_value(scope), **period.params()}
    context = {
        "b": result,
        "rows": result.rows(),
        "chart": result.chart(),
        "change": result.fmt(result.change),
        "volume": None if result.volume is None else result.fmt(result.volume),
        "size": None if result.size is None else result.fmt(result.size),
        "dim_links": [(d, label, _query(**keep, dim=d)) for d, label in result.dimensions],
        "scorecard_query": _query(scope=keep["scope"], **period.params()),
        "previous_display": sc.format_value(result.previous, result.defn.unit),
        "current_display": sc.format_value(result.current, result.defn.unit),
    }
    return _render(request, "kpis/what_changed.html", context)


def url_for(kpi: str, scope: sc.Scope, period: sc.Period) -> str:
    from django.urls import reverse

    return reverse("what_changed") + _query(kpi=kpi, scope=_scope_value(scope), **period.params())
