"""Prospects: list, create, edit, move along, convert, mark lost."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from api.signals import prospect_converted
from crm.filters import ProspectFilterForm
from crm.forms import ConvertForm, ProspectForm, ProspectLostForm, ProspectStatusForm
from crm.models import Customer, Deal, Prospect, Stage, today
from crm.pagination import capped_totals
from crm.views_common import (
    csv_response,
    get_prospect_for,
    list_page,
    previous_submission,
    remember_submission,
)


@login_required
def prospect_list(request: HttpRequest) -> HttpResponse:
    form = ProspectFilterForm(request.GET, user=request.user)
    qs = form.filter(
        Prospect.objects.visible_to_indexed(request.user).select_related("owner", "source_campaign")
    )
    if request.GET.get("format") == "csv":
        return prospect_csv(qs)
    context = {
        "form": form,
        "page": list_page(request, form, qs),
        "totals": capped_totals(qs),
        "querystring": form.querystring(),
    }
    template = "crm/prospect_list.html#results" if request.htmx else "crm/prospect_list.html"
    return render(request, template, context)


def prospect_csv(qs) -> HttpResponse:
    """CSV export of the filtered prospects the user may see.

    Columns: id, name, company, email, phone, status, created_on,
    converted_on (YYYY-MM-DD or empty), owner (username), team,
    source_campaign, customer_id (when converted), lost_reason.
    """
    header = [
        "id", "name", "company", "email", "phone", "status", "created_on", "converted_on",
        "owner", "team", "source_campaign", "customer_id", "lost_reason",
    ]  # fmt: skip
    qs = qs.select_related("team")

    def row(p: Prospect) -> list:
        return [
            p.pk, p.name, p.company, p.email, p.phone, p.status, p.created_on,
            p.converted_on or "", p.owner.username, p.team.name if p.team else "",
            p.source_campaign.name if p.source_campaign else "", p.customer_id or "",
            p.lost_reason,
        ]  # fmt: skip

    return csv_response("prospects.csv", header, qs.iterator(chunk_size=500), row)


@login_required
def prospect_create(request: HttpRequest) -> HttpResponse:
    form = ProspectForm(request.POST or None, user=request.user)
    if request.method == "POST":
        done = previous_submission(request, form)
        if done:
            return redirect(done)
        if form.is_valid():
            prospect = form.save()
            remember_submission(request, form, prospect.get_absolute_url())
            messages.success(request, _("Prospect added."))
            return redirect(prospect)
    return render(request, "crm/prospect_form.html", {"form": form, "prospect": None})


@login_required
def prospect_edit(request: HttpRequest, pk: int) -> HttpResponse:
    prospect = get_prospect_for(request.user, pk)
    form = ProspectForm(request.POST or None, instance=prospect, user=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Prospect saved."))
        return redirect(prospect)
    return render(request, "crm/prospect_form.html", {"form": form, "prospect": prospect})


@login_required
def prospect_detail(request: HttpRequest, pk: int) -> HttpResponse:
    prospect = get_prospect_for(request.user, pk)
    return render(request, "crm/prospect_detail.html", _detail_context(request, prospect))


def _detail_context(request, prospect, **forms) -> dict:
    return {
        "prospect": prospect,
        "deals": prospect.deals.visible_to(request.user).select_related("owner"),
        "activities": prospect.activities.select_related("owner"),
        "status_form": forms.get("status_form")
        or ProspectStatusForm(prospect=prospect, initial={"status": prospect.status}),
        "lost_form": forms.get("lost_form") or ProspectLostForm(prospect=prospect),
        "convert_form": forms.get("convert_form") or ConvertForm(prospect=prospect, user=request.user),
    }


@login_required
@require_POST
def prospect_status(request: HttpRequest, pk: int) -> HttpResponse:
    prospect = get_prospect_for(request.user, pk)
    form = ProspectStatusForm(request.POST, prospect=prospect)
    if form.is_valid():
        prospect.status = form.cleaned_data["status"]
        prospect.save(update_fields=["status"])
        messages.success(request, _("Status updated."))
        return redirect(prospect)
    context = _detail_context(request, prospect, status_form=form)
    return render(request, "crm/prospect_detail.html", context, status=400)


@login_required
@require_POST
def prospect_lost(request: HttpRequest, pk: int) -> HttpResponse:
    prospect = get_prospect_for(request.user, pk)
    form = ProspectLostForm(request.POST, prospect=prospect)
    if form.is_valid():
        prospect.status = Prospect.Status.LOST
        prospect.lost_reason = form.cleaned_data["reason"]
        prospect.save(update_fields=["status", "lost_reason"])
        messages.success(request, _("Prospect marked lost."))
        return redirect(prospect)
    context = _detail_context(request, prospect, lost_form=form)
    return render(request, "crm/prospect_detail.html", context, status=400)


@login_required
@require_POST
def prospect_convert(request: HttpRequest, pk: int) -> HttpResponse:
    """Customer (new or linked) + deal + prospect status, all or nothing."""
    with transaction.atomic():
        # Lock the prospect so two conversions racing cannot both pass the
        # "not converted yet" check and create two customers.
        prospect = get_prospect_for(request.user, pk)
        prospect = Prospect.objects.select_for_update().get(pk=prospect.pk)
        form = ConvertForm(request.POST, prospect=prospect, user=request.user)
        done = previous_submission(request, form)
        if done:
            return redirect(done)
        if form.is_valid():
            deal = convert(prospect, form.cleaned_data, by=request.user)
            remember_submission(request, form, deal.get_absolute_url())
            messages.success(request, _("Prospect converted: the deal is open."))
            return redirect(deal)
    prospect = get_prospect_for(request.user, pk)
    context = _detail_context(request, prospect, convert_form=form)
    return render(request, "crm/prospect_detail.html", context, status=400)


def convert(prospect: Prospect, data: dict, by) -> Deal:
    """Turn a prospect into a customer and an open deal (call inside atomic)."""
    if data["mode"] == ConvertForm.EXISTING:
        customer = data["customer"]
    else:
        # The team comes from the owner as they are today (Customer.save),
        # not from the prospect: they may have changed team since.
        customer = Customer.objects.create(
            name=data["customer_name"].strip(),
            contact_name=prospect.name,
            contact_email=prospect.email,
            owner_id=prospect.owner_id,
            source_campaign_id=prospect.source_campaign_id,
        )
    prospect.status = Prospect.Status.CONVERTED
    prospect.customer = customer
    prospect.converted_on = today()
    prospect.save(update_fields=["status", "customer", "converted_on"])
    # kpi-spec: the deal's team is its owner's team at creation (Deal.save),
    # which also writes the first stage history entry.
    deal = Deal(
        title=data["deal_title"],
        customer=customer,
        prospect=prospect,
        owner_id=prospect.owner_id,
        product=data.get("product"),
        amount=data["amount"],
        stage=Stage.PROSPECTING,
        expected_close_on=data.get("expected_close_on"),
    )
    deal.save(by=by)
    prospect_converted(prospect, deal)  # webhooks, sent once the transaction commits
    return deal
