"""Database triggers: derived facts and dirty months, whatever the write path.

Three rules must hold however a row is written — a page, the admin, an
import, a queryset `update()` or `delete()`, the API, raw SQL — so they live
in the database, not in views or model methods:

1. **Dirty months.** A change to a row that feeds a KPI marks every month it
   touches, old and new values alike, in `kpis_dirtymonth`. The next nightly
   run (or "Recompute now") recomputes those months and every period made of
   them, then deletes the rows it read (`kpis.compute`).
2. **A customer's acquisition is derived from its won deals**: `acquired_on`,
   `first_deal`, `repeat_on` (the second won deal), `last_won_on` (the
   churn rule's starting point) and the credited team follow any change to
   a deal; a churn date before the new acquisition is
   cleared.
3. **A closed deal's credit is frozen**: its owner and team cannot change
   while it stays won or lost (reopen it first).

The triggers are (re)installed after every `migrate` (kpis.apps), from the
declarations below, so a new fact table needs one `Source` here and nothing
in any view. On PostgreSQL they are statement-level with transition tables
(one set-based INSERT per statement, however many rows it wrote); SQLite has
row-level triggers only.

Timestamps (a response's `submitted_at`, a stage change's `changed_at`) are
put in a month in the company time zone by the engine; here both the month
of the instant minus a day and plus a day are marked, which covers every
time zone without baking TIME_ZONE into the database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.apps import apps
from django.db import connection as default_connection

from crm import db_triggers
from crm.models import Stage

PREFIX = "boussole"
OPEN = tuple(s.value for s in Stage.open_stages())
CLOSED = tuple(s.value for s in Stage.closed_stages())


# --- SQL dialects -------------------------------------------------------------


class _Postgres:
    vendor = "postgresql"

    def month(self, expr: str) -> str:
        return f"date_trunc('month', {expr})::date"

    def ts_months(self, expr: str) -> list[str]:
        return [
            f"date_trunc('month', {expr} - interval '1 day')::date",
            f"date_trunc('month', {expr} + interval '1 day')::date",
        ]

    def next_month(self, expr: str) -> str:
        return f"(date_trunc('month', {expr}) + interval '1 month')::date"

    def changed(self, columns: list[str], a: str, b: str) -> str:
        left = ", ".join(f"{a}.{c}" for c in columns)
        right = ", ".join(f"{b}.{c}" for c in columns)
        return f"(ROW({left}) IS DISTINCT FROM ROW({right}))"

    now = "now()"
    false = "FALSE"


class _SQLite:
    vendor = "sqlite"

    def month(self, expr: str) -> str:
        return f"date({expr}, 'start of month')"

    def ts_months(self, expr: str) -> list[str]:
        return [f"date({expr}, '-1 day', 'start of month')", f"date({expr}, '+1 day', 'start of month')"]

    def next_month(self, expr: str) -> str:
        return f"date({expr}, 'start of month', '+1 month')"

    def changed(self, columns: list[str], a: str, b: str) -> str:
        return "(" + " OR ".join(f"{a}.{c} IS NOT {b}.{c}" for c in columns) + ")"

    now = "strftime('%Y-%m-%d %H:%M:%f', 'now')"
    false = "0"


def _dialect(connection) -> _Postgres | _SQLite:
    if connection.vendor == "postgresql":
        return _Postgres()
    if connection.vendor == "sqlite":
        return _SQLite()
    raise NotImplementedError(f"Boussole's triggers support PostgreSQL and SQLite, not {connection.vendor}.")


# --- declarations -------------------------------------------------------------

Sql = str | Callable[[object], str]


@dataclass(frozen=True)
class Mark:
    """Months a row's change makes dirty.

    `expr` is a date (or, with kind="ts", a timestamp) over the row `r` and,
    with `join`, a related table aliased `x`. `group` aggregates per row
    (`expr` then holds MIN/MAX). On UPDATE a mark with `when` counts only
    when one of those columns changed. Table names are written {Model}.
    """

    expr: str
    kind: str = "date"
    join: Sql = ""
    group: bool = False
    when: tuple[str, ...] = ()
    # The fact family (kpis.compute) the marked months must be read again
    # for; blank: every family.
    family: str = ""


@dataclass(frozen=True)
class Source:
    model: str  # app_label.Model
    marks: tuple[Mark, ...]
    # On UPDATE nothing is marked unless one of these columns changed (None:
    # any column but those in `ignore`).
    watch: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()


SOURCES: tuple[Source, ...] = (
    Source(
        "crm.Deal",
        watch=(
            "amount",
            "stage",
            "opened_on",
            "closed_on",
            "owner_id",
            "team_id",
            "customer_id",
            "product_id",
            "prospect_id",
            "lost_reason_id",
        ),  # fmt: skip
        marks=(
            Mark("r.opened_on"),  # deals opened (the funnel), pipeline from that day
            Mark("r.closed_on"),  # revenue, won/lost, cycle, activities per won deal
            # ARPA counts a customer once per window: the customer's next won
            # month after this one may now count it, or stop counting it.
            Mark(
                "MIN(x.closed_on)",
                join=lambda d: (
                    "JOIN {Deal} x ON x.customer_id = r.customer_id AND x.stage = 'won' "
                    f"AND r.stage = 'won' AND x.closed_on >= {d.next_month('r.closed_on')}"
                ),
                group=True,
            ),
            # The pipeline at every month's end the deal was open through
            # changes with its amount, owner or team: every month where its
            # open stretch starts or ends (opened, closed, each stage change).
            Mark(
                "x.changed_at",
                kind="ts",
                join="JOIN {DealStageChange} x ON x.deal_id = r.id",
                when=("amount", "owner_id", "team_id"),
            ),  # fmt: skip
        ),
    ),
    Source(
        "crm.DealStageChange",
        marks=(
            Mark("r.changed_at", kind="ts"),
            # The stretch this change ends, and the one it starts, end at the
            # deal's next change: that month's pipeline and time in stage move.
            Mark(
                "MIN(x.changed_at)",
                kind="ts",
                join="JOIN {DealStageChange} x ON x.deal_id = r.deal_id AND x.changed_at > r.changed_at",
                group=True,
            ),
            # The funnel counts a deal's first entry into a stage in each
            # month, quarter and year: every later entry of the deal into the
            # same stage may become, or stop being, the first of its period.
            Mark(
                "x.changed_at",
                kind="ts",
                join=(
                    "JOIN {DealStageChange} x ON x.deal_id = r.deal_id AND x.to_stage = r.to_stage "
                    "AND x.changed_at > r.changed_at"
                ),
            ),
        ),
    ),
    Source("crm.Prospect", marks=(Mark("r.created_on"),)),
    # lost_reasons stores counts per reason code: a code changed in the admin
    # moves the months of the deals lost for that reason (names are read by
    # the pages, not stored).
    Source(
        "crm.LostReason",
        watch=("code",),
        marks=(Mark("x.closed_on", join="JOIN {Deal} x ON x.lost_reason_id = r.id AND x.stage = 'lost'"),),
    ),
    Source(
        "crm.Customer",
        marks=(
            # Each date's months only when what its facts count changed: the
            # churn rule moving a churn every night marks the churn's months,
            # not the months each churned customer was acquired in.
            Mark(
                "r.acquired_on",
                when=("acquired_on", "team_id", "owner_id", "source_campaign_id", "first_deal_id"),
            ),
            # Only the churn counts (the customers family) read churn dates.
            Mark("r.churned_on", when=("churned_on", "acquired_on", "team_id"), family="customers"),
            Mark("r.repeat_on", when=("repeat_on", "team_id")),
            # Lead conversion counts prospects that became a *paying* customer:
            # their cohorts move when the customer's first won deal does.
            Mark(
                "x.created_on",
                join="JOIN {Prospect} x ON x.customer_id = r.id",
                when=("acquired_on", "team_id", "source_campaign_id"),
            ),  # fmt: skip
            # Revenue per campaign (the customer's source) and ARPA per team
            # (the customer's team) follow the customer's won deals.
            Mark(
                "x.closed_on",
                join="JOIN {Deal} x ON x.customer_id = r.id AND x.stage = 'won'",
                when=("team_id", "source_campaign_id"),
            ),  # fmt: skip
        ),
        # The list totals (crm.db_triggers) follow the deals, which mark
        # their own months; no KPI reads them. Nor last_won_on: the churn
        # rule reads it, and the churns it writes mark their months.
        ignore=("revenue", "deal_count", "last_won_on"),
    ),
    Source(
        "crm.Campaign",
        watch=("team_id",),
        marks=(Mark("x.spent_on", join="JOIN {CampaignSpend} x ON x.campaign_id = r.id"),),
    ),
    Source("crm.CampaignSpend", marks=(Mark("r.spent_on"),)),
    Source("crm.SalesCost", marks=(Mark("r.spent_on"),), ignore=("created_at",)),
    Source("crm.Target", marks=(Mark("r.month"),)),
    Source(
        "crm.Activity",
        ignore=("created_at",),
        marks=(
            Mark("r.occurred_on"),
            Mark("x.closed_on", join="JOIN {Deal} x ON x.id = r.deal_id"),  # activities per won deal
            Mark("x.created_on", join="JOIN {Prospect} x ON x.id = r.prospect_id"),  # lead response
        ),
    ),
    Source("surveys.Invitation", marks=(Mark("r.sent_at", kind="ts"),), ignore=("reminded_at",)),
    Source(
        "surveys.Response",
        marks=(
            Mark("r.submitted_at", kind="ts"),
            # An answer makes its invitation answered: the response rate of
            # the month it was sent moves.
            Mark("x.sent_at", kind="ts", join="JOIN {Invitation} x ON x.id = r.invitation_id"),
        ),
    ),
    # The team (team/kpis.py): training hours by session date, certifications
    # from the day obtained (a running figure: later periods follow), pulse
    # answers by day.
    Source("team.TrainingSession", marks=(Mark("r.date"),), ignore=("created_at", "notes", "provider")),
    Source(
        "team.TrainingAttendance",
        marks=(Mark("x.date", join="JOIN {TrainingSession} x ON x.id = r.session_id"),),
    ),
    Source("team.Certification", marks=(Mark("r.obtained_on"), Mark("r.expires_on")), ignore=("created_at",)),
    Source("team.PulseAnswer", marks=(Mark("r.submitted_on"),)),
)


# --- generation -----------------------------------------------------------------


def _tables() -> dict[str, str]:
    return {m.__name__: m._meta.db_table for m in apps.get_models()}


def _columns(connection, table: str) -> list[str]:
    with connection.cursor() as cursor:
        return [c.name for c in connection.introspection.get_table_description(cursor, table)]


def _mark_selects(d, mark: Mark, tables: dict, rows: str, where: str) -> list[str]:
    join = mark.join(d) if callable(mark.join) else mark.join
    join = join.format(**tables)
    exprs = [d.month(mark.expr)] if mark.kind == "date" else d.ts_months(mark.expr)
    group = " GROUP BY r.id" if mark.group else ""
    family = f"'{mark.family}'"
    return [f"SELECT {e} AS m, {family} AS f FROM {rows} {join}{where}{group}" for e in exprs]


def _insert(d, selects: list[str]) -> str:
    dedupe = ""
    if d.vendor == "sqlite":
        # Writers are serialised on SQLite, and a recompute claims the rows
        # it reads before reading any data: skipping a month that is already
        # marked and unclaimed loses nothing, and keeps bulk writes (a row
        # trigger per row) from writing one row per row.
        # A mark for every family covers one for any family.
        dedupe = (
            " AND NOT EXISTS (SELECT 1 FROM kpis_dirtymonth k WHERE k.month = marks.m "
            "AND k.family IN ('', marks.f) AND k.claimed = 0)"
        )
    union = " UNION ALL ".join(selects)
    return (
        f"INSERT INTO kpis_dirtymonth (month, family, claimed, marked_at) "
        f"SELECT DISTINCT m, f, {d.false}, {d.now} FROM ({union}) marks WHERE m IS NOT NULL{dedupe};"
    )


def _watched(connection, source: Source, table: str) -> list[str]:
    if source.watch is not None:
        return list(source.watch)
    return [c for c in _columns(connection, table) if c not in ("id", *source.ignore)]


def _postgres_dirty(connection, d, source: Source, tables: dict) -> list[str]:
    table = apps.get_model(source.model)._meta.db_table
    watched = _watched(connection, source, table)
    name = f"{PREFIX}_dirty_{table}"

    def selects(rows: str, update: bool) -> list[str]:
        out = []
        for mark in source.marks:
            if update:
                conds = [d.changed(watched, "r", "o")]
                if mark.when:
                    conds.append(d.changed(list(mark.when), "r", "o"))
                where = " WHERE " + " AND ".join(conds)
            else:
                where = ""
            out += _mark_selects(d, mark, tables, rows, where)
        return out

    body = f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    {_insert(d, selects("new_rows r", False))}
  ELSIF TG_OP = 'DELETE' THEN
    {_insert(d, selects("old_rows r", False))}
  ELSE
    {
        _insert(
            d,
            selects("new_rows r JOIN old_rows o ON o.id = r.id", True)
            + selects("old_rows r JOIN new_rows o ON o.id = r.id", True),
        )
    }
  END IF;
  RETURN NULL;
END $$;
"""
    return [
        body,
        f"CREATE TRIGGER {name}_ins AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {name}();",
        f"CREATE TRIGGER {name}_upd AFTER UPDATE ON {table} REFERENCING OLD TABLE AS old_rows "
        f"NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {name}();",
        f"CREATE TRIGGER {name}_del AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {name}();",
    ]


def _sqlite_dirty(connection, d, source: Source, tables: dict) -> list[str]:
    table = apps.get_model(source.model)._meta.db_table
    columns = _columns(connection, table)
    watched = _watched(connection, source, table)
    name = f"{PREFIX}_dirty_{table}"

    def row(side: str) -> str:
        return "(SELECT " + ", ".join(f"{side}.{c} AS {c}" for c in columns) + ") r"

    def selects(side: str, update: bool) -> list[str]:
        out = []
        for mark in source.marks:
            where = ""
            if update and mark.when:
                where = " WHERE " + d.changed(list(mark.when), "NEW", "OLD")
            out += _mark_selects(d, mark, tables, row(side), where)
        return out

    changed = d.changed(watched, "NEW", "OLD")
    return [
        f"CREATE TRIGGER {name}_ins AFTER INSERT ON {table} FOR EACH ROW BEGIN "
        f"{_insert(d, selects('NEW', False))} END;",
        f"CREATE TRIGGER {name}_del AFTER DELETE ON {table} FOR EACH ROW BEGIN "
        f"{_insert(d, selects('OLD', False))} END;",
        f"CREATE TRIGGER {name}_upd AFTER UPDATE ON {table} FOR EACH ROW WHEN {changed} BEGIN "
        f"{_insert(d, selects('NEW', True) + selects('OLD', True))} END;",
    ]


# The customer's acquisition, from its won deals (one statement: the check
# constraint "churn after acquisition" holds at every row it writes).
_FIRST = (
    "SELECT {x} FROM {Deal} x WHERE x.customer_id = {Customer}.id AND x.stage = 'won' "
    "ORDER BY x.closed_on, x.id"
)
_STALE_CHURN = (
    "{Customer}.churned_on IS NOT NULL AND ("
    "(SELECT MIN(x.closed_on) FROM {Deal} x WHERE x.customer_id = {Customer}.id AND x.stage = 'won') IS NULL "
    "OR {Customer}.churned_on < "
    "(SELECT MIN(x.closed_on) FROM {Deal} x WHERE x.customer_id = {Customer}.id AND x.stage = 'won'))"
)


def _derive_customers(d, tables: dict, affected: str) -> str:
    first = _FIRST.replace("{x}", "{field}")
    stale = _STALE_CHURN
    sql = (
        "UPDATE {Customer} SET "
        f"first_deal_id = ({first.replace('{field}', 'x.id')} LIMIT 1), "
        f"acquired_on = ({first.replace('{field}', 'x.closed_on')} LIMIT 1), "
        f"repeat_on = ({first.replace('{field}', 'x.closed_on')} LIMIT 1 OFFSET 1), "
        "last_won_on = (SELECT MAX(x.closed_on) FROM {Deal} x WHERE x.customer_id = {Customer}.id "
        "AND x.stage = 'won'), "
        f"team_id = COALESCE(({first.replace('{field}', 'x.team_id')} LIMIT 1), {{Customer}}.team_id), "
        f"churned_on = CASE WHEN {stale} THEN NULL ELSE {{Customer}}.churned_on END, "
        f"churn_reason = CASE WHEN {stale} THEN '' ELSE {{Customer}}.churn_reason END, "
        f"churned_by_rule = CASE WHEN {stale} THEN {d.false} ELSE {{Customer}}.churned_by_rule END "
        f"WHERE {{Customer}}.id IN ({affected});"
    )
    return sql.format(**tables)


_ACQUISITION_COLUMNS = ["customer_id", "stage", "closed_on", "team_id"]


def _postgres_rules(d, tables: dict) -> list[str]:
    deal = tables["Deal"]
    moved = d.changed(_ACQUISITION_COLUMNS, "n", "o")
    won_rows = "SELECT customer_id FROM {rows} WHERE stage = 'won' AND customer_id IS NOT NULL"
    updated = (
        f"SELECT n.customer_id FROM new_rows n JOIN old_rows o ON o.id = n.id "
        f"WHERE {moved} AND 'won' IN (n.stage, o.stage) "
        f"UNION SELECT o.customer_id FROM new_rows n JOIN old_rows o ON o.id = n.id "
        f"WHERE {moved} AND 'won' IN (n.stage, o.stage)"
    )
    name = f"{PREFIX}_deal_acquisition"
    closed = ", ".join(f"'{s}'" for s in CLOSED)
    return [
        f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    {_derive_customers(d, tables, won_rows.format(rows="new_rows"))}
  ELSIF TG_OP = 'DELETE' THEN
    {_derive_customers(d, tables, won_rows.format(rows="old_rows"))}
  ELSE
    {_derive_customers(d, tables, updated)}
  END IF;
  RETURN NULL;
END $$;
""",
        f"CREATE TRIGGER {name}_ins AFTER INSERT ON {deal} REFERENCING NEW TABLE AS new_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {name}();",
        f"CREATE TRIGGER {name}_upd AFTER UPDATE ON {deal} REFERENCING OLD TABLE AS old_rows "
        f"NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {name}();",
        f"CREATE TRIGGER {name}_del AFTER DELETE ON {deal} REFERENCING OLD TABLE AS old_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {name}();",
        f"""
CREATE OR REPLACE FUNCTION {PREFIX}_deal_credit_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '{CREDIT_FROZEN}' USING ERRCODE = 'check_violation';
END $$;
""",
        f"CREATE TRIGGER {PREFIX}_deal_credit_frozen BEFORE UPDATE OF owner_id, team_id ON {deal} "
        f"FOR EACH ROW WHEN (OLD.stage IN ({closed}) AND NEW.stage IN ({closed}) AND "
        f"(OLD.owner_id IS DISTINCT FROM NEW.owner_id OR OLD.team_id IS DISTINCT FROM NEW.team_id)) "
        f"EXECUTE FUNCTION {PREFIX}_deal_credit_frozen();",
    ]


def _sqlite_rules(d, tables: dict) -> list[str]:
    deal = tables["Deal"]
    name = f"{PREFIX}_deal_acquisition"
    moved = d.changed(_ACQUISITION_COLUMNS, "NEW", "OLD")
    closed = ", ".join(f"'{s}'" for s in CLOSED)
    return [
        f"CREATE TRIGGER {name}_ins AFTER INSERT ON {deal} FOR EACH ROW "
        f"WHEN NEW.stage = 'won' AND NEW.customer_id IS NOT NULL BEGIN "
        f"{_derive_customers(d, tables, 'SELECT NEW.customer_id')} END;",
        f"CREATE TRIGGER {name}_del AFTER DELETE ON {deal} FOR EACH ROW "
        f"WHEN OLD.stage = 'won' AND OLD.customer_id IS NOT NULL BEGIN "
        f"{_derive_customers(d, tables, 'SELECT OLD.customer_id')} END;",
        f"CREATE TRIGGER {name}_upd AFTER UPDATE ON {deal} FOR EACH ROW "
        f"WHEN {moved} AND 'won' IN (NEW.stage, OLD.stage) BEGIN "
        f"{_derive_customers(d, tables, 'SELECT NEW.customer_id UNION SELECT OLD.customer_id')} END;",
        f"CREATE TRIGGER {PREFIX}_deal_credit_frozen BEFORE UPDATE OF owner_id, team_id ON {deal} "
        f"FOR EACH ROW WHEN OLD.stage IN ({closed}) AND NEW.stage IN ({closed}) AND "
        f"(OLD.owner_id IS NOT NEW.owner_id OR OLD.team_id IS NOT NEW.team_id) "
        f"BEGIN SELECT RAISE(ABORT, '{CREDIT_FROZEN}'); END;",
    ]


CREDIT_FROZEN = "A closed deal keeps the owner and team it was credited to: reopen it first."


def _existing(connection, prefix: str) -> list[tuple[str, str]]:
    """(trigger name, table) of every trigger this module installed."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname, tgrelid::regclass::text FROM pg_trigger "
                "WHERE NOT tgisinternal AND tgname LIKE %s",
                [prefix + "%"],
            )
        else:
            cursor.execute("SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger' AND name LIKE %s",
                           [prefix + "%"])  # fmt: skip
        return list(cursor.fetchall())


def statements(connection=None) -> list[str]:
    """Every CREATE statement of the triggers, for this database."""
    connection = connection or default_connection
    d = _dialect(connection)
    tables = _tables()
    existing = set(connection.introspection.table_names())
    out = []
    for source in SOURCES:
        if apps.get_model(source.model)._meta.db_table not in existing:
            continue  # an older schema, mid-migration: installed again after migrate
        make = _postgres_dirty if d.vendor == "postgresql" else _sqlite_dirty
        out += make(connection, d, source, tables)
    out += _postgres_rules(d, tables) if d.vendor == "postgresql" else _sqlite_rules(d, tables)
    # The lists' stored totals (customer revenue, campaign prospects).
    out += db_triggers.statements(d.vendor)
    return out


def drop_sqlite_triggers(connection=None) -> None:
    """Before a migrate on SQLite: drop our triggers. A migration that rebuilds
    a table (SQLite's way to alter one) fails while a trigger on another
    table names it ("no such table: main.surveys_invitation"); install()
    puts them all back after the migrate. PostgreSQL alters in place."""
    connection = connection or default_connection
    if connection.vendor != "sqlite":
        return
    legacy = _existing(connection, "crm_deal_totals_") + _existing(connection, "crm_prospect_campaign_")
    with connection.cursor() as cursor:
        for name, _table in _existing(connection, PREFIX + "_") + legacy:
            cursor.execute(f'DROP TRIGGER IF EXISTS "{name}"')


def install(connection=None) -> None:
    """Drop and create every trigger (idempotent; run after each migrate)."""
    connection = connection or default_connection
    if connection.vendor not in ("postgresql", "sqlite"):
        return
    creates = statements(connection)
    with connection.cursor() as cursor:
        # (The list totals' first triggers had names of their own: gone too.)
        legacy = _existing(connection, "crm_deal_totals_") + _existing(connection, "crm_prospect_campaign_")
        for name, table in _existing(connection, PREFIX + "_") + legacy:
            if connection.vendor == "postgresql":
                cursor.execute(f'DROP TRIGGER IF EXISTS "{name}" ON {table}')
            else:
                cursor.execute(f'DROP TRIGGER IF EXISTS "{name}"')
        for sql in creates:
            cursor.execute(sql)
        # Totals kept by deltas: recomputed once, so no drift outlives a migrate.
        for sql in db_triggers.BACKFILLS:
            cursor.execute(sql)
