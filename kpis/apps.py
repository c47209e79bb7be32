from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _install_triggers(sender, using, **kwargs) -> None:
    # After every migrate, fresh or not: the triggers always match the code
    # (a table that Django's SQLite backend rebuilt loses its triggers).
    from django.db import connections

    from kpis import triggers

    triggers.install(connections[using])


class KpisConfig(AppConfig):
    name = "kpis"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        post_migrate.connect(_install_triggers, sender=self, dispatch_uid="kpis.install_triggers")
