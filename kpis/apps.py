from django.apps import AppConfig
from django.db.models.signals import post_migrate, pre_migrate


def _drop_sqlite_triggers(sender, using, **kwargs) -> None:
    # SQLite rebuilds a table to alter it, which fails while another table's
    # trigger names it: ours go before a migrate and come back after it.
    from django.db import connections

    from kpis import triggers

    triggers.drop_sqlite_triggers(connections[using])


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
        pre_migrate.connect(_drop_sqlite_triggers, sender=self, dispatch_uid="kpis.drop_sqlite_triggers")
        post_migrate.connect(_install_triggers, sender=self, dispatch_uid="kpis.install_triggers")
