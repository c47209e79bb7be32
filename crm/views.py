from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Each role's landing page; later issues send roles to their own pages."""
    return render(request, "crm/home.html", {"user": request.user})
