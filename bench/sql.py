"""The few SQL spellings that differ between PostgreSQL and SQLite.

The generator and the floor write plain SQL; these helpers return SQL text
for one dialect so each statement is written once. Every value interpolated
here is an int or a date the benchmark computed itself, never user input.
"""

from __future__ import annotations

import datetime as dt

# A prime modulus for the row hash: squares of values below it fit in a
# signed 64-bit integer on both databases.
PRIME = 2147483647


class Dialect:
    def __init__(self, vendor: str) -> None:
        if vendor not in ("postgresql", "sqlite"):
            raise ValueError(f"The benchmark runs on PostgreSQL or SQLite, not {vendor}.")
        self.vendor = vendor
        self.pg = vendor == "postgresql"

    # -- row numbers and hashes --

    def nums(self, count: int) -> str:
        """A CTE `nums(n)` of the integers 1..count, to put after WITH."""
        if self.pg:
            return f"nums(n) AS (SELECT generate_series(1::bigint, {int(count)}))"
        return f"nums(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM nums WHERE n < {int(count)})"

    @property
    def with_recursive(self) -> str:
        return "WITH" if self.pg else "WITH RECURSIVE"

    @staticmethod
    def rnd(expr: str, salt: int, modulo: int) -> str:
        """A deterministic pseudo-random integer in [0, modulo) from a row number.

        A multiplicative hash, squared modulo a prime (the square makes draws
        with different salts independent of each other, which a linear hash
        would not), then scrambled once more. Same row, same salt: same value.
        """
        x1 = f"((({expr}) * 1103515245 + {salt * 12345 + 7}) % {PRIME})"
        return f"((({x1} * {x1} % {PRIME}) * 48271 + {salt}) % {PRIME} % {int(modulo)})"

    def least(self, *exprs: str) -> str:
        return f"{'LEAST' if self.pg else 'MIN'}({', '.join(exprs)})"

    def greatest(self, *exprs: str) -> str:
        return f"{'GREATEST' if self.pg else 'MAX'}({', '.join(exprs)})"

    # -- values --

    def date(self, day: dt.date) -> str:
        return f"DATE '{day.isoformat()}'" if self.pg else f"'{day.isoformat()}'"

    def timestamp(self, moment: dt.datetime) -> str:
        """An aware UTC instant as stored by Django."""
        utc = moment.astimezone(dt.UTC).replace(tzinfo=None)
        if self.pg:
            return f"TIMESTAMPTZ '{utc.isoformat(sep=' ')}+00'"
        return f"'{utc.isoformat(sep=' ')}'"

    def boolean(self, value: bool) -> str:
        if self.pg:
            return "TRUE" if value else "FALSE"
        return "1" if value else "0"

    def money(self, expr: str) -> str:
        return f"CAST(({expr}) AS numeric(14, 2))" if self.pg else f"ROUND(({expr}), 2)"

    # -- date arithmetic --

    def add_days(self, day: str, days: str) -> str:
        if self.pg:
            return f"(({day}) + CAST(({days}) AS integer))"
        return f"date({day}, printf('%+d days', {days}))"

    def add_months(self, day: str, months: str) -> str:
        if self.pg:
            return f"CAST(({day}) + make_interval(months => CAST(({months}) AS integer)) AS date)"
        return f"date({day}, printf('%+d months', {months}))"

    def day_diff(self, later: str, earlier: str) -> str:
        if self.pg:
            return f"(({later}) - ({earlier}))"
        return f"CAST(julianday({later}) - julianday({earlier}) AS integer)"

    def at_seconds(self, day: str, seconds: str) -> str:
        """The UTC instant `seconds` after midnight UTC of a date."""
        if self.pg:
            return f"(CAST(({day}) AS timestamp) + make_interval(secs => ({seconds}))) AT TIME ZONE 'UTC'"
        return f"datetime({day}, printf('%+d seconds', {seconds}))"

    def plus_seconds(self, moment: str, seconds: str) -> str:
        if self.pg:
            return f"(({moment}) + make_interval(secs => ({seconds})))"
        return f"datetime({moment}, printf('%+d seconds', {seconds}))"
