"""The pages around the API: personal tokens and (admins) webhooks."""

from django.urls import path

from api import page_views as views

urlpatterns = [
    path("profile/tokens/", views.token_list, name="api_tokens"),
    path("profile/tokens/<int:pk>/revoke/", views.token_revoke, name="api_token_revoke"),
    path("webhooks/", views.webhook_list, name="webhook_list"),
    path("webhooks/new/", views.webhook_create, name="webhook_create"),
    path("webhooks/<int:pk>/", views.webhook_detail, name="webhook_detail"),
    path("webhooks/<int:pk>/edit/", views.webhook_edit, name="webhook_edit"),
    path("webhooks/<int:pk>/delete/", views.webhook_delete, name="webhook_delete"),
    path("webhooks/<int:pk>/test/", views.webhook_test, name="webhook_test"),
    path("webhooks/<int:pk>/secret/", views.webhook_rotate_secret, name="webhook_rotate_secret"),
    path(
        "webhooks/<int:pk>/deliveries/<int:delivery_pk>/resend/",
        views.webhook_resend,
        name="webhook_resend",
    ),
]
