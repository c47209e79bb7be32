"""A request budget per token (per user for the session), and per address
for callers without credentials."""

from rest_framework import throttling

from api.models import ApiToken


class TokenRateThrottle(throttling.SimpleRateThrottle):
    scope = "token"

    def get_cache_key(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return None
        if isinstance(request.auth, ApiToken):
            ident = f"t{request.auth.pk}"
        else:
            ident = f"u{request.user.pk}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class AnonRateThrottle(throttling.AnonRateThrottle):
    scope = "anon"
