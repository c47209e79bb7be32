"""Issue 19 (found upgrading a demo database): on SQLite, our triggers are
dropped before a migrate and installed again after it, since a migration
that rebuilds a table named by another table's trigger fails otherwise."""

import pytest
from django.core.management.sql import emit_post_migrate_signal, emit_pre_migrate_signal
from django.db import OperationalError, connection

from kpis.triggers import PREFIX, _existing
from surveys.models import Invitation

pytestmark = pytest.mark.django_db(transaction=True)


def rebuild_invitations() -> None:
    # What SQLite's schema editor does to alter surveys_invitation (surveys
    # 0006 adds a column): a new table, copied, renamed over the old one.
    with connection.schema_editor() as editor:
        editor._remake_table(Invitation)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="PostgreSQL alters tables in place")
def test_triggers_leave_before_a_migrate_and_come_back_after():
    before = sorted(_existing(connection, PREFIX + "_"))
    assert before
    with pytest.raises(OperationalError, match="no such table"):
        rebuild_invitations()  # the response triggers name surveys_invitation
    emit_pre_migrate_signal(verbosity=0, interactive=False, db="default")
    assert _existing(connection, PREFIX + "_") == []
    rebuild_invitations()
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    assert sorted(_existing(connection, PREFIX + "_")) == before
