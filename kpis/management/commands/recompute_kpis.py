"""Recompute KPI snapshots from the raw tables: python manage.py recompute_kpis
[--from YYYY-MM] [--to YYYY-MM] [--granularity month|quarter|year]
[--today YYYY-MM-DD] [--pending]. Without flags, every period that has data;
with --pending, what the nightly run does (current and previous periods and
every period a correction made dirty). Recorded on the KPI status page."""

import datetime as dt
import time
from argparse import ArgumentTypeError

from django.core.management.base import BaseCommand, CommandError

from crm.models import EARLIEST_DATE, LATEST_DATE
from crm.models import today as company_today
from kpis.compute import data_span
from kpis.definitions import GRANULARITIES
from kpis.management.commands._options import year_month
from kpis.models import RecomputeRun
from kpis.tasks import run_recorded


def iso_day(value: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise ArgumentTypeError(f"expected a day as YYYY-MM-DD (got {value!r})") from None
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise ArgumentTypeError(f"expected a day from {EARLIEST_DATE} to {LATEST_DATE} (got {value})")
    return day


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
        parser.add_argument(
            "--today",
            type=iso_day,
            help="compute as of this day, YYYY-MM-DD (default: today, company time): the churn rule, "
            "the open pipeline and maturing cohorts follow it, so a run is reproducible",
        )
        parser.add_argument(
            "--pending",
            action="store_true",
            help="only what the nightly run does: current and previous periods, and every dirty one",
        )

    def handle(self, *args, start=None, end=None, granularity=None, verbosity=1, **options):
        today = options.get("today") or company_today()
        bar = _ProgressBar(self.stderr if verbosity else None)
        began = time.monotonic()
        if options.get("pending"):
            if start or end or granularity:
                raise CommandError("--pending takes no --from, --to or --granularity.")
            run = run_recorded(RecomputeRun.Kind.COMMAND, today=today, progress=bar)
            what = "current, previous and dirty periods"
        else:
            if start is None or end is None:
                span = data_span(today)
                start, end = start or span.first, end or span.last
            if end < start:
                raise CommandError("--to comes before --from.")
            granularities = tuple(dict.fromkeys(granularity or GRANULARITIES))
            run = run_recorded(
                RecomputeRun.Kind.COMMAND, today=today, progress=bar, full=True, start=start, end=end,
                granularities=granularities,
            )  # fmt: skip
            what = f"{start:%Y-%m} to {end:%Y-%m} ({', '.join(granularities)})"
        bar.close()
        if run.status == RecomputeRun.Status.SKIPPED:
            raise CommandError(run.message)
        if verbosity:
            self.stdout.write(
                self.style.SUCCESS(
                    f"{run.rows_written} KPI snapshots written for {what} as of {today} "
                    f"in {time.monotonic() - began:.1f} s ({run.churned} customers' churn re-derived)."
                )
            )
            if run.message:
                self.stdout.write(self.style.WARNING(run.message))


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
