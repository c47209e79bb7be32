"""Shared fixtures: one small "world" every test can lean on."""

import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps as django_apps

from tests.factories import AdminFactory, ManagerFactory, TeamFactory, UserFactory


@pytest.fixture(autouse=True)
def _seeded_lost_reasons(request):
    """The lost reasons a data migration seeds, back after a transactional
    test (a browser test, say) flushed every table."""
    if request.node.get_closest_marker("django_db") is None:
        return
    from crm.models import LostReason

    if not LostReason.objects.exists():
        seed = importlib.import_module("crm.migrations.0011_lost_reasons")
        seed.seed_reasons(django_apps, None)


@pytest.fixture(autouse=True)
def _no_cached_cards():
    """Pages cache rendered KPI cards under their rows' stamp (newest
    computed_at and count, kpis.scorecards.cards_cache_key). Tests freeze the
    clock and, on SQLite, reuse ids: one test's cards could answer another's.
    Each test starts with none (only those keys: Celery shares Redis)."""
    from django.core.cache import cache

    from kpis.scorecards import CARDS_CACHE_PREFIX

    if hasattr(cache, "_cache") and hasattr(cache._cache, "get_client"):  # Redis
        client = cache._cache.get_client(write=True)
        for key in client.scan_iter(match=f"*{CARDS_CACHE_PREFIX}*"):
            client.delete(key)
    else:
        cache.clear()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Factories hash a password per user; PBKDF2 would make every test slow.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(db):
    """Two teams, each with a manager and two reps, and an admin.

    world.north / world.south are teams; world.ann and world.bob are reps in
    north (managed by world.nina); world.sam and world.sue are reps in south
    (managed by world.steve); world.admin sees everything.
    """
    north = TeamFactory(name="North")
    south = TeamFactory(name="South")
    return SimpleNamespace(
        north=north,
        south=south,
        nina=ManagerFactory(username="nina", first_name="Nina", team=north),
        ann=UserFactory(username="ann", first_name="Ann", team=north),
        bob=UserFactory(username="bob", first_name="Bob", team=north),
        steve=ManagerFactory(username="steve", first_name="Steve", team=south),
        sam=UserFactory(username="sam", first_name="Sam", team=south),
        sue=UserFactory(username="sue", first_name="Sue", team=south),
        admin=AdminFactory(username="admin", first_name="Ada"),
    )


@pytest.fixture
def login(client):
    """login(user) logs the test client in as that user and returns it."""

    def _login(user):
        client.force_login(user)
        return client

    return _login
