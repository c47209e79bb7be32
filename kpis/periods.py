"""Calendar periods (kpi-spec: month, quarter, year; inclusive date ranges).

Every period of every granularity starts on the first day of a month, which
the engine relies on: "before a period's start" can be decided on a date's
month alone.
"""

from __future__ import annotations

import datetime as dt

from kpis.definitions import GRANULARITIES, MONTH, QUARTER, YEAR

MONTHS_IN = {MONTH: 1, QUARTER: 3, YEAR: 12}


def add_months(day: dt.date, months: int) -> dt.date:
    """The first day of the month `months` after day's month."""
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def period_start(day: dt.date, granularity: str) -> dt.date:
    if granularity == MONTH:
        return day.replace(day=1)
    if granularity == QUARTER:
        return dt.date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    if granularity == YEAR:
        return dt.date(day.year, 1, 1)
    raise ValueError(f"Unknown granularity {granularity!r}; expected one of {GRANULARITIES}.")


def next_start(start: dt.date, granularity: str) -> dt.date:
    return add_months(start, MONTHS_IN[granularity])


def period_end(start: dt.date, granularity: str) -> dt.date:
    return next_start(start, granularity) - dt.timedelta(days=1)


def periods_between(first: dt.date, last: dt.date, granularity: str) -> list[dt.date]:
    """Starts of every period of `granularity` that overlaps [first, last]."""
    starts = []
    start = period_start(first, granularity)
    while start <= last:
        starts.append(start)
        start = next_start(start, granularity)
    return starts


def month_starts(start: dt.date, end: dt.date) -> list[dt.date]:
    """First days of the months from start's month to end's month, inclusive."""
    return periods_between(start, end, MONTH)
