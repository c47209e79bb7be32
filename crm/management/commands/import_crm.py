"""python manage.py import_crm [--format maven|generic] [--mapping FILE] [--dry-run] PATH"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm import importing


def print_preview(write, plan: importing.Plan) -> None:
    """The preview table, then every skipped and every bad row."""
    write(f"{'':12}{'create':>8}{'update':>8}{'unchanged':>11}{'skip':>6}")
    for entity, counts in plan.counts().items():
        write(
            f"{entity:12}{counts['create']:>8}{counts['update']:>8}"
            f"{counts['unchanged']:>11}{counts['skip']:>6}"
        )
    totals = plan.totals()
    write(
        f"{'total':12}{totals['create']:>8}{totals['update']:>8}{totals['unchanged']:>11}{totals['skip']:>6}"
    )
    write(importing.summary(plan) + ".")
    for problem in plan.skipped():
        write(f"skipped: {problem}")
    if plan.errors:
        write(f"{len(plan.errors)} bad row(s):")
        for problem in plan.errors:
            write(f"  {problem}")


class Command(BaseCommand):
    help = (
        "Import teams, people, customers, products, deals and (generic format) the rest of the "
        "history — campaigns, prospects, activities, spend, sales costs, targets, survey responses — "
        "from CSV files (a directory or a zip). Prints a preview; --dry-run stops there."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="A directory (or zip) of CSV files.")
        parser.add_argument("--format", choices=importing.FORMATS, default=importing.MAVEN)
        parser.add_argument("--mapping", help="JSON file: per entity, Boussole column → source header.")
        parser.add_argument("--dry-run", action="store_true", help="Preview only; write nothing.")
        parser.add_argument(
            "--no-recompute", action="store_true", help="Skip the KPI recompute after importing."
        )

    def handle(
        self, *args, path: str, format: str, mapping: str | None, dry_run: bool, no_recompute: bool, **options
    ) -> None:
        source_path = Path(path)
        if not source_path.exists():
            raise CommandError(f"{path} does not exist.")
        mapping_data = None
        if mapping:
            if format != importing.GENERIC:
                raise CommandError("--mapping only applies to --format generic.")
            try:
                text = Path(mapping).read_text(encoding="utf-8")
            except OSError as exc:
                raise CommandError(f"Cannot read {mapping}: {exc}") from None
            mapping_data, problems = importing.parse_mapping(text, Path(mapping).name)
            if problems:
                raise CommandError("\n".join(str(p) for p in problems))

        with tempfile.TemporaryDirectory() as tmp:
            directory = source_path
            if source_path.is_file():
                directory = Path(tmp)
                try:
                    importing.extract_zip(source_path, directory)
                except ValueError as exc:
                    raise CommandError(f"{path}: {exc}") from None
            self.run_import(directory, format, mapping_data, dry_run, no_recompute)

    def run_import(self, directory, fmt, mapping, dry_run, no_recompute) -> None:
        started = time.monotonic()
        self.stderr.write("Reading and checking the files…")
        plan = importing.build_plan(importing.load(directory, fmt, mapping))
        print_preview(self.stdout.write, plan)
        self.stderr.write(f"Checked in {time.monotonic() - started:.1f}s.")
        if not plan.ok:
            raise CommandError(f"{len(plan.errors)} bad row(s): nothing was imported.")
        if dry_run:
            self.stdout.write("Dry run: nothing was written.")
            return
        if not plan.has_changes:
            self.stdout.write("Nothing to change: the database already holds these rows.")
            # An earlier run of this import may have been killed before (or
            # during) its recompute: its rows committed with their months
            # marked dirty in the same transaction. Recompute those now, so
            # running the import again always heals the KPI history.
            if not no_recompute and self.months_pending():
                self.stdout.write("Months are waiting for a KPI recompute (an earlier run was interrupted).")
                self.recompute()
            return
        started = time.monotonic()
        importing.apply(plan, progress=self.progress)
        self.stdout.write(self.style.SUCCESS(f"Imported in {time.monotonic() - started:.1f}s."))
        if not no_recompute:
            self.recompute()

    def progress(self, label: str, done: int, total: int) -> None:
        if not total:
            return
        if self.stderr.isatty():
            # One line per step, redrawn in place.
            self.stderr.write(f"\r  {label}: {done}/{total}", ending="\n" if done == total else "")
        elif done:
            self.stderr.write(f"  {label}: {done}/{total}")

    def months_pending(self) -> bool:
        from kpis.models import DirtyMonth

        return DirtyMonth.objects.exists()

    def recompute(self) -> None:
        from kpis.models import RecomputeRun
        from kpis.tasks import run_recorded

        started = time.monotonic()
        self.stderr.write("Recomputing KPIs…")
        # The import marked every month it touched dirty (database triggers,
        # in the same transaction as its rows): the nightly run's recompute
        # covers them, and heals an import whose recompute was interrupted.
        run = run_recorded(
            RecomputeRun.Kind.IMPORT,
            progress=lambda done, total: self.progress("KPI recompute", done, total),
        )
        self.stdout.write(
            f"Recomputed {run.rows_written} KPI snapshot rows in {time.monotonic() - started:.1f}s."
        )
