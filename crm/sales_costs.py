"""Sales cost lines from an uploaded CSV file (Manage ▸ Sales costs ▸ Import).

The page reads its file with the generic import's rules for sales cost lines
(crm.importing: columns `month, team, category, amount, note`; a line is its
team, month, category and note, so importing the same file twice changes
nothing and a new amount updates the line; every bad row named; all or
nothing), so the page, `import_crm` and the API import agree.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from crm import importing

ENTITY = "sales_costs"


def plan(text: str, user, *, write: bool = False) -> importing.Plan:
    """Check every row of the file; with write (and no bad row), import it."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"{ENTITY}.csv"
        path.write_text(text, encoding="utf-8")
        result, _written = importing.import_file(path, ENTITY, importer=user, dry_run=not write)
    return result


def counts(result: importing.Plan) -> dict[str, int]:
    return result.counts()[ENTITY]
