"""Helpers shared by the workspace views: fetch-or-404, pagination, CSV."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404

from crm.models import Activity, Customer, Deal, Prospect
from crm.pagination import KeysetPage, keyset_page


def get_deal_for(user, pk: int) -> Deal:
    """The deal if `user` may see it, else 404 (never 403: no existence leak)."""
    return get_object_or_404(
        Deal.objects.visible_to(user).with_related().select_related("lost_reason"), pk=pk
    )


def get_prospect_for(user, pk: int) -> Prospect:
    qs = Prospect.objects.visible_to(user).select_related("owner", "team", "source_campaign", "customer")
    return get_object_or_404(qs, pk=pk)


def get_customer_for(user, pk: int) -> Customer:
    qs = Customer.objects.visible_to(user).select_related("owner", "team", "source_campaign")
    return get_object_or_404(qs, pk=pk)


def get_activity_for(user, pk: int) -> Activity:
    return get_object_or_404(Activity.objects.visible_to(user), pk=pk)


def require_manager(user) -> None:
    """Manager pages (campaigns, targets): a rep gets 403, the page is no secret."""
    if not (user.is_manager or user.is_admin_role):
        raise PermissionDenied


def list_page(request: HttpRequest, form, qs: QuerySet) -> KeysetPage:
    """The page of a filtered list the request asks for (?after= / ?before=),
    its links carrying the form's filters and sort. A junk cursor is the first page."""
    return keyset_page(request, qs, form.ordering(), params=QueryDict(form.querystring()))


# Double submit: a form carries a one-time token; once it has saved, the
# session maps the token to the saved record's URL, and a resubmission of
# the same form goes there instead of saving a second copy.
_SESSION_KEY = "submitted_forms"


def previous_submission(request: HttpRequest, form) -> str | None:
    token = form.data.get("submit_token")
    if not token:
        return None
    return request.session.get(_SESSION_KEY, {}).get(str(token))


def remember_submission(request: HttpRequest, form, url: str) -> None:
    token = form.cleaned_data.get("submit_token")
    if not token:
        return
    done = request.session.get(_SESSION_KEY, {})
    done[str(token)] = url
    # Keep the last 50 tokens: enough for any double click or back button.
    request.session[_SESSION_KEY] = dict(list(done.items())[-50:])


def safe_cell(value):
    # A name typed as "=HYPERLINK(...)" would run as a formula when the file
    # is opened in a spreadsheet: text starting like a formula gets a quote.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_response(
    filename: str, header: list[str], rows: Iterable, row: Callable[[object], list]
) -> StreamingHttpResponse:
    """Stream rows as CSV so a large export never sits in memory."""
    writer = csv.writer(_Echo())

    def lines():
        yield "\ufeff"  # BOM: spreadsheet programs then read UTF-8 right
        yield writer.writerow(header)
        for obj in rows:
            yield writer.writerow([safe_cell(value) for value in row(obj)])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
