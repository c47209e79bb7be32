"""Import teams, people, customers, products and deals from CSV files.

Two formats become the same rows in Boussole's own columns:

- ``maven``: the four files of the Maven Analytics CRM sample
  (sales_teams.csv, accounts.csv, products.csv, sales_pipeline.csv);
- ``generic``: one CSV per entity (teams.csv, users.csv, customers.csv,
  products.csv, deals.csv) with Boussole's column names, or the source's own
  headers renamed by a JSON mapping.

Those rows then go through one pipeline: ``load`` (parse) → ``build_plan``
(validate, and decide create / update / unchanged / skip per row, every bad
row reported with its file, line and reason) → ``apply`` (one
``transaction.atomic``). Everything is set-based: one query per entity to
read what exists, dict look-ups per row, bulk_create / bulk_update to write,
so 8,800 deals import in seconds. Importing the same files twice changes
nothing: every entity has a natural key (team and customer name, username,
product name ignoring case and spaces, the deal's ``external_ref``).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import shutil
import unicodedata
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.contrib.auth.hashers import make_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models, transaction
from django.utils import timezone
from django.utils.text import get_valid_filename, slugify
from django.utils.translation import gettext as _

from crm.models import (
    EARLIEST_DATE,
    LATEST_DATE,
    Customer,
    Deal,
    DealStageChange,
    Language,
    Product,
    Role,
    Stage,
    Team,
    User,
)

MAVEN, GENERIC = "maven", "generic"
FORMATS = (MAVEN, GENERIC)
ENTITIES = ("teams", "users", "customers", "products", "deals")

# The generic format's columns per entity: (required, optional).
GENERIC_COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "teams": (("name",), ("region",)),
    "users": (("username",), ("first_name", "last_name", "email", "role", "team")),
    "customers": (
        ("name", "owner"),
        ("sector", "country", "employees", "contact_name", "contact_email", "language"),
    ),
    "products": (("name", "list_price"), ("is_active",)),
    "deals": (
        ("external_ref", "owner", "stage"),
        ("title", "customer", "product", "amount", "opened_on", "closed_on", "lost_reason"),
    ),
}

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
        return self.data.get(column, "").strip()

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


def read_generic(directory: Path, mapping: dict[str, dict[str, str]] | None = None) -> Source:
    source = Source()
    mapping = mapping or {}
    found = False
    for entity, (required, optional) in GENERIC_COLUMNS.items():
        path = directory / f"{entity}.csv"
        if not path.exists():
            continue
        found = True
        headers = mapping.get(entity, {})
        source_required = tuple(headers.get(c, c) for c in required)
        parsed = _read_csv(path, source_required, source.errors)
        if parsed is None:
            continue
        header, rows = parsed
        present = {c: headers.get(c, c) for c in required + optional if headers.get(c, c) in header}
        columns = frozenset(present)
        for line, raw in rows:
            data = {column: raw.get(src, "") for column, src in present.items()}
            labels = {column: src for column, src in present.items() if src != column}
            source.rows[entity].append(Row(path.name, line, data, columns, labels))
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


def _decimal(value: str, column: str) -> Decimal:
    try:
        number = Decimal(value.replace(",", "").replace(" ", ""))
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
        self.customers = self.plan_customers()
        self.plan_deals()
        self.plan.errors.sort(key=lambda p: (p.file, p.line))
        return self.plan

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

    def plan_deals(self) -> None:
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
                "team_id",
            )
        }
        seen: dict[str, int] = {}
        touched: dict[int, Customer] = {}
        closed = set(Stage.closed_stages())
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
                lost_reason = _text(row, "lost_reason", 200) if stage == Stage.LOST else ""
                if stage == Stage.LOST and not lost_reason:
                    lost_reason = NO_LOST_REASON
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
            except RowError as exc:
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
        self.plan.customers_touched = list(touched.values())


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


MODELS = {"teams": Team, "users": User, "customers": Customer, "products": Product, "deals": Deal}


def apply(plan: Plan, progress: Progress | None = None) -> ImportResult:
    """Write the plan in one transaction. Refuses a plan with bad rows."""
    if not plan.ok:
        raise ValueError("The import has bad rows; nothing was written.")
    report = progress or (lambda label, done, total: None)
    with transaction.atomic():
        for entity in ("teams", "products", "users", "customers", "deals"):
            entity_plan = plan.entities[entity]
            model = MODELS[entity]
            total = len(entity_plan.create) + len(entity_plan.update)
            done = 0
            report(entity, 0, total)
            for batch in _batches(entity_plan.create):
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
