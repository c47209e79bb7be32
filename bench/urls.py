"""Boussole's URLs plus the floors the benchmark compares pages against."""

from django.urls import include, path

from bench import views

urlpatterns = [
    path("bench/bare/<str:token>/", views.bare_submit, name="bench_bare_submit"),
    path("bench/live/scorecard/", views.live_scorecard, name="bench_live_scorecard"),
    path("bench/live/leaderboard/", views.live_leaderboard, name="bench_live_leaderboard"),
    path("bench/live/team/<int:team_id>/", views.live_team, name="bench_live_team"),
    path("bench/live/board/", views.live_board, name="bench_live_board"),
    path("", include("config.urls")),
]
