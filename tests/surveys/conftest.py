import pytest
from django.core.cache import cache

from config.celery import app


@pytest.fixture(autouse=True)
def _clean_cache():
    # Rate-limit counters live in the cache (Redis when REDIS_URL is set).
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def eager_celery():
    """Run .delay() in-process, as a worker would, without a broker."""
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False
