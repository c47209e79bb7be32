"""Notifications: the alerts a person may see, their unread count in the
header, acknowledging one; the digest's setting and preview."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from alerts import text
from alerts.models import Alert

LIST_LIMIT = 100


def _get_alert_for_user(user, pk: int) -> Alert:
    try:
        return Alert.objects.visible_to(user).get(pk=pk)
    except Alert.DoesNotExist:
        raise Http404(_("No such alert.")) from None


def _item(alert: Alert) -> dict:
    return {"alert": alert, "title": text.title(alert), "why": text.why(alert), "link": text.link(alert)}


class AlertFilterForm(forms.Form):
    show = forms.ChoiceField(choices=[("open", "open"), ("all", "all")], required=False)


@login_required
@require_GET
def alert_list(request: HttpRequest) -> HttpResponse:
    form = AlertFilterForm(request.GET)
    show = (form.cleaned_data.get("show") if form.is_valid() else "") or "open"
    alerts = Alert.objects.visible_to(request.user).select_related("acknowledged_by")
    if show == "open":
        alerts = alerts.open()
    items = [_item(a) for a in alerts[:LIST_LIMIT]]  # 1 query
    return render(request, "alerts/list.html", {"items": items, "show": show})


@login_required
@require_POST
def alert_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    alert = _get_alert_for_user(request.user, pk)
    alert.acknowledge(request.user)
    if request.htmx:
        response = render(request, "alerts/list.html#item", {"item": _item(alert)})
        # The header's badge counts again.
        response["HX-Trigger"] = "alerts-changed"
        return response
    messages.success(request, _("Alert acknowledged."))
    return redirect("alert_list")


@login_required
@require_GET
def alert_count(request: HttpRequest) -> HttpResponse:
    """The header's unread badge, loaded by htmx so pages pay no query for it."""
    count = Alert.objects.visible_to(request.user).unread().count()
    return render(request, "alerts/_count.html", {"count": count})


# ---------------------------------------------------------------- the digest


@login_required
@require_http_methods(["GET", "POST"])
def digest_settings(request: HttpRequest) -> HttpResponse:
    from alerts.digest import DigestSettingsForm, preference_for

    preference = preference_for(request.user)
    form = DigestSettingsForm(request.POST or None, instance=preference)
    if request.method == "POST" and form.is_valid():
        form.instance.user = request.user
        form.save()
        messages.success(request, _("Your digest setting is saved."))
        return redirect("digest_settings")
    return render(request, "alerts/digest_settings.html", {"form": form})


@login_required
@require_GET
def digest_preview(request: HttpRequest) -> HttpResponse:
    """Exactly what would be sent: the same HTML and text parts."""
    from alerts.digest import build_message

    message = build_message(request.user, request.build_absolute_uri("/").rstrip("/"))
    return render(request, "alerts/digest_preview.html", {"message": message})
