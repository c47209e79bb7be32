"""Activities: log a call, meeting, email or note; "my week"."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
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
    my_week = not request.GET
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
        "todo": my_week_todo(request.user) if my_week else None,
    }
    template = "crm/activity_list.html#results" if request.htmx else "crm/activity_list.html"
    return render(request, template, context)


# A to-do list shows this many items at most; older overdue ones are in the list view.
TODO_LIMIT = 100


def my_week_todo(user) -> list[dict]:
    """The user's week as a to-do list: overdue, today, the rest of this week, done.

    One query: planned activities up to Sunday (overdue ones from any week)
    and this week's done ones, bucketed here.
    """
    day = today()
    monday, sunday = week_bounds(day)
    rows = (
        Activity.objects.visible_to_indexed(user)
        .filter(owner=user)
        .filter(Q(done=False, occurred_on__lte=sunday) | Q(done=True, occurred_on__range=(monday, sunday)))
        .select_related("deal", "prospect", "customer")
        .order_by("occurred_on", "pk")[:TODO_LIMIT]
    )
    buckets = {
        "overdue": (_("Overdue"), []),
        "today": (_("Today"), []),
        "week": (_("Later this week"), []),
        "done": (_("Done this week"), []),
    }
    for a in rows:
        if a.done:
            key = "done"
        elif a.occurred_on < day:
            key = "overdue"
        elif a.occurred_on == day:
            key = "today"
        else:
            key = "week"
        buckets[key][1].append(a)
    return [{"key": key, "label": label, "items": items} for key, (label, items) in buckets.items()]


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
        # The to-do list's items and the table's rows each get their own markup back.
        if (request.htmx.target or "").startswith("todo-"):
            return render(request, "crm/activity_list.html#todo-item", {"a": activity, "just_done": True})
        return render(request, "crm/activity_list.html#row", {"a": activity})
    messages.success(request, _("Activity marked done."))
    return redirect("activity_list")
