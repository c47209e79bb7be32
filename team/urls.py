from django.urls import path

from team import pulse_views, views

urlpatterns = [
    path("training/", views.training_list, name="training_list"),
    path("training/new/", views.training_create, name="training_create"),
    path("training/<int:pk>/edit/", views.training_edit, name="training_edit"),
    path("training/<int:pk>/confirm/", views.training_confirm, name="training_confirm"),
    path("training/<int:pk>/delete/", views.training_delete, name="training_delete"),
    path("certifications/", views.certification_list, name="certification_list"),
    path("certifications/new/", views.certification_create, name="certification_create"),
    path("certifications/<int:pk>/edit/", views.certification_edit, name="certification_edit"),
    path("certifications/<int:pk>/confirm/", views.certification_confirm, name="certification_confirm"),
    path("certifications/<int:pk>/delete/", views.certification_delete, name="certification_delete"),
]

urlpatterns += [
    path("p/<str:token>/", pulse_views.pulse_answer, name="pulse_answer"),
    path("coaching/<int:pk>/", views.coaching, name="coaching"),
    path("coaching/actions/<int:pk>/done/", views.coaching_action_done, name="coaching_action_done"),
    path("pulse/", pulse_views.pulse_results, name="pulse_results"),
    path("pulse/schedule/", pulse_views.pulse_schedule, name="pulse_schedule"),
]
