import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from kpis.models import KpiSnapshot
from kpis.periods import add_months

TODAY = dt.date(2026, 12, 1)
NOV = dt.date(2026, 11, 1)


@pytest.fixture
def put_series():
    """put_series(kpi, scope_type, scope_id, values, denominators=None, last=NOV):
    monthly snapshots ending with `last`, oldest first."""

    def _put(kpi, scope_type, scope_id, values, denominators=None, last=NOV):
        rows = []
        for i, value in enumerate(values):
            start = add_months(last, i - len(values) + 1)
            den = None if denominators is None else Decimal(denominators[i])
            num = None if den is None or value is None else Decimal(str(value)) * den / 100
            rows.append(KpiSnapshot(
                kpi=kpi, scope_type=scope_type, scope_id=scope_id, granularity="month", period_start=start,
                value=None if value is None else Decimal(str(value)), numerator=num, denominator=den,
                low_sample=bool(den is not None and den < 5), computed_at=timezone.now(),
            ))  # fmt: skip
        KpiSnapshot.objects.bulk_create(rows)

    return _put


@pytest.fixture
def put_forecast():
    """put_forecast(scope_type, scope_id, granularity, start, chance, target=1000, p50=600, kind="latest"):
    one stored forecast (kpis.forecast writes them nightly)."""
    from kpis.models import ForecastSnapshot

    def _put(scope_type, scope_id, granularity, start, chance, target=1000, p50=600, kind="latest"):
        p50 = Decimal(p50)
        return ForecastSnapshot.objects.create(
            scope_type=scope_type, scope_id=scope_id, granularity=granularity, period_start=start, kind=kind,
            made_on=start, won_so_far=Decimal(100), p10=p50 - 300, p50=p50, p90=p50 + 300, expected=p50,
            target=None if target is None else Decimal(target),
            chance_of_target=None if chance is None else Decimal(str(chance)), computed_at=timezone.now(),
        )  # fmt: skip

    return _put
