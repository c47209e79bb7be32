import datetime as dt
from decimal import Decimal

import pytest

from kpis.models import KpiSnapshot

UTC = dt.UTC


@pytest.fixture
def snap():
    """snap(kpi, scope_type, scope_id, granularity, period_start) → the row, or None."""

    def _snap(kpi, scope_type, scope_id, granularity, start):
        return KpiSnapshot.objects.filter(
            kpi=kpi,
            scope_type=scope_type,
            scope_id=scope_id,
            granularity=granularity,
            period_start=start,
        ).first()

    return _snap


def d(value: str) -> Decimal:
    return Decimal(value)
