"""Import a sales organisation's whole history from CSV files.

Two formats become the same rows in Boussole's own columns:

- ``maven``: the four files of the Maven Analytics CRM sample
  (sales_teams.csv, accounts.csv, products.csv, sales_pipeline.csv);
- ``generic``: one CSV per entity (teams, users, products, campaigns,
  customers, prospects, deals, activities, campaign spend, sales costs,
  targets, survey responses: ``ENTITIES``) with Boussole's column names, or
  the source's own headers renamed by a JSON mapping. crm.exporting writes
  the same files, so an export imports back unchanged.

Those rows then go through one pipeline: ``load`` (parse) → ``build_plan``
(validate, and decide create / update / unchanged / skip per row, every bad
row reported with its file, line and reason) → ``apply`` (one
``transaction.atomic``). Everything is set-based: one query per entity to
read what exists, dict look-ups per row, bulk_create / bulk_update to write,
so 8,800 deals import in seconds. Importing the same files twice changes
nothing: every entity has a natural key (team, campaign and customer name,
username, product name ignoring case and spaces, the ``external_ref`` of
deals, prospects and activities, a target's person or team and month, a
survey response's customer and time). Spend and cost lines have no key of
their own: a line is all its columns, so a file's lines are matched one for
one against the identical lines already stored. A sales cost line is its
team, month, category and note, as on the Sales costs page.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import shutil
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.contrib.auth.hashers import make_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.text import get_valid_filename, slugify
from django.utils.translation import gettext as _

from crm.models import (
    EARLIEST_DATE,
    LATEST_DATE,
    Activity,
    Campaign,
    CampaignSpend,
    Customer,
    Deal,
    DealStageChange,
    Language,
    LostReason,
    Product,
    Prospect,
    Role,
    SalesCost,
    Stage,
    Target,
    Team,
    User,
)
from surveys.models import Invitation, Response, Survey

MAVEN, GENERIC = "maven", "generic"
FORMATS = (MAVEN, GENERIC)
# In the order they are planned and written: each refers only to earlier ones.
ENTITIES = (
    "teams",
    "users",
    "products",
    "campaigns",
    "customers",
    "prospects",
    "deals",
    "activities",
    "campaign_spend",
    "sales_costs",
    "targets",
    "survey_responses",
)

# The generic format's columns per entity: (required, optional).
GENERIC_COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "teams": (("name",), ("region",)),
    "users": (("username",), ("first_name", "last_name", "email", "role", "team")),
    "products": (("name", "list_price"), ("is_active",)),
    "campaigns": (("name", "channel", "starts_on"), ("team", "ends_on")),
    "customers": (
        ("name", "owner"),
        ("sector", "country", "employees", "contact_name", "contact_email", "language", "source_campaign"),
    ),
    "prospects": (
        ("external_ref", "name", "owner"),
        (
            "company", "email", "phone", "status", "created_on", "source_campaign", "customer",
            "converted_on", "lost_reason",
        ),
    ),
    "deals": (
        ("external_ref", "owner", "stage"),
        (
            "title", "customer", "prospect", "product", "amount", "opened_on", "expected_close_on",
            "closed_on", "lost_reason", "lost_note",
        ),
    ),
    "activities": (
        ("external_ref", "kind", "owner", "occurred_on", "subject"),
        ("notes", "done", "prospect", "deal", "customer"),
    ),
    "campaign_spend": (("campaign", "spent_on", "amount"), ("note",)),
    # The columns of the Sales costs page's CSV (crm.sales_costs on main).
    "sales_costs": (("month", "category", "amount"), ("team", "note")),
    "targets": (("month", "amount"), ("user", "team")),
    "survey_responses": (
        ("customer", "submitted_at"),
        ("deal", "survey", "nps_score", "csat_score", "comment", "email", "language"),
    ),
}  # fmt: skip

MAVEN_FILES: dict[str, tuple[str, ...]] = {
    "sales_teams.csv": ("sales_agent", "manager", "regional_office"),
    "accounts.csv": ("account", "sector", "employees", "office_location"),
    "products.csv": ("product", "sales_price"),
    "sales_pipeline.csv": (
        "opportunity_id",
        "sales_agent",
        "product",
        "account",
        "deal_stage",
        "engage_date",
        "close_date",
        "close_value",
    ),
}

# Maven's pipeline stages. "Engaging" means the rep is past qualification and
# talking terms, so it lands on the first open stage after qualification.
MAVEN_STAGES = {
    "Won": Stage.WON,
    "Lost": Stage.LOST,
    "Engaging": Stage.PROPOSAL,
    "Prospecting": Stage.PROSPECTING,
}

# Stored, not shown through gettext: a translated value would differ between
# an English and a French import and make re-imports "update" every lost deal.
NO_LOST_REASON = "Not recorded in the imported data"

FORMULA_STARTS = ("=", "+", "-", "@")
MAX_AMOUNT = Decimal("999999999999.99")  # MONEY: 14 digits, 2 decimals
BATCH = 1000

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Problem:
    """A bad (or skipped) row: where it is and why."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        where = f"{self.file} line {self.line}" if self.line else self.file
        return f"{where}: {self.reason}"


@dataclass
class Row:
    """One source row in Boussole's columns; `columns` are those the file had."""

    file: str
    line: int
    data: dict[str, str]
    columns: frozenset[str]
    # Boussole column → the source file's header, so errors name what the user sees.
    labels: dict[str, str] = field(default_factory=dict)

    def label(self, column: str) -> str:
        return self.labels.get(column, column)

    def get(self, column: str) -> str:
        value = self.data.get(column, "").strip()
        if value[:1] == "'" and value[1:2] in FORMULA_STARTS:
            # An export's guard against spreadsheet formulas (crm.exporting).
            value = value[1:]
        return value

    def has(self, column: str) -> bool:
        return column in self.columns


@dataclass
class Source:
    """What `load` read: rows per entity, file-level errors and planned skips."""

    rows: dict[str, list[Row]] = field(default_factory=lambda: {e: [] for e in ENTITIES})
    errors: list[Problem] = field(default_factory=list)
    skipped: dict[str, list[Problem]] = field(default_factory=lambda: {e: [] for e in ENTITIES})


@dataclass
class EntityPlan:
    create: list[models.Model] = field(default_factory=list)
    update: list[models.Model] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[Problem] = field(default_factory=list)
    update_fields: set[str] = field(default_factory=set)


@dataclass
class Plan:
    entities: dict[str, EntityPlan] = field(default_factory=lambda: {e: EntityPlan() for e in ENTITIES})
    errors: list[Problem] = field(default_factory=list)
    # Deals whose stage the import changes: deal → its previous stage.
    stage_moves: dict[int, str] = field(default_factory=dict)
    # Customers whose acquisition date may move (they gain or change deals).
    customers_touched: list[Customer] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def has_changes(self) -> bool:
        return any(p.create or p.update for p in self.entities.values())

    def counts(self) -> dict[str, dict[str, int]]:
        return {
            entity: {
                "create": len(p.create),
                "update": len(p.update),
                "unchanged": p.unchanged,
                "skip": len(p.skipped),
            }
            for entity, p in self.entities.items()
        }

    def totals(self) -> dict[str, int]:
        totals = {"create": 0, "update": 0, "unchanged": 0, "skip": 0}
        for counts in self.counts().values():
            for key, value in counts.items():
                totals[key] += value
        return totals

    def skipped(self) -> list[Problem]:
        return [problem for p in self.entities.values() for problem in p.skipped]


@dataclass
class ImportResult:
    counts: dict[str, dict[str, int]]
    first_day: dt.date | None
    last_day: dt.date | None


# ---------------------------------------------------------------- parsing


def _normalise(name: str) -> str:
    """A name's key: case and spaces ignored (Maven's `GTXPro` is `GTX Pro`)."""
    return re.sub(r"\s+", "", name).casefold()


def username_for(full_name: str) -> str:
    """`Mei-Mei Johns` → `mei-mei.johns`: ASCII, lower case, dot between names."""
    ascii_name = unicodedata.normalize("NFKD", full_name).encode("ascii", "ignore").decode()
    parts = [slugify(part) for part in ascii_name.split()]
    return ".".join(p for p in parts if p)[:150] or "user"


def split_name(full_name: str) -> tuple[str, str]:
    first, _sep, last = full_name.strip().partition(" ")
    return first[:150], last.strip()[:150]


def _read_csv(
    path: Path, required: tuple[str, ...], errors: list[Problem]
) -> tuple[list[str], list[tuple[int, dict[str, str]]]] | None:
    """The file's header and (line, row) pairs, or None with an error logged."""
    name = path.name
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip() for h in reader.fieldnames or []]
            reader.fieldnames = header
            missing = [c for c in required if c not in header]
            if missing:
                errors.append(
                    Problem(
                        name,
                        1,
                        _("missing column(s): %(columns)s") % {"columns": ", ".join(missing)},
                    )
                )
                return None
            rows = []
            for raw in reader:
                if not any((v or "").strip() for k, v in raw.items() if k is not None):
                    continue  # blank line
                rows.append((reader.line_num, {k: (v or "") for k, v in raw.items() if k}))
            return header, rows
    except FileNotFoundError:
        errors.append(Problem(name, 0, _("file not found")))
    except UnicodeDecodeError:
        errors.append(Problem(name, 0, _("not a UTF-8 text file")))
    except csv.Error as exc:
        errors.append(Problem(name, 0, _("not a readable CSV file (%(error)s)") % {"error": exc}))
    return None


def read_maven(directory: Path) -> Source:
    source = Source()
    files = {
        name: _read_csv(directory / name, columns, source.errors) for name, columns in MAVEN_FILES.items()
    }
    if any(parsed is None for parsed in files.values()):
        return source

    # People: each manager leads a team named after them; usernames come from
    # names, numbered when two people would share one.
    usernames: dict[str, str] = {}
    taken: set[str] = set()

    def username(person: str) -> str:
        if person not in usernames:
            base = candidate = username_for(person)
            n = 2
            while candidate in taken:
                candidate, n = f"{base}{n}", n + 1
            taken.add(candidate)
            usernames[person] = candidate
        return usernames[person]

    team_of_agent: dict[str, str] = {}
    region_of_manager: dict[str, tuple[str, int]] = {}
    for line, raw in files["sales_teams.csv"][1]:
        agent, manager = raw["sales_agent"].strip(), raw["manager"].strip()
        region = raw["regional_office"].strip()
        if not agent or not manager:
            source.errors.append(Problem("sales_teams.csv", line, _("sales_agent and manager are required")))
            continue
        if agent in team_of_agent:
            source.errors.append(
                Problem("sales_teams.csv", line, _("%(name)s is listed twice") % {"name": agent})
            )
            continue
        if manager not in region_of_manager:
            region_of_manager[manager] = (region, line)
            first, last = split_name(manager)
            source.rows["teams"].append(
                Row("sales_teams.csv", line, {"name": manager, "region": region}, _ALL["teams"])
            )
            source.rows["users"].append(
                Row(
                    "sales_teams.csv",
                    line,
                    {
                        "username": username(manager),
                        "first_name": first,
                        "last_name": last,
                        "role": Role.MANAGER,
                        "team": manager,
                    },
                    _MAVEN_USER_COLUMNS,
                )
            )
        elif region_of_manager[manager][0] != region:
            source.errors.append(
                Problem(
                    "sales_teams.csv",
                    line,
                    _("%(name)s is in two regional offices (see line %(line)s)")
                    % {"name": manager, "line": region_of_manager[manager][1]},
                )
            )
        team_of_agent[agent] = manager
        first, last = split_name(agent)
        source.rows["users"].append(
            Row(
                "sales_teams.csv",
                line,
                {
                    "username": username(agent),
                    "first_name": first,
                    "last_name": last,
                    "role": Role.SALESPERSON,
                    "team": manager,
                },
                _MAVEN_USER_COLUMNS,
            )
        )

    for line, raw in files["products.csv"][1]:
        source.rows["products"].append(
            Row(
                "products.csv",
                line,
                {"name": raw["product"], "list_price": raw["sales_price"]},
                frozenset({"name", "list_price"}),
                {"name": "product", "list_price": "sales_price"},
            )
        )

    # A customer's owner is the rep of its first won deal (the deal that
    # acquired it), else of its first deal in the file.
    first_won: dict[str, tuple[str, int, str]] = {}
    first_any: dict[str, str] = {}
    for line, raw in files["sales_pipeline.csv"][1]:
        stage_name = raw["deal_stage"].strip()
        stage = MAVEN_STAGES.get(stage_name)
        agent = raw["sales_agent"].strip()
        account = raw["account"].strip()
        product = raw["product"].strip()
        if stage is None:
            source.errors.append(
                Problem(
                    "sales_pipeline.csv",
                    line,
                    _("unknown deal stage “%(stage)s” (expected Won, Lost, Engaging or Prospecting)")
                    % {"stage": stage_name},
                )
            )
            continue
        if agent not in team_of_agent:
            source.errors.append(
                Problem(
                    "sales_pipeline.csv",
                    line,
                    _("sales agent “%(name)s” is not in sales_teams.csv") % {"name": agent},
                )
            )
            continue
        if account and agent:
            first_any.setdefault(account, agent)
            close = raw["close_date"].strip()
            if stage == Stage.WON and (account not in first_won or (close, line) < first_won[account][:2]):
                first_won[account] = (close, line, agent)
        title = f"{product} – {account}" if account else product
        source.rows["deals"].append(
            Row(
                "sales_pipeline.csv",
                line,
                {
                    "external_ref": raw["opportunity_id"],
                    "title": title or raw["opportunity_id"],
                    "owner": usernames[agent],
                    "customer": account,
                    "product": product,
                    "stage": stage,
                    "amount": raw["close_value"] if stage in Stage.closed_stages() else "",
                    "opened_on": raw["engage_date"],
                    "closed_on": raw["close_date"],
                    "lost_reason": NO_LOST_REASON if stage == Stage.LOST else "",
                },
                _ALL["deals"],
                _MAVEN_DEAL_LABELS,
            )
        )

    for line, raw in files["accounts.csv"][1]:
        account = raw["account"].strip()
        owner = first_won[account][2] if account in first_won else first_any.get(account)
        if owner is None:
            source.skipped["customers"].append(
                Problem("accounts.csv", line, _("no deal in the pipeline gives it an owner"))
            )
            continue
        source.rows["customers"].append(
            Row(
                "accounts.csv",
                line,
                {
                    "name": account,
                    "owner": usernames[owner],
                    "sector": raw["sector"],
                    "country": raw["office_location"],
                    "employees": raw["employees"],
                },
                frozenset({"name", "owner", "sector", "country", "employees"}),
                {"name": "account", "country": "office_location"},
            )
        )
    return source


_ALL = {entity: frozenset(req + opt) for entity, (req, opt) in GENERIC_COLUMNS.items()}
_MAVEN_DEAL_LABELS = {
    "external_ref": "opportunity_id",
    "owner": "sales_agent",
    "customer": "account",
    "stage": "deal_stage",
    "opened_on": "engage_date",
    "closed_on": "close_date",
    "amount": "close_value",
}
_MAVEN_USER_COLUMNS = frozenset({"username", "first_name", "last_name", "role", "team"})


def parse_mapping(text: str, name: str = "mapping") -> tuple[dict[str, dict[str, str]], list[Problem]]:
    """A mapping file: {"deals": {"external_ref": "Opportunity ID", ...}, ...}."""
    try:
        mapping = json.loads(text)
    except ValueError as exc:
        return {}, [Problem(name, 0, _("not valid JSON (%(error)s)") % {"error": exc})]
    except RecursionError:  # [[[[… 100,000 deep: the parser's stack, not a 500
        return {}, [Problem(name, 0, _("not valid JSON (nested too deeply)"))]
    problems = []
    if not isinstance(mapping, dict):
        return {}, [Problem(name, 0, _("must be a JSON object of entities"))]
    for entity, columns in mapping.items():
        if entity not in GENERIC_COLUMNS:
            problems.append(Problem(name, 0, _("unknown entity “%(name)s”") % {"name": entity}))
        elif not isinstance(columns, dict) or not all(isinstance(v, str) for v in columns.values()):
            problems.append(
                Problem(name, 0, _("“%(name)s” must map column names to headers") % {"name": entity})
            )
        else:
            for column in columns:
                if column not in _ALL[entity]:
                    problems.append(
                        Problem(
                            name,
                            0,
                            _("“%(entity)s” has no column “%(column)s”")
                            % {"entity": entity, "column": column},
                        )
                    )
    return (mapping if not problems else {}), problems


def read_entity(source: Source, path: Path, entity: str, headers: dict[str, str] | None = None) -> None:
    """Add one entity's CSV file to source (Boussole's columns, or renamed by headers)."""
    headers = headers or {}
    required, optional = GENERIC_COLUMNS[entity]
    source_required = tuple(headers.get(c, c) for c in required)
    parsed = _read_csv(path, source_required, source.errors)
    if parsed is None:
        return
    header, rows = parsed
    present = {c: headers.get(c, c) for c in required + optional if headers.get(c, c) in header}
    columns = frozenset(present)
    labels = {column: src for column, src in present.items() if src != column}
    for line, raw in rows:
        data = {column: raw.get(src, "") for column, src in present.items()}
        source.rows[entity].append(Row(path.name, line, data, columns, labels))


def read_generic(directory: Path, mapping: dict[str, dict[str, str]] | None = None) -> Source:
    source = Source()
    mapping = mapping or {}
    found = False
    for entity in ENTITIES:
        path = directory / f"{entity}.csv"
        if not path.exists():
            continue
        found = True
        read_entity(source, path, entity, mapping.get(entity))
    if not found:
        source.errors.append(
            Problem(
                str(directory.name or directory),
                0,
                _("no CSV file to import: expected %(files)s")
                % {"files": ", ".join(f"{e}.csv" for e in ENTITIES)},
            )
        )
    return source


def load(directory: Path, fmt: str = MAVEN, mapping: dict[str, dict[str, str]] | None = None) -> Source:
    if fmt == MAVEN:
        return read_maven(directory)
    if fmt == GENERIC:
        return read_generic(directory, mapping)
    raise ValueError(f"Unknown import format {fmt!r}; expected one of {FORMATS}.")


# ---------------------------------------------------------------- validating


class RowError(Exception):
    pass


# A sales cost's category as a French team writes it, too.
SALES_COST_CATEGORIES = {
    "salaires": "salaries",
    "outils": "tools",
    "déplacements": "travel",
    "deplacements": "travel",
    "autre": "other",
}


def _decimal(value: str, column: str) -> Decimal:
    text = value.replace(" ", "").replace("\u202f", "").replace("\xa0", "")
    # "12,50" or "12 500,50" (a French file): the comma is the decimal mark
    # when one comma is followed by one or two digits and there is no dot;
    # otherwise commas separate thousands ("12,500.50").
    head, comma, tail = text.rpartition(",")
    if (
        comma
        and "." not in text
        and head.count(",") == 0
        and 1 <= len(tail) <= 2
        and tail.isascii()
        and tail.isdigit()
    ):
        text = f"{head}.{tail}"
    try:
        number = Decimal(text.replace(",", ""))
    except InvalidOperation:
        raise RowError(
            _("%(column)s “%(value)s” is not a number") % {"column": column, "value": value}
        ) from None
    if not number.is_finite():
        raise RowError(_("%(column)s is not a number") % {"column": column})
    if number < 0:
        raise RowError(_("%(column)s cannot be negative (%(value)s)") % {"column": column, "value": value})
    if number > MAX_AMOUNT:
        raise RowError(_("%(column)s is too large") % {"column": column})
    return number.quantize(Decimal("0.01"))


def _date(value: str, column: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise RowError(
            _("%(column)s “%(value)s” is not a date (YYYY-MM-DD)") % {"column": column, "value": value}
        ) from None
    if not (EARLIEST_DATE <= day <= LATEST_DATE):
        raise RowError(
            _("%(column)s “%(value)s” is outside %(first)s–%(last)s")
            % {"column": column, "value": value, "first": EARLIEST_DATE.year, "last": LATEST_DATE.year}
        )
    return day


def _int(value: str, column: str) -> int:
    try:
        number = int(value.replace(",", "").replace(" ", ""))
    except ValueError:
        raise RowError(
            _("%(column)s “%(value)s” is not a whole number") % {"column": column, "value": value}
        ) from None
    if number < 0:
        raise RowError(_("%(column)s cannot be negative") % {"column": column})
    if number > 2_000_000_000:
        # The database column is a 32-bit integer.
        raise RowError(_("%(column)s is too large") % {"column": column})
    return number


def _bool(value: str, column: str) -> bool:
    lowered = value.casefold()
    if lowered in ("1", "true", "yes", "y", "oui"):
        return True
    if lowered in ("0", "false", "no", "n", "non"):
        return False
    raise RowError(_("%(column)s must be yes or no") % {"column": column})


def _month(value: str, column: str) -> dt.date:
    """YYYY-MM, or any day of the month as YYYY-MM-DD: the month's first day."""
    day = _date(f"{value}-01" if len(value) == 7 else value, column) if value else None
    if day is None:
        raise RowError(_("%(column)s is required") % {"column": column})
    return day.replace(day=1)


def _datetime(value: str, column: str) -> dt.datetime:
    """ISO 8601; without an offset, company time; a bare date is its noon."""
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise RowError(
            _("%(column)s “%(value)s” is not a date and time (YYYY-MM-DD HH:MM)")
            % {"column": column, "value": value}
        ) from None
    if len(value) == 10:
        moment = moment.replace(hour=12)
    if not (EARLIEST_DATE <= moment.date() <= LATEST_DATE):
        raise RowError(
            _("%(column)s “%(value)s” is outside %(first)s–%(last)s")
            % {"column": column, "value": value, "first": EARLIEST_DATE.year, "last": LATEST_DATE.year}
        )
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


def _score(value: str, column: str, low: int, high: int) -> int | None:
    if not value:
        return None
    number = _int(value, column)
    if not low <= number <= high:
        raise RowError(
            _("%(column)s must be between %(low)s and %(high)s")
            % {"column": column, "low": low, "high": high}
        )
    return number


def _email(row: Row, column: str) -> str:
    email = _text(row, column, 254)
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise RowError(
                _("%(column)s “%(value)s” is not valid") % {"column": row.label(column), "value": email}
            ) from None
    return email


def _related(obj: models.Model, name: str) -> models.Model | None:
    """A foreign key's object without a query: the one assigned in this
    import when there is one (it may not be saved yet), else a stub."""
    field = obj._meta.get_field(name)
    if field.is_cached(obj):
        return getattr(obj, name)
    pk = getattr(obj, field.attname)
    return field.related_model(pk=pk) if pk else None


def _text(row: Row, column: str, max_length: int) -> str:
    value = row.get(column)
    if len(value) > max_length:
        raise RowError(
            _("%(column)s is longer than %(max)s characters")
            % {"column": row.label(column), "max": max_length}
        )
    return value


def _pk(obj: models.Model | None) -> int | None:
    return obj.pk if obj is not None else None


class _Planner:
    """Decides, entity by entity, what each row does to the database."""

    def __init__(self, source: Source, today: dt.date, importer: User | None = None):
        self.source = source
        self.today = today
        # A manager imports into their own team only (an admin, or the command
        # line, anywhere): a row reaching outside it is a bad row, so an import
        # can never widen what its manager may see.
        self.importer = importer
        self.scope_team_id = importer.team_id if importer is not None and not importer.is_admin_role else None
        self.plan = Plan(errors=list(source.errors))
        # Keys of rows that were bad: a row referring to one says so, rather
        # than calling a name listed in the files "unknown".
        self.bad: dict[str, set[str]] = {e: set() for e in ENTITIES}
        for entity, skipped in source.skipped.items():
            self.plan.entities[entity].skipped.extend(skipped)

    def error(self, row: Row, reason: str) -> None:
        self.plan.errors.append(Problem(row.file, row.line, reason))

    def unknown(self, entity: str, key: str, message: str, name: str) -> RowError:
        if key in self.bad[entity]:
            return RowError(_("refers to “%(name)s”, whose own row is bad") % {"name": name})
        return RowError(message % {"name": name})

    def once(self, row: Row, key: str, seen: dict[str, int], label: str) -> bool:
        if key in seen:
            self.error(
                row,
                _("%(label)s is listed twice (first on line %(line)s)") % {"label": label, "line": seen[key]},
            )
            return False
        seen[key] = row.line
        return True

    def outside_scope(self, team_id: int | None, owner_id: int | None = None) -> bool:
        """True when a manager's import would touch a row outside their team."""
        if self.scope_team_id is None:
            return False
        return team_id != self.scope_team_id and not (owner_id and owner_id == self.importer.pk)

    def scope_error(self, row: Row) -> None:
        self.error(
            row,
            _("outside your team: a manager imports into their own team only (an admin can import this)"),
        )

    def record(self, entity: str, obj: models.Model, is_new: bool, changed: set[str]) -> None:
        entity_plan = self.plan.entities[entity]
        if is_new:
            entity_plan.create.append(obj)
        elif changed:
            entity_plan.update.append(obj)
            entity_plan.update_fields |= changed
        else:
            entity_plan.unchanged += 1

    @staticmethod
    def assign(obj: models.Model, values: dict[str, object]) -> set[str]:
        """Set values on obj; the names of the fields that changed."""
        changed = set()
        for name, value in values.items():
            f = obj._meta.get_field(name)
            if f.is_relation:
                # Compare ids, never getattr(obj, name): that would fetch the
                # related row, one query per imported row.
                if getattr(obj, f.attname) != _pk(value) or (value is not None and value.pk is None):
                    setattr(obj, name, value)
                    changed.add(name)
            elif getattr(obj, name) != value:
                setattr(obj, name, value)
                changed.add(name)
        return changed

    def run(self) -> Plan:
        self.teams = self.plan_teams()
        self.products = self.plan_products()
        self.users = self.plan_users()
        self.plan_campaigns()
        self.customers = self.plan_customers()
        self.plan_prospects()
        self.deals = self.plan_deals()
        self.plan_activities()
        self.plan_spend()
        self.plan_sales_costs()
        self.plan_targets()
        self.plan_responses()
        self.plan.errors.sort(key=lambda p: (p.file, p.line))
        return self.plan

    # Look-ups of what a row refers to: in the files or already stored. The
    # campaigns and prospects are read only when a file holds or names one.

    @cached_property
    def campaigns(self) -> dict[str, Campaign]:
        return {c.name.casefold(): c for c in Campaign.objects.all()}

    @cached_property
    def prospects(self) -> dict[str, Prospect]:
        return {p.external_ref: p for p in Prospect.objects.exclude(external_ref=None)}

    def team(self, name: str) -> Team | None:
        team = self.teams.get(name.casefold()) if name else None
        if name and team is None:
            raise self.unknown("teams", name.casefold(), _("unknown team “%(name)s”"), name)
        return team

    def campaign(self, name: str) -> Campaign | None:
        campaign = self.campaigns.get(name.casefold()) if name else None
        if name and campaign is None:
            raise self.unknown("campaigns", name.casefold(), _("unknown campaign “%(name)s”"), name)
        return campaign

    def customer(self, name: str) -> Customer | None:
        customer = self.customers.get(name.casefold()) if name else None
        if name and customer is None:
            raise self.unknown("customers", name.casefold(), _("unknown customer “%(name)s”"), name)
        return customer

    def prospect(self, ref: str) -> Prospect | None:
        prospect = self.prospects.get(ref) if ref else None
        if ref and prospect is None:
            raise self.unknown("prospects", ref, _("unknown prospect “%(name)s”"), ref)
        return prospect

    def deal(self, ref: str) -> Deal | None:
        deal = self.deals.get(ref) if ref else None
        if ref and deal is None:
            raise self.unknown("deals", ref, _("unknown deal “%(name)s”"), ref)
        return deal

    def outside(self, obj: models.Model | None) -> bool:
        """Is a record this row links to (customer, prospect, deal) outside a manager's team?"""
        if obj is None or self.scope_team_id is None:
            return False
        team = _related(obj, "team")
        return self.outside_scope(team.pk if team else None, _related(obj, "owner").pk)

    def plan_teams(self) -> dict[str, Team]:
        teams = {t.name.casefold(): t for t in Team.objects.all()}
        seen: dict[str, int] = {}
        for row in self.source.rows["teams"]:
            try:
                name = _text(row, "name", 100)
                if not name:
                    raise RowError(_("name is required"))
                values = {"region": _text(row, "region", 100)} if row.has("region") else {}
            except RowError as exc:
                self.bad["teams"].add(row.get("name").casefold())
                self.error(row, str(exc))
                continue
            if not self.once(row, name.casefold(), seen, name):
                continue
            team = teams.get(name.casefold())
            is_new = team is None
            if self.outside_scope(None if is_new else team.pk):
                self.scope_error(row)
                continue
            if is_new:
                team = teams[name.casefold()] = Team(name=name)
            self.record("teams", team, is_new, self.assign(team, values))
        return teams

    def plan_products(self) -> dict[str, Product]:
        products = {_normalise(p.name): p for p in Product.objects.all()}
        seen: dict[str, int] = {}
        for row in self.source.rows["products"]:
            try:
                name = _text(row, "name", 100)
                if not name:
                    raise RowError(_("name is required"))
                values: dict[str, object] = {
                    "list_price": _decimal(row.get("list_price"), row.label("list_price"))
                }
                if row.has("is_active") and row.get("is_active"):
                    values["is_active"] = _bool(row.get("is_active"), row.label("is_active"))
            except RowError as exc:
                self.bad["products"].add(_normalise(row.get("name")))
                self.error(row, str(exc))
                continue
            key = _normalise(name)
            if not self.once(row, key, seen, name):
                continue
            product = products.get(key)
            is_new = product is None
            if is_new:
                product = products[key] = Product(name=name)
            self.record("products", product, is_new, self.assign(product, values))
        return products

    def plan_users(self) -> dict[str, User]:
        users = {u.username.casefold(): u for u in User.objects.select_related("team")}
        seen: dict[str, int] = {}
        validate_username = UnicodeUsernameValidator()
        for row in self.source.rows["users"]:
            try:
                username = _text(row, "username", 150)
                if not username:
                    raise RowError(_("username is required"))
                try:
                    validate_username(username)
                except ValidationError:
                    raise RowError(
                        _("username “%(name)s” may only hold letters, digits and @.+-_") % {"name": username}
                    ) from None
                values: dict[str, object] = {}
                for column in ("first_name", "last_name"):
                    if row.has(column):
                        values[column] = _text(row, column, 150)
                if row.has("email"):
                    email = _text(row, "email", 254)
                    if email:
                        try:
                            validate_email(email)
                        except ValidationError:
                            raise RowError(_("email “%(value)s” is not valid") % {"value": email}) from None
                    values["email"] = email
                if row.has("role"):
                    role = row.get("role").casefold() or Role.SALESPERSON
                    if role not in (Role.SALESPERSON, Role.MANAGER):
                        raise RowError(
                            _("role “%(value)s” must be salesperson or manager (admins are not imported)")
                            % {"value": row.get("role")}
                        )
                    values["role"] = role
                if row.has("team"):
                    team_name = row.get("team")
                    team = self.teams.get(team_name.casefold()) if team_name else None
                    if team_name and team is None:
                        raise self.unknown(
                            "teams", team_name.casefold(), _("unknown team “%(name)s”"), team_name
                        )
                    values["team"] = team
            except RowError as exc:
                self.bad["users"].add(row.get("username").casefold())
                self.error(row, str(exc))
                continue
            if not self.once(row, username.casefold(), seen, username):
                continue
            user = users.get(username.casefold())
            if user is not None and user.is_admin_role:
                self.plan.entities["users"].skipped.append(
                    Problem(
                        row.file,
                        row.line,
                        _("%(name)s is an admin: imports leave admins alone") % {"name": user.username},
                    )
                )
                continue
            is_new = user is None
            if self.scope_team_id is not None and self._user_outside_scope(user, values):
                self.scope_error(row)
                continue
            if is_new:
                # No usable password: an admin sets one (or the user resets it).
                user = users[username.casefold()] = User(
                    username=username, password=make_password(None), role=Role.SALESPERSON
                )
            self.record("users", user, is_new, self.assign(user, values))
        return users

    def _user_outside_scope(self, user: User | None, values: dict[str, object]) -> bool:
        """For a manager's import: may this row create or change this user?"""
        if user is not None and user.pk == self.importer.pk:
            # Nobody moves or promotes themselves by import.
            return any(
                (user.team_id != _pk(v)) if k == "team" else getattr(user, k) != v for k, v in values.items()
            )
        if user is not None and user.team_id != self.scope_team_id:
            return True
        if values.get("role", user.role if user else Role.SALESPERSON) != Role.SALESPERSON:
            return True
        team_id = _pk(values["team"]) if "team" in values else (user.team_id if user else None)
        return team_id != self.scope_team_id

    def user(self, username: str) -> User:
        user = self.users.get(username.casefold()) if username else None
        if user is None:
            raise self.unknown("users", username.casefold(), _("unknown user “%(name)s”"), username)
        return user

    def plan_customers(self) -> dict[str, Customer]:
        customers: dict[str, Customer] = {}
        # Names are not unique in the table: the oldest customer of a name wins.
        for customer in Customer.objects.order_by("-pk"):
            customers[customer.name.casefold()] = customer
        seen: dict[str, int] = {}
        for row in self.source.rows["customers"]:
            try:
                name = _text(row, "name", 200)
                if not name:
                    raise RowError(_("name is required"))
                owner = self.user(row.get("owner"))
                values: dict[str, object] = {"owner": owner}
                for column, length in (("sector", 100), ("country", 100), ("contact_name", 200)):
                    if row.has(column):
                        values[column] = _text(row, column, length)
                if row.has("employees"):
                    employees = row.get("employees")
                    values["employees"] = _int(employees, row.label("employees")) if employees else None
                if row.has("contact_email"):
                    email = _text(row, "contact_email", 254)
                    if email:
                        try:
                            validate_email(email)
                        except ValidationError:
                            raise RowError(
                                _("contact_email “%(value)s” is not valid") % {"value": email}
                            ) from None
                    values["contact_email"] = email
                if row.has("language") and row.get("language"):
                    language = row.get("language").casefold()
                    if language not in Language.values:
                        raise RowError(_("language must be en or fr"))
                    values["language"] = language
                if row.has("source_campaign"):
                    values["source_campaign"] = self.campaign(row.get("source_campaign"))
            except RowError as exc:
                self.bad["customers"].add(row.get("name").casefold())
                self.error(row, str(exc))
                continue
            if not self.once(row, name.casefold(), seen, name):
                continue
            customer = customers.get(name.casefold())
            is_new = customer is None
            if self.outside_scope(_pk(owner.team), owner.pk) or (
                not is_new and self.outside_scope(customer.team_id, customer.owner_id)
            ):
                self.scope_error(row)
                continue
            if is_new:
                # The owner's team until a won deal credits the deal's team
                # (the database derives it from the deals written).
                customer = customers[name.casefold()] = Customer(name=name, team=owner.team)
            self.record("customers", customer, is_new, self.assign(customer, values))
        return customers

    def plan_deals(self) -> dict[str, Deal]:
        existing = {
            d.external_ref: d
            for d in Deal.objects.exclude(external_ref=None).only(
                "pk",
                "external_ref",
                "title",
                "stage",
                "owner_id",
                "customer_id",
                "product_id",
                "amount",
                "opened_on",
                "closed_on",
                "lost_reason",
                "lost_note",
                "team_id",
                "prospect_id",
                "expected_close_on",
            )
        }
        seen: dict[str, int] = {}
        touched: dict[int, Customer] = {}
        closed = set(Stage.closed_stages())
        reasons = list(LostReason.objects.all())
        for row in self.source.rows["deals"]:
            try:
                ref = _text(row, "external_ref", 100)
                if not ref:
                    raise RowError(_("external_ref is required"))
                stage = row.get("stage").casefold()
                if stage not in Stage.values:
                    raise RowError(
                        _("unknown stage “%(value)s” (expected one of %(stages)s)")
                        % {"value": row.get("stage"), "stages": ", ".join(Stage.values)}
                    )
                owner = self.user(row.get("owner"))
                customer_name = row.get("customer")
                customer = self.customers.get(customer_name.casefold()) if customer_name else None
                if customer_name and customer is None:
                    raise self.unknown(
                        "customers", customer_name.casefold(), _("unknown customer “%(name)s”"), customer_name
                    )
                product_name = row.get("product")
                product = self.products.get(_normalise(product_name)) if product_name else None
                if product_name and product is None:
                    raise self.unknown(
                        "products", _normalise(product_name), _("unknown product “%(name)s”"), product_name
                    )
                deal = existing.get(ref)
                opened = row.get("opened_on")
                # No open date: the import day, kept on later imports.
                opened_on = (
                    _date(opened, row.label("opened_on"))
                    if opened
                    else (deal.opened_on if deal else self.today)
                )
                closed_raw = row.get("closed_on")
                closed_on = _date(closed_raw, row.label("closed_on")) if closed_raw else None
                if stage in closed and closed_on is None:
                    raise RowError(_("a won or lost deal needs a close date"))
                if stage not in closed and closed_on is not None:
                    raise RowError(_("an open deal has no close date"))
                if closed_on and closed_on < opened_on:
                    raise RowError(_("the deal closes before it opens"))
                amount_raw = row.get("amount")
                if amount_raw:
                    amount = _decimal(amount_raw, row.label("amount"))
                elif stage == Stage.WON:
                    raise RowError(_("a won deal needs an amount"))
                elif stage in closed:
                    amount = Decimal("0.00")
                else:
                    # An open deal is worth its product's list price.
                    amount = product.list_price if product else Decimal("0.00")
                lost_reason, lost_note = None, ""
                if stage == Stage.LOST:
                    # A reason's code or name (English or French) names it; any
                    # other text is "other" with the text as the note.
                    lost_reason, lost_note = LostReason.resolve(_text(row, "lost_reason", 200), reasons)
                    lost_note = _text(row, "lost_note", 200) or lost_note
                    if lost_reason is None:
                        lost_reason = LostReason.resolve(LostReason.OTHER, reasons)[0]
                        lost_note = lost_note or NO_LOST_REASON
                title = (
                    _text(row, "title", 200)
                    or " – ".join(str(x) for x in (product_name, customer_name) if x)
                    or ref
                )
                if deal and deal.stage in closed and stage in closed and deal.owner_id != owner.pk:
                    # kpi-spec: a closed deal's credit never moves.
                    raise RowError(
                        _(
                            "a closed deal keeps the owner it closed with; "
                            "reopen it before giving it to %(owner)s"
                        )
                        % {"owner": row.get("owner")}
                    )
                more: dict[str, object] = {}
                if row.has("prospect"):
                    more["prospect"] = self.prospect(row.get("prospect"))
                if row.has("expected_close_on"):
                    expected = row.get("expected_close_on")
                    expected_on = _date(expected, row.label("expected_close_on")) if expected else None
                    if expected_on and expected_on < opened_on:
                        raise RowError(_("the expected close is before the opening date"))
                    more["expected_close_on"] = expected_on
            except RowError as exc:
                self.bad["deals"].add(row.get("external_ref"))
                self.error(row, str(exc))
                continue
            if not self.once(row, ref, seen, ref):
                continue
            values = {
                "title": title[:200],
                "stage": stage,
                "owner": owner,
                "customer": customer,
                "product": product,
                "amount": amount,
                "opened_on": opened_on,
                "closed_on": closed_on,
                "lost_reason": lost_reason,
                "lost_note": lost_note,
                **more,
            }
            is_new = deal is None
            if self.outside_scope(_pk(owner.team), owner.pk) or (
                not is_new and self.outside_scope(deal.team_id, deal.owner_id)
            ):
                self.scope_error(row)
                continue
            previous_stage = "" if is_new else deal.stage
            if is_new:
                # The team is the owner's at creation and kept (kpi-spec).
                deal = Deal(external_ref=ref, team=owner.team)
            previous_customer = None if is_new else deal.customer_id
            changed = self.assign(deal, values)
            if not is_new and "owner" in changed and stage not in closed:
                # An open deal handed to someone else joins their team.
                deal.team_id = _pk(owner.team)
                changed.add("team")
            self.record("deals", deal, is_new, changed)
            if not is_new and "stage" in changed:
                self.plan.stage_moves[id(deal)] = previous_stage
            if (is_new or changed) and customer is not None:
                touched[id(customer)] = customer
            if previous_customer and "customer" in changed:
                touched[-previous_customer] = Customer(pk=previous_customer)
            existing[ref] = deal
        self.plan.customers_touched = list(touched.values())
        return existing

    def plan_campaigns(self) -> None:
        if not self.source.rows["campaigns"]:
            return
        campaigns = self.campaigns
        seen: dict[str, int] = {}
        for row in self.source.rows["campaigns"]:
            try:
                name = _text(row, "name", 200)
                if not name:
                    raise RowError(_("name is required"))
                channel = row.get("channel").casefold()
                if channel not in Campaign.Channel.values:
                    raise RowError(
                        _("unknown channel “%(value)s” (expected one of %(channels)s)")
                        % {"value": row.get("channel"), "channels": ", ".join(Campaign.Channel.values)}
                    )
                starts_on = _date(row.get("starts_on"), row.label("starts_on"))
                values: dict[str, object] = {"channel": channel, "starts_on": starts_on}
                if row.has("ends_on"):
                    ends = row.get("ends_on")
                    values["ends_on"] = _date(ends, row.label("ends_on")) if ends else None
                    if values["ends_on"] and values["ends_on"] < starts_on:
                        raise RowError(_("the campaign ends before it starts"))
                if row.has("team"):
                    values["team"] = self.team(row.get("team"))
            except RowError as exc:
                self.bad["campaigns"].add(row.get("name").casefold())
                self.error(row, str(exc))
                continue
            if not self.once(row, name.casefold(), seen, name):
                continue
            campaign = campaigns.get(name.casefold())
            is_new = campaign is None
            team_id = _pk(values["team"]) if "team" in values else (None if is_new else campaign.team_id)
            # A manager runs their own team's campaigns; company-wide ones are admins'.
            if self.scope_team_id is not None and (
                team_id != self.scope_team_id or (not is_new and campaign.team_id != self.scope_team_id)
            ):
                self.scope_error(row)
                continue
            if is_new:
                campaign = campaigns[name.casefold()] = Campaign(name=name)
            self.record("campaigns", campaign, is_new, self.assign(campaign, values))

    def plan_prospects(self) -> None:
        if not self.source.rows["prospects"]:
            return
        existing = self.prospects
        seen: dict[str, int] = {}
        for row in self.source.rows["prospects"]:
            try:
                ref = _text(row, "external_ref", 100)
                if not ref:
                    raise RowError(_("external_ref is required"))
                name = _text(row, "name", 200)
                if not name:
                    raise RowError(_("name is required"))
                owner = self.user(row.get("owner"))
                prospect = existing.get(ref)
                values: dict[str, object] = {"name": name, "owner": owner}
                for column, length in (("company", 200), ("phone", 50)):
                    if row.has(column):
                        values[column] = _text(row, column, length)
                if row.has("email"):
                    values["email"] = _email(row, "email")
                if row.has("status") and row.get("status"):
                    status = row.get("status").casefold()
                    if status not in Prospect.Status.values:
                        raise RowError(
                            _("unknown status “%(value)s” (expected one of %(statuses)s)")
                            % {"value": row.get("status"), "statuses": ", ".join(Prospect.Status.values)}
                        )
                    values["status"] = status
                created = row.get("created_on")
                if created:
                    values["created_on"] = _date(created, row.label("created_on"))
                elif prospect is None:
                    values["created_on"] = self.today
                if row.has("source_campaign"):
                    values["source_campaign"] = self.campaign(row.get("source_campaign"))
                if row.has("customer"):
                    values["customer"] = self.customer(row.get("customer"))
                if row.has("converted_on"):
                    converted = row.get("converted_on")
                    values["converted_on"] = (
                        _date(converted, row.label("converted_on")) if converted else None
                    )
                if row.has("lost_reason"):
                    values["lost_reason"] = _text(row, "lost_reason", 200)
                status = values.get("status", prospect.status if prospect else Prospect.Status.NEW)
                has_customer = (
                    values["customer"] is not None
                    if "customer" in values
                    else bool(prospect and prospect.customer_id)
                )
                if status == Prospect.Status.CONVERTED and not has_customer:
                    raise RowError(_("a converted prospect needs its customer"))
                reason = values.get("lost_reason", prospect.lost_reason if prospect else "")
                if status == Prospect.Status.LOST and not reason:
                    values["lost_reason"] = NO_LOST_REASON
                if self.outside(values.get("customer")):
                    raise RowError(_("the customer is outside your team"))
            except RowError as exc:
                self.bad["prospects"].add(row.get("external_ref"))
                self.error(row, str(exc))
                continue
            if not self.once(row, ref, seen, ref):
                continue
            is_new = prospect is None
            if self.outside_scope(_pk(owner.team), owner.pk) or (
                not is_new and self.outside_scope(prospect.team_id, prospect.owner_id)
            ):
                self.scope_error(row)
                continue
            if is_new:
                prospect = Prospect(external_ref=ref)
            if is_new or prospect.owner_id != owner.pk:
                # As on the prospect form: the team is the owner's.
                values["team"] = owner.team
            self.record("prospects", prospect, is_new, self.assign(prospect, values))
            existing[ref] = prospect

    def plan_activities(self) -> None:
        rows = self.source.rows["activities"]
        if not rows:
            return
        refs = [row.get("external_ref") for row in rows if row.get("external_ref")]
        existing: dict[str, Activity] = {}
        for start in range(0, len(refs), 500):  # SQLite binds at most 999 parameters
            for activity in Activity.objects.filter(external_ref__in=refs[start : start + 500]):
                existing[activity.external_ref] = activity
        seen: dict[str, int] = {}
        for row in rows:
            try:
                ref = _text(row, "external_ref", 100)
                if not ref:
                    raise RowError(_("external_ref is required"))
                kind = row.get("kind").casefold()
                if kind not in Activity.Kind.values:
                    raise RowError(
                        _("unknown kind “%(value)s” (expected one of %(kinds)s)")
                        % {"value": row.get("kind"), "kinds": ", ".join(Activity.Kind.values)}
                    )
                owner = self.user(row.get("owner"))
                subject = _text(row, "subject", 200)
                if not subject:
                    raise RowError(_("subject is required"))
                values: dict[str, object] = {
                    "kind": kind,
                    "owner": owner,
                    "subject": subject,
                    "occurred_on": _date(row.get("occurred_on"), row.label("occurred_on")),
                }
                if row.has("notes"):
                    values["notes"] = _text(row, "notes", 10_000)
                if row.has("done") and row.get("done"):
                    values["done"] = _bool(row.get("done"), row.label("done"))
                links = {"prospect": self.prospect, "deal": self.deal, "customer": self.customer}
                for column, find in links.items():
                    if row.has(column):
                        values[column] = find(row.get(column))
                        if self.outside(values[column]):
                            raise RowError(
                                _("the %(link)s is outside your team") % {"link": row.label(column)}
                            )
                activity = existing.get(ref)
                linked = [
                    values[c] if c in values else (activity and getattr(activity, f"{c}_id")) for c in links
                ]
                if not any(linked):
                    raise RowError(_("link the activity to a prospect, a deal or a customer"))
            except RowError as exc:
                self.error(row, str(exc))
                continue
            if not self.once(row, ref, seen, ref):
                continue
            is_new = activity is None
            if self.outside_scope(_pk(owner.team), owner.pk) or (
                not is_new and self.outside_scope(activity.team_id, activity.owner_id)
            ):
                self.scope_error(row)
                continue
            if is_new:
                # The owner's team when it was logged (history never moves).
                activity = Activity(external_ref=ref, team=owner.team)
            self.record("activities", activity, is_new, self.assign(activity, values))

    def _lines(self, entity: str, stored: Counter, parse) -> None:
        """Lines without a key: each row is matched against an identical stored
        line not matched yet; any other row is a new line."""
        for row in self.source.rows[entity]:
            try:
                key, line = parse(row)
            except RowError as exc:
                self.error(row, str(exc))
                continue
            if stored[key] > 0:
                stored[key] -= 1
                self.plan.entities[entity].unchanged += 1
            else:
                self.plan.entities[entity].create.append(line)

    def plan_spend(self) -> None:
        if not self.source.rows["campaign_spend"]:
            return
        stored = Counter(CampaignSpend.objects.values_list("campaign_id", "spent_on", "amount", "note"))

        def parse(row: Row):
            campaign = self.campaign(row.get("campaign"))
            if campaign is None:
                raise RowError(_("campaign is required"))
            team = _related(campaign, "team")
            if self.scope_team_id is not None and (team is None or team.pk != self.scope_team_id):
                raise RowError(_("outside your team: a manager records spend on their own team's campaigns"))
            spent_on = _date(row.get("spent_on"), row.label("spent_on"))
            amount = _decimal(row.get("amount"), row.label("amount"))
            note = _text(row, "note", 200)
            key = (campaign.pk or id(campaign), spent_on, amount, note)
            return key, CampaignSpend(campaign=campaign, spent_on=spent_on, amount=amount, note=note)

        self._lines("campaign_spend", stored, parse)

    def plan_sales_costs(self) -> None:
        """As the Sales costs page reads its CSV: a line is its team, month,
        category and note; a new amount for a known line updates it."""
        if not self.source.rows["sales_costs"]:
            return
        existing = {(c.team_id, c.spent_on, c.category, c.note): c for c in SalesCost.objects.all()}
        seen: dict[str, int] = {}
        for row in self.source.rows["sales_costs"]:
            try:
                team = self.team(row.get("team"))
                if self.scope_team_id is not None and (team is None or team.pk != self.scope_team_id):
                    raise RowError(
                        _(
                            "outside your team: a manager records their own team's costs "
                            "(company-wide ones are admins')"
                        )
                    )
                category = row.get("category").casefold()
                category = SALES_COST_CATEGORIES.get(category, category)
                if category not in SalesCost.Category.values:
                    raise RowError(
                        _("unknown category “%(value)s” (expected one of %(categories)s)")
                        % {"value": row.get("category"), "categories": ", ".join(SalesCost.Category.values)}
                    )
                month = _month(row.get("month"), row.label("month"))
                amount = _decimal(row.get("amount"), row.label("amount"))
                note = _text(row, "note", 200)
            except RowError as exc:
                self.error(row, str(exc))
                continue
            key = (team.pk or id(team) if team else None, month, category, note)
            if not self.once(row, str(key), seen, f"{team or '—'} {month:%Y-%m} {category} {note}".strip()):
                continue
            line = existing.get(key)
            is_new = line is None
            if is_new:
                line = SalesCost(team=team, spent_on=month, category=category, note=note)
            self.record("sales_costs", line, is_new, self.assign(line, {"amount": amount}))

    def plan_targets(self) -> None:
        if not self.source.rows["targets"]:
            return
        existing = {(t.user_id, t.team_id, t.month): t for t in Target.objects.all()}
        seen: dict[tuple, int] = {}
        for row in self.source.rows["targets"]:
            try:
                user = self.user(row.get("user")) if row.get("user") else None
                team = self.team(row.get("team"))
                if (user is None) == (team is None):
                    raise RowError(_("a target is for a salesperson (user) or a team, not both"))
                if user is not None and user.is_admin_role:
                    raise RowError(_("%(name)s is an admin: targets are for salespeople") % {"name": user})
                month = _month(row.get("month"), row.label("month"))
                amount = _decimal(row.get("amount"), row.label("amount"))
            except RowError as exc:
                self.error(row, str(exc))
                continue
            who = user or team
            key = (id(who) if who.pk is None else who.pk, user is None, month)
            if not self.once(row, str(key), seen, f"{who} {month:%Y-%m}"):
                continue
            team_id = _pk(user.team) if user is not None else team.pk
            if self.scope_team_id is not None and team_id != self.scope_team_id:
                self.scope_error(row)
                continue
            target = existing.get((_pk(user), _pk(team), month)) if who.pk else None
            is_new = target is None
            if is_new:
                target = Target(user=user, team=team, month=month)
            self.record("targets", target, is_new, self.assign(target, {"amount": amount}))

    def plan_responses(self) -> None:
        if not self.source.rows["survey_responses"]:
            return
        existing = {
            (r.invitation.customer_id, r.submitted_at): r
            for r in Response.objects.select_related("invitation").only(
                "pk", "submitted_at", "nps_score", "csat_score", "comment", "invitation__customer_id"
            )
        }
        surveys = {survey.name.casefold(): survey for survey in Survey.objects.all()}
        defaults = {language: Survey.default_for(language) for language in Language.values}
        seen: dict[tuple, int] = {}
        for row in self.source.rows["survey_responses"]:
            try:
                customer = self.customer(row.get("customer"))
                if customer is None:
                    raise RowError(_("customer is required"))
                submitted_at = _datetime(row.get("submitted_at"), row.label("submitted_at"))
                nps = _score(row.get("nps_score"), row.label("nps_score"), 0, 10)
                csat = _score(row.get("csat_score"), row.label("csat_score"), 1, 5)
                if nps is None and csat is None:
                    raise RowError(_("give an nps_score (0–10), a csat_score (1–5) or both"))
                comment = _text(row, "comment", 10_000)
                deal = self.deal(row.get("deal"))
                if deal is not None and _related(deal, "customer") != customer:
                    raise RowError(_("the deal “%(name)s” is another customer's") % {"name": row.get("deal")})
                language = (row.get("language") or customer.language).casefold()
                if language not in Language.values:
                    raise RowError(_("language must be en or fr"))
                survey_name = row.get("survey")
                survey = surveys.get(survey_name.casefold()) if survey_name else defaults[language]
                if survey is None:
                    raise RowError(
                        _("no survey “%(name)s”: name an existing survey or leave it empty for the default")
                        % {"name": survey_name}
                    )
                email = _email(row, "email") or customer.contact_email
                if self.outside(customer):
                    raise RowError(_("the customer is outside your team"))
            except RowError as exc:
                self.error(row, str(exc))
                continue
            key = (customer.pk or id(customer), submitted_at)
            if not self.once(row, str(key), seen, f"{customer} {submitted_at:%Y-%m-%d %H:%M}"):
                continue
            response = existing.get(key) if customer.pk else None
            values = {"nps_score": nps, "csat_score": csat, "comment": comment}
            if response is not None:
                self.record("survey_responses", response, False, self.assign(response, values))
                continue
            # Credited as the survey pages credit an answer: the deal's owner
            # and team, else the customer's (surveys.models).
            credited = deal if deal is not None else customer
            invitation = Invitation(
                survey=survey,
                customer=customer,
                deal=deal,
                owner=_related(credited, "owner"),
                team=_related(credited, "team"),
                email=email,
                language=language,
                sent_at=submitted_at,
            )
            response = Response(invitation=invitation, submitted_at=submitted_at, **values)
            self.record("survey_responses", response, True, set())


def build_plan(source: Source, today: dt.date | None = None, importer: User | None = None) -> Plan:
    """Validate every row and decide what it does; writes nothing. With an
    importer who is a manager, rows outside their team are bad rows."""
    return _Planner(source, today or timezone.localdate(), importer).run()


# ---------------------------------------------------------------- applying


def _noon(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(12)))


def _batches(objs: list, size: int = BATCH):
    for start in range(0, len(objs), size):
        yield objs[start : start + size]


MODELS = {
    "teams": Team,
    "users": User,
    "products": Product,
    "campaigns": Campaign,
    "customers": Customer,
    "prospects": Prospect,
    "deals": Deal,
    "activities": Activity,
    "campaign_spend": CampaignSpend,
    "sales_costs": SalesCost,
    "targets": Target,
    "survey_responses": Response,
}


def apply(plan: Plan, progress: Progress | None = None) -> ImportResult:
    """Write the plan in one transaction. Refuses a plan with bad rows."""
    if not plan.ok:
        raise ValueError("The import has bad rows; nothing was written.")
    report = progress or (lambda label, done, total: None)
    with transaction.atomic():
        for entity in ENTITIES:
            entity_plan = plan.entities[entity]
            model = MODELS[entity]
            total = len(entity_plan.create) + len(entity_plan.update)
            done = 0
            report(entity, 0, total)
            for batch in _batches(entity_plan.create):
                if entity == "survey_responses":
                    _create_invitations(batch)
                model.objects.bulk_create(batch)
                done += len(batch)
                report(entity, done, total)
            fields = sorted(entity_plan.update_fields)
            if entity == "deals" and fields:
                fields.append("updated_at")
                now = timezone.now()
                for deal in entity_plan.update:
                    deal.updated_at = now
            for batch in _batches(entity_plan.update):
                model.objects.bulk_update(batch, fields)
                done += len(batch)
                report(entity, done, total)
        # Customers' acquisitions follow from the deals written (database
        # triggers, kpis.triggers), as do the dirty months of the KPIs.
        _write_stage_history(plan, report)
    deals = plan.entities["deals"].create + plan.entities["deals"].update
    days = [d for deal in deals for d in (deal.opened_on, deal.closed_on) if d]
    return ImportResult(plan.counts(), min(days, default=None), max(days, default=None))


def _create_invitations(responses: list[Response]) -> None:
    """The invitation each historical response answers, dated when it was
    sent (its answer's time), so it throttles no new invitation today."""
    invitations = [response.invitation for response in responses]
    Invitation.objects.bulk_create(invitations)
    # created_at is auto_now_add: bulk_create stamps the import's time.
    Invitation.objects.filter(pk__in=[i.pk for i in invitations]).update(created_at=F("sent_at"))


def _write_stage_history(plan: Plan, report: Progress) -> None:
    """One stage change per new deal, and one per deal the import moved."""
    entity_plan = plan.entities["deals"]
    changes = [
        DealStageChange(
            deal=deal,
            from_stage="",
            to_stage=deal.stage,
            changed_at=_noon(deal.closed_on or deal.opened_on),
        )
        for deal in entity_plan.create
    ]
    changes += [
        DealStageChange(
            deal=deal,
            from_stage=plan.stage_moves[id(deal)],
            to_stage=deal.stage,
            changed_at=_noon(deal.closed_on or deal.opened_on),
        )
        for deal in entity_plan.update
        if id(deal) in plan.stage_moves
    ]
    done = 0
    report("stage history", 0, len(changes))
    for batch in _batches(changes):
        DealStageChange.objects.bulk_create(batch)
        done += len(batch)
        report("stage history", done, len(changes))


# A zip may not unpack to more than this (a "zip bomb" guard for uploads).
MAX_UNPACKED_BYTES = 200 * 1024 * 1024


def extract_zip(archive, target: Path) -> list[str]:
    """Extract a zip's CSV files flat into target (folders and other files ignored).

    `archive` is a path or a file object. Names are reduced to their last
    part, so a crafted "../x.csv" cannot write outside target. Raises
    ValueError when the archive is unreadable or would unpack too large.
    """
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [
                info for info in zf.infolist() if not info.is_dir() and info.filename.lower().endswith(".csv")
            ]
            if sum(info.file_size for info in members) > MAX_UNPACKED_BYTES:
                raise ValueError(_("The zip unpacks to more than 200 MB."))
            names = []
            for info in members:
                name = get_valid_filename(Path(info.filename.replace("\\", "/")).name)
                # Streamed: a large member never sits in memory whole.
                with zf.open(info) as src, open(target / name, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                names.append(name)
            return names
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError) as exc:
        raise ValueError(_("Not a readable zip file (%(error)s).") % {"error": exc}) from None


def summary(plan: Plan) -> str:
    totals = plan.totals()
    return _("%(create)s to create, %(update)s to update, %(unchanged)s unchanged, %(skip)s skipped") % totals


def import_file(
    path: Path,
    entity: str,
    *,
    mapping: dict[str, str] | None = None,
    importer: User | None = None,
    dry_run: bool = False,
) -> tuple[Plan, ImportResult | None]:
    """Import one entity's CSV (e.g. the sales cost lines a page uploads):
    the same columns, checks and preview as a whole import. With dry_run, or
    any bad row, nothing is written."""
    if entity not in GENERIC_COLUMNS:
        raise ValueError(f"Unknown entity {entity!r}; expected one of {ENTITIES}.")
    with transaction.atomic():
        source = Source()
        read_entity(source, Path(path), entity, mapping)
        plan = build_plan(source, importer=importer)
        if dry_run or not plan.ok:
            return plan, None
        return plan, apply(plan)


def import_directory(
    directory: Path,
    fmt: str = MAVEN,
    mapping: dict[str, dict[str, str]] | None = None,
    progress: Progress | None = None,
    importer: User | None = None,
) -> tuple[Plan, ImportResult | None]:
    """Load, plan and (when every row is good) apply, in one transaction."""
    with transaction.atomic():
        plan = build_plan(load(directory, fmt, mapping), importer=importer)
        if not plan.ok:
            return plan, None
        return plan, apply(plan, progress)
