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

from django.conf import settings
from django.db import connection

from bench.sql import Dialect

LUA = r"""
-- Each thread POSTs its own slice of the tokens, each token once.
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
  body = os.getenv("BENCH_BODY")
  headers = {}
  headers["Content-Type"] = "application/x-www-form-urlencoded"
  headers["Cookie"] = "csrftoken=" .. os.getenv("BENCH_CSRF_COOKIE")
  i = id
end
function request()
  local token = tokens[(i % #tokens) + 1]
  i = i + step
  return wrk.format("POST", prefix .. token .. "/", headers, body)
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
            f"SELECT (SELECT MIN(id) FROM surveys_survey), {customer}, NULL, NULL, NULL, "
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
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.2)
        self.__exit__()
        raise RuntimeError("gunicorn did not start within 30 s.")

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


def run_wrk(port: int, prefix: str, tokens: list[str], cookie: str, body: str, seconds: int,
            threads: int, connections: int) -> dict:  # fmt: skip
    workdir = Path(tempfile.mkdtemp(prefix="bench-wrk-"))
    try:
        (workdir / "tokens.txt").write_text("\n".join(tokens) + "\n")
        (workdir / "post.lua").write_text(LUA)
        env = dict(os.environ, BENCH_TOKENS=str(workdir / "tokens.txt"), BENCH_THREADS=str(threads),
                   BENCH_PREFIX=prefix, BENCH_BODY=body, BENCH_CSRF_COOKIE=cookie)  # fmt: skip
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
    connection.close()  # the server's workers get the database to themselves
    result = {"seconds": seconds, "threads": threads, "connections": connections}
    with Server(database_url) as server:
        result["workers"] = server.workers
        cookie, form_token = csrf_pair(server, pools["boussole"][-1])
        body = f"csrfmiddlewaretoken={form_token}&nps_score=9&csat_score=4&comment=Great+service"
        for name, prefix in (("boussole", "/s/"), ("bare", "/bench/bare/")):
            stats = run_wrk(
                server.port, prefix, pools[name][:-1], cookie, body, seconds, threads, connections
            )
            stats["rows_inserted"] = answered("b" if name == "boussole" else "x")
            stats.pop("wrk_output")
            log(f"  submissions {name}: {stats['per_second']:.0f}/s, {stats['non_2xx']} non-2xx")
            if stats["requests"] >= tokens - 1:
                stats["warning"] = "tokens ran out: later requests re-answered invitations"
            result[name] = stats
    result["ratio"] = round(result["boussole"]["per_second"] / result["bare"]["per_second"], 3)
    drop_invitations()
    return result
