from django.urls import path

from alerts import views

urlpatterns = [
    path("alerts/", views.alert_list, name="alert_list"),
    path("alerts/count/", views.alert_count, name="alert_count"),
    path("alerts/<int:pk>/acknowledge/", views.alert_acknowledge, name="alert_acknowledge"),
    path("digest/", views.digest_settings, name="digest_settings"),
    path("digest/preview/", views.digest_preview, name="digest_preview"),
]
