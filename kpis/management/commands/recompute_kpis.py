"""Backfill KPI snapshots: python manage.py recompute_kpis [--from YYYY-MM]
[--to YYYY-MM] [--granularity month|quarter|year]. Without flags, every
period that has data."""

import time

from django.core.management.base import BaseCommand, CommandError

from kpis.compute import data_span, recompute
from kpis.definitions import GRANULARITIES
from kpis.management.commands._options import year_month


class Command(BaseCommand):
    help = "Recompute KPI snapshots for a range of months (default: every period with data)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--from", dest="start", type=year_month, help="first month, YYYY-MM")
        parser.add_argument("--to", dest="end", type=year_month, help="last month, YYYY-MM")
        parser.add_argument(
            "--granularity",
            choices=GRANULARITIES,
            action="append",
            help="month, quarter or year; repeat for several (default: all three)",
        )

    def handle(self, *args, start=None, end=None, granularity=None, verbosity=1, **options):
        if start is None or end is None:
            first, last = data_span()
            start, end = start or first, end or last
        if end < start:
            raise CommandError("--to comes before --from.")
        granularities = tuple(dict.fromkeys(granularity or GRANULARITIES))
        bar = _ProgressBar(self.stderr if verbosity else None)
        began = time.monotonic()
        written = recompute(start, end, granularities, progress=bar)
        bar.close()
        if verbosity:
            self.stdout.write(
                self.style.SUCCESS(
                    f"{written} KPI snapshots written for {start:%Y-%m} to {end:%Y-%m} "
                    f"({', '.join(granularities)}) in {time.monotonic() - began:.1f} s."
                )
            )


class _ProgressBar:
    WIDTH = 30

    def __init__(self, out) -> None:
        self.out = out
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        if self.out is None:
            return
        filled = self.WIDTH * done // max(total, 1)
        line = f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{total}"
        # On a terminal, redraw one line; in a log, one line per step.
        if self.out.isatty():
            self.out.write(f"\r{line}", ending="")
        else:
            self.out.write(line)
        self.out.flush()
        self.shown = True

    def close(self) -> None:
        if self.out is not None and self.shown:
            self.out.write("")
