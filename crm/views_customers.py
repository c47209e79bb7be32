"""Customers: list, page (deals, revenue, survey answers), edit, churn."""

from __future__ import annotations

from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, DecimalField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm.filters import CustomerFilterForm
from crm.forms import ChurnForm, CustomerForm, apply_validation_error
from crm.models import Customer, Deal, Stage
from crm.pagination import capped_totals
from crm.views_common import (
    csv_response,
    get_customer_for,
    list_page,
    previous_submission,
    remember_submission,
)
from surveys.models import Response


@login_required
def customer_list(request: HttpRequest) -> HttpResponse:
    form = CustomerFilterForm(request.GET, user=request.user)
    qs = form.filter(Customer.objects.visible_to_indexed(request.user).with_owner())
    if request.GET.get("format") == "csv":
        return customer_csv(with_revenue(qs, request.user))
    page = list_page(request, form, qs)
    show_visible_totals(page.rows, request.user)
    context = {
        "form": form,
        "page": page,
        "totals": capped_totals(qs),
        "querystring": form.querystring(),
    }
    template = "crm/customer_list.html#results" if request.htmx else "crm/customer_list.html"
    return render(request, template, context)


def show_visible_totals(customers: list[Customer], user) -> None:
    """Set each customer's revenue and deal count to those of the deals `user` may see.

    A rep or a manager may see a customer whose deals were partly sold by
    other teams: the list must not show those (nor sort by them). The stored
    lifetime figures (Customer.revenue) are what an admin sees; for anyone
    else one grouped query over the page's customers replaces them.
    """
    if user.is_admin_role or not customers:
        return
    rows = (
        Deal.objects.visible_to(user)
        .filter(customer__in=[c.pk for c in customers])
        .order_by()
        .values("customer")
        .annotate(revenue=Sum("amount", filter=Q(stage=Stage.WON)), n=Count("pk"))
    )
    figures = {row["customer"]: (row["revenue"] or Decimal("0"), row["n"]) for row in rows}
    for customer in customers:
        customer.revenue, customer.deal_count = figures.get(customer.pk, (Decimal("0"), 0))


def with_revenue(qs, user):
    """Annotate visible_revenue and visible_deals by subquery, over the deals
    `user` may see (as the customer's page does), for the CSV export."""
    visible = Deal.objects.visible_to(user)
    won = (
        visible.filter(customer=OuterRef("pk"), stage=Stage.WON)
        .order_by()
        .values("customer")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    deals = (
        visible.filter(customer=OuterRef("pk"))
        .order_by()
        .values("customer")
        .annotate(n=Count("pk"))
        .values("n")
    )
    money = DecimalField(max_digits=16, decimal_places=2)
    return qs.annotate(
        visible_revenue=Coalesce(Subquery(won, output_field=money), Value(Decimal("0")), output_field=money),
        visible_deals=Coalesce(Subquery(deals), Value(0)),
    )


def customer_csv(qs) -> HttpResponse:
    """CSV export of the filtered customers the user may see.

    Columns: id, name, contact_name, contact_email, language, sector, country,
    employees, owner (username), team, acquired_on, churned_on (YYYY-MM-DD or
    empty), churn_reason, revenue (Σ won deals), deals (count of all deals),
    both over the deals the user may see.
    """
    header = [
        "id", "name", "contact_name", "contact_email", "language", "sector", "country",
        "employees", "owner", "team", "acquired_on", "churned_on", "churn_reason",
        "revenue", "deals",
    ]  # fmt: skip

    def row(c: Customer) -> list:
        return [
            c.pk, c.name, c.contact_name, c.contact_email, c.language, c.sector, c.country,
            c.employees if c.employees is not None else "", c.owner.username,
            c.team.name if c.team else "", c.acquired_on or "", c.churned_on or "",
            c.churn_reason, f"{c.visible_revenue:.2f}", c.visible_deals,
        ]  # fmt: skip

    return csv_response("customers.csv", header, qs.iterator(chunk_size=500), row)


@login_required
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    customer = get_customer_for(request.user, pk)
    return render(request, "crm/customer_detail.html", _detail_context(request, customer))


def _detail_context(request, customer, churn_form=None) -> dict:
    deals = customer.deals.visible_to(request.user).select_related("owner", "product")
    facts = deals.order_by().aggregate(
        revenue=Sum("amount", filter=Q(stage=Stage.WON)),
        won=Count("pk", filter=Q(stage=Stage.WON)),
        open_value=Sum("amount", filter=Q(stage__in=Stage.open_stages())),
    )
    responses = (
        Response.objects.visible_to(request.user)
        .filter(invitation__customer=customer)
        .select_related("invitation__survey")
    )
    can_churn = request.user.is_manager or request.user.is_admin_role
    return {
        "customer": customer,
        "deals": deals,
        "facts": facts,
        "responses": responses,
        "activities": customer.activities.select_related("owner")[:20],
        "can_churn": can_churn,
        "churn_form": churn_form or (ChurnForm(customer=customer) if can_churn else None),
    }


@login_required
def customer_create(request: HttpRequest) -> HttpResponse:
    form = CustomerForm(request.POST or None, user=request.user)
    if request.method == "POST":
        done = previous_submission(request, form)
        if done:
            return redirect(done)
        if form.is_valid():
            customer = form.save()
            remember_submission(request, form, customer.get_absolute_url())
            messages.success(request, _("Customer added."))
            return redirect(customer)
    return render(request, "crm/customer_form.html", {"form": form, "customer": None})


@login_required
def customer_edit(request: HttpRequest, pk: int) -> HttpResponse:
    customer = get_customer_for(request.user, pk)
    form = CustomerForm(request.POST or None, instance=customer, user=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Customer saved."))
        return redirect(customer)
    return render(request, "crm/customer_form.html", {"form": form, "customer": customer})


@login_required
@require_POST
def customer_churn(request: HttpRequest, pk: int) -> HttpResponse:
    customer = get_customer_for(request.user, pk)
    if not (request.user.is_manager or request.user.is_admin_role):
        raise PermissionDenied
    form = ChurnForm(request.POST, customer=customer)
    if form.is_valid():
        try:
            customer.mark_churned(form.cleaned_data["churned_on"], form.cleaned_data["reason"])
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, _("Customer marked churned."))
            return redirect(customer)
    customer = get_customer_for(request.user, pk)
    context = _detail_context(request, customer, churn_form=form)
    return render(request, "crm/customer_detail.html", context, status=400)
