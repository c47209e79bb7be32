"""API fixtures: a client per person of the shared world, each with a token."""

import uuid

import pytest
from rest_framework.test import APIClient

from api.models import ApiToken


@pytest.fixture
def api_as(world):
    """api_as(user) → an APIClient sending that user's personal token."""

    def _client(user):
        _token, raw = ApiToken.issue(user, f"test-{uuid.uuid4().hex[:8]}")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return client

    return _client
