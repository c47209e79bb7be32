"""Sales cost lines from a CSV file: parse, validate every row, write all or nothing.

Columns (a header row, in any order; French headers accepted too):
  month     YYYY-MM (or a date in that month: YYYY-MM-DD)
  team      a team's name; empty for a company-wide cost (admins only)
  category  salaries | commissions | tools | travel | other
  amount    a non-negative number, "." or "," as the decimal mark
  note      optional, up to 200 characters

A line is identified by its team, month, category and note: importing the
same file twice changes nothing, and a file with a new amount for an existing
line updates it. A file with any bad row imports nothing, and every bad row
is named with its line number and reason.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils.translation import gettext as _

from crm.forms import AMOUNT_MAX
from crm.models import EARLIEST_DATE, LATEST_DATE, SalesCost, Team

MAX_ROWS = 10_000
HEADERS = {
    "month": ("month", "mois"),
    "team": ("team", "équipe", "equipe"),
    "category": ("category", "catégorie", "categorie"),
    "amount": ("amount", "montant"),
    "note": ("note",),
}
CATEGORY_NAMES = {
    **{c.value: c.value for c in SalesCost.Category},
    # French labels, as a French team writes them.
    "salaires": "salaries",
    "commissions": "commissions",
    "outils": "tools",
    "déplacements": "travel",
    "deplacements": "travel",
    "autre": "other",
}


@dataclass
class BadRow:
    line: int
    reason: str


@dataclass
class Plan:
    create: list[SalesCost] = field(default_factory=list)
    update: list[SalesCost] = field(default_factory=list)
    unchanged: int = 0
    errors: list[BadRow] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _month(text: str) -> dt.date:
    for fmt in ("%Y-%m", "%Y-%m-%d"):
        try:
            day = dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
        if not EARLIEST_DATE <= day <= LATEST_DATE:
            break
        return day.replace(day=1)
    raise ValueError(_("month “%(value)s” is not a month from %(first)s to %(last)s (YYYY-MM)")
                     % {"value": text, "first": EARLIEST_DATE.year, "last": LATEST_DATE.year})  # fmt: skip


def _amount(text: str) -> Decimal:
    try:
        value = Decimal(text.replace(" ", "").replace("\u202f", "").replace(",", "."))
    except InvalidOperation:
        raise ValueError(_("amount “%(value)s” is not a number") % {"value": text}) from None
    if not value.is_finite() or value < 0 or value > AMOUNT_MAX:
        raise ValueError(
            _("amount “%(value)s” is not between 0 and %(max)s") % {"value": text, "max": AMOUNT_MAX}
        )
    return value.quantize(Decimal("0.01"))


def plan(text: str, user) -> Plan:
    """Read every row and decide what it does; writes nothing."""
    result = Plan()
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    columns = {}
    for name, aliases in HEADERS.items():
        for header in reader.fieldnames or []:
            if header and header.strip().casefold() in aliases:
                columns[name] = header
    missing = [n for n in ("month", "category", "amount") if n not in columns]
    if missing:
        result.errors.append(BadRow(1, _("missing columns: %(names)s") % {"names": ", ".join(missing)}))
        return result
    teams = {t.name.casefold(): t for t in Team.objects.all()}
    existing = {(c.team_id, c.spent_on, c.category, c.note): c for c in SalesCost.objects.visible_to(user)}
    seen = set()
    for number, row in enumerate(reader, start=2):
        if number > MAX_ROWS + 1:
            result.errors.append(BadRow(number, _("more than %(n)s rows: split the file") % {"n": MAX_ROWS}))
            break
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue  # a blank line

        def get(name: str, row: dict = row) -> str:
            return (row.get(columns.get(name, ""), "") or "").strip()

        try:
            month = _month(get("month"))
            team_name = get("team")
            team = teams.get(team_name.casefold()) if team_name else None
            if team_name and team is None:
                raise ValueError(_("unknown team “%(name)s”") % {"name": team_name})
            if not user.is_admin_role and (team is None or team.pk != user.team_id):
                raise ValueError(_("you may record costs for your own team only"))
            category = CATEGORY_NAMES.get(get("category").casefold())
            if category is None:
                raise ValueError(
                    _("unknown category “%(value)s” (expected one of %(names)s)")
                    % {"value": get("category"), "names": ", ".join(SalesCost.Category.values)}
                )
            amount = _amount(get("amount"))
            note = get("note")
            if len(note) > 200:
                raise ValueError(_("the note is longer than 200 characters"))
        except ValueError as exc:
            result.errors.append(BadRow(number, str(exc)))
            continue
        key = (team.pk if team else None, month, category, note)
        if key in seen:
            result.errors.append(
                BadRow(number, _("the same team, month, category and note as an earlier row"))
            )
            continue
        seen.add(key)
        line = existing.get(key)
        if line is None:
            result.create.append(
                SalesCost(team=team, spent_on=month, category=category, amount=amount, note=note)
            )
        elif line.amount != amount:
            line.amount = amount
            result.update.append(line)
        else:
            result.unchanged += 1
    return result


def apply(result: Plan) -> None:
    """Write the plan in one transaction; refuses a plan with bad rows."""
    if not result.ok:
        raise ValueError("The file has bad rows; nothing was written.")
    with transaction.atomic():
        SalesCost.objects.bulk_create(result.create, batch_size=500)
        SalesCost.objects.bulk_update(result.update, ["amount"], batch_size=500)
