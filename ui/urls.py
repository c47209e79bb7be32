from django.urls import path

from ui import views

urlpatterns = [
    path("styleguide/", views.styleguide, name="styleguide"),
    path("profile/", views.profile, name="profile"),
]
