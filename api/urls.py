"""/api/v1/ (the resources), /api/schema/ (OpenAPI 3) and /api/docs/ (the reference)."""

from csp.decorators import csp_update
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from api import views, views_alerts, views_forecast, views_kpis, views_team

router = DefaultRouter(trailing_slash=True)
router.include_root_view = True
router.register("prospects", views.ProspectViewSet, basename="api-prospect")
router.register("customers", views.CustomerViewSet, basename="api-customer")
router.register("deals", views.DealViewSet, basename="api-deal")
router.register("activities", views.ActivityViewSet, basename="api-activity")
router.register("campaigns", views.CampaignViewSet, basename="api-campaign")
router.register("spend-lines", views.SpendLineViewSet, basename="api-spend-line")
router.register("sales-costs", views.SalesCostViewSet, basename="api-sales-cost")
router.register("targets", views.TargetViewSet, basename="api-target")
router.register("survey-invitations", views.InvitationViewSet, basename="api-invitation")
router.register("survey-responses", views.SurveyResponseViewSet, basename="api-response")
router.register("kpi-snapshots", views_kpis.KpiSnapshotViewSet, basename="api-kpi-snapshot")
router.register("kpis", views_kpis.KpiDefinitionViewSet, basename="api-kpi")
router.register("forecasts", views_forecast.ForecastViewSet, basename="api-forecast")
router.register("teams", views.TeamViewSet, basename="api-team")
router.register("users", views.UserViewSet, basename="api-user")
router.register("products", views.ProductViewSet, basename="api-product")
router.register("alerts", views_alerts.AlertViewSet, basename="api-alert")
router.register("training-sessions", views_team.TrainingSessionViewSet, basename="api-training-session")
router.register("certifications", views_team.CertificationViewSet, basename="api-certification")

# The vendored Redoc and Swagger UI set styles from script (<style> elements):
# their two pages allow inline styles, still no inline script (settings.py).
reference_styles = csp_update({"style-src": ["'unsafe-inline'"]})

urlpatterns = [
    path("v1/me/", views_kpis.MeView.as_view(), name="api-me"),
    path("v1/", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "docs/",
        reference_styles(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    path("redoc/", reference_styles(SpectacularRedocView.as_view(url_name="api-schema")), name="api-redoc"),
]
