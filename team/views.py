"""Training sessions and certifications: lists, forms, confirmation, CSV.

A salesperson sees and adds their own (waiting for confirmation), a manager
their team's, an admin everyone's. Records are fetched through one helper per
model that applies `visible_to` and returns 404; a salesperson asking for a
manager's action (confirm) gets 403.
"""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm.models import today
from crm.views_common import csv_response, previous_submission, remember_submission
from team.coaching import coaching_figures
from team.forms import CertificationForm, CoachingActionForm, CoachingNoteForm, ExportForm, TrainingForm
from team.models import Certification, CoachingAction, CoachingNote, TrainingSession

PAGE_SIZE = 50


def _get_training(user, pk: int) -> TrainingSession:
    return get_object_or_404(TrainingSession.objects.visible_to(user).with_related(), pk=pk)


def _get_certification(user, pk: int) -> Certification:
    return get_object_or_404(Certification.objects.visible_to(user).select_related("user", "team"), pk=pk)


def _confirms_at_once(user) -> bool:
    return user.is_manager or user.is_admin_role


# --- training sessions ---------------------------------------------------------


@login_required
def training_list(request: HttpRequest) -> HttpResponse:
    form = ExportForm(request.GET)
    sessions = form.apply(TrainingSession.objects.visible_to(request.user)).with_related()
    if request.GET.get("format") == "csv":
        return csv_response(
            "training.csv",
            ["date", "title", "kind", "hours", "provider", "attended_by", "confirmed", "notes"],
            sessions.iterator(chunk_size=500),
            lambda s: [s.date.isoformat(), s.title, s.kind, s.hours, s.provider,
                       "; ".join(str(p) for p in s.attendees.all()), "yes" if s.is_confirmed else "no",
                       s.notes],
        )  # fmt: skip
    page = Paginator(sessions, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "team/training_list.html", {"page": page, "form": form})


@login_required
def training_create(request: HttpRequest) -> HttpResponse:
    form = TrainingForm(request.POST or None, user=request.user, initial={"date": today()})
    if request.method == "POST":
        done = previous_submission(request, form)
        if done:
            return redirect(done)
        if form.is_valid():
            with transaction.atomic():
                session = form.save(commit=False)
                session.created_by = request.user
                if _confirms_at_once(request.user):
                    session.confirmed_by, session.confirmed_at = request.user, timezone.now()
                session.save()
                session.set_attendees(form.cleaned_data["attendees"])
            remember_submission(request, form, reverse("training_list"))
            if session.is_confirmed:
                messages.success(request, _("Training recorded."))
            else:
                messages.success(request, _("Training recorded; it counts once your manager confirms it."))
            return redirect("training_list")
    status = 400 if form.errors else 200
    return render(request, "team/training_form.html", {"form": form}, status=status)


@login_required
def training_edit(request: HttpRequest, pk: int) -> HttpResponse:
    session = _get_training(request.user, pk)
    if not session.can_edit(request.user):
        raise PermissionDenied
    form = TrainingForm(request.POST or None, instance=session, user=request.user)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            form.save()
            session.set_attendees(form.cleaned_data["attendees"])
        messages.success(request, _("Training saved."))
        return redirect("training_list")
    status = 400 if form.errors else 200
    return render(request, "team/training_form.html", {"form": form, "session": session}, status=status)


@login_required
@require_POST
def training_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    session = _get_training(request.user, pk)
    if not session.can_confirm(request.user):
        raise PermissionDenied
    session.confirm(request.user)
    messages.success(request, _("Training confirmed."))
    return redirect("training_list")


@login_required
@require_POST
def training_delete(request: HttpRequest, pk: int) -> HttpResponse:
    session = _get_training(request.user, pk)
    if not session.can_edit(request.user):
        raise PermissionDenied
    session.delete()
    messages.success(request, _("Training removed."))
    return redirect("training_list")


# --- certifications --------------------------------------------------------------


@login_required
def certification_list(request: HttpRequest) -> HttpResponse:
    form = ExportForm(request.GET)
    certs = form.apply(Certification.objects.visible_to(request.user)).select_related("user", "team")
    if request.GET.get("format") == "csv":
        return csv_response(
            "certifications.csv",
            ["person", "team", "name", "obtained_on", "expires_on", "confirmed"],
            certs.iterator(chunk_size=500),
            lambda c: [str(c.user), str(c.team or ""), c.name, c.obtained_on.isoformat(),
                       c.expires_on.isoformat() if c.expires_on else "", "yes" if c.is_confirmed else "no"],
        )  # fmt: skip
    page = Paginator(certs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "team/certification_list.html", {"page": page, "form": form, "today": today()})


@login_required
def certification_create(request: HttpRequest) -> HttpResponse:
    form = CertificationForm(request.POST or None, user=request.user)
    if request.method == "POST":
        done = previous_submission(request, form)
        if done:
            return redirect(done)
        if form.is_valid():
            cert = form.save(commit=False)
            cert.created_by = request.user
            if _confirms_at_once(request.user):
                cert.confirmed_by, cert.confirmed_at = request.user, timezone.now()
            cert.save()
            remember_submission(request, form, reverse("certification_list"))
            if cert.is_confirmed:
                messages.success(request, _("Certification recorded."))
            else:
                messages.success(
                    request, _("Certification recorded; it counts once your manager confirms it.")
                )
            return redirect("certification_list")
    status = 400 if form.errors else 200
    return render(request, "team/certification_form.html", {"form": form}, status=status)


@login_required
def certification_edit(request: HttpRequest, pk: int) -> HttpResponse:
    cert = _get_certification(request.user, pk)
    if not cert.can_edit(request.user):
        raise PermissionDenied
    form = CertificationForm(request.POST or None, instance=cert, user=request.user)
    if request.method == "POST" and form.is_valid():
        saved = form.save(commit=False)
        # The team follows the person only when the person changes.
        if "user" in form.changed_data:
            saved.team_id = saved.user.team_id
        saved.save()
        messages.success(request, _("Certification saved."))
        return redirect("certification_list")
    status = 400 if form.errors else 200
    return render(request, "team/certification_form.html", {"form": form, "cert": cert}, status=status)


@login_required
@require_POST
def certification_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    cert = _get_certification(request.user, pk)
    if not cert.can_confirm(request.user):
        raise PermissionDenied
    cert.confirm(request.user)
    messages.success(request, _("Certification confirmed."))
    return redirect("certification_list")


@login_required
@require_POST
def certification_delete(request: HttpRequest, pk: int) -> HttpResponse:
    cert = _get_certification(request.user, pk)
    if not cert.can_edit(request.user):
        raise PermissionDenied
    cert.delete()
    messages.success(request, _("Certification removed."))
    return redirect("certification_list")


def team_expiring_certifications(team) -> list[Certification]:
    """The team page's confirmed certifications expiring in the next 60 days."""
    return list(Certification.objects.expiring(today(), days=60).filter(team=team).select_related("user"))


# --- coaching --------------------------------------------------------------------


def _get_rep_for(user, pk: int):
    """A salesperson the user may coach or read about: a manager's team
    member, anyone for an admin, oneself for a rep; else 404."""
    from crm.models import User

    rep = get_object_or_404(User.objects.visible_to(user).select_related("team"), pk=pk)
    if rep.pk != user.pk and not (user.is_manager or user.is_admin_role):
        raise Http404
    return rep


def _coaches(user, rep) -> bool:
    """Only the rep's manager writes notes and actions (not an admin, not the rep)."""
    return user.is_manager and user.team_id is not None and rep.team_id == user.team_id and rep.pk != user.pk


@login_required
def coaching(request: HttpRequest, pk: int) -> HttpResponse:
    rep = _get_rep_for(request.user, pk)
    may_write = _coaches(request.user, rep)
    note_form = CoachingNoteForm(prefix="note")
    action_form = CoachingActionForm(prefix="action", initial={"due_on": today() + dt.timedelta(days=14)})
    if request.method == "POST":
        if not may_write:
            raise PermissionDenied
        if "note-text" in request.POST:
            note_form = CoachingNoteForm(request.POST, prefix="note")
            form = note_form
        else:
            action_form = CoachingActionForm(request.POST, prefix="action")
            form = action_form
        if form.is_valid():
            record = form.save(commit=False)
            record.rep, record.author = rep, request.user
            record.save()
            messages.success(request, _("Saved."))
            return redirect("coaching", pk=rep.pk)
    # Notes and actions: only the rep and the manager who wrote them.
    mine = request.user.pk == rep.pk or may_write
    context = {
        "rep": rep,
        "may_write": may_write,
        "shows_notes": mine,
        "notes": list(CoachingNote.objects.visible_to(request.user).filter(rep=rep)[:50]) if mine else [],
        "actions": list(CoachingAction.objects.visible_to(request.user).filter(rep=rep)[:50]) if mine else [],
        "note_form": note_form,
        "action_form": action_form,
        "today": today(),
        **coaching_figures(rep, today()),
    }
    return render(request, "team/coaching.html", context, status=400 if request.method == "POST" else 200)


@login_required
@require_POST
def coaching_action_done(request: HttpRequest, pk: int) -> HttpResponse:
    action = get_object_or_404(CoachingAction.objects.visible_to(request.user), pk=pk)
    action.mark_done()
    messages.success(request, _("Action marked done."))
    return redirect("coaching", pk=action.rep_id)
