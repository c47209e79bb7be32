from __future__ import annotations

import datetime as dt
import re
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm.models import Customer, Deal, Stage
from crm.pagination import Ordering, capped_totals, keyset_page

from . import ratelimit, results, sending, tasks
from .forms import (
    AnswerForm,
    InvitationFilterForm,
    QuestionFormSet,
    ResultsFilterForm,
    SendSurveyForm,
    SurveyForm,
)
from .models import Invitation, Survey

# ---------------------------------------------------------------------------
# The public page: /s/<token>/, no login, the token is the only key.

# secrets.token_urlsafe's alphabet; the length allows for older, shorter tokens.
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")


def _public(request: HttpRequest, template: str, context: dict, status: int = 200) -> HttpResponse:
    response = render(request, f"surveys/public/{template}", context, status=status)
    # The token is in the URL: never let it leak to another site through a
    # Referer header, a shared cache or a search engine. Not "no-referrer":
    # browsers then send "Origin: null" with the form and CSRF refuses it.
    response["Referrer-Policy"] = "same-origin"
    response["Cache-Control"] = "no-store, private"
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Content-Language"] = translation.get_language()
    return response


def survey_answer(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows the form; only POST records (mail scanners open links)."""
    if request.method not in ("GET", "HEAD", "POST"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD, POST"})
    # Two limits: per link (one customer retrying a form) and a generous
    # ceiling per address, since many customers share one behind a NAT or
    # proxy. Both fail open: a cache outage never loses an answer.
    if request.method == "POST" and not (
        ratelimit.allow(request, "survey-token", settings.SURVEY_RATE_LIMIT_PER_TOKEN, key=token)
        and ratelimit.allow(request, "survey", settings.SURVEY_RATE_LIMIT_PER_HOUR)
    ):
        return _public(request, "too_many.html", {}, status=429)
    # Only a well-formed token reaches the database (a NUL byte would be a
    # DataError on PostgreSQL, i.e. a 500, instead of the friendly 404).
    well_formed = TOKEN_RE.fullmatch(token) is not None
    invitation = (
        # The customer too: a detractor's follow-up names it (one join, not a query).
        Invitation.objects.select_related("survey", "response", "customer", "owner")
        .with_questions()
        .filter(token=token, sent_at__isnull=False)
        .first()
        if well_formed
        else None
    )
    if invitation is None:
        # Same page whether the token never existed or was tampered with.
        return _public(request, "not_found.html", {}, status=404)
    with translation.override(invitation.language):
        if invitation.is_answered:
            # A double submit lands here: it is thanked like the first one.
            page = "thanks.html" if request.method == "POST" else "already_answered.html"
            return _public(request, page, {"contact": invitation.owner})
        if invitation.is_expired():
            return _public(request, "expired.html", {}, status=410)
        survey = invitation.survey
        form = AnswerForm(request.POST or None, survey=survey, questions=invitation.extra_questions())
        if request.method == "POST" and form.is_valid():
            invitation.answer(
                nps_score=form.cleaned_data["nps_score"],
                csat_score=form.cleaned_data["csat_score"],
                comment=form.cleaned_data.get("comment", ""),
                extra=form.answers(),
            )
            return _public(request, "thanks.html", {"contact": invitation.owner})
        return _public(request, "answer.html", {"form": form, "survey": survey})


# ---------------------------------------------------------------------------
# Staff pages.


def manager_required(view):
    """Managers and admins only; a salesperson gets 403."""

    @wraps(view)
    @login_required
    def wrapped(request: HttpRequest, *args, **kwargs):
        if not (request.user.is_manager or request.user.is_admin_role):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapped


def _next_url(request: HttpRequest, form: SendSurveyForm, fallback: str) -> str:
    target = form.cleaned_data.get("next") if form.is_valid() else ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


@manager_required
def survey_list(request: HttpRequest) -> HttpResponse:
    surveys = Survey.objects.annotate(
        n_questions=Count("questions", distinct=True),
        n_invitations=Count("invitations", distinct=True),
    )
    return render(request, "surveys/survey_list.html", {"surveys": surveys})


@manager_required
def survey_create(request: HttpRequest) -> HttpResponse:
    return _survey_form(request, Survey())


@manager_required
def survey_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _survey_form(request, get_object_or_404(Survey, pk=pk))


def _survey_form(request: HttpRequest, survey: Survey) -> HttpResponse:
    form = SurveyForm(request.POST or None, instance=survey)
    formset = QuestionFormSet(request.POST or None, instance=survey, prefix="questions")
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        with transaction.atomic():
            make_default = form.cleaned_data["is_default"]
            survey = form.save(commit=False)
            # Saved as non-default first: make_default() swaps the old default
            # out before setting this one, as the partial unique index demands.
            survey.is_default = (
                survey.is_default and Survey.objects.filter(pk=survey.pk, is_default=True).exists()
            )
            survey.save()
            formset.instance = survey
            formset.save()
            if make_default:
                survey.make_default()
        messages.success(request, _("Survey saved."))
        return redirect("survey_list")
    return render(request, "surveys/survey_form.html", {"form": form, "formset": formset, "survey": survey})


# Newest comments first, walked by keyset on response_submitted_cover_idx.
COMMENT_ORDERING = Ordering("submitted_at", True, dt.datetime)


@manager_required
def survey_results(request: HttpRequest) -> HttpResponse:
    today = timezone.localdate()
    data = request.GET.copy()
    if not data.get("from") and not data.get("to"):
        # Default: the last twelve months, this one included.
        start = (today.replace(day=1) - dt.timedelta(days=335)).replace(day=1)
        data["from"], data["to"] = start.isoformat(), today.isoformat()
    form = ResultsFilterForm(data, user=request.user)
    figures = comments = None
    if form.is_valid():
        responses, invitations = results.filtered(request.user, form.cleaned_data)
        figures = results.figures(responses, invitations, sent_from=form.cleaned_data.get("from"))
        comments = keyset_page(
            request, responses.exclude(comment="").with_related(), COMMENT_ORDERING, size=20
        )
    context = {"form": form, "figures": figures, "comments": comments}
    if request.htmx:
        return render(request, "surveys/results.html#results", context)
    return render(request, "surveys/results.html", context)


# Newest first, walked by keyset (crm/pagination.py) on the list indexes.
INVITATION_ORDERING = Ordering("created_at", True, dt.datetime)


@login_required
def invitation_list(request: HttpRequest) -> HttpResponse:
    form = InvitationFilterForm(request.GET or None)
    invitations = Invitation.objects.visible_to_indexed(request.user).with_related()
    if form.is_valid():
        status = form.cleaned_data["status"]
        if status == "pending":
            invitations = invitations.filter(sent_at__isnull=True, bounced_at__isnull=True)
        elif status == "open":
            invitations = invitations.counted().unanswered()
        elif status == "answered":
            invitations = invitations.answered()
        elif status == "bounced":
            invitations = invitations.filter(bounced_at__isnull=False)
        if form.cleaned_data["q"]:
            q = form.cleaned_data["q"]
            invitations = invitations.filter(Q(customer__name__icontains=q) | Q(email__icontains=q))
    # The rows show the customer, deal, owner and answer: no other join.
    rows = invitations.select_related(None).select_related("customer", "deal", "owner", "response")
    page = keyset_page(request, rows, INVITATION_ORDERING, size=50)
    context = {"form": form, "page": page, "totals": capped_totals(invitations)}
    template = "surveys/invitation_list.html#results" if request.htmx else "surveys/invitation_list.html"
    return render(request, template, context)


@login_required
@require_POST
def invitation_bounce(request: HttpRequest, pk: int) -> HttpResponse:
    invitation = get_object_or_404(
        Invitation.objects.visible_to(request.user).select_related("response"), pk=pk
    )
    form = SendSurveyForm(request.POST)
    if invitation.mark_bounced():
        messages.success(
            request,
            _("Marked as bounced: %(email)s no longer counts in the response rate.")
            % {"email": invitation.email},
        )
    else:
        messages.error(request, _("An answered or already bounced invitation cannot bounce."))
    return HttpResponseRedirect(_next_url(request, form, reverse("invitation_list")))


def _send(request: HttpRequest, customer: Customer | None, deal: Deal | None) -> HttpResponse:
    form = SendSurveyForm(request.POST)
    fallback = reverse("invitation_list")
    if customer is None:
        messages.error(request, _("This deal has no customer to survey."))
    else:
        try:
            invitation = sending.create_invitation(customer, deal=deal)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            invitation_id = invitation.pk
            # robust: if the broker is down the beat job still sends it (send_after is now).
            transaction.on_commit(lambda: tasks.send_invitation.delay(invitation_id), robust=True)
            messages.success(
                request,
                _("The survey is on its way to %(email)s.") % {"email": invitation.email},
            )
    return HttpResponseRedirect(_next_url(request, form, fallback))


@login_required
@require_POST
def survey_send_for_deal(request: HttpRequest, pk: int) -> HttpResponse:
    deal = get_object_or_404(Deal.objects.visible_to(request.user).select_related("customer"), pk=pk)
    if deal.stage != Stage.WON:
        messages.error(request, _("A survey can be sent once the deal is won."))
        form = SendSurveyForm(request.POST)
        return HttpResponseRedirect(_next_url(request, form, reverse("invitation_list")))
    return _send(request, deal.customer, deal)


@login_required
@require_POST
def survey_send_for_customer(request: HttpRequest, pk: int) -> HttpResponse:
    customer = get_object_or_404(Customer.objects.visible_to(request.user), pk=pk)
    return _send(request, customer, None)
