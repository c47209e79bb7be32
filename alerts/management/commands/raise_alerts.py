import datetime as dt

from django.core.management.base import BaseCommand

from alerts.rules import raise_alerts


class Command(BaseCommand):
    help = "Run the alert rules now (the nightly run does it after the recompute)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--today", type=dt.date.fromisoformat, help="the day to run as (YYYY-MM-DD)")

    def handle(self, *args, today: dt.date | None = None, **options) -> None:
        counts = raise_alerts(today)
        self.stdout.write(
            f"{counts['raised']} raised, {counts['refreshed']} still holding, {counts['resolved']} resolved."
        )
