"""Argument types shared by the KPI commands."""

import datetime as dt
from argparse import ArgumentTypeError


def year_month(value: str) -> dt.date:
    """YYYY-MM → the first day of that month."""
    try:
        return dt.datetime.strptime(value, "%Y-%m").date()
    except ValueError:
        raise ArgumentTypeError(f"expected a month as YYYY-MM (got {value!r})") from None
