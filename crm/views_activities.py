"""Activities: log a call, meeting, email or note; "my week"."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm.filters import ActivityFilterForm, week_bounds
from crm.forms import ActivityForm
from crm.models import Activity, Customer, Deal, Prospect, today
from crm.pagination import capped_totals
from crm.views_common import (
    get_activity_for,
    list_page,
    previous_submission,
    remember_submission,
)


@login_required
def activity_list(request: HttpRequest) -> HttpResponse:
    """Defaults to "my week": this Monday to Sunday, my own activities."""
    data = request.GET.copy()
    monday, sunday = week_bounds(today())
    if "from" not in data and "to" not in data:
        data["from"], data["to"] = monday.isoformat(), sunday.isoformat()
        if not request.user.is_salesperson and "owner" not in data:
            data["owner"] = str(request.user.pk)
    form = ActivityFilterForm(data, user=request.user)
    qs = form.filter(
        Activity.objects.visible_to_indexed(request.user).select_related(
            "owner", "deal", "prospect", "customer"
        )
    )
    start = form.value("from") or monday
    context = {
        "form": form,
        "page": list_page(request, form, qs),
        "totals": capped_totals(qs),
        "querystring": form.querystring(),
        "prev_week": week_bounds(start - dt.timedelta(days=7)),
        "next_week": week_bounds(start + dt.timedelta(days=7)),
        "this_week": (monday, sunday),
    }
    template = "crm/activity_list.html#results" if request.htmx else "crm/activity_list.html"
    return render(request, template, context)


@login_required
def activity_create(request: HttpRequest) -> HttpResponse:
    initial = {"occurred_on": today()}
    for name, model in (("prospect", Prospect), ("deal", Deal), ("customer", Customer)):
        value = request.GET.get(name, "")
        if (
            value.isascii()
            and value.isdigit()
            and model.objects.visible_to(request.user).filter(pk=value).exists()
        ):
            initial[name] = value
    form = ActivityForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST":
        done = previous_submission(request, form)
        if done:
            return redirect(done)
        if form.is_valid():
            activity = form.save(commit=False)
            activity.owner = request.user  # the person logging it did it
            activity.save()
            target = activity.deal or activity.prospect or activity.customer
            remember_submission(request, form, target.get_absolute_url())
            messages.success(request, _("Activity logged."))
            return redirect(target)
    return render(request, "crm/activity_form.html", {"form": form})


@login_required
@require_POST
def activity_done(request: HttpRequest, pk: int) -> HttpResponse:
    """A planned activity happened: mark it done (idempotent)."""
    activity = get_activity_for(request.user, pk)
    if not activity.done:
        activity.done = True
        activity.save(update_fields=["done"])
    if request.htmx:
        return render(request, "crm/activity_list.html#row", {"a": activity})
    messages.success(request, _("Activity marked done."))
    return redirect("activity_list")
