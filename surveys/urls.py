from django.urls import path

from . import views

urlpatterns = [
    path("", views.survey_list, name="survey_list"),
    path("new/", views.survey_create, name="survey_create"),
    path("<int:pk>/edit/", views.survey_edit, name="survey_edit"),
    path("results/", views.survey_results, name="survey_results"),
    path("invitations/", views.invitation_list, name="invitation_list"),
    path("invitations/<int:pk>/bounce/", views.invitation_bounce, name="invitation_bounce"),
    path("send/deal/<int:pk>/", views.survey_send_for_deal, name="survey_send_for_deal"),
    path("send/customer/<int:pk>/", views.survey_send_for_customer, name="survey_send_for_customer"),
]
