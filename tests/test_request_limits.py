"""Issue 19: request bodies and JSON are bounded before they can cost a 500
or a disk full of spooled upload; a 403 logs no traceback."""

import io
import logging
from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import RequestFactory
from django.urls import reverse

from config.middleware import LimitedUploadHandler, PermissionDeniedLogFilter, RequestSizeLimitMiddleware

pytestmark = pytest.mark.django_db


def test_a_body_over_the_limit_is_refused_on_its_headers(world, login, settings):
    settings.MAX_REQUEST_BODY_BYTES = 1000
    client = login(world.admin)
    with mock.patch("crm.import_views.ImportUploadForm") as form:
        upload = SimpleUploadedFile("big.csv", b"x" * 5000)
        response = client.post(reverse("crm_import"), {"format": "generic", "files": [upload]})
    assert response.status_code == 413
    form.assert_not_called()  # the view never ran


def test_the_middleware_does_not_read_the_body():
    request = RequestFactory().post("/", data=b"", content_type="application/octet-stream")
    request.META["CONTENT_LENGTH"] = str(10**12)
    body = mock.Mock()
    request._stream = body
    response = RequestSizeLimitMiddleware(lambda r: pytest.fail("reached the view"))(request)
    assert response.status_code == 413 and not body.read.called


def test_a_chunked_upload_is_stopped_while_it_streams(settings):
    settings.MAX_REQUEST_BODY_BYTES = 10
    handler = LimitedUploadHandler()
    handler.handle_raw_input(io.BytesIO(), {}, None, "b")
    assert handler.receive_data_chunk(b"12345", 0) == b"12345"
    with pytest.raises(RequestDataTooBig):
        handler.receive_data_chunk(b"678901", 5)


def test_a_100000_deep_mapping_is_a_form_error_not_a_500(world, login):
    deep = b"[" * 100_000 + b"]" * 100_000
    response = login(world.admin).post(
        reverse("crm_import"),
        {
            "format": "generic",
            "files": [SimpleUploadedFile("deals.csv", b"external_ref\n")],
            "mapping": SimpleUploadedFile("mapping.json", deep),
        },
    )
    assert response.status_code == 200 and "nested too deeply" in response.content.decode()


def test_a_100000_deep_api_body_is_a_400(world, api_client_as=None):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(world.nina)
    deep = "[" * 100_000 + "]" * 100_000
    response = client.post("/api/v1/customers/", deep, content_type="application/json")
    assert response.status_code == 400


def test_permission_denied_is_logged_without_a_traceback(world, login):
    record = logging.LogRecord("django.request", logging.WARNING, "", 0, "Forbidden", (), None)
    try:
        raise PermissionDenied
    except PermissionDenied as exc:
        record.exc_info = (type(exc), exc, exc.__traceback__)
    assert PermissionDeniedLogFilter().filter(record) and record.exc_info is None
    other = logging.LogRecord("django.request", logging.ERROR, "", 0, "Boom", (), None)
    try:
        raise ValueError
    except ValueError as exc:
        other.exc_info = (type(exc), exc, exc.__traceback__)
    assert PermissionDeniedLogFilter().filter(other) and other.exc_info is not None
