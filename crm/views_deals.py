"""Deals: list, board, the "log a deal" dialog, the deal page and its verbs."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count, OuterRef, Subquery, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from crm.filters import DealFilterForm
from crm.forms import (
    DealForm,
    DealLostForm,
    DealMoveForm,
    DealReopenForm,
    DealWonForm,
    apply_validation_error,
)
from crm.models import Activity, Customer, Deal, DealStageChange, LostReason, Prospect, Stage, today
from crm.pagination import capped_totals
from crm.views_common import (
    csv_response,
    get_deal_for,
    list_page,
    previous_submission,
    remember_submission,
)
from kpis import process
from surveys.models import Response


def _filtered_deals(request: HttpRequest) -> tuple[DealFilterForm, object]:
    form = DealFilterForm(request.GET, user=request.user)
    qs = form.filter(Deal.objects.visible_to_indexed(request.user).with_related())
    return form, qs


@login_required
def deal_list(request: HttpRequest) -> HttpResponse:
    form, qs = _filtered_deals(request)
    if request.GET.get("format") == "csv":
        return deal_csv(qs)
    # The rows show the customer or prospect and the owner: no other join.
    page = list_page(request, form, qs.select_related(None).select_related("owner", "customer", "prospect"))
    totals = capped_totals(qs, "amount")
    from crm.views_bulk import BulkDealForm  # it exports through deal_csv below

    context = {
        "form": form,
        "page": page,
        "totals": totals,
        "querystring": form.querystring(),
        "bulk_form": BulkDealForm(user=request.user),
    }
    template = "crm/deal_list.html#results" if request.htmx else "crm/deal_list.html"
    return render(request, template, context)


def deal_csv(qs) -> HttpResponse:
    """CSV export of the filtered deals the user may see.

    Columns: id, title, stage, amount, currency-free decimal, opened_on,
    expected_close_on, closed_on (YYYY-MM-DD or empty), owner (username),
    team, customer, prospect, product, lost_reason (the reason's code),
    lost_note.
    """
    reasons = dict(LostReason.objects.values_list("pk", "code"))
    header = [
        "id", "title", "stage", "amount", "opened_on", "expected_close_on", "closed_on",
        "owner", "team", "customer", "prospect", "product", "lost_reason", "lost_note",
    ]  # fmt: skip

    def row(d: Deal) -> list:
        return [
            d.pk, d.title, d.stage, d.amount, d.opened_on, d.expected_close_on or "",
            d.closed_on or "", d.owner.username, d.team.name if d.team else "",
            d.customer.name if d.customer else "", d.prospect.name if d.prospect else "",
            d.product.name if d.product else "", reasons.get(d.lost_reason_id, ""), d.lost_note,
        ]  # fmt: skip

    return csv_response("deals.csv", header, qs.iterator(chunk_size=500), row)


# A column shows its largest deals; the rest are one click away in the list.
# Counts and totals always cover every deal of the column.
BOARD_CARDS_PER_COLUMN = 25


def _board_context(request: HttpRequest, **extra) -> dict:
    form = DealFilterForm(request.GET, user=request.user)
    deals = form.filter(Deal.objects.visible_to(request.user).open())
    # Each column's count and total, then its first N cards by amount: one
    # aggregate and one slice per column, all on the open deals' own index
    # (deal_open_board_idx), so an admin's board reads N cards a column, not
    # every open deal ranked (benchmarks.md).
    totals = {
        row["stage"]: {"count": row["count"], "total": row["total"]}
        for row in deals.order_by().values("stage").annotate(count=Count("pk"), total=Sum("amount"))
    }
    top = [
        pk
        for stage in totals
        for pk in deals.filter(stage=stage)
        .order_by("-amount", "pk")
        .values_list("pk", flat=True)[:BOARD_CARDS_PER_COLUMN]
    ]
    # Each card's latest stage entry (days in stage) and next to-do, in the
    # same query (correlated subqueries).
    entered_at = Subquery(
        DealStageChange.objects.filter(deal=OuterRef("pk"))
        .order_by("-changed_at", "-pk")
        .values("changed_at")[:1]
    )
    todo = Activity.objects.filter(deal=OuterRef("pk"), done=False).order_by("occurred_on", "pk")
    ranked = list(
        Deal.objects.filter(pk__in=top)
        .select_related("owner", "customer", "prospect")  # what a card shows
        .annotate(
            entered_at=entered_at,
            next_on=Subquery(todo.values("occurred_on")[:1]),
            next_subject=Subquery(todo.values("subject")[:1]),
        )
        .order_by("-amount", "pk")
    )
    process.mark_board(ranked, today())  # 1 query: the stalled thresholds
    by_stage: dict[str, list[Deal]] = {s: [] for s in Stage.open_stages()}
    # Two links per card: reversed once each and filled in, since reverse()
    # per card was a tenth of the page's time at 100 cards.
    detail_url, move_url = reverse("deal_detail", args=[0]), reverse("deal_move", args=[0])
    stages = [(stage.value, str(stage.label)) for stage in Stage.open_stages()]
    # A card's Move buttons (every other open stage) and its age, written once
    # per stage or card here: the template's loop and plural blocktranslate
    # per card were about a tenth of the board's Python time at 100 cards.
    buttons = {
        stage: format_html_join(
            "", '<button type="submit" name="stage" value="{}">{}</button>',
            ((value, label) for value, label in stages if value != stage),
        )
        for stage, _label in stages
    }  # fmt: skip
    for deal in ranked:
        deal.detail_url = detail_url.replace("/0/", f"/{deal.pk}/")
        deal.move_url = move_url.replace("/0/", f"/{deal.pk}/")
        deal.move_buttons = buttons[deal.stage]
        deal.stage_age = ngettext("%(n)s day in stage", "%(n)s days in stage", deal.days_in_stage) % {
            "n": deal.days_in_stage
        }
        by_stage[deal.stage].append(deal)
    columns = []
    for stage, rows in by_stage.items():
        count = totals.get(stage, {}).get("count", 0)
        columns.append(
            {
                "stage": stage,
                "deals": rows,
                "count": count,
                "total": totals.get(stage, {}).get("total") or 0,
                "more": count - len(rows),
            }
        )
    return {
        "form": form,
        "columns": columns,
        "stages": stages,
        "querystring": form.querystring(),
        **extra,
    }


@login_required
def deal_board(request: HttpRequest) -> HttpResponse:
    extra = {}
    # A plain (no-JavaScript, or before htmx loaded) move redirects here with
    # ?moved=<pk>: that card's menu takes focus (autofocus) and the live
    # region says what moved, as the htmx swap does.
    moved = request.GET.get("moved", "")
    if moved.isascii() and moved.isdigit() and not request.htmx:
        extra["moved"] = int(moved)
    context = _board_context(request, **extra)
    if "moved" in extra:
        deal = next((d for col in context["columns"] for d in col["deals"] if d.pk == extra["moved"]), None)
        if deal is not None:
            context["status"] = _("%(deal)s moved to %(stage)s.") % {
                "deal": deal,
                "stage": deal.get_stage_display(),
            }
    template = "crm/deal_board.html#board" if request.htmx else "crm/deal_board.html"
    return render(request, template, context)


@login_required
@require_POST
def deal_move(request: HttpRequest, pk: int) -> HttpResponse:
    deal = get_deal_for(request.user, pk)
    form = DealMoveForm(request.POST, deal=deal)
    error = None
    if form.is_valid():
        try:
            deal.move_to(form.cleaned_data["stage"], by=request.user)
        except ValidationError as exc:
            error = " ".join(exc.messages)
    else:
        error = " ".join(e for errs in form.errors.values() for e in errs)
    if request.htmx:
        status = _("%(deal)s moved to %(stage)s.") % {"deal": deal, "stage": deal.get_stage_display()}
        context = _board_context(request, moved=deal.pk, status=None if error else status, error=error)
        return render(request, "crm/deal_board.html#move-result", context)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, _("Deal moved to %(stage)s.") % {"stage": deal.get_stage_display()})
    if getattr(form, "cleaned_data", {}).get("back_to") == "deal":
        return redirect(deal)
    # The board's filters, plus the moved deal so its card keeps the focus.
    query = request.GET.copy()
    query["moved"] = str(deal.pk)
    return redirect(f"{reverse('deal_board')}?{query.urlencode()}")


@login_required
def deal_create(request: HttpRequest) -> HttpResponse:
    initial = {}
    for name, model in (("customer", Customer), ("prospect", Prospect)):
        value = request.GET.get(name, "")
        if (
            value.isascii()
            and value.isdigit()
            and model.objects.visible_to(request.user).filter(pk=value).exists()
        ):
            initial[name] = value
    form = DealForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST":
        done = previous_submission(request, form)
        if done:
            return _deal_saved(request, done, again=True)
        if form.is_valid():
            # Deal.save() writes the first timeline entry: where it started.
            deal = form.save(by=request.user)
            remember_submission(request, form, deal.get_absolute_url())
            return _deal_saved(request, deal.get_absolute_url(), deal=deal)
    template = "crm/deal_form.html#dialog-body" if request.htmx else "crm/deal_form.html"
    return render(request, template, {"form": form, "deal": None})


def _deal_saved(request: HttpRequest, url: str, deal: Deal | None = None, again=False):
    if request.htmx:
        response = render(
            request,
            "crm/deal_form.html#saved",
            {"url": url, "deal": deal, "again": again},
        )
        # The board (if that is the page behind the dialog) reloads its columns.
        response["HX-Trigger"] = "dealSaved"
        return response
    if not again:
        messages.success(request, _("Deal logged."))
    return redirect(url)


@login_required
def deal_detail(request: HttpRequest, pk: int) -> HttpResponse:
    deal = get_deal_for(request.user, pk)
    changes = list(deal.stage_changes.select_related("changed_by"))
    stage_days = process.stage_days(changes, today(), deal.is_open)
    activities = list(deal.activities.select_related("owner"))
    timeline = sorted(
        [(c.changed_at.date(), c.changed_at, "stage", c) for c in changes]
        + [(a.occurred_on, a.created_at, "activity", a) for a in activities],
        key=lambda item: (item[0], item[1]),
        reverse=True,
    )
    responses = (
        Response.objects.visible_to(request.user)
        .filter(invitation__deal=deal)
        .select_related("invitation__survey")
    )
    context = {
        "deal": deal,
        "timeline": timeline,
        "stage_days": stage_days,
        "responses": responses,
        "won_form": DealWonForm(deal=deal),
        "lost_form": DealLostForm(deal=deal),
        "reopen_form": DealReopenForm(deal=deal),
        "move_form": DealMoveForm(deal=deal, initial={"stage": deal.stage}),
    }
    return render(request, "crm/deal_detail.html", context)


@login_required
def deal_edit(request: HttpRequest, pk: int) -> HttpResponse:
    deal = get_deal_for(request.user, pk)
    form = DealForm(request.POST or None, instance=deal, user=request.user)
    if request.method == "POST" and form.is_valid():
        # A won deal moved to another customer moves both acquisitions: the
        # database derives them (kpis.triggers).
        form.save()
        messages.success(request, _("Deal saved."))
        return redirect(deal)
    return render(request, "crm/deal_form.html", {"form": form, "deal": deal})


def _deal_verb(request: HttpRequest, pk: int, form_class, action, success: str):
    deal = get_deal_for(request.user, pk)
    form = form_class(request.POST, deal=deal)
    if form.is_valid():
        try:
            action(deal, form.cleaned_data)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, success)
            return redirect(deal)
    # Re-fetch: a failed verb may have changed the instance in memory.
    deal = get_deal_for(request.user, pk)
    return render(request, "crm/deal_action.html", {"deal": deal, "form": form}, status=400)


@login_required
@require_POST
def deal_won(request: HttpRequest, pk: int) -> HttpResponse:
    def action(deal, data):
        deal.mark_won(data["amount"], data["closed_on"], by=request.user)

    return _deal_verb(request, pk, DealWonForm, action, _("Deal marked won. Well done!"))


@login_required
@require_POST
def deal_lost(request: HttpRequest, pk: int) -> HttpResponse:
    def action(deal, data):
        deal.mark_lost(data["reason"], closed_on=data["closed_on"], by=request.user, note=data["note"])

    return _deal_verb(request, pk, DealLostForm, action, _("Deal marked lost."))


@login_required
@require_POST
def deal_reopen(request: HttpRequest, pk: int) -> HttpResponse:
    def action(deal, data):
        deal.reopen(by=request.user, stage=data["stage"])

    return _deal_verb(request, pk, DealReopenForm, action, _("Deal reopened."))
