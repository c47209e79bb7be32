from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Each role's landing page: admins the company scorecard, managers their
    team page, salespeople their personal dashboard."""
    user = request.user
    if user.is_admin_role:
        return redirect("scorecard")
    if user.is_manager:
        return redirect("team_page")
    return redirect("dashboard")
