import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from crm import demo
from crm.progress import progress_bar
from kpis.models import KpiSnapshot, RecomputeRun
from kpis.tasks import run_recorded


class Command(BaseCommand):
    help = "Load deterministic, realistic demo data (safe to run twice: nothing is duplicated)."

    def add_arguments(self, parser):
        parser.add_argument("--today", help="Pretend today is YYYY-MM-DD (default: today, company time).")
        parser.add_argument("--seed", type=int, default=2024, help="Random seed (default 2024).")
        parser.add_argument(
            "--reset", action="store_true", help="Delete the demo data first, then reload it."
        )

    def handle(self, *args, **options):
        try:
            today = dt.date.fromisoformat(options["today"]) if options["today"] else timezone.localdate()
        except ValueError:
            raise CommandError("--today must be a date written YYYY-MM-DD.") from None
        if options["reset"]:
            demo.reset_demo()
            self.stdout.write("Removed the previous demo data.")
        if demo.demo_loaded():
            self.stdout.write("Demo data is already loaded; nothing to do (use --reset to reload it).")
        else:
            counts = demo.seed(today, options["seed"], progress_bar("Demo data", self.stderr._out))
            summary = ", ".join(f"{n} {what}" for what, n in counts.items())
            self.stdout.write(self.style.SUCCESS(f"Demo data loaded: {summary}."))
        if options["reset"] or not KpiSnapshot.objects.exists():
            # Pages read snapshots: compute them now rather than wait for 02:00
            # (recorded on the KPI status page like any other recompute).
            run = run_recorded(
                RecomputeRun.Kind.SEED,
                today=today,
                full=True,
                progress=progress_bar("KPI snapshots", self.stderr._out),
            )
            self.stdout.write(
                f"KPIs computed: {run.rows_written} snapshot rows "
                f"({run.churned} customers churned by inactivity)."
            )
        self.stdout.write(f"\nDemo logins (password for all: {demo.DEMO_PASSWORD}):")
        for username, role, team in demo.demo_logins():
            self.stdout.write(f"  {username:<8} {role:<12} {team}")
