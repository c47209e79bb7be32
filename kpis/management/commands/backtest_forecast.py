"""Replay the revenue forecast over past periods and say how it did:
python manage.py backtest_forecast --from YYYY-MM --to YYYY-MM
[--assume-close-dates] [--store]."""

import time

from django.core.management.base import BaseCommand, CommandError

from kpis import forecast as fc
from kpis.definitions import COMPANY, MONTH
from kpis.management.commands._options import year_month


class Command(BaseCommand):
    help = (
        "Replay the forecast made at the start of each month (and quarter) from the history as it "
        "stood that day; print the coverage of the P10–P90 range and the error of P50."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--from", dest="start", type=year_month, required=True, help="first month, YYYY-MM"
        )
        parser.add_argument("--to", dest="end", type=year_month, required=True, help="last month, YYYY-MM")
        parser.add_argument(
            "--assume-close-dates",
            action="store_true",
            help="give closed deals without an expected close date their real close date "
            "(a best case for timing; Boussole keeps no history of expected dates)",
        )
        parser.add_argument(
            "--store",
            action="store_true",
            help="save the replayed forecasts as the start forecast of periods that have none",
        )

    def handle(self, *args, start, end, verbosity=1, **options):
        if end < start:
            raise CommandError("--to is before --from.")
        began = time.monotonic()

        def progress(done, total, month, deals):
            if verbosity:
                self.stderr.write(
                    f"[{done}/{total}] {month:%Y-%m}: {deals} open deals replayed "
                    f"({time.monotonic() - began:.1f}s)"
                )

        rows = fc.backtest(start, end, assume_close_dates=options["assume_close_dates"], progress=progress)
        out = self.stdout.write
        out(f"{'period':<10} {'scope':<12} {'P10':>12} {'P50':>12} {'P90':>12} {'actual':>12}  held")
        for r in rows:
            f = r.forecast
            label = f"{f.period_start:%Y-%m}" if f.granularity == MONTH else _quarter(f.period_start)
            scope = COMPANY if f.scope_type == COMPANY else f"{f.scope_type} {f.scope_id}"
            out(
                f"{label:<10} {scope:<12} {f.p10:>12,.0f} {f.p50:>12,.0f} {f.p90:>12,.0f} "
                f"{r.actual:>12,.0f}  {'yes' if r.held else 'NO'}"
            )
        out("")
        for granularity in ("month", "quarter"):
            for level in ("company", "team"):
                chosen = [
                    r
                    for r in rows
                    if r.forecast.granularity == granularity and r.forecast.scope_type == level
                ]
                if not chosen:
                    continue
                acc = fc.accuracy(chosen)
                mape = "n/a" if acc.mape is None else f"{acc.mape} %"
                out(
                    f"{granularity:<8} {level:<8} {acc.periods:>3} periods: P10–P90 held the actual "
                    f"{acc.covered} times ({acc.coverage} %, 80 % expected); P50 off by {mape} on average"
                )
        if options["store"]:
            out(f"Stored {fc.store_backtest(rows)} start forecasts that were missing.")


def _quarter(day) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
