"""python manage.py export_crm [--entity NAME ...] PATH  (a directory, or a .zip)"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm import exporting
from crm.importing import ENTITIES


class Command(BaseCommand):
    help = (
        "Export every record as the generic import's CSV files (one per kind of record), "
        "into a directory or a .zip: `import_crm --format generic` reads them back unchanged."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="A directory (created if needed) or a file ending in .zip.")
        parser.add_argument(
            "--entity",
            action="append",
            choices=ENTITIES,
            help="Only this kind of record (repeat for several); default: all of them.",
        )

    def handle(self, *args, path: str, entity: list[str] | None, **options) -> None:
        entities = [e for e in ENTITIES if e in entity] if entity else list(ENTITIES)
        target = Path(path)
        if target.suffix.lower() == ".zip":
            counts = exporting.export_zip(target, entities=entities)
        else:
            if target.exists() and not target.is_dir():
                raise CommandError(f"{path} is a file: give a directory or a path ending in .zip.")
            target.mkdir(parents=True, exist_ok=True)
            counts = exporting.export_directory(target, entities=entities)
        for name, count in counts.items():
            self.stdout.write(f"{name + '.csv':24}{count:>8}")
        self.stdout.write(self.style.SUCCESS(f"Exported {sum(counts.values())} rows to {path}."))
