"""Sales cost lines (Manage ▸ Sales costs): what the sales organisation costs
per team and month — the other half of the blended CAC (kpi-spec: sales_cost).

Managers keep their own team's lines, admins every team's and the
company-wide ones; salespeople have no access (salaries are private).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Sum
from django.db.models.functions import ExtractMonth
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm import sales_costs
from crm.forms import SalesCostConfirmForm, SalesCostForm, SalesCostImportForm
from crm.models import SalesCost, Team, today
from crm.views_common import previous_submission, remember_submission, require_manager


def _year(request: HttpRequest) -> int:
    value = request.GET.get("year", "")
    year = int(value) if value.isascii() and value.isdigit() else today().year
    return year if 1900 <= year <= 2100 else today().year


def _lines(request: HttpRequest, year: int):
    qs = SalesCost.objects.visible_to(request.user).filter(spent_on__year=year).select_related("team")
    team = request.GET.get("team", "")
    if request.user.is_admin_role and team.isascii() and team.isdigit():
        qs = qs.filter(team_id=team)
    elif request.user.is_admin_role and team == "company":
        qs = qs.filter(team__isnull=True)
    return qs


@login_required
def sales_cost_list(request: HttpRequest) -> HttpResponse:
    require_manager(request.user)
    year = _year(request)
    form = SalesCostForm(
        request.POST or None, user=request.user, initial={"spent_on": today().replace(day=1)}
    )
    if request.method == "POST":
        done = previous_submission(request, form)
        if done:
            return redirect(done)
        if form.is_valid():
            line = form.save()
            remember_submission(request, form, request.get_full_path())
            messages.success(request, _("Cost line added."))
            return redirect(f"{request.path}?year={line.spent_on.year}")
    lines = _lines(request, year)
    # One query: the year's totals by month and category, for the table.
    totals = {
        (row["m"], row["category"]): row["total"]
        for row in lines.order_by().annotate(m=ExtractMonth("spent_on")).values("m", "category")
        .annotate(total=Sum("amount"))
    }  # fmt: skip
    categories = SalesCost.Category.choices
    months = [
        {"month": m, "cells": [totals.get((m, c)) for c, _label in categories],
         "total": sum((totals.get((m, c)) or 0 for c, _label in categories), 0)}
        for m in range(1, 13)
    ]  # fmt: skip
    context = {
        "form": form,
        "lines": lines,
        "year": year,
        "years": (year - 1, year + 1),
        "months": months,
        "categories": categories,
        "year_total": sum(m["total"] for m in months),
        "teams": list(Team.objects.all()) if request.user.is_admin_role else [],
        "team_filter": request.GET.get("team", ""),
    }
    return render(request, "crm/sales_costs.html", context, status=400 if form.errors else 200)


def _get_line(user, pk: int) -> SalesCost:
    require_manager(user)
    return get_object_or_404(SalesCost.objects.visible_to(user), pk=pk)


@login_required
def sales_cost_edit(request: HttpRequest, pk: int) -> HttpResponse:
    line = _get_line(request.user, pk)
    form = SalesCostForm(request.POST or None, instance=line, user=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Cost line saved."))
        return redirect(f"{_list_url()}?year={line.spent_on.year}")
    return render(request, "crm/sales_cost_form.html", {"form": form, "line": line})


@login_required
@require_POST
def sales_cost_delete(request: HttpRequest, pk: int) -> HttpResponse:
    line = _get_line(request.user, pk)
    year = line.spent_on.year
    line.delete()
    messages.success(request, _("Cost line removed."))
    return redirect(f"{_list_url()}?year={year}")


@login_required
def sales_cost_import(request: HttpRequest) -> HttpResponse:
    """Upload → every row checked and previewed → confirm: all or nothing."""
    require_manager(request.user)
    if request.method == "POST" and "content" in request.POST:
        confirm = SalesCostConfirmForm(request.POST)
        if confirm.is_valid():
            # Checked again in full when written: the text came back from the browser.
            plan = sales_costs.plan(confirm.cleaned_data["content"], request.user, write=True)
            if plan.ok:
                messages.success(
                    request,
                    _("Imported: %(create)s added, %(update)s updated, %(unchanged)s unchanged.")
                    % sales_costs.counts(plan),
                )
                return redirect(_list_url())
            context = {"form": SalesCostImportForm(), "plan": plan, "counts": sales_costs.counts(plan)}
            return render(request, "crm/sales_cost_import.html", context, status=400)
    form = SalesCostImportForm(request.POST or None, request.FILES or None)
    context = {"form": form}
    if request.method == "POST":
        if not form.is_valid():
            return render(request, "crm/sales_cost_import.html", context, status=400)
        text = form.cleaned_data["file"]
        plan = sales_costs.plan(text, request.user)
        context |= {
            "plan": plan,
            "counts": sales_costs.counts(plan),
            "confirm": SalesCostConfirmForm(initial={"content": text}) if plan.ok else None,
        }
        return render(request, "crm/sales_cost_import.html", context, status=200 if plan.ok else 400)
    return render(request, "crm/sales_cost_import.html", context)


def _list_url() -> str:
    from django.urls import reverse

    return reverse("sales_cost_list")
