from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = _("API and webhooks")

    def ready(self) -> None:
        # Webhook events fire from the models' own writes, wherever they
        # happen (pages, API, shell): see api/signals.py.
        from api import schema, signals  # noqa: F401
