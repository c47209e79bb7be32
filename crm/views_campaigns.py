"""Campaigns with their spend lines, and the monthly targets grid (managers)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import DecimalField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm.forms import CampaignForm, SpendForm, TargetCellForm
from crm.models import (
    EARLIEST_DATE,
    LATEST_DATE,
    Campaign,
    CampaignSpend,
    Prospect,
    Target,
    Team,
    User,
    today,
)
from crm.pagination import Ordering, keyset_page
from crm.views_common import previous_submission, remember_submission, require_manager


def with_totals(qs):
    """Total spend by subquery (a campaign has a spend line a month). The
    prospects brought are the stored Campaign.prospect_count."""
    spend = (
        CampaignSpend.objects.filter(campaign=OuterRef("pk"))
        .order_by()
        .values("campaign")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    money = DecimalField(max_digits=16, decimal_places=2)
    return qs.annotate(
        total_spend=Coalesce(Subquery(spend, output_field=money), Value(Decimal("0")), output_field=money),
    )


# Newest campaigns first (a few dozen rows: no index needed).
CAMPAIGN_ORDERING = Ordering("starts_on", True, dt.date)


def can_edit_campaign(user, campaign: Campaign) -> bool:
    # Managers run their own team's campaigns; company-wide ones are admins'.
    return user.is_admin_role or (user.is_manager and campaign.team_id == user.team_id)


def _get_campaign(user, pk: int) -> Campaign:
    require_manager(user)
    return get_object_or_404(Campaign.objects.visible_to(user).select_related("team"), pk=pk)


@login_required
def campaign_list(request: HttpRequest) -> HttpResponse:
    require_manager(request.user)
    qs = with_totals(Campaign.objects.visible_to(request.user).select_related("team"))
    page = keyset_page(request, qs, CAMPAIGN_ORDERING)
    return render(request, "crm/campaign_list.html", {"page": page, "querystring": ""})


@login_required
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _get_campaign(request.user, pk)
    return render(request, "crm/campaign_detail.html", _campaign_context(request, campaign))


def _campaign_context(request, campaign, spend_form=None) -> dict:
    editable = can_edit_campaign(request.user, campaign)
    return {
        "campaign": campaign,
        "editable": editable,
        "spend_lines": campaign.spend_lines.all(),
        "total_spend": campaign.spend_lines.aggregate(t=Sum("amount"))["t"] or 0,
        # The prospects it brought that this manager may see.
        "prospects": Prospect.objects.visible_to(request.user)
        .filter(source_campaign=campaign)
        .select_related("owner")[:100],
        "spend_form": spend_form or (SpendForm(initial={"spent_on": today()}) if editable else None),
    }


@login_required
def campaign_create(request: HttpRequest) -> HttpResponse:
    require_manager(request.user)
    form = CampaignForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        campaign = form.save()
        messages.success(request, _("Campaign created."))
        return redirect("campaign_detail", campaign.pk)
    return render(request, "crm/campaign_form.html", {"form": form, "campaign": None})


@login_required
def campaign_edit(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _get_campaign(request.user, pk)
    if not can_edit_campaign(request.user, campaign):
        raise PermissionDenied
    form = CampaignForm(request.POST or None, instance=campaign, user=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Campaign saved."))
        return redirect("campaign_detail", campaign.pk)
    return render(request, "crm/campaign_form.html", {"form": form, "campaign": campaign})


@login_required
@require_POST
def campaign_spend_add(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _get_campaign(request.user, pk)
    if not can_edit_campaign(request.user, campaign):
        raise PermissionDenied
    form = SpendForm(request.POST)
    done = previous_submission(request, form)
    if done:
        return redirect(done)
    if form.is_valid():
        line = form.save(commit=False)
        line.campaign = campaign
        line.save()
        remember_submission(request, form, request.path.replace("spend/", ""))
        messages.success(request, _("Spend line added."))
        return redirect("campaign_detail", campaign.pk)
    context = _campaign_context(request, campaign, spend_form=form)
    return render(request, "crm/campaign_detail.html", context, status=400)


@login_required
@require_POST
def campaign_spend_delete(request: HttpRequest, pk: int, line_pk: int) -> HttpResponse:
    campaign = _get_campaign(request.user, pk)
    if not can_edit_campaign(request.user, campaign):
        raise PermissionDenied
    get_object_or_404(campaign.spend_lines, pk=line_pk).delete()
    messages.success(request, _("Spend line removed."))
    return redirect("campaign_detail", campaign.pk)


# Targets grid ---------------------------------------------------------------


def _grid_team(request: HttpRequest) -> Team:
    user = request.user
    if user.is_admin_role:
        value = request.GET.get("team", "")
        teams = Team.objects.all()
        team = teams.filter(pk=value).first() if value.isascii() and value.isdigit() else None
        team = team or teams.first()
        if team is None:
            raise Http404
        return team
    if not user.team_id:
        raise Http404
    return user.team


def _year(request: HttpRequest) -> int:
    value = request.GET.get("year", "")
    year = int(value) if value.isascii() and value.isdigit() else today().year
    return year if 2000 <= year <= 2100 else today().year


@login_required
def target_grid(request: HttpRequest) -> HttpResponse:
    require_manager(request.user)
    team, year = _grid_team(request), _year(request)
    months = [dt.date(year, m, 1) for m in range(1, 13)]
    members = list(User.objects.sales_staff().filter(team=team))
    # One query for every target of the grid, rep rows and the team row.
    targets = Target.objects.filter(month__year=year).filter(user__in=members) | Target.objects.filter(
        month__year=year, team=team
    )
    amounts = {(t.user_id, t.team_id, t.month): t.amount for t in targets}
    rows = [
        {
            "label": str(m),
            "kind": "user",
            "id": m.pk,
            "cells": [amounts.get((m.pk, None, month)) for month in months],
        }
        for m in members
    ]
    rows.append(
        {
            "label": _("Team %(team)s") % {"team": team},
            "kind": "team",
            "id": team.pk,
            "cells": [amounts.get((None, team.pk, month)) for month in months],
        }
    )
    for row in rows:
        row["cells"] = [
            {"month": month, "amount": amount} for month, amount in zip(months, row["cells"], strict=True)
        ]
    context = {
        "team": team,
        "teams": Team.objects.all() if request.user.is_admin_role else None,
        "year": year,
        "months": months,
        "rows": rows,
    }
    return render(request, "crm/target_grid.html", context)


@login_required
@require_POST
def target_cell(request: HttpRequest, kind: str, pk: int, month: str) -> HttpResponse:
    """Save one grid cell (htmx); an empty amount clears the target."""
    require_manager(request.user)
    try:
        first = dt.date.fromisoformat(month).replace(day=1)
    except ValueError:
        raise Http404 from None
    # A month the KPI engine cannot place (year 1, 9999) is no grid cell.
    if not EARLIEST_DATE <= first <= LATEST_DATE:
        raise Http404
    if kind == "user":
        owner = get_object_or_404(User.objects.visible_to(request.user).sales_staff(), pk=pk)
        lookup = {"user": owner, "month": first}
        grid_team_id, label = owner.team_id, str(owner)
    elif kind == "team":
        team = get_object_or_404(
            Team.objects.all()
            if request.user.is_admin_role
            else Team.objects.filter(pk=request.user.team_id),
            pk=pk,
        )
        lookup = {"team": team, "month": first}
        grid_team_id, label = team.pk, _("Team %(team)s") % {"team": team}
    else:
        raise Http404
    form = TargetCellForm(request.POST)
    saved = False
    if form.is_valid():
        amount = form.cleaned_data["amount"]
        with transaction.atomic():
            if amount is None:
                Target.objects.filter(**lookup).delete()
            else:
                Target.objects.update_or_create(**lookup, defaults={"amount": amount})
        saved = True
    if not request.htmx:
        # Without JavaScript the cell's own Save button posted a whole page.
        if saved:
            messages.success(request, _("Target saved."))
        else:
            messages.error(request, " ".join(form.errors.get("amount", [])))
        return redirect(f"{reverse('target_grid')}?year={first.year}&team={grid_team_id or ''}")
    cell = {"month": first, "amount": form.cleaned_data.get("amount") if saved else form.data.get("amount")}
    context = {"cell": cell, "row": {"kind": kind, "id": pk, "label": label}, "form": form, "saved": saved}
    return render(request, "crm/target_grid.html#cell", context)
