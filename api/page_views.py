"""API tokens (every user, on their own profile) and webhooks (admins)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from api import webhooks
from api.forms import TestSendForm, TokenForm, WebhookForm
from api.models import ApiToken, Webhook, WebhookAttempt, WebhookDelivery, new_secret

# The webhook page shows this many recent deliveries (with their attempts).
DELIVERIES_SHOWN = 50


@never_cache
@login_required
def token_list(request: HttpRequest) -> HttpResponse:
    """List, create and revoke your own tokens. A new token is shown in the
    response to its creation only: it is stored hashed, never in a session."""
    form = TokenForm(request.POST or None, user=request.user)
    new_token = None
    if request.method == "POST" and form.is_valid():
        token, new_token = ApiToken.issue(request.user, form.cleaned_data["name"], form.expires_at())
        form = TokenForm(user=request.user)
    context = {
        "form": form,
        "tokens": ApiToken.objects.filter(user=request.user),
        "new_token": new_token,
        "now": timezone.now(),
    }
    return render(request, "api/tokens.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    token.delete()
    messages.success(request, _("Token “%(name)s” revoked: it no longer works.") % {"name": token.name})
    return redirect("api_tokens")


def _require_admin(user) -> None:
    if not user.is_admin_role:
        raise PermissionDenied


def _get_webhook(request: HttpRequest, pk: int) -> Webhook:
    _require_admin(request.user)
    return get_object_or_404(Webhook, pk=pk)


@login_required
def webhook_list(request: HttpRequest) -> HttpResponse:
    _require_admin(request.user)
    return render(request, "api/webhook_list.html", {"webhooks": Webhook.objects.all()})


@login_required
def webhook_create(request: HttpRequest) -> HttpResponse:
    _require_admin(request.user)
    form = WebhookForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        webhook = form.save(commit=False)
        webhook.created_by = request.user
        webhook.save()
        messages.success(request, _("Webhook added. Use its signing secret to check each delivery."))
        return redirect("webhook_detail", webhook.pk)
    return render(request, "api/webhook_form.html", {"form": form, "webhook": None})


@login_required
def webhook_edit(request: HttpRequest, pk: int) -> HttpResponse:
    webhook = _get_webhook(request, pk)
    form = WebhookForm(request.POST or None, instance=webhook)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Webhook saved."))
        return redirect("webhook_detail", webhook.pk)
    return render(request, "api/webhook_form.html", {"form": form, "webhook": webhook})


@login_required
def webhook_detail(request: HttpRequest, pk: int) -> HttpResponse:
    webhook = _get_webhook(request, pk)
    deliveries = list(
        webhook.deliveries.prefetch_related(
            Prefetch("attempts", queryset=WebhookAttempt.objects.order_by("number"))
        )[:DELIVERIES_SHOWN]
    )
    context = {
        "webhook": webhook,
        "deliveries": deliveries,
        # The log refreshes itself while a delivery waits for its first try.
        "waiting": any(d.status == WebhookDelivery.Status.PENDING for d in deliveries),
        "test_form": TestSendForm(initial={"event": (webhook.events or [None])[0]}),
    }
    template = "api/webhook_detail.html#deliveries" if request.htmx else "api/webhook_detail.html"
    return render(request, template, context)


@login_required
@require_POST
def webhook_delete(request: HttpRequest, pk: int) -> HttpResponse:
    webhook = _get_webhook(request, pk)
    webhook.delete()
    messages.success(request, _("Webhook deleted."))
    return redirect("webhook_list")


@login_required
@require_POST
def webhook_test(request: HttpRequest, pk: int) -> HttpResponse:
    """Send a sample of an event now, whether or not the webhook listens to it."""
    webhook = _get_webhook(request, pk)
    form = TestSendForm(request.POST)
    if form.is_valid():
        event = form.cleaned_data["event"]
        with transaction.atomic():
            webhooks.emit(event, webhooks.sample_data(event), webhooks=[webhook], is_test=True)
        messages.success(request, _("Test delivery queued: its result appears below in a moment."))
    else:
        messages.error(request, _("Choose an event to send."))
    return redirect("webhook_detail", webhook.pk)


@login_required
@require_POST
def webhook_rotate_secret(request: HttpRequest, pk: int) -> HttpResponse:
    webhook = _get_webhook(request, pk)
    webhook.secret = new_secret()
    webhook.save(update_fields=["secret"])
    messages.success(request, _("New signing secret: update the receiving end now."))
    return redirect("webhook_detail", webhook.pk)


@login_required
@require_POST
def webhook_resend(request: HttpRequest, pk: int, delivery_pk: int) -> HttpResponse:
    """Try a failed delivery again now (its earlier attempts stay in the log)."""
    webhook = _get_webhook(request, pk)
    delivery = get_object_or_404(webhook.deliveries, pk=delivery_pk, status=WebhookDelivery.Status.FAILED)
    with transaction.atomic():
        delivery.status = WebhookDelivery.Status.PENDING
        delivery.next_attempt_at = timezone.now()
        delivery.save(update_fields=["status", "next_attempt_at"])
        from api import tasks

        transaction.on_commit(lambda: tasks.deliver_webhook.delay(delivery.pk), robust=True)
    messages.success(request, _("Delivery queued again."))
    return redirect("webhook_detail", webhook.pk)
