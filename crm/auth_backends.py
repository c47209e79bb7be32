"""Login throttling (django-axes): failed logins are counted per account and
per client address; past AXES_FAILURE_LIMIT either is locked for the
cool-off time. An admin unlocks early by deleting the attempts in the admin
(Axes › Access attempts) or with `manage.py axes_reset_username NAME`."""

from axes.backends import AxesStandaloneBackend


class ThrottledBackend(AxesStandaloneBackend):
    """Axes' check for every login over HTTP. A call without a request (a
    shell, a management command, a test's authenticate()) has no address to
    throttle and goes straight to the ModelBackend after this one."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def client_ip(request) -> str | None:
    """The address Axes counts: the one the survey rate limit uses too
    (SURVEY_CLIENT_IP_HEADER behind a trusted proxy, else REMOTE_ADDR).
    None when it is no IP address (Axes stores it in an inet column)."""
    import ipaddress

    from surveys.ratelimit import client_address

    address = client_address(request)
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def lockout_response(request, original_response=None, credentials=None):
    """The login page's locked-out version: what happened and what to do (429)."""
    from django.conf import settings
    from django.shortcuts import render

    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return render(request, "registration/locked_out.html", {"cooloff_minutes": minutes}, status=429)
