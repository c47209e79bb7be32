from django.urls import path

from kpis import breakdown_views, forecast_views, process_views
from kpis import performance_views as views

urlpatterns = [
    path("scorecard/", views.scorecard, name="scorecard"),
    path("leaderboard/", views.leaderboard, name="leaderboard"),
    path("team/", views.team_page, name="team_page"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/edit/", views.dashboard_edit, name="dashboard_edit"),
    path("what-changed/", breakdown_views.what_changed, name="what_changed"),
    path("forecast/", forecast_views.forecast_page, name="forecast"),
    path("process/", process_views.process_page, name="process_page"),
    path("process/deals/", process_views.process_deals, name="process_deals"),
]
