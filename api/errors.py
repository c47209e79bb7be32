"""Errors as 400s with field errors, never 500s.

The models' own rules (clean(), constraints, the database's triggers) can
refuse a write after the API's validation passed: a Django ValidationError
or an IntegrityError becomes a 400 with the same field errors a form shows.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults
from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler


def as_drf_error(error: DjangoValidationError) -> exceptions.ValidationError:
    if hasattr(error, "error_dict"):
        detail = {
            ("non_field_errors" if field == "__all__" else field): [
                str(m) for e in errors for m in e.messages
            ]
            for field, errors in error.error_dict.items()
        }
    else:
        detail = {"non_field_errors": [str(m) for m in error.messages]}
    return exceptions.ValidationError(detail)


def form_errors(form) -> exceptions.ValidationError:
    return exceptions.ValidationError(
        {("non_field_errors" if k == "__all__" else k): [str(m) for m in v] for k, v in form.errors.items()}
    )


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = as_drf_error(exc)
    elif isinstance(exc, IntegrityError):
        # A database rule refused the write (a constraint or trigger): the
        # transaction was rolled back, nothing was saved.
        exc = exceptions.ValidationError(
            {
                "non_field_errors": [
                    _("The database refused this change: %(error)s") % {"error": _first_line(exc)}
                ]
            }
        )
    return drf_exception_handler(exc, context)


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:200]


def not_found(request, exception):
    """404 for a URL no view matches: JSON under /api/, the usual page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": _("Not found.")}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": _("Server error: it has been logged.")}, status=500)
    return defaults.server_error(request)
