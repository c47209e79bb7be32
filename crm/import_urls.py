from django.urls import path

from crm import import_views

urlpatterns = [
    path("", import_views.crm_import, name="crm_import"),
    path("confirm/", import_views.crm_import_confirm, name="crm_import_confirm"),
    path("cancel/", import_views.crm_import_cancel, name="crm_import_cancel"),
    path("export/", import_views.crm_export, name="crm_export"),
]
