"""The internal-process KPIs that do not add up over months (kpi-spec:
"Internal processes"): medians and 75th percentiles of time in stage and of
lead response, stage conversion, and the deals stalled today.

Time in stage and lead response are kept as monthly counts (how many stays
of each stage ended in a month after so many days, how many prospects of a
month were first touched after so many hours: `month_histograms`), stored by
the engine with the other monthly facts; a span's median and 75th
percentile are read from its months' summed counts (`percentiles`, the same
linear interpolation as PostgreSQL's `percentile_cont`), so a year costs its
twelve months' counts and a like-for-like span reads only its partial last
month. The funnel (deals entering each stage, once per deal) does not add
up over months as such: each entry is stored flagged as its deal's first
into that stage in its month, in its quarter and in its year (a trigger
marks the months of a deal's later entries into the same stage), and a
period sums its months' flags for its own granularity.

Readings of the spec (also in docs/kpis.md):
- a *stay* in a stage starts with a stage-history entry into it and ends with
  the deal's next entry; its days are the company-zone dates' difference. A
  deal's stays come from its recorded history only: a deal imported with a
  single entry (straight into won or lost) has no stay, so it counts in no
  stage's time or conversion;
- a stay *left* in P is one whose next entry is dated in P; it *moved on*
  when that entry is a later open stage (skipping stages counts) or won; a
  move back, a loss, or a move to an earlier stage does not;
- lead response counts whole days (a prospect records its creation day, an
  activity the day it happened) × 24; a first touch dated before the
  prospect's creation counts as 0;
- a deal is stalled when the days since its latest stage entry exceed the
  75th percentile of the stays in that stage of won deals of its team (the
  company's when the team has fewer than KPI_MIN_SAMPLE such stays).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

from django.conf import settings
from django.db import connection

from crm.models import Activity, Deal, DealStageChange, Prospect, Stage

COMPANY, TEAM, REP = "company", "team", "rep"
OPEN_STAGES = [s.value for s in Stage.open_stages()]
# The order deals move through: a stay "moved on" when its next stage is later.
ORDER = {**{s: i + 1 for i, s in enumerate(OPEN_STAGES)}, Stage.WON.value: len(OPEN_STAGES) + 1}


class _Sql:
    """The few expressions PostgreSQL and SQLite write differently."""

    def __init__(self) -> None:
        self.pg = connection.vendor == "postgresql"
        self.ops = connection.ops

    def date(self, value: dt.date) -> tuple[str, object]:
        return ("%s::date" if self.pg else "%s"), self.ops.adapt_datefield_value(value)

    def day(self, column: str) -> tuple[str, list]:
        """A timestamp's company-zone date."""
        sql, params = self.ops.datetime_cast_date_sql(column, [], settings.TIME_ZONE)
        return sql, list(params)

    def trunc(self, granularity: str, column: str) -> str:
        """A date's month, quarter or year, comparable with another's."""
        if self.pg:
            return f"date_trunc('{granularity}', {column})"
        if granularity == "quarter":
            return f"(strftime('%%Y', {column}) || ((CAST(strftime('%%m', {column}) AS INTEGER) + 2) / 3))"
        pattern = "%%Y-%%m" if granularity == "month" else "%%Y"
        return f"strftime('{pattern}', {column})"

    def days(self, later: str, earlier: str) -> str:
        if self.pg:
            return f"({later} - {earlier})"
        return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"

    def values(self, rows: list[tuple], name: str, columns: str) -> tuple[str, list]:
        """A CTE of literal rows, typed (dates) on PostgreSQL."""
        parts, params = [], []
        for row in rows:
            cells = []
            for cell in row:
                if isinstance(cell, dt.date):
                    sql, value = self.date(cell)
                    cells.append(sql)
                    params.append(value)
                elif cell is None:
                    cells.append("NULL")
                else:
                    cells.append("%s")
                    params.append(cell)
            parts.append("(" + ", ".join(cells) + ")")
        return f"{name}({columns}) AS (VALUES {', '.join(parts)})", params

    def percentiles(self, obs: str) -> str:
        """Per (span, scope, key) of `obs` (span_id, st, sid, k, v, a): the count,
        median and 75th percentile of v (linear interpolation), and Σ a."""
        group = "span_id, st, sid, k"
        if self.pg:
            return (
                f"SELECT {group}, COUNT(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY v), "
                f"percentile_cont(0.75) WITHIN GROUP (ORDER BY v), SUM(a) FROM ({obs}) o GROUP BY {group}"
            )

        def pick(p: float) -> str:
            # percentile_cont: position h = (n − 1) × p from 0; the value there,
            # interpolated between the rows either side.
            h = f"((n - 1) * {p})"
            lo = f"CAST({h} AS INTEGER)"
            frac = f"({h} - {lo})"
            return (
                f"SUM(CASE WHEN rn = {lo} + 1 THEN v * (1 - {frac}) "
                f"WHEN rn = {lo} + 2 THEN v * {frac} ELSE 0 END)"
            )

        ranked = (
            f"SELECT o.*, ROW_NUMBER() OVER (PARTITION BY {group} ORDER BY v) AS rn, "
            f"COUNT(*) OVER (PARTITION BY {group}) AS n FROM ({obs}) o"
        )
        return f"SELECT {group}, MAX(n), {pick(0.5)}, {pick(0.75)}, SUM(a) FROM ({ranked}) r GROUP BY {group}"


KINDS = f"kinds(st) AS (VALUES ('{COMPANY}'), ('{TEAM}'), ('{REP}'))"
SCOPE_ID = f"CASE k.st WHEN '{COMPANY}' THEN 0 WHEN '{TEAM}' THEN x.team_id ELSE x.owner_id END"


def _stays(
    sql: _Sql,
    near: list[tuple[dt.datetime, dt.datetime]] | None = None,
    won_in: tuple[str, list] | None = None,
) -> tuple[str, list]:
    """Every ended stay in an open stage: (deal_id, owner_id, team_id, stage,
    s, e, days, moved_on, closed_on), s and e the company-zone days it started
    and ended. `near`: only deals with a change between one of these pairs of
    instants; `won_in`: only the deals this SELECT of ids (and its params)
    gives."""
    day, day_params = sql.day("c.changed_at")
    deal = Deal._meta.db_table
    window = "OVER (PARTITION BY c.deal_id ORDER BY c.changed_at, c.id)"
    order = " ".join(f"WHEN '{s}' THEN {n}" for s, n in ORDER.items())
    open_list = ", ".join(f"'{s}'" for s in OPEN_STAGES)
    params = [*day_params, *day_params]
    history = (
        f"SELECT c.deal_id, c.to_stage AS stage, {day} AS s, LEAD({day}) {window} AS e, "
        f"LEAD(c.to_stage) {window} AS next_stage FROM "
    )
    part, part_params = _histories(sql, near)
    history += part
    params += part_params
    if won_in:
        history += f" WHERE c.deal_id IN ({won_in[0]})"
        params += won_in[1]
    stays = (
        f"SELECT h.deal_id, d.owner_id, d.team_id, h.stage, h.s, h.e, {sql.days('h.e', 'h.s')} AS days, "
        f"CASE WHEN (CASE h.next_stage {order} ELSE 0 END) > (CASE h.stage {order} ELSE 0 END) "
        f"THEN 1 ELSE 0 END AS moved_on, d.closed_on "
        f"FROM ({history}) h JOIN {deal} d ON d.id = h.deal_id "
        f"WHERE h.stage IN ({open_list}) AND h.e IS NOT NULL"
    )
    return stays, params


def _histories(sql: _Sql, near: list[tuple[dt.datetime, dt.datetime]] | None) -> tuple[str, list]:
    """FROM the whole stage history (aliased c) of the deals with a change
    between one of these pairs of instants; of every deal when None."""
    change = DealStageChange._meta.db_table
    if not near:
        return f"{change} c", []
    # The deals first (stagechange_changed_idx), then each one's history
    # (stagechange_deal_idx): a few days' changes cost their deals. On
    # PostgreSQL a LATERAL join says so; with IN (…) or a plain join the
    # planner hashed the whole history (4.7M rows on M) for 20k deals
    # (OFFSET 0 keeps it from flattening the LATERAL back into a join).
    within, params = _within(sql, "c2.changed_at", near)
    deals = f"(SELECT DISTINCT c2.deal_id FROM {change} c2 WHERE {within}) n"
    if sql.pg:
        one = f"SELECT * FROM {change} c1 WHERE c1.deal_id = n.deal_id OFFSET 0"
        return f"{deals} CROSS JOIN LATERAL ({one}) c", params
    return f"{deals} JOIN {change} c ON c.deal_id = n.deal_id", params


def _within(sql: _Sql, column: str, pairs: list[tuple]) -> tuple[str, list]:
    """`column` in any of these [lo, hi) ranges of instants."""
    adapt = sql.ops.adapt_datetimefield_value
    where = " OR ".join(f"({column} >= %s AND {column} < %s)" for _pair in pairs)
    return f"({where})", [adapt(t) for pair in pairs for t in pair]


# Day ranges longer than this are read over every deal's history: a year or
# more of changes touches nearly every deal, and finding "the deals with a
# change in the ranges" first (millions of ids, then a lookup each) costs
# more than it saves. Only a saving either way: rows outside the ranges are
# filtered out after.
WHOLE_HISTORY_DAYS = 366
# Day ranges up to this long find their rows one index lookup each (each
# prospect's first touch, each candidate deal of the pipeline read); longer
# ones scan and hash once, cheaper than a lookup per row over weeks of rows.
PROBE_DAYS = 7


def whole_history(ranges: list[tuple[dt.date, dt.date]]) -> bool:
    return _days(ranges) > WHOLE_HISTORY_DAYS


def probes(ranges: list[tuple[dt.date, dt.date]]) -> bool:
    """A few days' rows are found one lookup each (PROBE_DAYS)."""
    return _days(ranges) <= PROBE_DAYS


def _days(ranges: list[tuple[dt.date, dt.date]]) -> int:
    return sum((hi - lo).days + 1 for lo, hi in ranges)


def _near(ranges: list[tuple[dt.date, dt.date]]) -> list[tuple[dt.datetime, dt.datetime]]:
    """The instants of these company-zone day ranges: from the first day's
    midnight to the midnight after the last, in the company's time zone (the
    zone `_Sql.day` puts a change in). Exact, so a one-day span's deals are
    those with a change that day, not the three days around it."""
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    return [
        (
            dt.datetime.combine(lo, dt.time.min, tzinfo=zone),
            dt.datetime.combine(hi + dt.timedelta(days=1), dt.time.min, tzinfo=zone),
        )
        for lo, hi in ranges
    ]


def _run(query: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall()


def month_histograms(
    ranges: list[tuple[dt.date, dt.date]], fixed: dt.date | None = None
) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """The additive facts behind the per-span figures, for these day ranges:
    the stays that ended in them, counted per month, owner, team, stage and
    whole days, with how many moved on; and the lead responses of the
    prospects created in them, per month, owner, team and hours. `fixed`
    puts every row in that month (a like-for-like span's first days).

    A span's median and 75th percentile are then read from the sum of its
    months' counts (`percentiles`), exactly as percentile_cont over the rows:
    a year, or most of last year for a like-for-like comparison, costs its
    months' stored counts, not a re-read of its stage history. The third list
    is the funnel's stage entries (see below; none with `fixed`). Three
    queries, two with `fixed`.
    """
    if not ranges:
        return [], [], []
    sql = _Sql()

    def month_of(column: str) -> tuple[str, list]:
        if fixed is not None:
            sql_, value = sql.date(fixed)
            return sql_, [value]
        if sql.pg:
            return f"CAST(date_trunc('month', {column}) AS date)", []
        return f"strftime('%%Y-%%m-01', {column})", []

    def in_ranges(column: str) -> tuple[str, list]:
        parts, params = [], []
        for lo, hi in ranges:
            (lo_sql, lo_p), (hi_sql, hi_p) = sql.date(lo), sql.date(hi)
            parts.append(f"({column} >= {lo_sql} AND {column} <= {hi_sql})")
            params += [lo_p, hi_p]
        return f"({' OR '.join(parts)})", params

    near = None if whole_history(ranges) else _near(ranges)
    stays, stay_params = _stays(sql, near)
    month, month_params = month_of("x.e")
    where, where_params = in_ranges("x.e")
    stay_rows = _run(
        f"SELECT {month}, x.owner_id, x.team_id, x.stage, x.days, COUNT(*), SUM(x.moved_on) "
        f"FROM ({stays}) x WHERE {where} GROUP BY 1, 2, 3, 4, 5",
        [*month_params, *stay_params, *where_params],
    )

    lead_rows = _lead_rows(sql, in_ranges, month_of, probes(ranges))

    # The funnel: each entry into an open stage, flagged when it is the
    # deal's first into that stage in its month, quarter and year (LAG over
    # the deal's whole history), so a period's count of deals entering a
    # stage is the sum of its months' flags for its own granularity. Not for
    # a like-for-like span's first days (`fixed`): a comparison shows no
    # funnel, and the statement walks each moved deal's whole history.
    if fixed is not None:
        return stay_rows, lead_rows, []
    entries, entry_params = _entries(sql, near)
    month, month_params = month_of("x.day")
    where, where_params = in_ranges("x.day")
    first = "SUM(CASE WHEN x.prev IS NULL OR {} <> {} THEN 1 ELSE 0 END)"
    firsts = ", ".join(
        first.format(sql.trunc(g, "x.prev"), sql.trunc(g, "x.day")) for g in ("month", "quarter", "year")
    )
    entry_rows = _run(
        f"SELECT {month}, d.owner_id, d.team_id, x.stage, {firsts} FROM ({entries}) x "
        f"JOIN {Deal._meta.db_table} d ON d.id = x.deal_id WHERE {where} GROUP BY 1, 2, 3, 4",
        [*month_params, *entry_params, *where_params],
    )

    return stay_rows, lead_rows, entry_rows


def _lead_rows(sql: _Sql, in_ranges, month_of, probe: bool) -> list[tuple]:
    """Lead response: prospects with a done call, meeting or email, per month
    created, owner, team and whole hours to the first touch (`probe`: a few
    days' prospects, PROBE_DAYS)."""
    prospect, activity = Prospect._meta.db_table, Activity._meta.db_table
    kinds = ", ".join(f"'{k}'" for k in Activity.COUNTED_KINDS)
    counted = f"a.done = %s AND a.kind IN ({kinds})"
    created, created_params = in_ranges("p.created_on")
    if probe:
        # A few days' prospects (a like-for-like span's new day): each one's
        # first touch through the activity's prospect index. The join below
        # hashed every counted activity (1.2M on M) for 4,000 prospects.
        firsts = (
            f"SELECT p.created_on, p.owner_id, p.team_id, (SELECT MIN(a.occurred_on) FROM {activity} a "
            f"WHERE a.prospect_id = p.id AND {counted}) AS first_day FROM {prospect} p WHERE {created}"
        )
    else:
        first = (
            f"SELECT a.prospect_id, MIN(a.occurred_on) AS first_day FROM {activity} a "
            f"JOIN {prospect} p ON p.id = a.prospect_id WHERE {counted} AND {created} GROUP BY a.prospect_id"
        )
        firsts = (
            f"SELECT p.created_on, p.owner_id, p.team_id, f.first_day FROM {prospect} p "
            f"JOIN ({first}) f ON f.prospect_id = p.id"
        )
    month, month_params = month_of("x.created_on")
    waited = sql.days("x.first_day", "x.created_on")
    hours = f"CASE WHEN x.first_day < x.created_on THEN 0 ELSE {waited} * 24 END"
    # Never touched: no first day, so no response to count.
    return _run(
        f"SELECT {month}, x.owner_id, x.team_id, {hours}, COUNT(*) FROM ({firsts}) x "
        "WHERE x.first_day IS NOT NULL GROUP BY 1, 2, 3, 4",
        [*month_params, True, *created_params],
    )


def _entries(sql: _Sql, near: list[tuple[dt.datetime, dt.datetime]] | None) -> tuple[str, list]:
    """Entries into an open stage of the deals with a change between these
    instants (None: every deal): (deal_id, stage, day, prev), prev the day of
    the deal's previous entry into the same stage."""
    day, day_params = sql.day("c.changed_at")
    window = "OVER (PARTITION BY c.deal_id, c.to_stage ORDER BY c.changed_at, c.id)"
    open_list = ", ".join(f"'{s}'" for s in OPEN_STAGES)
    history, params = _histories(sql, near)
    query = (
        f"SELECT c.deal_id, c.to_stage AS stage, {day} AS day, LAG({day}) {window} AS prev "
        f"FROM {history} WHERE c.to_stage IN ({open_list})"
    )
    return query, [*day_params, *day_params, *params]


def percentiles(counts: dict[int, int]) -> tuple[int, Decimal | None, Decimal | None]:
    """(n, median, 75th percentile) of the values counted in `counts` (value →
    how many), with percentile_cont's linear interpolation: position
    (n − 1) × p from 0, between the values either side."""
    n = sum(counts.values())
    if not n:
        return 0, None, None
    ordered = sorted(counts.items())

    def at(index: int) -> int:
        seen = 0
        for value, count in ordered:
            seen += count
            if index < seen:
                return value
        return ordered[-1][0]

    out = []
    for p in (Decimal("0.5"), Decimal("0.75")):
        h = (n - 1) * p
        lo = int(h)
        frac = h - lo
        low = at(lo)
        value = Decimal(low) if not frac else low + (at(lo + 1) - low) * frac
        out.append(value)
    return n, out[0], out[1]


def won_stays(ranges: list[tuple[dt.date, dt.date]]) -> list[tuple]:
    """The stalled thresholds' observations as monthly counts: the ended stays
    in open stages of the deals won in these day ranges, per month won, team,
    stage and whole days. The thresholds (P75 of every won deal's stays, per
    team and for the company: `stall_thresholds`) then add up the stored
    months' counts instead of reading the whole stage history. One query."""
    if not ranges:
        return []
    sql = _Sql()
    deal = Deal._meta.db_table
    parts, params = [], []
    for lo, hi in ranges:
        (lo_sql, lo_p), (hi_sql, hi_p) = sql.date(lo), sql.date(hi)
        parts.append(f"(w.closed_on >= {lo_sql} AND w.closed_on <= {hi_sql})")
        params += [lo_p, hi_p]
    won = f"SELECT w.id FROM {deal} w WHERE w.stage = 'won' AND ({' OR '.join(parts)})"
    stays, stay_params = _stays(sql, won_in=(won, params))
    if sql.pg:
        month = "CAST(date_trunc('month', x.closed_on) AS date)"
    else:
        month = "strftime('%%Y-%%m-01', x.closed_on)"
    query = f"SELECT {month}, x.team_id, x.stage, x.days, COUNT(*) FROM ({stays}) x GROUP BY 1, 2, 3, 4"
    return _run(query, stay_params)


def stall_thresholds(
    counts: dict[int, dict[str, dict[int, int]]], min_sample: int
) -> dict[int, dict[str, Decimal | None]]:
    """P75 of the stays of won deals per stage, for the company (key 0) and
    each team with won stays; a team with fewer than `min_sample` stays in a
    stage uses the company's. `counts`: {team id or 0: {stage: {days: n}}}."""
    company = {stage: percentiles(by)[2] for stage, by in counts.get(0, {}).items()}
    thresholds = {0: company}
    for team_id, stages in counts.items():
        if team_id == 0:
            continue
        mine = {}
        for stage in company:
            n, _p50, p75 = percentiles(stages.get(stage, {}))
            mine[stage] = p75 if n >= min_sample else company[stage]
        thresholds[team_id] = mine
    return thresholds


def stalled(today: dt.date, thresholds: dict) -> dict:
    """The deals open today past their stage's threshold (`thresholds`, from
    `stall_thresholds`), counted per scope and stage: {(st, sid): {stage: n}}.
    One query."""
    sql = _Sql()
    deal, change = Deal._meta.db_table, DealStageChange._meta.db_table
    lines = [(t, s, float(v)) for t, by in thresholds.items() for s, v in by.items() if v is not None]
    if not lines:
        return {}
    # A team without won history of its own uses the company's (team 0).
    th_cte, th_params = sql.values(lines, "th", "team_id, stage, p75")
    day, day_params = sql.day("MAX(c.changed_at)")
    today_sql, today_p = sql.date(today)
    open_list = ", ".join(f"'{s}'" for s in OPEN_STAGES)
    since = f"COALESCE((SELECT {day} FROM {change} c WHERE c.deal_id = d.id), d.opened_on)"
    current = (
        f"SELECT d.id, d.owner_id, d.team_id, d.stage, {since} AS since FROM {deal} d "
        f"WHERE d.stage IN ({open_list})"
    )
    query = (
        f"WITH {th_cte}, cur AS ({current}) "
        "SELECT cur.owner_id, cur.team_id, cur.stage, COUNT(*) FROM cur "
        "JOIN th ON th.stage = cur.stage AND th.team_id = CASE WHEN cur.team_id IN "
        "(SELECT team_id FROM th) THEN cur.team_id ELSE 0 END "
        f"WHERE {sql.days(today_sql, 'cur.since')} > th.p75 GROUP BY cur.owner_id, cur.team_id, cur.stage"
    )
    rows = _run(query, [*th_params, *day_params, today_p])
    counts: dict[tuple, dict[str, int]] = {}
    for owner_id, team_id, stage, n in rows:
        for key in [(COMPANY, 0), (REP, owner_id)] + ([(TEAM, team_id)] if team_id is not None else []):
            by = counts.setdefault(key, {})
            by[stage] = by.get(stage, 0) + n
    return counts


# --- what the board and the deal page show -------------------------------------


def current_thresholds(today: dt.date) -> dict[str, dict[str, Decimal]]:
    """The stalled thresholds of the latest computation (the company's
    stalled_deals snapshot of the month under way): {team id or "0": {stage:
    days}}. One query; {} before any computation."""
    from kpis.models import KpiSnapshot

    details = (
        KpiSnapshot.objects.filter(
            kpi="stalled_deals", scope_type=COMPANY, scope_id=0, granularity="month",
            period_start=today.replace(day=1),
        )
        .values_list("details", flat=True)
        .first()
    )  # fmt: skip
    thresholds = (details or {}).get("thresholds") or {}
    return {team: {s: Decimal(v) for s, v in by.items() if v is not None} for team, by in thresholds.items()}


def mark_board(deals, today: dt.date) -> None:
    """Days in stage and the stalled mark of the board's cards (each annotated
    with `entered_at`, the time of its latest stage entry): one query."""
    from django.utils import timezone

    thresholds = current_thresholds(today)
    for deal in deals:
        entered = timezone.localtime(deal.entered_at).date() if deal.entered_at else deal.opened_on
        deal.days_in_stage = (today - entered).days
        by_team = thresholds.get(str(deal.team_id)) or thresholds.get("0") or {}
        limit = by_team.get(deal.stage)
        deal.is_stalled = limit is not None and deal.days_in_stage > limit


def stage_days(changes: list[DealStageChange], today: dt.date, is_open: bool) -> list[dict]:
    """A deal's time in each open stage, from its stage history (the engine's
    reading: a stay runs from an entry to the next; the one under way until
    today). Sums repeated stays; stages it never stood in are left out."""
    from django.utils import timezone

    ordered = sorted(changes, key=lambda c: (c.changed_at, c.pk))
    totals: dict[str, int] = {}
    visits: dict[str, int] = {}
    for i, change in enumerate(ordered):
        if change.to_stage not in OPEN_STAGES:
            continue
        start = timezone.localtime(change.changed_at).date()
        if i + 1 < len(ordered):
            end = timezone.localtime(ordered[i + 1].changed_at).date()
        elif is_open:
            end = today
        else:
            continue
        totals[change.to_stage] = totals.get(change.to_stage, 0) + (end - start).days
        visits[change.to_stage] = visits.get(change.to_stage, 0) + 1
    current = ordered[-1].to_stage if ordered and is_open else None
    return [
        {"stage": Stage(s), "days": totals[s], "visits": visits[s], "current": s == current}
        for s in OPEN_STAGES
        if s in totals
    ]
