"""Export KPI snapshots for BI tools and audits (documented in docs/kpis.md).

python manage.py export_kpis --format csv|json [--kpi KEY] [--scope company|team|rep|campaign]
    [--granularity month|quarter|year] [--from YYYY-MM] [--to YYYY-MM]
"""

import csv
import json

from django.core.management.base import BaseCommand

from crm.models import Campaign, Team, User
from crm.views_common import safe_cell
from kpis.definitions import GRANULARITIES, KPIS
from kpis.management.commands._options import year_month
from kpis.models import KpiSnapshot, ScopeType

COLUMNS = [
    "kpi",
    "scope_type",
    "scope_id",
    "scope_name",
    "granularity",
    "period_start",
    "value",
    "numerator",
    "denominator",
    "low_sample",
    "maturing",
    "formula_version",
    "computed_at",
]


def _number(value) -> str | None:
    # Decimals as exact strings without trailing zeros; None (n/a) stays None.
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _csv_cell(value) -> str:
    if value is None:
        return ""  # n/a
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return safe_cell(value)  # "=HYPERLINK(…)" as a team name runs in no spreadsheet
    return str(value)


class Command(BaseCommand):
    help = "Write KPI snapshots to standard output as CSV or JSON."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--format", choices=["csv", "json"], default="csv")
        parser.add_argument("--kpi", choices=sorted(KPIS), help="one KPI key")
        parser.add_argument("--scope", choices=ScopeType.values)
        parser.add_argument("--granularity", choices=GRANULARITIES)
        parser.add_argument("--from", dest="start", type=year_month, help="first month, YYYY-MM")
        parser.add_argument("--to", dest="end", type=year_month, help="last month, YYYY-MM")

    def handle(self, *args, **options):
        rows = KpiSnapshot.objects.order_by("kpi", "scope_type", "scope_id", "granularity", "period_start")
        if options["kpi"]:
            rows = rows.filter(kpi=options["kpi"])
        if options["scope"]:
            rows = rows.filter(scope_type=options["scope"])
        if options["granularity"]:
            rows = rows.filter(granularity=options["granularity"])
        if options["start"]:
            rows = rows.filter(period_start__gte=options["start"])
        if options["end"]:
            rows = rows.filter(period_start__lte=options["end"])
        names = {
            ScopeType.COMPANY: {0: "company"},
            ScopeType.TEAM: dict(Team.objects.values_list("pk", "name")),
            ScopeType.REP: {u.pk: str(u) for u in User.objects.only("username", "first_name", "last_name")},
            ScopeType.CAMPAIGN: dict(Campaign.objects.values_list("pk", "name")),
        }
        records = (self._record(s, names) for s in rows.iterator(chunk_size=2000))
        if options["format"] == "json":
            self.stdout.write("[", ending="")
            for i, record in enumerate(records):
                self.stdout.write(("," if i else "") + "\n" + json.dumps(record), ending="")
            self.stdout.write("\n]")
        else:
            writer = csv.DictWriter(self.stdout, fieldnames=COLUMNS, lineterminator="\n")
            writer.writeheader()
            for record in records:
                writer.writerow({k: _csv_cell(v) for k, v in record.items()})

    def _record(self, s: KpiSnapshot, names: dict) -> dict:
        return {
            "kpi": s.kpi,
            "scope_type": s.scope_type,
            "scope_id": s.scope_id,
            "scope_name": names.get(s.scope_type, {}).get(s.scope_id, ""),
            "granularity": s.granularity,
            "period_start": s.period_start.isoformat(),
            "value": _number(s.value),
            "numerator": _number(s.numerator),
            "denominator": _number(s.denominator),
            "low_sample": s.low_sample,
            "maturing": s.maturing,
            "formula_version": s.formula_version,
            "computed_at": s.computed_at.isoformat(),
        }
