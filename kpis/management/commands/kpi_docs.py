"""Write docs/kpis.md from the KPI definitions (--check: fail if it is stale)."""

from django.core.management.base import BaseCommand, CommandError

from kpis.docs import DOCS_PATH, generate


class Command(BaseCommand):
    help = "Generate docs/kpis.md from kpis/definitions.py."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--check", action="store_true", help="exit with an error if the file is out of date"
        )

    def handle(self, *args, check=False, **options):
        text = generate()
        current = DOCS_PATH.read_text(encoding="utf-8") if DOCS_PATH.exists() else None
        if check:
            if current != text:
                raise CommandError(f"{DOCS_PATH} is out of date: run python manage.py kpi_docs.")
            self.stdout.write(f"{DOCS_PATH} is up to date.")
            return
        DOCS_PATH.parent.mkdir(parents=True, exist_ok=True)
        DOCS_PATH.write_text(text, encoding="utf-8")
        self.stdout.write(self.style.SUCCESS(f"Wrote {DOCS_PATH}."))
