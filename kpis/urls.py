from django.urls import path

from kpis import views

urlpatterns = [
    path("status/", views.kpi_status, name="kpi_status"),
    path("recompute/", views.kpi_recompute, name="kpi_recompute"),
    path("runs/<int:pk>/", views.kpi_run, name="kpi_run"),
]
