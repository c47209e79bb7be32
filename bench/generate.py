"""Benchmark datasets, written with set-based SQL and a fixed seed.

Every row comes from `INSERT … SELECT` over a series of row numbers
(generate_series on PostgreSQL, a recursive CTE on SQLite); each
pseudo-random choice is a hash of the row number and a salt (see
`Dialect.rnd`), so the same size and the same `today` give the same rows on
every run and both databases, and no Python loop ever walks the rows.

The shape follows a sales org: teams of about ten reps, a skewed share of
the leads per rep, a win rate per rep, sales cycles of days to months,
about one prospect in ten converted, repeat business concentrated on a few
customers, churn (marked, and by inactivity as the nightly rule would),
campaigns with monthly spend, monthly targets, and survey invitations after
won deals of which about 40% are answered (a fifth of them by detractors),
with two extra questions on the survey. Every deal has a stage history: most
walk the stages in order, some skip one, some move backwards, some were
won or lost and reopened before reaching where they are.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction

from bench.sql import Dialect

BENCH_PASSWORD = "bench-pw"
MONTHS = 24


@dataclass(frozen=True)
class Size:
    name: str
    deals: int
    prospects: int
    responses: int
    reps: int
    months: int = MONTHS

    @property
    def teams(self) -> int:
        return max(2, self.reps // 10)

    @property
    def campaigns(self) -> int:
        return max(4, self.reps // 5)

    @property
    def customers(self) -> int:
        # Every tenth prospect converts (see prospects()).
        return self.prospects // 10

    @property
    def activities(self) -> int:
        return self.deals

    @property
    def invitations(self) -> int:
        # ~40% of invitations are answered and ~3% bounce (see surveys()).
        return math.ceil(self.responses / 0.388)


SIZES = {
    "tiny": Size("tiny", deals=500, prospects=1500, responses=150, reps=6),
    "S": Size("S", deals=100_000, prospects=300_000, responses=30_000, reps=50),
    "M": Size("M", deals=1_000_000, prospects=3_000_000, responses=300_000, reps=200),
}

# Tables the generator fills, children first (the order a wipe needs).
TABLES = [
    "kpis_kpisnapshot",
    "surveys_answer",
    "surveys_response",
    "surveys_invitation",
    "surveys_surveyquestion",
    "surveys_survey",
    "crm_activity",
    "team_trainingattendance",
    "team_trainingsession",
    "team_certification",
    "team_pulseanswer",
    "team_pulseround",
    "crm_dealstagechange",
    "crm_target",
    "crm_deal",
    "crm_prospect",
    "crm_customer",
    "crm_campaignspend",
    "crm_salescost",
    "crm_campaign",
    "crm_product",
    "crm_user",
    "crm_team",
]

CHANNELS = ["email", "events", "paid_search", "social", "content", "referral", "partner", "other"]
OPEN_STAGES = ["prospecting", "qualification", "proposal", "negotiation"]
STAGES = [*OPEN_STAGES, "won", "lost"]
# Stage histories (see Generator.stage_history): a path is cut where it first
# reaches the deal's stage, then the deal moves there.
PATHS = [
    ["prospecting", "qualification", "proposal", "negotiation"],  # in order
    ["prospecting", "proposal", "negotiation"],  # qualification skipped
    ["qualification", "negotiation"],  # entered late, proposal skipped
    ["prospecting", "qualification", "proposal", "qualification", "proposal", "negotiation"],  # backwards
    ["prospecting", "qualification", "negotiation", "won", "negotiation"],  # won, reopened
    ["prospecting", "proposal", "negotiation", "lost", "proposal"],  # lost, reopened
]
PRODUCTS = [("Starter", "1200.00"), ("Team", "4800.00"), ("Enterprise", "18000.00"),
            ("Onboarding", "2500.00"), ("Training", "1500.00"), ("Support", "6000.00")]  # fmt: skip


def company_today() -> dt.date:
    from crm.models import today

    return today()


class Generator:
    def __init__(
        self,
        size: Size,
        today: dt.date | None = None,
        progress: Callable[[str, float], None] | None = None,
    ) -> None:
        self.size = size
        self.today = today or company_today()
        self.d = Dialect(connection.vendor)
        self.start = dt.date(self.today.year, self.today.month, 1)
        index = self.start.year * 12 + self.start.month - 1 - (size.months - 1)
        self.start = dt.date(index // 12, index % 12 + 1, 1)
        self.days = (self.today - self.start).days + 1
        # Every timestamp the generator writes is at most this instant.
        self.now = dt.datetime.combine(self.today, dt.time.min, tzinfo=dt.UTC)
        self.progress = progress or (lambda step, seconds: None)
        self.timings: dict[str, float] = {}

    # -- helpers --

    def exec(self, sql: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql)

    def scalar(self, sql: str):
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchone()[0]

    def step(self, name: str, fn: Callable[[], None]) -> None:
        began = time.perf_counter()
        fn()
        self.timings[name] = round(time.perf_counter() - began, 3)
        self.progress(name, self.timings[name])

    def rep_id(self, expr: str) -> str:
        """A rep's user id from a row number, skewed: the minimum of two draws
        makes the first reps carry more of the book than the last."""
        s, d = self.size, self.d
        pick = d.least(d.rnd(expr, 11, s.reps), d.rnd(expr, 12, s.reps))
        return f"({s.teams} + 2 + {pick})"

    def team_of_rep(self, rep: str) -> str:
        return f"(1 + (({rep}) - {self.size.teams} - 2) % {self.size.teams})"

    # -- the whole load --

    def run(self) -> dict:
        with transaction.atomic():
            if self.d.pg:
                # A bench database is disposable: don't wait for the disk on each commit.
                self.exec("SET LOCAL synchronous_commit TO OFF")
            self.step("wipe", self.wipe)
            self.step("people", self.people)
            self.step("campaigns", self.campaigns)
            self.step("prospects", self.prospects)
            self.step("customers", self.customers)
            self.step("deals", self.deals)
            self.step("stage_history", self.stage_history)
            self.step("acquisition_and_churn", self.acquisition_and_churn)
            self.step("activities", self.activities)
            self.step("targets", self.targets)
            self.step("sales_costs", self.sales_costs)
            self.step("training", self.training)
            self.step("pulse", self.pulse)
            self.step("surveys", self.surveys)
            if self.d.pg:
                self.step("sequences", self.sequences)
        # VACUUM too on PostgreSQL: it sets the visibility map, as autovacuum
        # would soon after such a load, so index-only scans are what they are
        # in a running system (a count or a list otherwise reads the heap).
        # (Not inside a transaction, as in the tests: there ANALYZE alone.)
        vacuum = self.d.pg and not connection.in_atomic_block
        self.step("analyze", lambda: self.exec("VACUUM (ANALYZE)" if vacuum else "ANALYZE"))
        return {"size": asdict(self.size), "today": self.today.isoformat(), "timings": self.timings}

    def wipe(self) -> None:
        if self.d.pg:
            # Django's foreign keys are deferred: rows written earlier in the
            # same transaction (a second run in one test) must be checked
            # before TRUNCATE may remove their tables' rows.
            self.exec("SET CONSTRAINTS ALL IMMEDIATE")
            self.exec(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
            self.exec("SET CONSTRAINTS ALL DEFERRED")
            return
        for table in TABLES:
            self.exec(f"DELETE FROM {table}")
        self.exec("DELETE FROM sqlite_sequence")

    def people(self) -> None:
        s, d = self.size, self.d
        password = make_password(BENCH_PASSWORD).replace("'", "''")
        joined = d.timestamp(self.now)
        t, f = d.boolean(True), d.boolean(False)
        self.exec(
            f"{d.with_recursive} {d.nums(s.teams)} "
            "INSERT INTO crm_team (id, name, region) "
            "SELECT n, 'Team ' || n, 'Region ' || (1 + n % 5) FROM nums"
        )
        cols = (
            "id, password, is_superuser, username, first_name, last_name, email, "
            "is_staff, is_active, date_joined, role, team_id"
        )
        self.exec(
            f"INSERT INTO crm_user ({cols}) VALUES (1, '{password}', {t}, 'admin', 'Ada', 'Admin', "
            f"'admin@bench.example', {t}, {t}, {joined}, 'admin', NULL)"
        )
        # Managers 2..teams+1 (one per team), then the reps.
        self.exec(
            f"{d.with_recursive} {d.nums(s.teams)} INSERT INTO crm_user ({cols}) "
            f"SELECT 1 + n, '{password}', {f}, 'manager' || n, 'Manager', 'No ' || n, "
            f"'manager' || n || '@bench.example', {f}, {t}, {joined}, 'manager', n FROM nums"
        )
        rep = f"({s.teams} + 1 + n)"
        # Most reps were on the staff before the data starts; one in five
        # joined during it (active_selling_days and certified_share count a
        # rep from the day they joined).
        late = d.at_seconds(d.add_days(d.date(self.start), d.rnd("n", 13, self.days)), "36000")
        early = d.at_seconds(d.add_days(d.date(self.start), "-30"), "36000")
        rep_joined = f"CASE WHEN n % 5 = 0 THEN {late} ELSE {early} END"
        self.exec(
            f"{d.with_recursive} {d.nums(s.reps)} INSERT INTO crm_user ({cols}) "
            f"SELECT {rep}, '{password}', {f}, 'rep' || n, 'Rep', 'No ' || n, "
            f"'rep' || n || '@bench.example', {f}, {t}, {rep_joined}, 'salesperson', "
            f"{self.team_of_rep(rep)} FROM nums"
        )
        values = ", ".join(
            f"({i}, '{name}', {price}, {t})" for i, (name, price) in enumerate(PRODUCTS, start=1)
        )
        self.exec(f"INSERT INTO crm_product (id, name, list_price, is_active) VALUES {values}")

    def campaigns(self) -> None:
        s, d = self.size, self.d
        channels = " ".join(f"WHEN {i} THEN '{c}'" for i, c in enumerate(CHANNELS))
        self.exec(
            f"{d.with_recursive} {d.nums(s.campaigns)} "
            "INSERT INTO crm_campaign (id, name, channel, team_id, starts_on, ends_on) "
            f"SELECT n, 'Campaign ' || n, CASE n % {len(CHANNELS)} {channels} END, "
            f"CASE WHEN n % 3 = 0 THEN NULL ELSE 1 + n % {s.teams} END, {d.date(self.start)}, NULL "
            "FROM nums"
        )
        # One spend line per campaign and month, mid-month.
        month = f"((n - 1) / {s.campaigns})"
        amount = d.money(f"500 + {d.rnd('n', 21, 5000)} + {d.rnd('n', 22, 100)} / 100.0")
        self.exec(
            f"{d.with_recursive} {d.nums(s.campaigns * s.months)} "
            "INSERT INTO crm_campaignspend (campaign_id, spent_on, amount, note) "
            f"SELECT 1 + (n - 1) % {s.campaigns}, "
            f"{d.add_days(d.add_months(d.date(self.start), month), '14')}, "
            f"{amount}, "
            "'Monthly spend' FROM nums"
        )

    def prospects(self) -> None:
        s, d = self.size, self.d
        # Every tenth prospect converts; it was created at least 30 days ago.
        created = (
            f"CASE WHEN n % 10 = 0 THEN {d.add_days(d.date(self.start), d.rnd('n', 31, self.days - 30))} "
            f"ELSE {d.add_days(d.date(self.start), d.rnd('n', 32, self.days))} END"
        )
        campaign = f"CASE WHEN {d.rnd('n', 33, 100)} < 60 THEN 1 + {d.rnd('n', 34, s.campaigns)} END"
        age = d.day_diff(d.date(self.today), "created_on")
        status = (
            f"CASE WHEN n % 10 = 0 THEN 'qualified' "
            f"WHEN {d.rnd('n', 35, 100)} < 30 AND {age} > 20 THEN 'lost' "
            f"ELSE CASE {d.rnd('n', 36, 3)} WHEN 0 THEN 'new' WHEN 1 THEN 'contacted' ELSE 'qualified' END "
            "END"
        )
        self.exec(
            f"{d.with_recursive} {d.nums(s.prospects)} "
            "INSERT INTO crm_prospect (id, name, company, email, phone, owner_id, team_id, "
            "source_campaign_id, status, created_on, customer_id, converted_on, lost_reason) "
            f"SELECT n, 'Prospect ' || n, 'Company ' || n, '', '', owner_id, {self.team_of_rep('owner_id')}, "
            f"campaign_id, {status}, created_on, NULL, NULL, "
            f"CASE WHEN {status} = 'lost' THEN 'No budget' ELSE '' END "
            f"FROM (SELECT n, {self.rep_id('n')} AS owner_id, {campaign} AS campaign_id, "
            f"{created} AS created_on FROM nums) AS p"
        )

    def customers(self) -> None:
        d = self.d
        created = d.timestamp(self.now)
        self.exec(
            "INSERT INTO crm_customer (id, name, contact_name, contact_email, language, sector, country, "
            "employees, owner_id, team_id, source_campaign_id, acquired_on, first_deal_id, churned_on, "
            "churn_reason, created_at) "
            "SELECT id / 10, company, name, 'contact' || id || '@bench.example', "
            f"CASE WHEN {d.rnd('id', 41, 10)} < 7 THEN 'fr' ELSE 'en' END, 'Services', 'France', "
            f"10 + {d.rnd('id', 42, 990)}, owner_id, team_id, source_campaign_id, NULL, NULL, NULL, '', "
            f"{created} FROM crm_prospect WHERE id % 10 = 0"
        )
        converted = d.add_days("created_on", "5 + " + d.rnd("id", 43, 20))
        self.exec(
            "UPDATE crm_prospect SET status = 'converted', customer_id = id / 10, "
            f"converted_on = {converted} WHERE id % 10 = 0"
        )

    def deals(self) -> None:
        s, d = self.size, self.d
        # Repeat business: the minimum of two draws favours low customer ids.
        customer = f"1 + {d.least(d.rnd('n', 51, s.customers), d.rnd('n', 52, s.customers))}"
        opened = d.add_days(d.date(self.start), d.rnd("n", 53, self.days))
        cycle = f"(3 + {d.rnd('n', 54, 60)} + {d.rnd('n', 55, 60)})"
        closes = d.add_days("opened_on", "cycle")
        # Each rep has their own win rate, 25% to 55%.
        won = f"{d.rnd('n', 56, 100)} < 25 + (owner_id * 7) % 31"
        open_stage = " ".join(f"WHEN {i} THEN '{st}'" for i, st in enumerate(OPEN_STAGES))
        stage = (
            f"CASE WHEN {closes} > {d.date(self.today)} THEN CASE {d.rnd('n', 57, 4)} {open_stage} END "
            f"WHEN {won} THEN 'won' ELSE 'lost' END"
        )
        amount = d.money(
            f"(400 + {d.rnd('n', 58, 60)} * {d.rnd('n', 59, 400)}) + {d.rnd('n', 60, 100)} / 100.0"
        )
        ts = d.timestamp(self.now)
        self.exec(
            f"{d.with_recursive} {d.nums(s.deals)} "
            "INSERT INTO crm_deal (id, title, customer_id, prospect_id, owner_id, team_id, product_id, "
            "amount, "
            "stage, opened_on, expected_close_on, closed_on, lost_reason_id, lost_note, external_ref, "
            "created_at, "
            "updated_at) "
            "SELECT n, 'Deal ' || n, customer_id, customer_id * 10, owner_id, team_id, 1 + "
            f"{d.rnd('n', 61, 6)}, "
            f"{amount}, {stage}, opened_on, NULL, "
            f"CASE WHEN {closes} > {d.date(self.today)} THEN NULL ELSE {closes} END, "
            f"CASE WHEN {closes} <= {d.date(self.today)} AND NOT ({won}) "
            "THEN (SELECT id FROM crm_lostreason WHERE code = 'price') END, '', "
            f"NULL, {ts}, {ts} "
            f"FROM (SELECT n, c.id AS customer_id, c.owner_id, c.team_id, {opened} AS opened_on, "
            f"{cycle} AS cycle FROM nums JOIN crm_customer c ON c.id = {customer}) AS x"
        )

    def stage_history(self) -> None:
        """Several stage changes per deal, ending at its current stage.

        Each deal follows one of the PATHS (chosen by a hash of its id) up
        to the first time the path reaches the deal's stage, then moves to
        that stage: in order, with skipped stages, backwards moves, or a
        close and a reopen on the way. The changes are spread evenly from
        the day it opened to the day it closed (today for open deals), in
        office hours (UTC 8:00–17:00, the same date in Paris).
        """
        d = self.d
        rows = []
        for t, path in enumerate(PATHS):
            for final in STAGES:
                kept = path[: path.index(final)] if final in path else path
                steps = [*kept, final]
                for pos, (before, after) in enumerate(zip(["", *steps[:-1]], steps, strict=True), start=1):
                    rows.append(f"({t}, '{final}', {pos}, {len(steps)}, '{before}', '{after}')")
        self.exec(
            "CREATE TEMPORARY TABLE bench_path (t integer, final varchar(20), pos integer, steps integer, "
            "from_stage varchar(20), to_stage varchar(20), PRIMARY KEY (t, final, pos))"
        )
        self.exec(f"INSERT INTO bench_path VALUES {', '.join(rows)}")
        # Open deals mostly walk forwards; closed ones take any path.
        pick = d.rnd("d.id", 131, 100)
        template = (
            f"CASE WHEN d.closed_on IS NULL AND {pick} < 85 THEN {pick} % 4 "
            f"ELSE CASE WHEN {pick} < 40 THEN 0 WHEN {pick} < 55 THEN 1 WHEN {pick} < 65 THEN 2 "
            f"WHEN {pick} < 80 THEN 3 WHEN {pick} < 90 THEN 4 ELSE 5 END END"
        )
        span = d.day_diff(f"COALESCE(d.closed_on, {d.date(self.today)})", "d.opened_on")
        day = d.add_days("d.opened_on", f"({span}) * (p.pos - 1) / {d.greatest('p.steps - 1', '1')}")
        at = d.at_seconds(day, f"28800 + {d.rnd('d.id * 8 + p.pos', 132, 32400)}")
        self.exec(
            "INSERT INTO crm_dealstagechange (deal_id, from_stage, to_stage, changed_at, changed_by_id) "
            f"SELECT d.id, p.from_stage, p.to_stage, {at}, d.owner_id "
            f"FROM crm_deal d JOIN bench_path p ON p.t = {template} AND p.final = d.stage"
        )
        self.exec("DROP TABLE bench_path")

    def acquisition_and_churn(self) -> None:
        d = self.d
        # acquired_on and first_deal from each customer's first won deal,
        # last_won_on from its latest (what kpis.triggers derives).
        self.exec(
            "UPDATE crm_customer SET acquired_on = f.closed_on, first_deal_id = f.id, team_id = f.team_id, "
            "last_won_on = f.last_won "
            "FROM (SELECT id, customer_id, closed_on, team_id, ROW_NUMBER() OVER "
            "(PARTITION BY customer_id ORDER BY closed_on, id) AS rn, "
            "MAX(closed_on) OVER (PARTITION BY customer_id) AS last_won "
            "FROM crm_deal WHERE stage = 'won') AS f "
            "WHERE f.rn = 1 AND f.customer_id = crm_customer.id"
        )
        # About 12% are marked lost by a user some months after acquisition…
        churn = d.add_days("acquired_on", f"60 + {d.rnd('id', 71, 400)}")
        self.exec(
            f"UPDATE crm_customer SET churned_on = {churn}, churn_reason = 'Moved to a competitor' "
            f"WHERE acquired_on IS NOT NULL AND {d.rnd('id', 72, 100)} < 12 "
            f"AND {churn} <= {d.date(self.today)}"
        )
        # …and the rest churn by inactivity as the nightly rule would mark
        # them, so the benchmark's nightly run finds a steady state.
        days = settings.KPI_CHURN_INACTIVITY_DAYS
        if days:
            self.exec(
                f"UPDATE crm_customer SET churned_on = {d.add_days('w.last_won', str(days))}, "
                f"churn_reason = 'No won deal for {days} days' "
                "FROM (SELECT customer_id, MAX(closed_on) AS last_won FROM crm_deal WHERE stage = 'won' "
                "GROUP BY customer_id) AS w "
                "WHERE w.customer_id = crm_customer.id AND crm_customer.churned_on IS NULL "
                f"AND {d.add_days('w.last_won', str(days))} <= {d.date(self.today)}"
            )

    def activities(self) -> None:
        s, d = self.size, self.d
        kind = (
            f"CASE WHEN {d.rnd('n', 81, 10)} < 4 THEN 'call' WHEN {d.rnd('n', 81, 10)} < 6 THEN 'email' "
            f"WHEN {d.rnd('n', 81, 10)} < 9 THEN 'meeting' ELSE 'note' END"
        )
        ts = d.timestamp(self.now)
        self.exec(
            f"{d.with_recursive} {d.nums(s.activities)} "
            "INSERT INTO crm_activity (kind, occurred_on, subject, notes, owner_id, team_id, prospect_id, "
            "deal_id, customer_id, done, created_at) "
            f"SELECT {kind}, {d.add_days(d.date(self.start), d.rnd('n', 82, self.days))}, 'Follow-up', '', "
            f"p.owner_id, p.team_id, p.id, NULL, NULL, {d.boolean(True)}, {ts} "
            f"FROM nums JOIN crm_prospect p ON p.id = 1 + {d.rnd('n', 83, s.prospects)}"
        )
        # Meetings on one deal in five, the week it opened, some still
        # planned (activities_per_won_deal counts the done ones).
        self.exec(
            "INSERT INTO crm_activity (kind, occurred_on, subject, notes, owner_id, team_id, prospect_id, "
            "deal_id, customer_id, done, created_at) "
            f"SELECT 'meeting', {d.add_days('dl.opened_on', d.rnd('dl.id', 84, 7))}, 'Deal review', '', "
            f"dl.owner_id, dl.team_id, NULL, dl.id, NULL, CASE WHEN {d.rnd('dl.id', 85, 10)} < 8 "
            f"THEN {d.boolean(True)} ELSE {d.boolean(False)} END, {ts} "
            f"FROM crm_deal dl WHERE {d.rnd('dl.id', 86, 5)} = 0 "
            f"AND {d.add_days('dl.opened_on', d.rnd('dl.id', 84, 7))} <= {d.date(self.today)}"
        )

    def targets(self) -> None:
        s, d = self.size, self.d
        first_rep = s.teams + 2
        self.exec(
            f"{d.with_recursive} {d.nums(s.reps * s.months)} "
            "INSERT INTO crm_target (user_id, team_id, month, amount) "
            f"SELECT {first_rep} + (n - 1) % {s.reps}, NULL, "
            f"{d.add_months(d.date(self.start), f'(n - 1) / {s.reps}')}, "
            f"20000 + 1000 * {d.rnd('n', 91, 30)} FROM nums"
        )
        self.exec(
            f"{d.with_recursive} {d.nums(s.teams * s.months)} "
            "INSERT INTO crm_target (user_id, team_id, month, amount) "
            f"SELECT NULL, 1 + (n - 1) % {s.teams}, "
            f"{d.add_months(d.date(self.start), f'(n - 1) / {s.teams}')}, "
            f"200000 + 10000 * {d.rnd('n', 92, 30)} FROM nums"
        )

    def sales_costs(self) -> None:
        """Salaries per team and month, and the company-wide tools, so the
        blended CAC has a sales cost to blend (kpi-spec v2)."""
        s, d = self.size, self.d
        ts = d.timestamp(self.now)
        amount = d.money(f"20000 + 1000 * {d.rnd('n', 95, 20)} + {d.rnd('n', 96, 100)} / 100.0")
        self.exec(
            f"{d.with_recursive} {d.nums((s.teams + 1) * s.months)} "
            "INSERT INTO crm_salescost (team_id, spent_on, category, amount, note, created_at) "
            f"SELECT CASE WHEN (n - 1) % {s.teams + 1} = 0 THEN NULL ELSE (n - 1) % {s.teams + 1} END, "
            f"{d.add_months(d.date(self.start), f'(n - 1) / {s.teams + 1}')}, "
            f"CASE WHEN (n - 1) % {s.teams + 1} = 0 THEN 'tools' ELSE 'salaries' END, "
            f"{amount}, '', {ts} "
            "FROM nums"
        )

    def training(self) -> None:
        """One training session per team and month (a tenth not confirmed
        yet), attended by about half of the team's reps; one certification
        per rep, half expiring after a year, a tenth not confirmed."""
        s, d = self.size, self.d
        ts = d.timestamp(self.now)
        confirmed = f"CASE WHEN {d.rnd('n', 101, 10)} = 0 THEN NULL ELSE {ts} END"
        held = d.add_days(d.add_months(d.date(self.start), f"(n - 1) / {s.teams}"), d.rnd("n", 102, 28))
        hours = d.money(f"2 + {d.rnd('n', 103, 12)} / 2.0")
        self.exec(
            f"{d.with_recursive} {d.nums(s.teams * s.months)} "
            "INSERT INTO team_trainingsession (id, title, kind, date, hours, provider, notes, created_by_id, "
            "confirmed_by_id, confirmed_at, created_at) "
            f"SELECT n, 'Team ' || (1 + (n - 1) % {s.teams}) || ' training', 'workshop', {held}, {hours}, "
            f"'', '', 1, NULL, {confirmed}, {ts} FROM nums WHERE {held} <= {d.date(self.today)}"
        )
        pair = f"ts.id * {s.reps + s.teams + 2} + u.id"
        self.exec(
            "INSERT INTO team_trainingattendance (session_id, user_id, team_id) "
            "SELECT ts.id, u.id, u.team_id FROM team_trainingsession ts JOIN crm_user u "
            f"ON u.team_id = 1 + (ts.id - 1) % {s.teams} AND u.role = 'salesperson' "
            f"WHERE {d.rnd(pair, 104, 2)} = 0"
        )
        obtained = d.add_days(d.date(self.start), d.rnd("u.id", 105, self.days))
        self.exec(
            "INSERT INTO team_certification (user_id, team_id, name, obtained_on, expires_on, created_by_id, "
            "confirmed_by_id, confirmed_at, created_at) "
            f"SELECT u.id, u.team_id, 'Sales methodology', {obtained}, "
            f"CASE WHEN {d.rnd('u.id', 106, 2)} = 0 THEN NULL ELSE {d.add_days(obtained, '365')} END, "
            "1, NULL, "
            f"CASE WHEN {d.rnd('u.id', 107, 10)} = 0 THEN NULL ELSE {ts} END, {ts} "
            "FROM crm_user u WHERE u.role = 'salesperson'"
        )

    def pulse(self) -> None:
        """A pulse round a month; each team gives 0–8 answers a round (so
        eNPS's anonymity rules withhold some teams and periods), a few with
        no team left, submitted within the week."""
        s, d = self.size, self.d
        t = d.boolean(True)
        self.exec(
            f"{d.with_recursive} {d.nums(s.months)} "
            "INSERT INTO team_pulseround (id, opened_on, ask_tools, ask_workload, ask_support) "
            f"SELECT n, {d.add_days(d.add_months(d.date(self.start), 'n - 1'), '2')}, {t}, {t}, {t} FROM nums"
        )
        per_round = s.teams * 8
        slot = "((n - 1) / 8)"
        day = d.add_days("r.opened_on", d.rnd("n", 114, 7))
        self.exec(
            f"{d.with_recursive} {d.nums(per_round * s.months)} "
            "INSERT INTO team_pulseanswer (round_id, team_id, submitted_on, score, tools, workload, support, "
            "comment) "
            f"SELECT r.id, CASE WHEN {d.rnd('n', 113, 20)} = 0 THEN NULL ELSE 1 + {slot} % {s.teams} END, "
            f"{day}, {d.rnd('n', 115, 11)}, NULL, NULL, NULL, '' "
            f"FROM nums JOIN team_pulseround r ON r.id = 1 + (n - 1) / {per_round} "
            f"WHERE (n - 1) % 8 < {d.rnd(slot, 112, 9)} AND {day} <= {d.date(self.today)}"
        )

    def surveys(self) -> None:
        s, d = self.size, self.d
        t = d.boolean(True)
        self.exec(
            "INSERT INTO surveys_survey (id, name, language, nps_question, csat_question, ask_comment, "
            f"is_default, is_active, created_at) VALUES (1, 'After the sale', 'en', "
            f"'How likely are you to recommend us?', 'How satisfied are you?', {t}, {t}, {t}, "
            f"{d.timestamp(self.now)})"
        )
        won = self.scalar("SELECT COUNT(*) FROM crm_deal WHERE stage = 'won'")
        if not won:
            return
        now = d.timestamp(self.now)
        # Sent on the day the deal was won, at any hour (UTC): some evenings
        # fall on the next day in the company zone, as real ones do.
        sent = d.least(d.at_seconds("w.closed_on", d.rnd("n", 101, 86400)), now)
        bounced = f"{d.rnd('n', 102, 100)} < 3"
        # Won deals numbered 1..won in a table keyed by that number, so each
        # invitation finds its deal by key (SQLite would scan a CTE).
        self.exec(
            "CREATE TEMPORARY TABLE bench_won (rn integer PRIMARY KEY, id bigint, customer_id bigint, "
            "owner_id bigint, team_id bigint, closed_on date)"
        )
        self.exec(
            "INSERT INTO bench_won (rn, id, customer_id, owner_id, team_id, closed_on) "
            "SELECT ROW_NUMBER() OVER (ORDER BY id), id, customer_id, owner_id, team_id, closed_on "
            "FROM crm_deal WHERE stage = 'won'"
        )
        self.exec(
            f"{d.with_recursive} {d.nums(s.invitations)} "
            "INSERT INTO surveys_invitation (id, survey_id, customer_id, deal_id, owner_id, team_id, email, "
            "language, token, created_at, send_after, sent_at, reminded_at, bounced_at, expires_at) "
            f"SELECT n, 1, w.customer_id, w.id, w.owner_id, w.team_id, 'contact@bench.example', 'en', "
            f"'benchtoken-' || n || '-' || (1000000000 + {d.rnd('n', 103, 1000000007)}), {sent}, NULL, "
            f"{sent}, NULL, "
            f"CASE WHEN {bounced} THEN {sent} END, {d.plus_seconds(sent, str(30 * 86400))} "
            f"FROM nums JOIN bench_won w ON w.rn = 1 + {d.rnd('n', 104, won)}"
        )
        self.exec("DROP TABLE bench_won")
        nps = (
            f"CASE WHEN {d.rnd('id', 111, 100)} < 20 THEN {d.rnd('id', 112, 7)} "
            f"WHEN {d.rnd('id', 111, 100)} < 50 THEN 7 + {d.rnd('id', 112, 2)} "
            f"ELSE 9 + {d.rnd('id', 112, 2)} END"
        )
        csat = (
            f"CASE WHEN {d.rnd('id', 113, 10)} = 0 THEN NULL "
            f"ELSE {d.least('5', '1 + ' + d.rnd('id', 114, 5) + ' + ' + d.rnd('id', 115, 2))} END"
        )
        submitted = d.least(d.plus_seconds("sent_at", d.rnd("id", 116, 5 * 86400)), now)
        self.exec(
            "INSERT INTO surveys_response (invitation_id, submitted_at, nps_score, csat_score, comment) "
            f"SELECT id, {submitted}, {nps}, {csat}, '' FROM surveys_invitation "
            f"WHERE id % 100 < 40 AND bounced_at IS NULL"
        )
        # Two optional extra questions: most answer the scale, a few write.
        self.exec(
            "INSERT INTO surveys_surveyquestion (id, survey_id, text, kind, required, position) VALUES "
            f"(1, 1, 'How easy was it to work with us?', 'scale', {d.boolean(False)}, 1), "
            f"(2, 1, 'What could we do better?', 'text', {d.boolean(False)}, 2)"
        )
        self.exec(
            "INSERT INTO surveys_answer (response_id, question_id, scale_value, text_value) "
            f"SELECT id, 1, 1 + {d.rnd('id', 117, 5)}, '' FROM surveys_response "
            f"WHERE {d.rnd('id', 118, 10)} < 7"
        )
        self.exec(
            "INSERT INTO surveys_answer (response_id, question_id, scale_value, text_value) "
            f"SELECT id, 2, NULL, 'Faster answers, please.' FROM surveys_response "
            f"WHERE {d.rnd('id', 119, 10)} < 2"
        )

    def sequences(self) -> None:
        # Rows were inserted with explicit ids: move each identity past them.
        for table in TABLES:
            self.exec(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
            )


def generate(size: Size, today: dt.date | None = None, progress=None) -> dict:
    return Generator(size, today, progress).run()


def counts() -> dict[str, int]:
    """Rows per table, for the report."""
    with connection.cursor() as cursor:
        result = {}
        for table in TABLES:
            cursor.execute(f"SELECT COUNT(*) FROM {table}")
            result[table] = cursor.fetchone()[0]
        return result
