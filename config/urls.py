from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from config import health
from crm import views as crm_views

urlpatterns = [
    # Load balancers' health checks (config/health.py, docs/operations.md).
    path("healthz/", health.healthz, name="healthz"),
    path("readyz/", health.readyz, name="readyz"),
    path("", crm_views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("surveys/", include("surveys.urls")),
    path("", include("surveys.public_urls")),
    path("kpis/", include("kpis.urls")),
    path("team/", include("team.urls")),
    path("import/", include("crm.import_urls")),
    path("api/", include("api.urls")),
    path("", include("api.page_urls")),
    path("", include("crm.urls")),
    path("", include("kpis.performance_urls")),
    path("", include("alerts.urls")),
    path("", include("ui.urls")),
]

# JSON errors for API clients (api/errors.py); the usual pages elsewhere.
handler404 = "api.errors.not_found"
handler500 = "api.errors.server_error"
