"""Survey submissions per second through gunicorn on loopback.

gunicorn serves Boussole (bench.settings: Boussole's URLs plus the bare
view, the per-address rate limit lifted since every request comes from
127.0.0.1) with DEBUG off; `wrk` in another process POSTs answers for
fresh invitations, each token once, for a fixed time. The same run then
POSTs the same form to the bare view (`bench.views.bare_submit`). CSRF is
kept: one GET of the survey page gives the cookie and the form token, which
every POST reuses (Django's CSRF token is per client, not per page).
"""

from __future__ import annotations

import datetime as dt
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings
from django.db import connection

from bench.sql import Dialect

LUA = r"""
-- Each thread POSTs its own slice of the tokens, each token once, the
-- answers cycling through the mix of bodies.
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  tokens = {}
  for line in io.lines(os.getenv("BENCH_TOKENS")) do tokens[#tokens + 1] = line end
  step = tonumber(os.getenv("BENCH_THREADS"))
  prefix = os.getenv("BENCH_PREFIX")
  bodies = {}
  for n = 1, tonumber(os.getenv("BENCH_BODIES")) do bodies[n] = os.getenv("BENCH_BODY_" .. n) end
  headers = {}
  headers["Content-Type"] = "application/x-www-form-urlencoded"
  headers["Cookie"] = "csrftoken=" .. os.getenv("BENCH_CSRF_COOKIE")
  i = id
end
function request()
  local token = tokens[(i % #tokens) + 1]
  local body = bodies[(i % #bodies) + 1]
  i = i + step
  return wrk.format("POST", prefix .. token .. "/", headers, body)
end
"""


# Tokens kept aside per view for the untimed warm-up.
WARM_TOKENS = 3000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answer_mix(form_token: str, questions: list[tuple[int, str]]) -> list[str]:
    """Ten answers as customers give them: two detractors (the follow-up path:
    a call for the rep, an email to the managers), three passives, five
    promoters; seven answer the extra scale question, two write in the text
    one, most leave a comment."""
    scale = next((pk for pk, kind in questions if kind == "scale"), None)
    text = next((pk for pk, kind in questions if kind == "text"), None)
    bodies = []
    for n, nps in enumerate([3, 9, 10, 8, 6, 9, 7, 10, 8, 9]):
        comment = "" if n % 4 == 3 else ("Too slow to answer" if nps <= 6 else "Great service")
        csat = 5 if nps >= 9 else 1 + nps // 3
        fields = {"csrfmiddlewaretoken": form_token, "nps_score": nps, "csat_score": csat, "comment": comment}
        if scale and n < 7:
            fields[f"q{scale}"] = 1 + n % 5
        if text and n in (0, 4):
            fields[f"q{text}"] = "Call me back, please"
        bodies.append(urlencode(fields))
    return bodies


def make_invitations(pool: str, count: int) -> list[str]:
    """`count` sent, unanswered, unexpired invitations; their tokens."""
    d = Dialect(connection.vendor)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    sent, expires = d.timestamp(now), d.timestamp(now + dt.timedelta(days=30))
    prefix = f"bench-sub-{pool}-"
    with connection.cursor() as cursor:
        cursor.execute("SELECT MIN(id) FROM crm_customer")
        customer = cursor.fetchone()[0]
        cursor.execute(
            f"{d.with_recursive} {d.nums(count)} INSERT INTO surveys_invitation (survey_id, customer_id, "
            "deal_id, owner_id, team_id, email, language, token, created_at, send_after, sent_at, "
            "reminded_at, "
            "bounced_at, expires_at) "
            f"SELECT (SELECT MIN(id) FROM surveys_survey), {customer}, NULL, "
            f"(SELECT owner_id FROM crm_customer WHERE id = {customer}), "
            f"(SELECT team_id FROM crm_customer WHERE id = {customer}), "
            "'load@bench.example', "
            f"'en', '{prefix}' || (1000000 + n), {sent}, NULL, {sent}, NULL, NULL, {expires} FROM nums"
        )
    return [f"{prefix}{1000000 + n}" for n in range(1, count + 1)]


def drop_invitations() -> int:
    """Remove the load test's invitations and their answers; responses removed."""
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM surveys_answer WHERE response_id IN (SELECT r.id FROM surveys_response r "
            "JOIN surveys_invitation i ON i.id = r.invitation_id WHERE i.token LIKE 'bench-sub-%')"
        )
        cursor.execute(
            "DELETE FROM surveys_response WHERE invitation_id IN "
            "(SELECT id FROM surveys_invitation WHERE token LIKE 'bench-sub-%')"
        )
        removed = cursor.rowcount
        cursor.execute("DELETE FROM surveys_invitation WHERE token LIKE 'bench-sub-%'")
        # The detractors' follow-up calls (the generator's activities are on prospects).
        cursor.execute(
            "DELETE FROM crm_activity WHERE customer_id IS NOT NULL AND subject LIKE 'Survey follow-up:%'"
        )
    return removed


def answered(pool: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM surveys_response r JOIN surveys_invitation i ON i.id = r.invitation_id "
            "WHERE i.token LIKE %s",
            [f"bench-sub-{pool}-%"],
        )
        return cursor.fetchone()[0]


def gunicorn_env(database_url: str) -> dict:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        DATABASE_URL=database_url,
        DEBUG="false",
        SECRET_KEY="bench-only-secret-key-not-used-anywhere-else",
        ALLOWED_HOSTS="127.0.0.1",
        CSRF_COOKIE_SECURE="false",
        SESSION_COOKIE_SECURE="false",
        LOG_LEVEL="WARNING",
    )
    return env


class Server:
    """gunicorn serving bench.settings on a free loopback port."""

    def __init__(self, database_url: str, workers: int = 3, collect_static: bool = True) -> None:
        self.port = free_port()
        self.workers = workers
        self.collect_static = collect_static
        self.env = gunicorn_env(database_url)
        self.proc: subprocess.Popen | None = None

    def collect(self) -> None:
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
            env=self.env,
            cwd=settings.BASE_DIR,
            check=True,
        )

    def __enter__(self) -> Server:
        # DEBUG off serves hashed static files from a manifest, as in production.
        if self.collect_static:
            self.collect()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi", "-w", str(self.workers),
             "-b", f"127.0.0.1:{self.port}", "--log-level", "warning"],
            env=self.env,
            cwd=settings.BASE_DIR,
        )  # fmt: skip
        # Up when the login page answers; then a few more requests so that
        # every worker has imported and connected before anything is timed.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if self.get("/login/")[0] == 200:
                    for _ in range(3 * self.workers):
                        self.get("/login/")
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        self.__exit__()
        raise RuntimeError("gunicorn did not start within 60 s.")

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def get(self, path: str) -> tuple[int, dict, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read().decode()
        headers = {k.lower(): v for k, v in response.getheaders() if k.lower() != "set-cookie"}
        headers["set-cookie"] = response.msg.get_all("Set-Cookie") or []
        conn.close()
        return response.status, headers, body


def csrf_pair(server: Server, token: str) -> tuple[str, str]:
    """The CSRF cookie and form token from one GET of the survey page."""
    status, headers, body = server.get(f"/s/{token}/")
    if status != 200:
        raise RuntimeError(f"The survey page answered {status} to GET.")
    cookie = next(
        (c.split(";")[0].split("=", 1)[1] for c in headers["set-cookie"] if c.startswith("csrftoken=")), None
    )
    form = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body)
    if not cookie or not form:
        raise RuntimeError("No CSRF cookie or form token on the survey page.")
    return cookie, form.group(1)


def run_wrk(port: int, prefix: str, tokens: list[str], cookie: str, bodies: list[str], seconds: int,
            threads: int, connections: int) -> dict:  # fmt: skip
    workdir = Path(tempfile.mkdtemp(prefix="bench-wrk-"))
    try:
        (workdir / "tokens.txt").write_text("\n".join(tokens) + "\n")
        (workdir / "post.lua").write_text(LUA)
        env = dict(os.environ, BENCH_TOKENS=str(workdir / "tokens.txt"), BENCH_THREADS=str(threads),
                   BENCH_PREFIX=prefix, BENCH_BODIES=str(len(bodies)), BENCH_CSRF_COOKIE=cookie)  # fmt: skip
        env.update({f"BENCH_BODY_{n}": body for n, body in enumerate(bodies, start=1)})
        out = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s",
             str(workdir / "post.lua"), f"http://127.0.0.1:{port}"],
            env=env, capture_output=True, text=True, timeout=seconds + 60, check=True,
        ).stdout  # fmt: skip
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    latency = dict(re.findall(r"\s+(50|99)%\s+([\d.]+\w+)", out))
    return {
        "per_second": rate,
        "requests": total,
        "non_2xx": int(errors.group(1)) if errors else 0,
        "latency_p50": latency.get("50"),
        "latency_p99": latency.get("99"),
        "wrk_output": out,
    }


def bench_submissions(database_url: str, seconds: int = 10, tokens: int = 40000, threads: int = 2,
                      connections: int = 8, log=print) -> dict:  # fmt: skip
    if not shutil.which("wrk"):
        raise RuntimeError("wrk is not installed (Debian: apt-get install -y wrk).")
    drop_invitations()
    pools = {"boussole": make_invitations("b", tokens), "bare": make_invitations("x", tokens)}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, kind FROM surveys_surveyquestion "
            "WHERE survey_id = (SELECT MIN(id) FROM surveys_survey)"
        )
        questions = cursor.fetchall()
    connection.close()  # the server's workers get the database to themselves
    result = {
        "seconds": seconds,
        "threads": threads,
        "connections": connections,
        "mix": "20% detractors (follow-up call and manager email queued), extra questions answered",
        "extra_questions": len(questions),
        # The per-address limiter runs (limit lifted): on Redis when REDIS_URL is set.
        "rate_limiter": "redis" if os.environ.get("REDIS_URL") else "per-process memory",
    }
    with Server(database_url) as server:
        result["workers"] = server.workers
        cookie, form_token = csrf_pair(server, pools["boussole"][-1])
        bodies = answer_mix(form_token, questions)
        views = (("boussole", "/s/"), ("bare", "/bench/bare/"))
        # Warm every worker on both views first (imports, the broker's
        # connection on the first detractor), with tokens the timed run leaves.
        warm = WARM_TOKENS
        for name, prefix in views:
            run_wrk(server.port, prefix, pools[name][-warm - 1 : -1], cookie, bodies, 2, threads, connections)
        for name, prefix in views:
            pool = "b" if name == "boussole" else "x"
            before = answered(pool)
            stats = run_wrk(
                server.port, prefix, pools[name][: -warm - 1], cookie, bodies, seconds, threads, connections
            )
            stats["rows_inserted"] = answered(pool) - before
            stats.pop("wrk_output")
            log(f"  submissions {name}: {stats['per_second']:.0f}/s, {stats['non_2xx']} non-2xx")
            if stats["requests"] >= tokens - warm - 1:
                stats["warning"] = "tokens ran out: later requests re-answered invitations"
            result[name] = stats
    result["ratio"] = round(result["boussole"]["per_second"] / result["bare"]["per_second"], 3)
    drop_invitations()
    return result
