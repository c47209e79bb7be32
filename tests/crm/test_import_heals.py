"""Issue 19: an import killed during its post-import recompute heals when run again."""

import datetime as dt
import io
from unittest import mock

import pytest
from django.core.management import call_command

from crm.models import Deal
from kpis.models import DirtyMonth, KpiSnapshot
from tests.crm.test_import import write_tiny


class Killed(Exception):
    """Stands for the process being killed mid-recompute."""


def import_crm(path) -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_crm", str(path), stdout=out, stderr=err)
    return out.getvalue()


@pytest.mark.django_db
def test_rerunning_an_interrupted_import_recomputes_its_months(tmp_path):
    write_tiny(tmp_path)
    with mock.patch("kpis.tasks.run_nightly", side_effect=Killed), pytest.raises(Killed):
        import_crm(tmp_path)
    # The rows committed, and their months were marked dirty in the same
    # transaction (database triggers), though no snapshot was written.
    assert Deal.objects.count() == 6
    assert dt.date(2017, 1, 1) in DirtyMonth.objects.months()
    assert not KpiSnapshot.objects.filter(period_start=dt.date(2017, 1, 1)).exists()

    out = import_crm(tmp_path)

    assert "Nothing to change" in out and "Recomputed" in out
    assert not DirtyMonth.objects.exists()
    assert KpiSnapshot.objects.filter(period_start=dt.date(2017, 1, 1)).exists()


@pytest.mark.django_db
def test_rerunning_a_finished_import_recomputes_nothing(tmp_path):
    write_tiny(tmp_path)
    import_crm(tmp_path)
    assert not DirtyMonth.objects.exists()
    out = import_crm(tmp_path)
    assert "Nothing to change" in out and "Recomputed" not in out
