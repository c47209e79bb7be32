"""The customer-facing survey page, included at the site root (/s/<token>/)."""

from django.urls import path

from . import views

urlpatterns = [
    path("s/<str:token>/", views.survey_answer, name="survey_answer"),
]
