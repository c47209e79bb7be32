"""A fixed-window rate limit per client address, kept in Django's cache.

With REDIS_URL set the cache is Redis, so every gunicorn worker shares the
counters; without it the cache is per process (fine for one dev server).
Addresses are hashed before they become cache keys: we keep no list of who
visited the survey pages, only counters that expire with their window.
"""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest


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


def allow(request: HttpRequest, scope: str, limit: int, window_seconds: int = 3600) -> bool:
    """Count one hit for this client; False once it went over the limit in the window."""
    address = hashlib.sha256(client_address(request).encode()).hexdigest()[:32]
    window = int(time.time() // window_seconds)
    key = f"ratelimit:{scope}:{address}:{window}"
    # add() then incr() are each atomic in Redis, so concurrent workers count right.
    if cache.add(key, 1, timeout=window_seconds + 60):
        return limit >= 1
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add() and incr()
        cache.set(key, 1, timeout=window_seconds + 60)
        count = 1
    return count <= limit
