"""The benchmark's entry point.

    python -m bench.run --size S --db postgres     # or --size M / tiny, --db sqlite

Generates the dataset (set-based SQL, fixed seed), then times, each beside
its floor in the same run: the full KPI recompute, the nightly run, the
performance pages and the pipeline board, and survey submissions through
gunicorn. Writes bench-results/<db>-<size>.json; `python -m bench.report`
turns every result there into docs/benchmarks.md.

PostgreSQL databases are `boussole_bench_<size>` on BENCH_PG_URL (default
postgres://postgres@127.0.0.1:5432), created if missing; SQLite files are
var/boussole_bench_<size>.sqlite3. BENCH_DB (or --db-name) names another.
Both are the benchmark's own: they are wiped.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench-results"
STEPS = ("generate", "recompute", "nightly", "dirty", "pages", "load", "submissions")


def database_url(db: str, size: str, name: str | None = None) -> str:
    """The bench database: BENCH_DB (or --db-name) names it, else one per size."""
    name = name or os.environ.get("BENCH_DB") or f"boussole_bench_{size.lower()}"
    if db == "postgres":
        base = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
        return f"{base}/{name}"
    return f"sqlite:///{ROOT / 'var' / f'{name}.sqlite3'}"


def ensure_postgres_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(url: str) -> None:
    """Production settings (DEBUG off), the bench database and bench URLs."""
    from bench.submissions import gunicorn_env

    os.environ.update(gunicorn_env(url))
    # The test Client calls itself "testserver".
    os.environ["ALLOWED_HOSTS"] = "127.0.0.1,testserver"
    import django

    django.setup()


def _cmd(args: list[str]) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def environment() -> dict:
    import django
    from django.db import connection

    cpu = ""
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    memory = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    info = {
        "machine": {"cpu": cpu, "cores": os.cpu_count(), "memory": memory, "os": platform.platform()},
        "python": platform.python_version(),
        "django": django.get_version(),
        "wrk": _cmd(["wrk", "--version"]).splitlines()[0] if _cmd(["wrk", "--version"]) else "",
        "commit": _cmd(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
        + (
            "-dirty"
            if _cmd(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"])
            else ""
        ),
        "uptime": _cmd(["uptime"]),
    }
    try:
        import gunicorn

        info["gunicorn"] = gunicorn.__version__
    except ImportError:
        pass
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT version()")
            info["database"] = cursor.fetchone()[0]
            db_settings = {}
            names = ("shared_buffers", "work_mem", "effective_cache_size", "max_parallel_workers_per_gather",
                     "synchronous_commit", "jit", "random_page_cost")  # fmt: skip
            for name in names:
                cursor.execute(f"SHOW {name}")
                db_settings[name] = cursor.fetchone()[0]
            info["database_settings"] = db_settings
        else:
            import sqlite3

            info["database"] = f"SQLite {sqlite3.sqlite_version}"
            db_settings = {}
            for name in ("journal_mode", "synchronous", "cache_size", "page_size"):
                cursor.execute(f"PRAGMA {name}")
                db_settings[name] = cursor.fetchone()[0]
            info["database_settings"] = db_settings
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=["tiny", "S", "M"], default="S")
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--db-name", default=None, help="the bench database's name (default: BENCH_DB)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per recompute figure (median)")
    parser.add_argument("--requests", type=int, default=50, help="timed requests per page")
    parser.add_argument("--seconds", type=int, default=10, help="load-test length per view")
    parser.add_argument("--steps", default=",".join(STEPS), help=f"comma-separated, from {', '.join(STEPS)}")
    parser.add_argument("--profile", action="store_true", help="profile one full recompute with pyinstrument")
    parser.add_argument("--load-seconds", type=int, default=5, help="load-test length per page and role")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold-cache pass of the load step")
    parser.add_argument(
        "--only", default="", help="load step: only pages whose name contains one of these words"
    )
    args = parser.parse_args(argv)
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    unknown = set(steps) - set(STEPS)
    if unknown:
        parser.error(f"unknown steps: {', '.join(sorted(unknown))}")

    url = database_url(args.db, args.size, args.db_name)
    if args.db == "postgres":
        ensure_postgres_database(url)
    else:
        (ROOT / "var").mkdir(exist_ok=True)
    setup_django(url)

    from django.core.management import call_command

    from bench.generate import SIZES, Generator, counts

    def log(message: str) -> None:
        print(message, flush=True)

    log(f"Boussole benchmark: size {args.size} on {args.db} ({url})")
    call_command("migrate", verbosity=0)
    size = SIZES[args.size]
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{args.db}-{args.size}.json"
    previous = json.loads(out.read_text()) if out.exists() else {}
    result = {
        "size": args.size,
        "db": args.db,
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "environment": environment(),
    }
    generator = Generator(size, progress=lambda step, s: log(f"  generate {step}: {s:.1f}s"))
    today = generator.today
    if "generate" in steps:
        log("Generating the dataset…")
        began = time.perf_counter()
        result["generate"] = generator.run()
        result["generate"]["total_s"] = round(time.perf_counter() - began, 1)
    else:
        result["generate"] = previous.get("generate", {"today": today.isoformat()})
        today = dt.date.fromisoformat(result["generate"]["today"])
        generator = Generator(size, today=today)
    result["rows"] = counts()
    log(f"Rows: {result['rows']}")

    if "recompute" in steps:
        from bench.recompute import bench_full

        log("Full recompute vs its SQL floors and a plain scan…")
        result["recompute"] = bench_full(generator.start, today, today, runs=args.runs, log=log)
        x = result["recompute"]
        log(
            f"  equal rows: {x['check']['equal']} (old floor: {x['old_floor']['check']['equal']}), ratio "
            f"{x['ratio']} (old floor: {x['old_ratio']}); against the plain scan: {x['vs_scan']}"
        )
    if args.profile:
        result["profile"] = profile_recompute(generator.start, today, args)
    if "nightly" in steps:
        from bench.recompute import bench_nightly

        log("Nightly run vs its SQL floor…")
        result["nightly"] = bench_nightly(today, runs=args.runs, log=log)
    if "dirty" in steps:
        from bench.recompute import bench_dirty_month

        log("Nightly run: a quiet night, then one dirty month…")
        result["dirty"] = bench_dirty_month(today, runs=args.runs, log=log)
    if "pages" in steps or "load" in steps:
        # The recompute step leaves the snapshot table as its last run wrote
        # it; the pages read it, so it must hold every KPI.
        ensure_snapshots(generator.start, today, log)
    if "pages" in steps:
        from bench.pages import bench_pages

        # DEBUG off serves hashed static file names from the manifest.
        call_command("collectstatic", interactive=False, verbosity=0)

        log("Pages…")
        result["pages"] = bench_pages(requests=args.requests, log=log)
    if "load" in steps:
        import shutil

        from bench.load import bench_load

        if shutil.which("wrk"):
            call_command("collectstatic", interactive=False, verbosity=0)
            if args.db == "postgres":
                # Statistics for indexes a migration just added (expression
                # indexes have their own), as autovacuum would gather them.
                from django.db import connection

                with connection.cursor() as cursor:
                    cursor.execute("ANALYZE")
            log("Concurrent load, page by page and role by role, through gunicorn…")
            before = _cmd(["uptime"])
            result["load"] = bench_load(
                url,
                today,
                generator.start,
                seconds=args.load_seconds,
                cold=not args.no_cold,
                only=[w for w in args.only.split(",") if w] or None,
                log=log,
            )
            result["load"]["uptime_before"] = before
            result["load"]["uptime_after"] = _cmd(["uptime"])
        else:
            log("Load step skipped: wrk is not installed (Debian: apt-get install -y wrk).")
    if "submissions" in steps:
        import shutil

        from bench.submissions import bench_submissions

        if shutil.which("wrk"):
            log("Survey submissions through gunicorn…")
            result["submissions"] = bench_submissions(url, seconds=args.seconds, log=log)
        else:
            log("Survey submissions skipped: wrk is not installed (Debian: apt-get install -y wrk).")
    # Each step's figures carry the commit they measured: a later run of
    # other steps keeps them (below) and the report names each commit.
    for step in steps:
        if isinstance(result.get(step), dict):
            result[step]["commit"] = result["environment"]["commit"]
            result[step]["measured"] = result["started"]
    for step in STEPS[1:]:
        if step not in result and step in previous:
            result[step] = previous[step]  # keep figures of steps not run this time
    result["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    out.write_text(json.dumps(result, indent=2, default=str))
    log(f"Wrote {out.relative_to(ROOT)}")
    return 0


def ensure_snapshots(start: dt.date, today: dt.date, log) -> None:
    """The snapshot pages read KPI snapshots: compute them once if the
    recompute step has not (the generator leaves none)."""
    from kpis.compute import recompute
    from kpis.models import KpiSnapshot

    if not KpiSnapshot.objects.exists():
        log("No KPI snapshots yet: one full recompute first…")
        recompute(start, today, today=today)


def profile_recompute(start: dt.date, today: dt.date, args) -> str:
    try:
        from pyinstrument import Profiler
    except ImportError:
        return "pyinstrument is not installed (pip install -e '.[bench]')"
    from kpis.compute import recompute

    profiler = Profiler()
    profiler.start()
    recompute(start, today, today=today)
    profiler.stop()
    path = RESULTS / f"profile-recompute-{args.db}-{args.size}.txt"
    path.write_text(profiler.output_text(unicode=True, color=False, show_all=False))
    return str(path.relative_to(ROOT))


if __name__ == "__main__":
    sys.exit(main())
