"""A fixed-window rate limit per client address, kept in Django's cache.

With REDIS_URL set the cache is Redis, so every gunicorn worker shares the
counters; without it the cache is per process (fine for one dev server).
Addresses are hashed before they become cache keys: we keep no list of who
visited the survey pages, only counters that expire with their window.

The limiter fails open: when the cache cannot be reached (Redis stopped, a
network fault) the request is allowed and a warning logged. A rate limit is
a nuisance filter; a customer's survey answer must never be lost to it.
"""

from __future__ import annotations

import hashlib
import logging
import time

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest

logger = logging.getLogger(__name__)


def client_address(request: HttpRequest) -> str:
    """The client's address; behind a proxy, the one the proxy saw.

    SURVEY_CLIENT_IP_HEADER names the request header a trusted reverse proxy
    sets (for example HTTP_X_FORWARDED_FOR). Only its last entry is used:
    the one our own proxy appended, which the client cannot forge.
    """
    header = settings.SURVEY_CLIENT_IP_HEADER
    if header:
        forwarded = request.META.get(header, "")
        last = forwarded.split(",")[-1].strip()
        if last:
            return last
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def allow(
    request: HttpRequest, scope: str, limit: int, window_seconds: int = 3600, key: str | None = None
) -> bool:
    """Count one hit; False once it went over the limit in the window.

    The counter is per client address, or per `key` when given (a survey
    token, say). True, with a warning logged, when the cache fails.
    """
    subject = key if key is not None else client_address(request)
    digest = hashlib.sha256(subject.encode()).hexdigest()[:32]
    window = int(time.time() // window_seconds)
    cache_key = f"ratelimit:{scope}:{digest}:{window}"
    try:
        return _hit(cache_key, window_seconds + 60) <= limit
    except Exception as exc:  # any cache fault: Redis down, timeouts, refused connections
        logger.warning("Rate limit %r not checked, request allowed: the cache failed (%r).", scope, exc)
        return True


def _hit(key: str, timeout: int) -> int:
    """Add one to the counter at `key`, created with `timeout`; the new count."""
    client = _redis_client(key)
    if client is not None:
        # One round trip on Redis, where Django's add() then incr() takes
        # three (incr checks that the key exists first): SET NX creates the
        # window's counter with its expiry, INCR counts, both atomic.
        name = cache.make_and_validate_key(key)
        pipe = client.pipeline(transaction=False)
        pipe.set(name, 0, ex=timeout, nx=True)
        pipe.incr(name)
        return pipe.execute()[1]
    # add() then incr() are each atomic in any shared cache, so concurrent workers count right.
    if cache.add(key, 1, timeout=timeout):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add() and incr()
        cache.set(key, 1, timeout=timeout)
        return 1


def _redis_client(key: str):
    """The raw Redis client behind Django's Redis cache, else None."""
    backend = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(backend, RedisCache):
        return backend._cache.get_client(backend.make_and_validate_key(key), write=True)
    return None
