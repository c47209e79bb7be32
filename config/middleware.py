"""Project-wide middleware (issue 19).

RequestSizeLimitMiddleware refuses a request body larger than
MAX_REQUEST_BODY_BYTES before anything reads it: CSRF, the session and the
views all come after it, so a 2 GB upload is turned away on its headers
instead of being spooled to disk first. A body sent without a
Content-Length (chunked) is counted as it streams by LimitedUploadHandler.

PermissionDeniedLogFilter keeps a 403 out of the error log's tracebacks.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpResponse
from django.utils.translation import gettext as _


class RequestSizeLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.MAX_REQUEST_BODY_BYTES:
            limit = settings.MAX_REQUEST_BODY_BYTES // (1024 * 1024)
            response = HttpResponse(
                _("This request is too large: at most %(limit)s MB.") % {"limit": limit},
                status=413,
                content_type="text/plain; charset=utf-8",
            )
            # The body was not read: the connection cannot be reused.
            response["Connection"] = "close"
            return response
        return self.get_response(request)


class LimitedUploadHandler(FileUploadHandler):
    """First of FILE_UPLOAD_HANDLERS: stops a multipart body past the limit
    while it streams (a chunked body has no Content-Length to check)."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > settings.MAX_REQUEST_BODY_BYTES:
            raise RequestDataTooBig("Upload larger than MAX_REQUEST_BODY_BYTES.")
        return raw_data

    def file_complete(self, file_size):
        return None


class PermissionDeniedLogFilter(logging.Filter):
    """Drop the traceback of a PermissionDenied from django.request's log:
    a 403 is an answer, not an error (the warning line stays)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], PermissionDenied):
            record.exc_info = None
            record.exc_text = None
        return True
