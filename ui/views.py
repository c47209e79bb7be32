from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

# The palette as documented on the style guide: token, role, the colour it is
# read on, and that pair's contrast ratio (WCAG AA wants 4.5 for text, 3 for
# the focus ring and form borders).
PALETTE = [
    ("--color-ink", "#1d2433", "#ffffff", "15.4"),
    ("--color-muted", "#4f586a", "#ffffff", "7.0"),
    ("--color-accent", "#1f5fbf", "#ffffff", "6.1"),
    ("--color-good", "#116329", "#e6f4ea", "6.5"),
    ("--color-bad", "#a11a12", "#fde8e7", "6.7"),
    ("--color-warn", "#7a5200", "#fff4d6", "6.3"),
    ("--focus (light)", "#1f5fbf", "#ffffff", "6.1"),
    ("--focus (header)", "#ffbf47", "#14213d", "9.7"),
    ("--color-line-strong", "#8a93a3", "#ffffff", "3.2"),
]


@login_required
def styleguide(request: HttpRequest) -> HttpResponse:
    """The design system's components, for the people who build pages (admins)."""
    if not request.user.is_admin_role:
        raise PermissionDenied(_("The style guide is for administrators."))
    return render(
        request,
        "ui/styleguide.html",
        {
            "palette": PALETTE,
            "sample_amounts": [Decimal("12278.62"), Decimal("1142189"), Decimal("480.5")],
            "sample_date": dt.date(2026, 11, 29),
            "type_scale": ["xs", "sm", "md", "lg", "xl", "2xl"],
        },
    )


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    return render(request, "ui/profile.html")
