"""Concurrent load: every list and page, per role, through gunicorn.

gunicorn serves Boussole (bench.settings, DEBUG off, 3 sync workers) on
loopback; `wrk` opens one connection per thread and each thread carries its
own logged-in session (one session per connection), SESSIONS of them at
once, for a few seconds per page and role. Each page is measured alone
under that load, all pages in one run; wrk's Lua `done()` reports requests/s
and the latency percentiles (p50, p95, p99) exactly, from its histogram.

Pages, per role (admin, manager, salesperson; each session a different
manager or rep where the data has them, the busiest reps first):

- the lists (deals, prospects, customers, activities, survey invitations):
  their first page and a deep page, the page "after" the row halfway down
  the list (keyset pagination: crm/pagination.py), found off the clock;
- the record lists "Explain this number" opens (kpis/scorecards.py
  records_link): the same lists with the filters of a card for the role's
  scope (company, team, rep) and last month, survey results, campaigns;
- the snapshot pages: scorecard, leaderboard, team page, dashboard; and the
  pipeline board.

Queries per page are counted in-process (Django's test Client) as the same
user. `EXPLAIN (ANALYZE, BUFFERS)` of each list's page query and count query
is kept for docs/benchmarks.md.

The cold pass, page by page: drop the operating system's page cache
(`/proc/sys/vm/drop_caches`, where the bench may write it), start fresh
gunicorn workers, then the 6 sessions GET the page 3 times each, all at
once: p50, p95 and max of those 18 first requests.
PostgreSQL itself is not restarted (other work shares the server): its
shared_buffers (128 MB here) may still hold pages read earlier.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, load_backend
from django.db import connection
from django.http import QueryDict
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from bench.submissions import Server
from crm.models import Activity, Customer, Deal, Prospect, Team, User

SESSIONS = 6
ROLES = ("admin", "manager", "salesperson")
# The page's query asks for one row more than it shows (crm/pagination.py).
PAGE_LIMITS = ("LIMIT 26", "LIMIT 51", "LIMIT 21")
COUNT_LIMIT = "LIMIT 10001"

LUA = r"""
-- One connection per thread; each thread its own session cookie.
local threads = {}
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("cookie", os.getenv("BENCH_COOKIE_" .. counter))
  table.insert(threads, thread)
end
function init(args)
  path = os.getenv("BENCH_PATH")
  headers = {}
  headers["Cookie"] = "sessionid=" .. cookie
  headers["Accept-Language"] = "en"
end
function request()
  return wrk.format("GET", path, headers)
end
function done(summary, latency, requests)
  io.write(string.format(
    'BENCH {"requests": %d, "seconds": %.3f, "p50_us": %d, "p95_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "status_errors": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


@dataclass
class Target:
    """One page as one role: where it is, and what it is called in the report."""

    name: str
    role: str
    path: str
    kind: str  # list | deep | explain | snapshot | board
    list_name: str = ""
    extra: dict = field(default_factory=dict)


# -- who -------------------------------------------------------------------


def users_for(role: str) -> list[User]:
    """SESSIONS users of a role: the admin six times, else distinct managers
    or reps, the busiest first (the generator gives low-numbered reps more)."""
    if role == "admin":
        return [User.objects.filter(username="admin").get()] * SESSIONS
    qs = User.objects.filter(role=role, team__isnull=False, is_active=True).order_by("pk")
    people = list(qs[:SESSIONS])
    return [people[i % len(people)] for i in range(SESSIONS)]


def session_cookie(user: User) -> str:
    """A logged-in session for `user`, as django.contrib.auth.login() stores it."""
    from importlib import import_module

    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(user.pk)
    # The backend a login records: the first that can load a user (django-axes'
    # throttling backend comes first and only refuses logins), as Django's
    # test client picks it.
    store[BACKEND_SESSION_KEY] = next(
        path for path in settings.AUTHENTICATION_BACKENDS if hasattr(load_backend(path), "get_user")
    )
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return store.session_key


# -- what ------------------------------------------------------------------


def _last_month(today: dt.date) -> tuple[str, str]:
    end = today.replace(day=1) - dt.timedelta(days=1)
    return end.replace(day=1).isoformat(), end.isoformat()


def _scope_params(user: User) -> dict:
    """An "Explain this number" link's scope: a rep's own, a team's, or the company."""
    if user.is_admin_role:
        return {}
    if user.is_manager:
        return {"team": user.team_id}
    return {"owner": user.pk}


def list_queryset(name: str, user: User, params: dict):
    """The list's filtered, ordered queryset and ordering, as its view builds them."""
    from crm.filters import ActivityFilterForm, CustomerFilterForm, DealFilterForm, ProspectFilterForm
    from surveys.views import INVITATION_ORDERING

    data = QueryDict(urlencode(params))
    forms = {
        "deals": DealFilterForm,
        "prospects": ProspectFilterForm,
        "customers": CustomerFilterForm,
        "activities": ActivityFilterForm,
    }
    model = list_model(name)
    if name == "invitations":
        return model.objects.visible_to_indexed(user), INVITATION_ORDERING
    form = forms[name](data, user=user)
    return form.filter(model.objects.visible_to_indexed(user)), form.ordering()


def list_model(name: str):
    """The model behind a list of the load step."""
    from surveys.models import Invitation

    return {"deals": Deal, "prospects": Prospect, "customers": Customer, "activities": Activity,
            "invitations": Invitation}[name]  # fmt: skip


LIST_URLS = {
    "deals": "deal_list",
    "prospects": "prospect_list",
    "customers": "customer_list",
    "activities": "activity_list",
    "invitations": "invitation_list",
}


def targets_for(role: str, user: User, today: dt.date, start: dt.date) -> list[Target]:
    first, last = _last_month(today)
    scope = _scope_params(user)
    every = {"from": start.isoformat(), "to": today.isoformat()}  # the activity list's whole history
    out = []
    lists = {
        "deals": {},
        "prospects": {},
        "customers": {},
        # Without dates the list is "my week"; the load reads all of history.
        "activities": every,
        "invitations": {},
    }
    for name, params in lists.items():
        url = reverse(LIST_URLS[name])
        out.append(
            Target(f"{name} list", role, f"{url}?{urlencode(params)}".rstrip("?"), "list", name, params)
        )
        out.append(Target(f"{name} list, deep page", role, url, "deep", name, params))
    deal_url, prospect_url = reverse("deal_list"), reverse("prospect_list")
    customer_url, activity_url = reverse("customer_list"), reverse("activity_list")
    period = {"closed_from": first, "closed_to": last, "sort": "-closed_on"}  # as records_link()
    explain = [
        ("explain: open deals", deal_url, "deals", {**scope, "stage": "open"}),
        ("explain: deals won", deal_url, "deals", {**scope, "stage": "won", **period}),
        ("explain: deals closed", deal_url, "deals", {**scope, **period}),
        ("explain: prospects created", prospect_url, "prospects",
         {**scope, "created_from": first, "created_to": last}),
        ("explain: customers acquired", customer_url, "customers",
         {**scope, "acquired_from": first, "acquired_to": last}),
        ("explain: churned customers", customer_url, "customers", {**scope, "churned": "yes"}),
        ("explain: activities", activity_url, "activities", {**scope, "from": first, "to": last}),
    ]  # fmt: skip
    for name, url, list_name, params in explain:
        out.append(Target(name, role, f"{url}?{urlencode(params)}", "explain", list_name, params))
    if role != "salesperson":
        survey_scope = {"team": user.team_id} if user.is_manager else {}
        params = {**survey_scope, "from": first, "to": last}
        out.append(
            Target(
                "explain: survey results", role, f"{reverse('survey_results')}?{urlencode(params)}", "explain"
            )
        )
        out.append(Target("explain: campaigns", role, reverse("campaign_list"), "explain"))
    out.append(Target("scorecard", role, reverse("scorecard"), "snapshot"))
    out.append(Target("leaderboard", role, reverse("leaderboard"), "snapshot"))
    if role != "salesperson":
        team = (
            "" if user.is_manager else f"?team={Team.objects.order_by('pk').values_list('pk', flat=True)[0]}"
        )
        out.append(Target("team page", role, reverse("team_page") + team, "snapshot"))
    out.append(Target("dashboard", role, reverse("dashboard"), "snapshot"))
    out.append(Target("pipeline board", role, reverse("deal_board"), "board"))
    return out


def deep_path(target: Target, user: User) -> tuple[str, int]:
    """The URL of the page after the row halfway down the list, and that row's position."""
    qs, ordering = list_queryset(target.list_name, user, target.extra)
    total = qs.order_by().count()
    position = max(0, total // 2 - 1)
    if not total:
        return f"{reverse(LIST_URLS[target.list_name])}?{urlencode(target.extra)}", 0
    row = ordering.apply(ordering.annotate(qs))[position]
    params = {**target.extra, "after": ordering.encode(row)}
    return f"{reverse(LIST_URLS[target.list_name])}?{urlencode(params)}", position + 1


# -- measuring ---------------------------------------------------------------


def run_wrk(port: int, path: str, cookies: list[str], seconds: int) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="bench-load-"))
    try:
        (workdir / "get.lua").write_text(LUA)
        env = dict(os.environ, BENCH_PATH=path)
        for i, cookie in enumerate(cookies, start=1):
            env[f"BENCH_COOKIE_{i}"] = cookie
        n = len(cookies)
        out = subprocess.run(
            ["wrk", f"-t{n}", f"-c{n}", f"-d{seconds}s", "--timeout", "30s", "-s", str(workdir / "get.lua"),
             f"http://127.0.0.1:{port}"],
            env=env, capture_output=True, text=True, timeout=seconds + 90, check=True,
        ).stdout  # fmt: skip
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    match = re.search(r"^BENCH (\{.*\})$", out, re.M)
    if not match:
        raise RuntimeError(f"wrk printed no summary:\n{out}")
    raw = json.loads(match.group(1))
    seconds_run = raw["seconds"] or seconds
    return {
        "rps": round(raw["requests"] / seconds_run, 1),
        "requests": raw["requests"],
        "p50_ms": round(raw["p50_us"] / 1000, 1),
        "p95_ms": round(raw["p95_us"] / 1000, 1),
        "p99_ms": round(raw["p99_us"] / 1000, 1),
        "max_ms": round(raw["max_us"] / 1000, 1),
        "errors": raw["status_errors"] + raw["socket_errors"],
    }


def count_queries(user: User, path: str) -> tuple[int, int, list[str]]:
    """(status, queries, SQL) of one in-process request as `user`."""
    client = Client()
    client.force_login(user)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    return response.status_code, len(queries), [q["sql"] for q in queries.captured_queries]


def explain(sqls: list[str], table: str = "") -> dict:
    """EXPLAIN (ANALYZE, BUFFERS) of a list's page query (one reading `table`)
    and its capped count."""
    if connection.vendor != "postgresql":
        return {}
    plans = {}
    for sql in sqls:
        label = None
        # The filter bar's owner probe also ends in LIMIT 51 (SELECT_LIMIT + 1):
        # the page query is the one whose FROM is the list's own table.
        reads_list = not table or sql.partition(" FROM ")[2].startswith(f'"{table}"')
        if COUNT_LIMIT in sql:
            label = "count"
        elif reads_list and "ORDER BY" in sql and any(sql.rstrip().endswith(limit) for limit in PAGE_LIMITS):
            label = "page"
        if label and label not in plans:
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
                plans[label] = {"sql": sql, "plan": "\n".join(row[0] for row in cursor.fetchall())}
    return plans


def first_requests(port: int, path: str, cookies: list[str], each: int = 3) -> dict:
    """The first requests after a cold start: every session GETs the page
    `each` times at once with the others, one after another. Latencies of
    all of them (a timed window, as for the warm pass, would drop requests
    still running when it closes, and cold ones are the slow ones)."""
    import http.client
    import threading
    import time as clock

    times: list[float] = []
    errors = 0
    lock = threading.Lock()

    def session(cookie: str) -> None:
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for _ in range(each):
            began = clock.perf_counter()
            conn.request("GET", path, headers={"Cookie": f"sessionid={cookie}", "Accept-Language": "en"})
            response = conn.getresponse()
            response.read()
            with lock:
                times.append((clock.perf_counter() - began) * 1000)
                errors += response.status != 200
        conn.close()

    threads = [threading.Thread(target=session, args=(cookie,)) for cookie in cookies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ordered = sorted(times)

    def pct(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))], 1)

    return {"requests": len(times), "p50_ms": pct(50), "p95_ms": pct(95), "max_ms": round(ordered[-1], 1),
            "errors": errors}  # fmt: skip


def drop_os_cache() -> bool:
    """Drop the kernel's page cache, where this process may (root on Linux)."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def bench_load(
    database_url: str,
    today: dt.date,
    start: dt.date,
    seconds: int = 5,
    cold: bool = True,
    only: list[str] | None = None,
    log=print,
) -> dict:
    if not shutil.which("wrk"):
        raise RuntimeError("wrk is not installed (Debian: apt-get install -y wrk).")
    plan = []
    for role in ROLES:
        users = users_for(role)
        cookies = [session_cookie(u) for u in users]
        for target in targets_for(role, users[0], today, start):
            if only and not any(word in target.name for word in only):
                continue
            if target.kind == "deep":
                target.path, target.extra["position"] = deep_path(target, users[0])
            status, queries, sqls = count_queries(users[0], target.path)
            entry = {"page": target.name, "role": role, "kind": target.kind, "path": target.path,
                     "status": status, "queries": queries}  # fmt: skip
            if target.kind in ("list", "deep", "explain") and target.list_name:
                entry["explain"] = explain(sqls, list_model(target.list_name)._meta.db_table)
            if target.kind == "deep":
                entry["position"] = target.extra["position"]
            plan.append((entry, cookies))
    connection.close()  # gunicorn's workers get the database to themselves
    result = {"sessions": SESSIONS, "seconds": seconds, "workers": None, "warm": [], "cold": []}
    with Server(database_url) as server:
        result["workers"] = server.workers
        log(f"  load: {len(plan)} pages × roles, {SESSIONS} sessions, {seconds} s each (warm)")
        for entry, cookies in plan:
            run_wrk(server.port, entry["path"], cookies, 2)  # warm-up
            stats = run_wrk(server.port, entry["path"], cookies, seconds)
            result["warm"].append({**entry, **stats})
            log(
                f"  {entry['page']} ({entry['role']}): {stats['rps']}/s p50 {stats['p50_ms']} ms "
                f"p95 {stats['p95_ms']} ms, {entry['queries']} queries, {stats['errors']} errors"
            )
    if cold:
        result["cold_method"] = (
            "OS page cache dropped before each page (where allowed), fresh gunicorn workers, no warm-up; "
            "PostgreSQL not restarted (shared_buffers kept)"
        )
        for entry, cookies in plan:
            dropped = drop_os_cache()
            # Fresh workers each time: no warm Python, template or connection state.
            with Server(database_url, collect_static=False) as server:
                stats = first_requests(server.port, entry["path"], cookies)
            result["cold"].append(
                {"page": entry["page"], "role": entry["role"], **stats, "os_cache_dropped": dropped}
            )
            log(
                f"  cold {entry['page']} ({entry['role']}): p50 {stats['p50_ms']} ms p95 {stats['p95_ms']} ms"
            )
        result["cold_requests"] = 3 * len(plan[0][1]) if plan else 0
    return result
