"""The floors for the KPI recompute: hand-written SQL, one statement per fact table.

They write the same snapshot rows as `kpis.compute.recompute` for the same
periods (every KPI of kpi-spec but `bench.recompute.FLOOR_PENDING`, every
scope, every granularity) with `INSERT … SELECT … ON CONFLICT DO UPDATE`,
and nothing leaves the database but the row count. They are what a DBA
would write by hand for this one job; the benchmark times them beside
Boussole's engine and asserts they wrote the same rows.

- `MonthFloor`, the one the full recompute is held to (issue 17): each fact
  table grouped once by month × scope, quarters and years summed in SQL
  from those monthly rows.
- `Floor` (issue 5): each fact table grouped by (month | quarter | year) ×
  scope directly. Both share what does not add up that way: the running sums
  (pipeline, customers) and the percentile histograms, read by month.
- PostgreSQL: `GROUPING SETS` over the scopes (and, for `Floor`, the
  granularities) and `FILTER` clauses for the conditional counts.
- SQLite has no GROUPING SETS: the same groups are a `UNION ALL` of
  `GROUP BY`s over one CTE (SQLite materialises a CTE used more than once).
  Survey and stage-change timestamps go through Django's own
  `django_datetime_cast_date` function for the company time zone, as the
  ORM does on SQLite.

The five statements: closed deals with targets, activities on won deals and
the pipeline at each period's end from the stage history (revenue,
deals_won, win_rate, avg_deal_size, sales_cycle_days, open/weighted
pipeline, pipeline_velocity, quota_attainment, activities_per_won_deal,
lost_reasons); prospects (lead_conversion_rate, to a paying customer);
customers with spend and sales cost (new_customers, marketing_spend,
sales_cost, cac, paid_cac, churn_rate, retention_rate, repeat_purchase_rate,
arpa, ltv, ltv_cac_ratio, cac_payback_months); surveys (nps, csat,
survey_response_rate); activities.

The scope universe is every team, every campaign and every active member of
the sales staff (the engine also adds people who left but still own rows in
the periods; the benchmark data has none).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction

from bench.sql import Dialect
from crm.models import STAGE_PROBABILITY
from kpis.definitions import CAMPAIGN, COMPANY, KPIS, REP, TEAM

MONTHS_IN = {"month": 1, "quarter": 3, "year": 12}
OPEN_STAGES = ("prospecting", "qualification", "proposal", "negotiation")
# Stored only for the period that contains the day of computation. The
# pipeline KPIs are point-in-time too, but kpi-spec v2 stores them for every
# period, at its end, from the stage history.
CURRENT_ONLY = frozenset({"stalled_deals"})


def add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def period_start(day: dt.date, g: str) -> dt.date:
    if g == "month":
        return day.replace(day=1)
    if g == "quarter":
        return dt.date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    return dt.date(day.year, 1, 1)


def period_end(start: dt.date, g: str) -> dt.date:
    return add_months(start, MONTHS_IN[g]) - dt.timedelta(days=1)


def full_plan(first: dt.date, last: dt.date, granularities=("month", "quarter", "year")) -> dict:
    """Every period of each granularity overlapping the months first..last."""
    plan = {}
    for g in granularities:
        starts, start = [], period_start(first, g)
        while start <= last:
            starts.append(start)
            start = add_months(start, MONTHS_IN[g])
        plan[g] = starts
    return plan


def nightly_plan(today: dt.date) -> dict:
    """The current and previous period of each granularity."""
    plan = {}
    for g in ("month", "quarter", "year"):
        current = period_start(today, g)
        plan[g] = [period_start(current - dt.timedelta(days=1), g), current]
    return plan


@dataclass
class Floor:
    plan: dict[str, list[dt.date]]
    today: dt.date
    table: str = "kpis_kpisnapshot"
    work_mem: str | None = "256MB"

    def __post_init__(self) -> None:
        self.d = Dialect(connection.vendor)
        self.tz = settings.TIME_ZONE
        self.min_sample = settings.KPI_MIN_SAMPLE
        self.margin = settings.KPI_GROSS_MARGIN
        self.maturity_cutoff = self.today - dt.timedelta(days=settings.KPI_COHORT_MATURITY_DAYS)
        self.grans = [g for g in ("month", "quarter", "year") if self.plan.get(g)]
        self.periods = sorted(
            (g, start, period_end(start, g)) for g in self.grans for start in sorted(set(self.plan[g]))
        )
        self.lo = min(p[1] for p in self.periods)
        self.hi = max(p[2] for p in self.periods)

    # -- SQL pieces --

    def num(self, expr: str) -> str:
        return f"CAST(({expr}) AS {'numeric' if self.d.pg else 'REAL'})"

    def trunc(self, g: str, expr: str) -> str:
        if self.d.pg:
            return f"CAST(date_trunc('{g}', {expr}) AS date)"
        if g == "month":
            return f"strftime('%Y-%m-01', {expr})"
        if g == "year":
            return f"strftime('%Y-01-01', {expr})"
        month = f"CAST(strftime('%m', {expr}) AS integer)"
        return f"printf('%s-%02d-01', strftime('%Y', {expr}), ({month} - 1) / 3 * 3 + 1)"

    def local_date(self, expr: str) -> str:
        if self.d.pg:
            return f"CAST(({expr}) AT TIME ZONE '{self.tz}' AS date)"
        return f"django_datetime_cast_date({expr}, '{self.tz}', 'UTC')"

    def midnight(self, day: dt.date) -> str:
        """The instant a company-zone day starts, as a literal."""
        import zoneinfo

        return self.d.timestamp(dt.datetime.combine(day, dt.time.min, tzinfo=zoneinfo.ZoneInfo(self.tz)))

    @property
    def null(self) -> str:
        return "CAST(NULL AS numeric)" if self.d.pg else "NULL"

    def ratio(self, num: str, den: str, scale: str = "1") -> str:
        missing = f"({num}) IS NULL OR ({den}) IS NULL OR ({den}) = 0"
        return f"CASE WHEN {missing} THEN NULL ELSE ({num}) * {scale} / ({den}) END"

    def periods_cte(self) -> str:
        d = self.d
        rows = []
        for g, start, end in self.periods:
            last_month = end.replace(day=1)
            window_lo = add_months(start, -12 + MONTHS_IN[g])
            current = start <= self.today <= end
            maturing = end > self.maturity_cutoff
            rows.append(
                f"('{g}', {d.date(start)}, {d.date(end)}, {d.date(last_month)}, {d.date(window_lo)}, "
                f"{d.boolean(current)}, {d.boolean(maturing)})"
            )
        months = []
        for g, start, _end in self.periods:
            for i in range(MONTHS_IN[g]):
                months.append(f"({d.date(add_months(start, i))}, '{g}', {d.date(start)})")
        # Each period's months, for rolling monthly rows up by an equality join.
        return (
            f"periods(g, ps, pe, lm, wlo, cur, mat) AS (VALUES {', '.join(rows)}), "
            f"pmonths(mon, g, ps) AS (VALUES {', '.join(months)})"
        )

    def scopes_cte(self, scope_types: tuple[str, ...]) -> str:
        parts = [f"SELECT '{COMPANY}' AS st, 0 AS sid"]
        if TEAM in scope_types:
            parts.append(f"SELECT '{TEAM}', id FROM crm_team")
        if REP in scope_types:
            parts.append(
                f"SELECT '{REP}', id FROM crm_user WHERE is_active = {self.d.boolean(True)} "
                "AND role IN ('salesperson', 'manager')"
            )
        if CAMPAIGN in scope_types:
            parts.append(f"SELECT '{CAMPAIGN}', id FROM crm_campaign")
        return f"scopes(st, sid) AS ({' UNION ALL '.join(parts)})"

    def kpis_cte(self, keys: list[str]) -> str:
        d = self.d
        rows = []
        for key in keys:
            k = KPIS[key]
            for st in k.scopes:
                rows.append(
                    f"('{key}', '{st}', {k.formula_version}, {d.boolean(k.is_rate)}, "
                    f"{d.boolean(k.is_cohort)}, {d.boolean(key in CURRENT_ONLY)})"
                )
        return f"kpis(kpi, st, version, is_rate, is_cohort, pit) AS (VALUES {', '.join(rows)})"

    def grouped(self, name: str, source: str, period_col: str, scopes: dict[str, str], measures: dict) -> str:
        """A CTE `name(g, ps, st, sid, measures…)`: the source rows grouped by
        period of `period_col` for each granularity × (company and each scope
        column). Rows whose scope column is NULL belong to no such scope."""
        d = self.d
        measure_sql = ", ".join(f"{self.num(expr)} AS {m}" for m, expr in measures.items())
        trunc_cols = ", ".join(f"{self.trunc(g, period_col)} AS p_{g}" for g in self.grans)
        scope_cols = "".join(f", {col} AS s_{st}" for st, col in scopes.items())
        inner = f"src_{name} AS (SELECT *, {trunc_cols}{scope_cols} FROM ({source}) AS raw)"
        if d.pg:
            sets = []
            for g in self.grans:
                sets.append(f"(p_{g})")
                sets.extend(f"(p_{g}, s_{st})" for st in scopes)
            gran_case = " ".join(f"WHEN GROUPING(p_{g}) = 0 THEN '{g}'" for g in self.grans)
            scope_case = " ".join(f"WHEN GROUPING(s_{st}) = 0 THEN '{st}'" for st in scopes)
            sid_case = " ".join(f"WHEN GROUPING(s_{st}) = 0 THEN s_{st}" for st in scopes)
            ps = f"COALESCE({', '.join(f'p_{g}' for g in self.grans)})"
            body = (
                f"SELECT CASE {gran_case} END AS g, {ps} AS ps, "
                f"CASE {scope_case} ELSE '{COMPANY}' END AS st, CASE {sid_case} ELSE 0 END AS sid, "
                f"{measure_sql} FROM src_{name} GROUP BY GROUPING SETS ({', '.join(sets)})"
            )
        else:
            parts = []
            for g in self.grans:
                parts.append(
                    f"SELECT '{g}' AS g, p_{g} AS ps, '{COMPANY}' AS st, 0 AS sid, {measure_sql} "
                    f"FROM src_{name} GROUP BY p_{g}"
                )
                parts.extend(
                    f"SELECT '{g}', p_{g}, '{st}', s_{st}, {measure_sql} FROM src_{name} GROUP BY p_{g}, "
                    f"s_{st}"
                    for st in scopes
                )
            body = " UNION ALL ".join(parts)
        return f"{inner}, {name} AS (SELECT * FROM ({body}) AS grouped WHERE sid IS NOT NULL)"

    def monthly(
        self,
        name: str,
        source: str,
        period_col: str,
        scopes: dict[str, str],
        measures: dict,
        keys: tuple[str, ...] = (),
    ) -> str:
        """A CTE `name(mon, keys…, st, sid, measures…)`: the source rows grouped
        once by month of `period_col` × `keys` × (company and each scope
        column). Rows whose scope column is NULL belong to no such scope."""
        by = "".join(f", {k}" for k in keys)
        measure_sql = ", ".join(f"{self.num(expr)} AS {m}" for m, expr in measures.items())
        scope_cols = "".join(f", {col} AS s_{st}" for st, col in scopes.items())
        inner = (
            f"src_{name} AS (SELECT *, {self.trunc('month', period_col)} AS mon{scope_cols} "
            f"FROM ({source}) AS raw)"
        )
        if self.d.pg:
            sets = ", ".join(["()", *(f"(s_{st})" for st in scopes)])
            scope_case = " ".join(f"WHEN GROUPING(s_{st}) = 0 THEN '{st}'" for st in scopes)
            sid_case = " ".join(f"WHEN GROUPING(s_{st}) = 0 THEN s_{st}" for st in scopes)
            body = (
                f"SELECT mon{by}, CASE {scope_case} ELSE '{COMPANY}' END AS st, "
                f"CASE {sid_case} ELSE 0 END AS sid, {measure_sql} "
                f"FROM src_{name} GROUP BY mon{by}, GROUPING SETS ({sets})"
            )
        else:
            parts = [
                f"SELECT mon{by}, '{COMPANY}' AS st, 0 AS sid, {measure_sql} FROM src_{name} GROUP BY mon{by}"
            ]
            parts += [
                f"SELECT mon{by}, '{st}', s_{st}, {measure_sql} FROM src_{name} GROUP BY mon{by}, s_{st}"
                for st in scopes
            ]
            body = " UNION ALL ".join(parts)
        return f"{inner}, {name} AS (SELECT * FROM ({body}) AS grouped WHERE sid IS NOT NULL)"

    def insert(
        self, ctes: list[str], grid_scopes: tuple[str, ...], joins: str, cols: str, outputs: dict
    ) -> str:
        """The final INSERT: the grid of periods × scopes × KPIs, the facts
        joined on, one (value, numerator, denominator) triple per KPI."""
        d = self.d
        ctes = [self.periods_cte(), self.scopes_cte(grid_scopes), self.kpis_cte(list(outputs)), *ctes]

        def case(index: int) -> str:
            whens = " ".join(f"WHEN '{k}' THEN {triple[index]}" for k, triple in outputs.items())
            return f"CASE k.kpi {whens} END"

        if d.pg:
            empty = "CAST('{}' AS jsonb)"
            details = (
                "CASE k.kpi WHEN 'nps' THEN jsonb_build_object('promoters', CAST(f_promoters AS bigint), "
                "'passives', CAST(f_passives AS bigint), 'detractors', CAST(f_detractors AS bigint)) "
                f"ELSE {empty} END"
            )
        else:
            details = (
                "CASE k.kpi WHEN 'nps' THEN json_object('promoters', CAST(f_promoters AS integer), "
                "'passives', CAST(f_passives AS integer), 'detractors', CAST(f_detractors AS integer)) "
                "ELSE '{}' END"
            )
        if "nps" not in outputs:
            details = "CAST('{}' AS jsonb)" if d.pg else "'{}'"
        f = d.boolean(False)
        now = "now()" if d.pg else "strftime('%Y-%m-%d %H:%M:%f', 'now')"
        return (
            f"{d.with_recursive} {', '.join(ctes)}, "
            "grid AS (SELECT p.g, p.ps, p.pe, p.lm, p.wlo, p.cur, p.mat, s.st, s.sid FROM periods p CROSS "
            "JOIN scopes s), "
            f"rows AS (SELECT k.kpi, gr.st, gr.sid, gr.g, gr.ps, k.version, k.is_rate, k.is_cohort, gr.mat, "
            f"{case(0)} AS v, {case(1)} AS n, {case(2)} AS dn, {details} AS details "
            f"FROM (SELECT gr.*, {cols} FROM grid gr {joins}) AS gr JOIN kpis k ON k.st = gr.st "
            f"WHERE (k.pit = {f} OR gr.cur = {d.boolean(True)})) "
            f"INSERT INTO {self.table} (kpi, scope_type, scope_id, granularity, period_start, value, "
            "numerator, "
            "denominator, details, low_sample, maturing, formula_version, computed_at) "
            "SELECT kpi, st, sid, g, ps, ROUND(v, 6), ROUND(n, 6), ROUND(dn, 6), details, "
            f"COALESCE(is_rate = {d.boolean(True)} AND dn IS NOT NULL AND dn > 0 AND dn < "
            f"{self.min_sample}, {f}), "
            f"COALESCE(is_cohort = {d.boolean(True)} AND mat = {d.boolean(True)}, {f}), version, {now} "
            "FROM rows WHERE 1 = 1 "
            "ON CONFLICT (kpi, scope_type, scope_id, granularity, period_start) DO UPDATE SET "
            "value = excluded.value, numerator = excluded.numerator, denominator = excluded.denominator, "
            "details = excluded.details, low_sample = excluded.low_sample, maturing = excluded.maturing, "
            "formula_version = excluded.formula_version, computed_at = excluded.computed_at"
        )

    @staticmethod
    def join(alias: str) -> str:
        return (
            f" LEFT JOIN {alias} ON gr.g = {alias}.g AND gr.ps = {alias}.ps AND gr.st = {alias}.st "
            f"AND gr.sid = {alias}.sid"
        )

    # -- the five statements --

    def deals_sql(self) -> str:
        d = self.d
        closed = self.grouped(
            "closed",
            "SELECT dl.closed_on, dl.owner_id, dl.team_id, c.source_campaign_id AS campaign_id, dl.stage, "
            f"dl.amount, {d.day_diff('dl.closed_on', 'dl.opened_on')} AS cycle FROM crm_deal dl "
            "LEFT JOIN crm_customer c ON c.id = dl.customer_id "
            f"WHERE dl.stage IN ('won', 'lost') AND dl.closed_on BETWEEN {d.date(self.lo)} AND "
            f"{d.date(self.hi)}",
            "closed_on",
            {REP: "owner_id", TEAM: "team_id", CAMPAIGN: "campaign_id"},
            {
                "won": "COUNT(*) FILTER (WHERE stage = 'won')",
                "lost": "COUNT(*) FILTER (WHERE stage = 'lost')",
                "revenue": "SUM(amount) FILTER (WHERE stage = 'won')",
                "cycle": "SUM(cycle) FILTER (WHERE stage = 'won')",
            },
        )
        targets = self.grouped(
            "targets",
            f"SELECT month, user_id, team_id, amount FROM crm_target "
            f"WHERE month BETWEEN {d.date(self.lo)} AND {d.date(self.hi)}",
            "month",
            {REP: "user_id", TEAM: "team_id"},
            {"target": "SUM(amount)"},
        )
        won_acts = self.grouped(
            "wacts",
            "SELECT dl.closed_on, dl.owner_id, dl.team_id FROM crm_activity a "
            "JOIN crm_deal dl ON dl.id = a.deal_id WHERE dl.stage = 'won' AND a.kind IN ('call', 'meeting', "
            f"'email') AND a.done = {d.boolean(True)} AND dl.closed_on BETWEEN {d.date(self.lo)} AND "
            f"{d.date(self.hi)}",
            "closed_on",
            {REP: "owner_id", TEAM: "team_id"},
            {"n": "COUNT(*)"},
        )
        cols = (
            "COALESCE(closed.won, 0) AS f_won, COALESCE(closed.lost, 0) AS f_lost, "
            "COALESCE(closed.revenue, 0) AS f_revenue, COALESCE(closed.cycle, 0) AS f_cycle, "
            "COALESCE(targets.target, 0) AS f_target, COALESCE(pipe.open_count, 0) AS f_open, "
            "COALESCE(pipe.open_amount, 0) AS f_open_amount, COALESCE(pipe.weighted, 0) AS f_weighted, "
            "COALESCE(wacts.n, 0) AS f_won_acts"
        )
        joins = self.join("closed") + self.join("targets") + self.join("pipe") + self.join("wacts")
        cycle_days = self.ratio("f_cycle", "f_won")
        # Open deals × win rate × average size = open × revenue ÷ closed deals.
        velocity_num = "CASE WHEN f_won > 0 THEN f_open * f_revenue / (f_won + f_lost) END"
        outputs = {
            "revenue": ("f_revenue", "f_revenue", self.null),
            "deals_won": ("f_won", "f_won", self.null),
            "win_rate": (self.ratio("f_won", "f_won + f_lost", "100"), "f_won", "f_won + f_lost"),
            "avg_deal_size": (self.ratio("f_revenue", "f_won"), "f_revenue", "f_won"),
            "sales_cycle_days": (cycle_days, "f_cycle", "f_won"),
            "open_pipeline_value": ("f_open_amount", "f_open_amount", self.null),
            "weighted_pipeline_value": ("f_weighted", "f_weighted", self.null),
            "pipeline_velocity": (self.ratio(velocity_num, cycle_days), velocity_num, cycle_days),
            "quota_attainment": (self.ratio("f_revenue", "f_target", "100"), "f_revenue", "f_target"),
            "activities_per_won_deal": (self.ratio("f_won_acts", "f_won"), "f_won_acts", "f_won"),
            "lost_reasons": ("f_lost", "f_lost", self.null),
        }
        ctes = [closed, targets, *self.pipeline_ctes(), won_acts]
        return self.insert(ctes, (COMPANY, TEAM, REP, CAMPAIGN), joins, cols, outputs)

    def pipeline_ctes(self) -> list[str]:
        """`pipe(g, ps, st, sid, open_count, open_amount, weighted)`: the deals
        open at each period's end, in the stage the history says they stood
        in that day (kpi-spec v2), as the engine reads it (kpis.compute
        `read_pipeline`): each open stretch of a deal in a stage, clipped to
        the days its dates say it was open, adds its amount in the month it
        starts and takes it away in the month it ends; a period's pipeline is
        the running sum of those monthly changes up to its last month (the
        current month at most)."""
        d = self.d
        open_list = ", ".join(f"'{s}'" for s in OPEN_STAGES)
        first = OPEN_STAGES[0]
        order = "PARTITION BY deal_id ORDER BY changed_at, id"
        history = (
            "ch AS (SELECT deal_id, day, from_stage, to_stage, "
            f"ROW_NUMBER() OVER ({order}) AS rn, LEAD(day) OVER ({order}) AS next_day "
            f"FROM (SELECT id, deal_id, changed_at, from_stage, to_stage, {self.local_date('changed_at')} "
            "AS day FROM crm_dealstagechange) AS c)"
        )
        segments = (
            "seg AS (SELECT deal_id, day AS s, next_day AS e, to_stage AS stage FROM ch "
            "UNION ALL SELECT deal_id, NULL, day, CASE "
            f"WHEN from_stage IN ({open_list}) THEN from_stage "
            f"WHEN from_stage = '' AND to_stage IN ({open_list}) THEN to_stage "
            f"WHEN from_stage = '' THEN '{first}' END FROM ch WHERE rn = 1 "
            f"UNION ALL SELECT d.id, NULL, NULL, CASE WHEN d.stage IN ({open_list}) THEN d.stage "
            f"ELSE '{first}' END FROM crm_deal d "
            "WHERE NOT EXISTS (SELECT 1 FROM crm_dealstagechange c WHERE c.deal_id = d.id))"
        )
        clipped = (
            "clip AS (SELECT d.owner_id, d.team_id, d.amount, sg.stage, "
            "CASE WHEN sg.s IS NULL OR sg.s < d.opened_on THEN d.opened_on ELSE sg.s END AS s, "
            "CASE WHEN sg.e IS NULL THEN d.closed_on "
            "WHEN d.closed_on IS NULL OR sg.e < d.closed_on THEN sg.e ELSE d.closed_on END AS e "
            f"FROM seg sg JOIN crm_deal d ON d.id = sg.deal_id WHERE sg.stage IN ({open_list}))"
        )
        weight = " ".join(f"WHEN '{s}' THEN {STAGE_PROBABILITY[s]}" for s in OPEN_STAGES)
        # A stretch's start and end as signed rows: +1 in its first month, -1
        # in the month it ends (kept to the months that can reach a period).
        last = d.date(min(self.hi, self.today).replace(day=1))
        m = lambda expr: self.trunc("month", expr)  # noqa: E731
        changes = (
            f"SELECT {m('s')} AS day, owner_id, team_id, 1 AS n, amount, CASE stage {weight} END AS w "
            f"FROM clip WHERE (e IS NULL OR s < e) AND s <= {d.date(self.hi)} UNION ALL "
            f"SELECT {m('e')}, owner_id, team_id, -1, amount, CASE stage {weight} END FROM clip "
            f"WHERE e IS NOT NULL AND s < e AND e <= {d.date(self.hi)}"
        )
        monthly = self.monthly(
            "pdelta",
            changes,
            "day",
            {REP: "owner_id", TEAM: "team_id"},
            {"n": "SUM(n)", "amount": "SUM(n * amount)", "weighted": "SUM(n * amount * w)"},
        )
        running = (
            "pipe AS (SELECT p.g, p.ps, pd.st, pd.sid, SUM(pd.n) AS open_count, SUM(pd.amount) AS "
            "open_amount, SUM(pd.weighted) AS weighted FROM periods p "
            f"JOIN pdelta pd ON pd.mon <= p.lm AND pd.mon <= {last} GROUP BY p.g, p.ps, pd.st, pd.sid)"
        )
        return [history, segments, clipped, monthly, running]

    def prospects_sql(self) -> str:
        d = self.d
        facts = self.grouped(
            "pros",
            # kpi-spec v2: converted when it became a *paying* customer (one
            # with a won deal) by the day of computation.
            "SELECT p.created_on, p.owner_id, p.team_id, p.source_campaign_id, "
            f"CASE WHEN c.acquired_on <= {d.date(self.today)} THEN 1 ELSE 0 END AS converted "
            "FROM crm_prospect p LEFT JOIN crm_customer c ON c.id = p.customer_id "
            f"WHERE p.created_on BETWEEN {d.date(self.lo)} AND {d.date(self.hi)}",
            "created_on",
            {REP: "owner_id", TEAM: "team_id", CAMPAIGN: "source_campaign_id"},
            {"total": "COUNT(*)", "converted": "SUM(converted)"},
        )
        cols = "COALESCE(pros.total, 0) AS f_total, COALESCE(pros.converted, 0) AS f_converted"
        outputs = {
            "lead_conversion_rate": (self.ratio("f_converted", "f_total", "100"), "f_converted", "f_total"),
        }
        return self.insert([facts], (COMPANY, TEAM, REP, CAMPAIGN), self.join("pros"), cols, outputs)

    def customers_sql(self) -> str:
        d = self.d
        lo, hi = d.date(self.lo), d.date(self.hi)
        new = self.grouped(
            "newc",
            "SELECT c.acquired_on, CASE WHEN c.first_deal_id IS NULL THEN c.owner_id ELSE fd.owner_id END "
            "AS owner_id, "
            "CASE WHEN c.first_deal_id IS NULL THEN c.team_id ELSE fd.team_id END AS team_id, "
            "c.source_campaign_id FROM crm_customer c "
            f"LEFT JOIN crm_deal fd ON fd.id = c.first_deal_id WHERE c.acquired_on BETWEEN {lo} AND {hi}",
            "acquired_on",
            {REP: "owner_id", TEAM: "team_id", CAMPAIGN: "source_campaign_id"},
            {"new": "COUNT(*)"},
        )
        spend = self.grouped(
            "spend",
            "SELECT s.spent_on, s.campaign_id, cp.team_id, s.amount FROM crm_campaignspend s "
            f"JOIN crm_campaign cp ON cp.id = s.campaign_id WHERE s.spent_on BETWEEN {lo} AND {hi}",
            "spent_on",
            {TEAM: "team_id", CAMPAIGN: "campaign_id"},
            {"spend": "SUM(amount)"},
        )
        cost = self.grouped(
            "cost",
            f"SELECT spent_on, team_id, amount FROM crm_salescost WHERE spent_on BETWEEN {lo} AND {hi}",
            "spent_on",
            {TEAM: "team_id"},
            {"cost": "SUM(amount)"},
        )
        m = lambda expr: self.trunc("month", expr)  # noqa: E731
        # The months whose churn rates feed ltv: five before the first period.
        months = []
        month, last = add_months(self.lo, -5), self.hi.replace(day=1)
        while month <= last:
            months.append(f"({d.date(month)})")
            month = add_months(month, 1)
        # Customers in buckets by the months of acquisition, churn and second
        # won deal: every period boundary is a month start.
        buckets = (
            "second AS (SELECT customer_id, closed_on FROM (SELECT customer_id, closed_on, ROW_NUMBER() OVER "
            "(PARTITION BY customer_id ORDER BY closed_on, id) AS rn FROM crm_deal WHERE stage = 'won' "
            "AND customer_id IS NOT NULL) AS w WHERE rn = 2), "
            f"buckets AS (SELECT c.team_id, {m('c.acquired_on')} AS am, "
            f"CASE WHEN c.churned_on IS NOT NULL THEN {m('c.churned_on')} END AS cm, "
            f"CASE WHEN s.closed_on IS NOT NULL THEN {m('s.closed_on')} END AS sm, COUNT(*) AS n "
            "FROM crm_customer c LEFT JOIN second s ON s.customer_id = c.id WHERE c.acquired_on IS NOT NULL "
            "GROUP BY 1, 2, 3, 4)"
        )
        state_measures = {
            "active": "SUM(n) FILTER (WHERE am < ps AND (cm IS NULL OR cm >= ps))",
            "retained": "SUM(n) FILTER (WHERE am < ps AND (cm IS NULL OR cm > lm))",
            # Churned in P among those active at its start (churn + retention = 100).
            "churned": "SUM(n) FILTER (WHERE am < ps AND cm >= ps AND cm <= lm)",
            "one": "SUM(n) FILTER (WHERE am <= lm)",
            "two": "SUM(n) FILTER (WHERE am <= lm AND sm <= lm)",
        }
        state_sql = ", ".join(f"{self.num(f'COALESCE({e}, 0)')} AS {k}" for k, e in state_measures.items())
        monthly_measures = (
            f"{self.num('COALESCE(SUM(n) FILTER (WHERE am < mon AND (cm IS NULL OR cm >= mon)), 0)')} AS "
            "active, "
            f"{self.num('COALESCE(SUM(n) FILTER (WHERE am < mon AND cm = mon), 0)')} AS churned"
        )
        # ARPA's distinct customers per 12-month window without COUNT(DISTINCT):
        # a customer counts in a window once, at its first won month in it,
        # i.e. a month whose previous won month (LAG) is before the window.
        # Grouped by (team, month, previous month) first: a few thousand rows
        # to join with the windows instead of one per customer and month.
        arpa_measures = (
            f"{self.num('SUM(rev)')} AS rev, "
            f"{self.num('COALESCE(SUM(n) FILTER (WHERE prev IS NULL OR prev < p.wlo), 0)')} AS cus"
        )
        window_lo = d.date(min(add_months(p[1], -12 + MONTHS_IN[p[0]]) for p in self.periods))
        arpa_src = (
            f"cmon_c AS (SELECT dl.customer_id, c.team_id, {m('dl.closed_on')} AS mon, SUM(dl.amount) AS rev "
            "FROM crm_deal dl JOIN crm_customer c ON c.id = dl.customer_id WHERE dl.stage = 'won' "
            f"AND dl.closed_on BETWEEN {window_lo} AND {hi} GROUP BY 1, 2, 3), "
            "cmon AS (SELECT team_id, mon, prev, SUM(CASE WHEN customer_id IS NULL THEN 0 ELSE 1 END) AS n, "
            "SUM(rev) AS rev FROM (SELECT customer_id, team_id, mon, rev, "
            "LAG(mon) OVER (PARTITION BY customer_id ORDER BY mon) AS prev FROM cmon_c) AS l "
            "GROUP BY 1, 2, 3)"
        )
        if d.pg:
            states = (
                "states AS (SELECT p.g, p.ps, CASE WHEN GROUPING(b.team_id) = 0 THEN 'team' ELSE 'company' "
                "END AS st, "
                f"CASE WHEN GROUPING(b.team_id) = 0 THEN b.team_id ELSE 0 END AS sid, {state_sql} "
                "FROM periods p CROSS JOIN buckets b GROUP BY p.g, p.ps, GROUPING SETS ((), (b.team_id)))"
            )
            monthly = (
                "mchurn AS (SELECT mon, CASE WHEN GROUPING(b.team_id) = 0 THEN 'team' ELSE 'company' END "
                "AS st, "
                f"CASE WHEN GROUPING(b.team_id) = 0 THEN b.team_id ELSE 0 END AS sid, {monthly_measures} "
                "FROM months CROSS JOIN buckets b GROUP BY mon, GROUPING SETS ((), (b.team_id)))"
            )
            arpa = (
                "arpa AS (SELECT p.g, p.ps, CASE WHEN GROUPING(cm.team_id) = 0 THEN 'team' ELSE 'company' "
                "END AS st, "
                f"CASE WHEN GROUPING(cm.team_id) = 0 THEN cm.team_id ELSE 0 END AS sid, {arpa_measures} "
                "FROM periods p JOIN cmon cm ON cm.mon BETWEEN p.wlo AND p.pe "
                "GROUP BY p.g, p.ps, GROUPING SETS ((), (cm.team_id)))"
            )
        else:
            states = (
                f"states AS (SELECT p.g, p.ps, 'company' AS st, 0 AS sid, {state_sql} FROM periods p "
                "CROSS JOIN buckets b GROUP BY p.g, p.ps UNION ALL "
                f"SELECT p.g, p.ps, 'team', b.team_id, {state_sql} FROM periods p CROSS JOIN buckets b "
                "GROUP BY p.g, p.ps, b.team_id)"
            )
            monthly = (
                f"mchurn AS (SELECT mon, 'company' AS st, 0 AS sid, {monthly_measures} FROM months "
                "CROSS JOIN buckets b GROUP BY mon UNION ALL "
                f"SELECT mon, 'team', b.team_id, {monthly_measures} FROM months CROSS JOIN buckets b "
                "GROUP BY mon, b.team_id)"
            )
            arpa = (
                f"arpa AS (SELECT p.g, p.ps, 'company' AS st, 0 AS sid, {arpa_measures} FROM periods p "
                "JOIN cmon cm ON cm.mon BETWEEN p.wlo AND p.pe GROUP BY p.g, p.ps UNION ALL "
                f"SELECT p.g, p.ps, 'team', cm.team_id, {arpa_measures} FROM periods p "
                "JOIN cmon cm ON cm.mon BETWEEN p.wlo AND p.pe GROUP BY p.g, p.ps, cm.team_id)"
            )
        # Mean monthly churn over the six months ending with each period's last
        # month, over the months that had customers at their start.
        ltv_churn = (
            "meanchurn AS (SELECT p.g, p.ps, mc.st, mc.sid, AVG(mc.churned / mc.active) AS mean "
            f"FROM periods p JOIN mchurn mc ON mc.mon BETWEEN {d.add_months('p.lm', '-5')} AND p.lm "
            "AND mc.active > 0 AND mc.sid IS NOT NULL GROUP BY p.g, p.ps, mc.st, mc.sid)"
        )
        ctes = [
            new,
            spend,
            cost,
            f"months(mon) AS (VALUES {', '.join(months)})",
            buckets,
            states,
            monthly,
            arpa_src,
            arpa,
            ltv_churn,
        ]
        cols = (
            "COALESCE(newc.new, 0) AS f_new, COALESCE(spend.spend, 0) AS f_spend, "
            "COALESCE(cost.cost, 0) AS f_cost, "
            # kpi-spec v2: the blended CAC (marketing and sales cost) for the
            # company and a team; a campaign has its spend only.
            f"COALESCE(spend.spend, 0) + CASE WHEN gr.st = '{CAMPAIGN}' THEN 0 ELSE COALESCE(cost.cost, 0) "
            "END AS f_acq, "
            "COALESCE(states.active, 0) AS f_active, COALESCE(states.retained, 0) AS f_retained, "
            "COALESCE(states.churned, 0) AS f_churned, COALESCE(states.one, 0) AS f_one, "
            "COALESCE(states.two, 0) AS f_two, COALESCE(arpa.rev, 0) / 12 AS f_mrev, "
            "COALESCE(arpa.cus, 0) AS f_cus, meanchurn.mean AS f_mean"
        )
        joins = (
            self.join("newc")
            + self.join("spend")
            + self.join("cost")
            + self.join("states")
            + self.join("arpa")
            + self.join("meanchurn")
        )
        cac = self.ratio("f_acq", "f_new")
        arpa_v = self.ratio("f_mrev", "f_cus")
        margin = f"(({arpa_v}) * {self.margin})"
        ltv = self.ratio(margin, "f_mean")
        outputs = {
            "new_customers": ("f_new", "f_new", self.null),
            "marketing_spend": ("f_spend", "f_spend", self.null),
            "sales_cost": ("f_cost", "f_cost", self.null),
            "cac": (cac, "f_acq", "f_new"),
            "paid_cac": (self.ratio("f_spend", "f_new"), "f_spend", "f_new"),
            "churn_rate": (self.ratio("f_churned", "f_active", "100"), "f_churned", "f_active"),
            "retention_rate": (self.ratio("f_retained", "f_active", "100"), "f_retained", "f_active"),
            "repeat_purchase_rate": (self.ratio("f_two", "f_one", "100"), "f_two", "f_one"),
            "arpa": (arpa_v, "f_mrev", "f_cus"),
            "ltv": (ltv, margin, "f_mean"),
            "ltv_cac_ratio": (self.ratio(ltv, cac), ltv, cac),
            "cac_payback_months": (self.ratio(cac, margin), cac, margin),
        }
        return self.insert(ctes, (COMPANY, TEAM, REP, CAMPAIGN), joins, cols, outputs)

    def surveys_sql(self) -> str:
        start, end = self.midnight(self.lo), self.midnight(self.hi + dt.timedelta(days=1))
        responses = self.grouped(
            "resp",
            f"SELECT {self.local_date('r.submitted_at')} AS day, i.owner_id, i.team_id, r.nps_score, "
            "r.csat_score "
            "FROM surveys_response r JOIN surveys_invitation i ON i.id = r.invitation_id "
            # An answer from a staff member's own address is no customer's (as the engine).
            f"WHERE r.submitted_at >= {start} AND r.submitted_at < {end} "
            f"AND r.from_staff_address = {self.d.boolean(False)}",
            "day",
            {REP: "owner_id", TEAM: "team_id"},
            {
                "promoters": "COUNT(*) FILTER (WHERE nps_score >= 9)",
                "passives": "COUNT(*) FILTER (WHERE nps_score IN (7, 8))",
                "detractors": "COUNT(*) FILTER (WHERE nps_score <= 6)",
                "good": "COUNT(*) FILTER (WHERE csat_score >= 4)",
                "rated": "COUNT(csat_score)",
            },
        )
        invitations = self.grouped(
            "inv",
            f"SELECT {self.local_date('i.sent_at')} AS day, i.owner_id, i.team_id, i.bounced_at, "
            "CASE WHEN r.id IS NOT NULL THEN 1 ELSE 0 END AS answered FROM surveys_invitation i "
            "LEFT JOIN surveys_response r ON r.invitation_id = i.id "
            f"WHERE i.sent_at >= {start} AND i.sent_at < {end}",
            "day",
            {REP: "owner_id", TEAM: "team_id"},
            {
                "delivered": "COUNT(*) FILTER (WHERE bounced_at IS NULL)",
                "answered": "COALESCE(SUM(answered) FILTER (WHERE bounced_at IS NULL), 0)",
            },
        )
        cols = (
            "COALESCE(resp.promoters, 0) AS f_promoters, COALESCE(resp.passives, 0) AS f_passives, "
            "COALESCE(resp.detractors, 0) AS f_detractors, COALESCE(resp.good, 0) AS f_good, "
            "COALESCE(resp.rated, 0) AS f_rated, COALESCE(inv.delivered, 0) AS f_delivered, "
            "COALESCE(inv.answered, 0) AS f_answered"
        )
        answers = "f_promoters + f_passives + f_detractors"
        outputs = {
            "nps": (
                self.ratio("f_promoters - f_detractors", answers, "100"),
                "f_promoters - f_detractors",
                answers,
            ),
            "csat": (self.ratio("f_good", "f_rated", "100"), "f_good", "f_rated"),
            "survey_response_rate": (
                self.ratio("f_answered", "f_delivered", "100"),
                "f_answered",
                "f_delivered",
            ),
        }
        return self.insert(
            [responses, invitations],
            (COMPANY, TEAM, REP),
            self.join("resp") + self.join("inv"),
            cols,
            outputs,
        )

    def activities_sql(self) -> str:
        d = self.d
        facts = self.grouped(
            "act",
            "SELECT occurred_on, owner_id, team_id FROM crm_activity WHERE kind IN ('call', 'meeting', "
            f"'email') AND done = {d.boolean(True)} "
            f"AND occurred_on BETWEEN {d.date(self.lo)} AND {d.date(self.hi)}",
            "occurred_on",
            {REP: "owner_id", TEAM: "team_id"},
            {"n": "COUNT(*)"},
        )
        outputs = {"activities": ("f_n", "f_n", self.null)}
        return self.insert(
            [facts], (COMPANY, TEAM, REP), self.join("act"), "COALESCE(act.n, 0) AS f_n", outputs
        )

    def percentiles(self, name: str, hist: str, group: str) -> str:
        """A CTE `name(group…, n, p50, p75, a)` from a histogram `hist`
        (group…, v, cnt, a): the count, the median and the 75th percentile of
        v (linear interpolation between the two values either side of
        position (n − 1) × p, as `percentile_cont`), and Σ a. The values are
        whole days, so a histogram is small, and it adds up over months where
        a percentile does not: quarters and years sum their months' counts
        and take the percentile from the sums. Written here again rather than
        borrowed from kpis.process: the floor checks the engine, so it shares
        none of its logic."""
        floor = "FLOOR" if self.d.pg else "CAST"

        def position(p: str) -> str:
            h = f"((n - 1) * {p})"
            return f"{h} AS h{p[2:]}, {floor}({h}{'' if self.d.pg else ' AS INTEGER'}) AS i{p[2:]}"

        def at(i: str) -> str:
            return f"MAX(CASE WHEN upto - cnt <= {i} AND {i} < upto THEN v END)"

        def pick(p: str) -> str:
            lo, hi = f"v{p}", f"COALESCE(w{p}, v{p})"
            return f"{lo} + (h{p} - i{p}) * ({hi} - {lo})"

        cum = (
            f"SELECT x.*, SUM(cnt) OVER (PARTITION BY {group} ORDER BY v) AS upto, "
            f"SUM(cnt) OVER (PARTITION BY {group}) AS n FROM {hist} x"
        )
        ranked = f"SELECT c.*, {position('0.5')}, {position('0.75')} FROM ({cum}) AS c"
        picked = (
            f"SELECT {group}, n, h5, i5, h75, i75, {at('i5')} AS v5, {at('i5 + 1')} AS w5, "
            f"{at('i75')} AS v75, {at('i75 + 1')} AS w75, SUM(a) AS a FROM ({ranked}) AS r "
            f"GROUP BY {group}, n, h5, i5, h75, i75"
        )
        return (
            f"{name} AS (SELECT {group}, n, {pick('5')} AS p50, {pick('75')} AS p75, a FROM ({picked}) AS q)"
        )

    def monthly_histogram(self, name: str, source: str, period_col: str) -> str:
        """`name(g, ps, st, sid, k, v, cnt, a)`: the source's (k, v, a) rows
        counted once by month × scope × k × v, then summed per period."""
        monthly = self.monthly(
            f"m_{name}", source, period_col, {REP: "owner_id", TEAM: "team_id"},
            {"cnt": "COUNT(*)", "a": "SUM(a)"}, keys=("k", "v"),
        )  # fmt: skip
        return (
            f"{monthly}, {name} AS (SELECT p.g, p.ps, m.st, m.sid, m.k, m.v, SUM(m.cnt) AS cnt, "
            f"SUM(m.a) AS a FROM pmonths p JOIN m_{name} m ON m.mon = p.mon "
            "GROUP BY p.g, p.ps, m.st, m.sid, m.k, m.v)"
        )

    def process_sql(self) -> str:
        """Issue 12's process KPIs: time in stage and stage conversion from the
        stays left in each period, lead response from the prospects created
        in it, and the deals stalled today (kpis.process, whose readings of
        the spec these follow). Percentiles per period and scope: each stay
        or lead is counted for the company, its team and its rep."""
        d = self.d
        lo, hi, today = d.date(self.lo), d.date(self.hi), d.date(self.today)
        open_list = ", ".join(f"'{s}'" for s in OPEN_STAGES)
        order = " ".join(f"WHEN '{s}' THEN {n}" for n, s in enumerate((*OPEN_STAGES, "won"), start=1))
        window = "OVER (PARTITION BY deal_id ORDER BY changed_at, id)"
        kinds = f"kinds(st) AS (VALUES ('{COMPANY}'), ('{TEAM}'), ('{REP}'))"
        sid = f"CASE k.st WHEN '{COMPANY}' THEN 0 WHEN '{TEAM}' THEN x.team_id ELSE x.owner_id END"
        # A stay runs from an entry into an open stage to the deal's next entry.
        stays = (
            "stays AS (SELECT d.owner_id, d.team_id, d.stage AS deal_stage, h.stage, h.e, "
            f"{d.day_diff('h.e', 'h.s')} AS days, CASE WHEN (CASE h.next_stage {order} ELSE 0 END) > "
            f"(CASE h.stage {order} ELSE 0 END) THEN 1 ELSE 0 END AS moved "
            f"FROM (SELECT deal_id, to_stage AS stage, day AS s, LEAD(day) {window} AS e, "
            f"LEAD(to_stage) {window} AS next_stage FROM (SELECT id, deal_id, changed_at, to_stage, "
            f"{self.local_date('changed_at')} AS day FROM crm_dealstagechange) AS c) AS h "
            f"JOIN crm_deal d ON d.id = h.deal_id WHERE h.stage IN ({open_list}) AND h.e IS NOT NULL)"
        )
        left_hist = self.monthly_histogram(
            "left_h",
            "SELECT e, owner_id, team_id, stage AS k, days AS v, moved AS a FROM stays "
            f"WHERE e BETWEEN {lo} AND {hi}",
            "e",
        )
        left = self.percentiles("left_s", "left_h", "g, ps, st, sid, k")
        rate = {s: f"MAX(CASE WHEN k = '{s}' THEN {self.num('a')} / n END)" for s in OPEN_STAGES}
        product = " * ".join(f"COALESCE({r}, 1)" for r in rate.values())
        stage_sums = (
            f"tis AS (SELECT g, ps, st, sid, {self.num('SUM(n)')} AS left_n, {self.num('SUM(a)')} AS moved, "
            f"{self.num('SUM(p50)')} AS med, 100 * {product} AS conv FROM left_s WHERE sid IS NOT NULL "
            "GROUP BY g, ps, st, sid)"
        )
        kind_list = ", ".join(f"'{k}'" for k in ("call", "meeting", "email"))
        first = (
            "SELECT a.prospect_id, MIN(a.occurred_on) AS first_day FROM crm_activity a "
            f"JOIN crm_prospect p ON p.id = a.prospect_id WHERE a.done = {d.boolean(True)} "
            f"AND a.kind IN ({kind_list}) AND p.created_on BETWEEN {lo} AND {hi} GROUP BY a.prospect_id"
        )
        days = d.day_diff("f.first_day", "x.created_on")
        hours = f"CASE WHEN f.first_day < x.created_on THEN 0 ELSE {days} * 24 END"
        lead_hist = self.monthly_histogram(
            "lead_h",
            f"SELECT x.created_on, x.owner_id, x.team_id, 'hours' AS k, {hours} AS v, 1 AS a "
            f"FROM crm_prospect x JOIN ({first}) AS f ON f.prospect_id = x.id",
            "created_on",
        )
        leads = self.percentiles("leads", "lead_h", "g, ps, st, sid")
        # Stalled: open deals whose days since their latest stage entry exceed
        # the P75 of won deals' stays in that stage, the team's own when it
        # has KPI_MIN_SAMPLE of them, else the company's.
        won_hist = (
            f"won_h AS (SELECT k.st, {sid} AS sid, x.stage AS k, x.days AS v, COUNT(*) AS cnt, 0 AS a "
            f"FROM stays x CROSS JOIN kinds k WHERE x.deal_stage = 'won' AND k.st <> '{REP}' "
            "GROUP BY k.st, 2, x.stage, x.days)"
        )
        thresholds = self.percentiles("won_p75", "won_h", "st, sid, k")
        since = (
            f"COALESCE((SELECT MAX({self.local_date('c.changed_at')}) FROM crm_dealstagechange c "
            "WHERE c.deal_id = dl.id), dl.opened_on)"
        )
        stalled = (
            "stalled_src AS (SELECT dl.owner_id, dl.team_id FROM crm_deal dl "
            f"JOIN won_p75 co ON co.st = '{COMPANY}' AND co.k = dl.stage "
            f"LEFT JOIN won_p75 tm ON tm.st = '{TEAM}' AND tm.sid = dl.team_id AND tm.k = dl.stage "
            f"AND tm.n >= {self.min_sample} WHERE dl.stage IN ({open_list}) "
            f"AND {d.day_diff(today, since)} > COALESCE(tm.p75, co.p75)), "
            f"stalled AS (SELECT k.st, {sid} AS sid, COUNT(*) AS n FROM stalled_src x CROSS JOIN kinds k "
            "GROUP BY k.st, sid)"
        )
        cols = (
            "tis.left_n AS f_left, tis.moved AS f_moved, tis.med AS f_med, tis.conv AS f_conv, "
            "leads.n AS f_touched, leads.p50 AS f_lead, COALESCE(stalled.n, 0) AS f_stalled"
        )
        joins = (
            self.join("tis")
            + self.join("leads")
            + " LEFT JOIN stalled ON gr.st = stalled.st AND gr.sid = stalled.sid"
        )
        outputs = {
            "time_in_stage_days": ("f_med", "f_med", "f_left"),
            "stage_conversion_rate": ("f_conv", "CASE WHEN f_moved > 0 THEN f_moved END", "f_left"),
            "lead_response_hours": ("f_lead", "f_lead", "f_touched"),
            "stalled_deals": ("f_stalled", "f_stalled", self.null),
        }
        ctes = [kinds, stays, left_hist, left, stage_sums, lead_hist, leads, won_hist, thresholds, stalled]
        return self.insert(ctes, (COMPANY, TEAM, REP), joins, cols, outputs)

    def workdays_before(self, day: str) -> str:
        """Monday–Friday days from Monday 3 January 2000 to the day before `day`."""
        n = self.d.day_diff(day, self.d.date(dt.date(2000, 1, 3)))
        return f"(({n}) / 7 * 5 + {self.d.least(f'({n}) % 7', '5')})"

    def team_sql(self) -> str:
        """The team's KPIs (team/kpis.py): training hours, active selling days
        (a rep's distinct working days with a done call, meeting or email ÷
        the working days they were on the staff; a team and the company Σ ÷ Σ
        over their active salespeople) and the certified share at each
        period's end (today for the period under way)."""
        d = self.d
        lo, hi, today = d.date(self.lo), d.date(self.hi), d.date(self.today)
        t = d.boolean(True)
        training = self.grouped(
            "train",
            "SELECT s.date, a.user_id, a.team_id, s.hours FROM team_trainingattendance a "
            "JOIN team_trainingsession s ON s.id = a.session_id WHERE s.confirmed_at IS NOT NULL "
            f"AND s.date <= {today} AND s.date BETWEEN {lo} AND {hi}",
            "date",
            {REP: "user_id", TEAM: "team_id"},
            {"hours": "SUM(hours)"},
        )
        weekday = f"{d.day_diff('occurred_on', d.date(dt.date(2000, 1, 3)))} % 7 < 5"
        selling = self.grouped(
            "sdays",
            "SELECT DISTINCT owner_id, occurred_on FROM crm_activity WHERE kind IN ('call', 'meeting', "
            f"'email') AND done = {t} AND {weekday} AND occurred_on BETWEEN {lo} AND {hi}",
            "occurred_on",
            {REP: "owner_id"},
            {"days": "COUNT(*)"},
        )
        # Each member of the staff in each period: from the day a salesperson
        # joined (a manager from the period's start), to its end or today.
        staff = (
            "staff AS (SELECT p.g, p.ps, u.id, u.team_id, u.role, u.joined, "
            f"CASE WHEN u.role = 'salesperson' AND u.joined > p.ps THEN u.joined ELSE p.ps END AS first, "
            f"{d.least('p.pe', today)} AS last FROM periods p CROSS JOIN (SELECT id, team_id, role, "
            f"{self.local_date('date_joined')} AS joined FROM crm_user WHERE is_active = {t} "
            "AND role IN ('salesperson', 'manager')) AS u)"
        )
        workdays = (
            f"CASE WHEN s.first > s.last THEN 0 ELSE {self.workdays_before(d.add_days('s.last', '1'))} - "
            f"{self.workdays_before('s.first')} END"
        )
        certified = (
            "CASE WHEN s.joined <= s.last AND EXISTS (SELECT 1 FROM team_certification c "
            "WHERE c.user_id = s.id AND c.confirmed_at IS NOT NULL AND c.obtained_on <= s.last "
            "AND (c.expires_on IS NULL OR c.expires_on >= s.last)) THEN 1 ELSE 0 END"
        )
        members = (
            "members AS (SELECT s.g, s.ps, s.id, s.team_id, s.role, COALESCE(sd.days, 0) AS days, "
            f"{workdays} AS wd, CASE WHEN s.joined <= s.last THEN 1 ELSE 0 END AS on_staff, "
            f"{certified} AS cert FROM staff s LEFT JOIN sdays sd ON sd.g = s.g AND sd.ps = s.ps "
            "AND sd.st = 'rep' AND sd.sid = s.id)"
        )
        sums = "SUM(days) AS days, SUM(wd) AS wd, SUM(on_staff) AS on_staff, SUM(cert) AS cert"
        people = (
            f"people AS (SELECT g, ps, '{REP}' AS st, id AS sid, days, wd, on_staff, cert FROM members "
            f"UNION ALL SELECT g, ps, '{TEAM}', team_id, {sums} FROM members WHERE role = 'salesperson' "
            "AND team_id IS NOT NULL GROUP BY g, ps, team_id "
            f"UNION ALL SELECT g, ps, '{COMPANY}', 0, {sums} FROM members WHERE role = 'salesperson' "
            "GROUP BY g, ps)"
        )
        cols = (
            "COALESCE(train.hours, 0) AS f_hours, "
            f"{self.num('COALESCE(people.days, 0)')} AS f_days, "
            f"{self.num('COALESCE(people.wd, 0)')} AS f_wd, "
            f"{self.num('COALESCE(people.on_staff, 0)')} AS f_staff, "
            f"{self.num('COALESCE(people.cert, 0)')} AS f_cert"
        )
        outputs = {
            "training_hours": ("f_hours", "f_hours", self.null),
            "active_selling_days": (self.ratio("f_days", "f_wd", "100"), "f_days", "f_wd"),
            "certified_share": (self.ratio("f_cert", "f_staff", "100"), "f_cert", "f_staff"),
        }
        ctes = [training, selling, staff, members, people]
        joins = self.join("train") + self.join("people")
        return self.insert(ctes, (COMPANY, TEAM, REP), joins, cols, outputs)

    def scope_rule(self, name: str, state: str) -> str:
        """`name(g, ps, sid)`: the teams kpis.compute `_suppress_across_scopes`
        withholds in one pass over `state(g, ps, st, sid, n, shown)`: where the
        company's figure is shown, the smallest shown teams, until the company
        minus the shown teams is 0 or at least 5 answers and no lone hidden
        team could be read as that difference."""
        low = KPIS["enps"].anonymous_below
        ranked = (
            f"SELECT t.g, t.ps, t.sid, t.n, c.n AS total, ROW_NUMBER() OVER (PARTITION BY t.g, t.ps "
            "ORDER BY t.n, t.sid) - 1 AS k, SUM(t.n) OVER (PARTITION BY t.g, t.ps ORDER BY t.n, t.sid "
            "ROWS UNBOUNDED PRECEDING) - t.n AS before, SUM(t.n) OVER (PARTITION BY t.g, t.ps) AS s, "
            "COUNT(*) OVER (PARTITION BY t.g, t.ps) AS m, MIN(t.n) OVER (PARTITION BY t.g, t.ps) AS first_n "
            f"FROM {state} t JOIN {state} c ON c.g = t.g AND c.ps = t.ps AND c.st = '{COMPANY}' "
            f"AND c.shown = 1 WHERE t.st = '{TEAM}' AND t.shown = 1"
        )
        hidden = (
            f"SELECT g, ps, COUNT(*) AS h, MAX(n) AS h_n FROM {state} WHERE st = '{TEAM}' AND shown = 0 "
            "AND n > 0 GROUP BY g, ps"
        )
        # Popping k teams leaves the company minus the rest; a lone hidden team
        # (the one hidden before, or the first popped) must not be readable.
        lone = "CASE WHEN r.k = 0 THEN hd.h_n ELSE r.first_n END"
        keeps = (
            f"NOT ((r.total - (r.s - r.before) > 0 AND r.total - (r.s - r.before) < {low}) "
            f"OR (COALESCE(hd.h, 0) + r.k = 1 AND {lone} >= {low}))"
        )
        stop = (
            f"SELECT r.g, r.ps, MIN(CASE WHEN {keeps} THEN r.k ELSE r.m END) AS stop FROM {name}_r AS r "
            f"LEFT JOIN ({hidden}) AS hd ON hd.g = r.g AND hd.ps = r.ps GROUP BY r.g, r.ps"
        )
        # The ranking is computed once (MATERIALIZED): inlined twice, the
        # planner, which expects one row of each state CTE, ran it again for
        # every row of the other copy (over 10 minutes on M).
        return (
            f"{name}_r AS MATERIALIZED ({ranked}), "
            f"{name} AS (SELECT r.g, r.ps, r.sid FROM {name}_r AS r JOIN ({stop}) AS st "
            "ON st.g = r.g AND st.ps = r.ps WHERE r.k < st.stop)"
        )

    def enps_sql(self) -> str:
        """eNPS over the pulse answers, with kpis.compute's anonymity rules: a
        figure of fewer than 5 answers is withheld; a quarter or year whose
        shown months (or quarters) leave 1–4 answers is withheld; where the
        company is shown, the teams that would leave 1–4 answers (the company
        minus the shown teams) are withheld, before and again after the
        period rule, as the engine's loop does until nothing changes."""
        d = self.d
        lo, hi = d.date(self.lo), d.date(self.hi)
        low = KPIS["enps"].anonymous_below
        source = (
            "SELECT submitted_on, team_id, score FROM team_pulseanswer "
            f"WHERE submitted_on BETWEEN {lo} AND {hi}"
        )
        pulse = self.grouped(
            "pulse",
            source,
            "submitted_on",
            {TEAM: "team_id"},
            {
                "pro": "COUNT(*) FILTER (WHERE score >= 9)",
                "det": "COUNT(*) FILTER (WHERE score <= 6)",
                "n": "COUNT(*)",
            },
        )
        monthly = self.monthly("pmon", source, "submitted_on", {TEAM: "team_id"}, {"n": "COUNT(*)"})
        base = (
            "ebase AS (SELECT p.g, p.ps, s.st, s.sid, COALESCE(pu.pro, 0) AS pro, "
            "COALESCE(pu.det, 0) AS det, COALESCE(pu.n, 0) AS n FROM periods p CROSS JOIN scopes s "
            "LEFT JOIN pulse pu ON pu.g = p.g AND pu.ps = p.ps AND pu.st = s.st AND pu.sid = s.sid)"
        )
        shown_n = f"CASE WHEN mc.n >= {low} THEN mc.n ELSE 0 END"
        quarters = (
            f"SELECT pm.ps, mc.st, mc.sid, {self.trunc('quarter', 'mc.mon')} AS q, SUM(mc.n) AS qn "
            "FROM pmonths pm JOIN pmon mc ON mc.mon = pm.mon WHERE pm.g = 'year' GROUP BY 1, 2, 3, 4"
        )
        periods_rule = (
            f"sm AS (SELECT pm.g, pm.ps, mc.st, mc.sid, SUM({shown_n}) AS shown FROM pmonths pm "
            "JOIN pmon mc ON mc.mon = pm.mon WHERE pm.g <> 'month' GROUP BY pm.g, pm.ps, mc.st, mc.sid), "
            f"sq AS (SELECT ps, st, sid, SUM(CASE WHEN qn >= {low} THEN qn ELSE 0 END) AS shown "
            f"FROM ({quarters}) AS x GROUP BY ps, st, sid), "
            "eper AS (SELECT b.g, b.ps, b.st, b.sid, b.pro, b.det, b.n, CASE WHEN b.g <> 'month' AND "
            f"b.n >= {low} AND ((b.n - COALESCE(sm.shown, 0) > 0 AND b.n - COALESCE(sm.shown, 0) < {low}) "
            f"OR (b.g = 'year' AND b.n - COALESCE(sq.shown, 0) > 0 AND b.n - COALESCE(sq.shown, 0) < {low})) "
            "THEN 1 ELSE 0 END AS pw FROM ebase b "
            "LEFT JOIN sm ON sm.g = b.g AND sm.ps = b.ps AND sm.st = b.st AND sm.sid = b.sid "
            "LEFT JOIN sq ON b.g = 'year' AND sq.ps = b.ps AND sq.st = b.st AND sq.sid = b.sid)"
        )
        first = f"e1 AS (SELECT g, ps, st, sid, n, CASE WHEN n >= {low} THEN 1 ELSE 0 END AS shown FROM eper)"
        second = (
            "e2 AS (SELECT e.g, e.ps, e.st, e.sid, e.n, CASE WHEN e.n >= "
            f"{low} AND e.pw = 0 AND w1.sid IS NULL THEN 1 ELSE 0 END AS shown FROM eper e "
            f"LEFT JOIN w1 ON e.st = '{TEAM}' AND w1.g = e.g AND w1.ps = e.ps AND w1.sid = e.sid)"
        )
        final = (
            "enps AS (SELECT e.g, e.ps, e.st, e.sid, e.pro, e.det, e.n, "
            "CASE WHEN e2.shown = 1 AND w2.sid IS NULL THEN 1 ELSE 0 END AS shown FROM eper e "
            "JOIN e2 ON e2.g = e.g AND e2.ps = e.ps AND e2.st = e.st AND e2.sid = e.sid "
            f"LEFT JOIN w2 ON e.st = '{TEAM}' AND w2.g = e.g AND w2.ps = e.ps AND w2.sid = e.sid)"
        )
        ctes = [
            pulse,
            monthly,
            base,
            periods_rule,
            first,
            self.scope_rule("w1", "e1"),
            second,
            self.scope_rule("w2", "e2"),
            final,
        ]
        num = "CASE WHEN enps.shown = 1 THEN enps.pro - enps.det END"
        cols = f"{self.num(num)} AS f_num, {self.num('CASE WHEN enps.shown = 1 THEN enps.n END')} AS f_n"
        outputs = {"enps": (self.ratio("f_num", "f_n", "100"), "f_num", "f_n")}
        return self.insert(ctes, (COMPANY, TEAM), self.join("enps"), cols, outputs)

    def statements(self) -> dict[str, str]:
        return {
            "deals": self.deals_sql(),
            "prospects": self.prospects_sql(),
            "customers": self.customers_sql(),
            "surveys": self.surveys_sql(),
            "activities": self.activities_sql(),
            "process": self.process_sql(),
            "team": self.team_sql(),
            "enps": self.enps_sql(),
        }

    def run(self) -> None:
        """Run the five statements in one transaction."""
        with transaction.atomic(), connection.cursor() as cursor:
            if self.d.pg and self.work_mem:
                # A batch job's own memory for its sorts and hashes, as a DBA
                # would give it (docs/benchmarks.md: the floor's settings).
                cursor.execute(f"SET LOCAL work_mem = '{self.work_mem}'")
            if self.d.pg:
                # JIT compiles these wide statements for seconds (EXPLAIN
                # ANALYZE: 2.5 s of 7 s for the customers statement on M).
                cursor.execute("SET LOCAL jit = off")
            for sql in self.statements().values():
                cursor.execute(sql)


class MonthFloor(Floor):
    """The floor the full recompute is held to (issue 17): each fact table is
    grouped **once**, by month × scope (`GROUPING SETS` over the scopes only),
    and quarters and years are summed in SQL from those monthly rows, as the
    engine sums them from its monthly facts. Every fact it groups is additive
    over months and every period is a run of whole months, so the rows are
    the same as `Floor`'s, which groups each table by month, quarter and
    year."""

    def grouped(self, name: str, source: str, period_col: str, scopes: dict[str, str], measures: dict) -> str:
        monthly = self.monthly(f"m_{name}", source, period_col, scopes, measures)
        sums = ", ".join(f"SUM(m.{k}) AS {k}" for k in measures)
        return (
            f"{monthly}, {name} AS (SELECT p.g, p.ps, m.st, m.sid, {sums} FROM pmonths p "
            f"JOIN m_{name} m ON m.mon = p.mon GROUP BY p.g, p.ps, m.st, m.sid)"
        )
