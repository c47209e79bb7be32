"""A request budget per token (per user for the session), and per address
for callers without credentials."""

from rest_framework import throttling
from rest_framework.settings import api_settings

from api.models import ApiToken


class _SettingsRate:
    def get_rate(self):
        # Read when used (DRF binds the rates at import): settings can change them.
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]


class TokenRateThrottle(_SettingsRate, throttling.SimpleRateThrottle):
    scope = "token"

    def get_cache_key(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return None
        if isinstance(request.auth, ApiToken):
            ident = f"t{request.auth.key_hash[:32]}"
        else:
            ident = f"u{request.user.pk}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class AnonRateThrottle(_SettingsRate, throttling.AnonRateThrottle):
    scope = "anon"
