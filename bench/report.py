"""Turn bench-results/*.json into docs/benchmarks.md.

    python -m bench.report

The tables are generated from the results; the analysis (profiles, what
was fixed, why a target is missed) is written by hand in bench/analysis.md
and included as is.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench-results"
DOC = ROOT / "docs" / "benchmarks.md"
ANALYSIS = Path(__file__).resolve().parent / "analysis.md"
ORDER = {"tiny": 0, "S": 1, "M": 2}
DB_NAME = {"postgres": "PostgreSQL", "sqlite": "SQLite"}

INTRO = Path(__file__).resolve().parent / "intro.md"


def load() -> list[dict]:
    results = []
    for path in sorted(RESULTS.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        # The tiny size is CI's smoke run, not a measurement.
        if "size" in data and "db" in data and data["size"] != "tiny":
            results.append(data)
    return sorted(results, key=lambda r: (r["db"] != "postgres", ORDER.get(r["size"], 9)))


def _s(value) -> str:
    return "—" if value is None else f"{value:.2f} s"


def _ms(value) -> str:
    return "—" if value is None else f"{value:.1f} ms"


def _ok(flag: bool | None) -> str:
    return "—" if flag is None else ("✅ met" if flag else "❌ missed")


def environment_section(results: list[dict]) -> list[str]:
    lines = ["## Machine, versions, settings", ""]
    seen = set()
    for r in results:
        env = r.get("environment", {})
        key = (r["db"], env.get("database"))
        if key in seen:
            continue
        seen.add(key)
        m = env.get("machine", {})
        wrk = env.get("wrk", "").split(" Copyright")[0]
        lines.append(
            f"- **{DB_NAME[r['db']]}** runs: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory')} RAM, "
            f"{m.get('os')}; Python {env.get('python')}, Django {env.get('django')}, "
            f"gunicorn {env.get('gunicorn')}, {wrk}."
        )
        lines.append(f"  - {env.get('database')}")
        if env.get("commit"):
            lines.append(f"  - Boussole at commit `{env['commit']}`")
        settings = ", ".join(f"`{k}={v}`" for k, v in env.get("database_settings", {}).items())
        lines.append(f"  - settings: {settings} (stock settings: nothing tuned for the benchmark)")
    return [*lines, ""]


def dataset_section(results: list[dict]) -> list[str]:
    lines = [
        "## Datasets",
        "",
        "| run | deals | prospects | customers | activities | invitations | responses | "
        "users | teams | campaigns | generated in |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        rows = r.get("rows", {})
        gen = r.get("generate", {})
        lines.append(
            f"| {r['size']} / {DB_NAME[r['db']]} | {rows.get('crm_deal', 0):,} | "
            f"{rows.get('crm_prospect', 0):,} | "
            f"{rows.get('crm_customer', 0):,} | {rows.get('crm_activity', 0):,} | "
            f"{rows.get('surveys_invitation', 0):,} | {rows.get('surveys_response', 0):,} | "
            f"{rows.get('crm_user', 0):,} | {rows.get('crm_team', 0):,} | {rows.get('crm_campaign', 0):,} | "
            f"{gen.get('total_s', '—')} s |"
        )
    return [*lines, ""]


def _times(x: dict | None) -> str:
    if not x:
        return "—"
    return f"{_s(x['median_s'])} ({', '.join(f'{t:.2f}' for t in x['runs_s'])})"


def _x(value) -> str:
    return "—" if value is None else f"{value}×"


def _equal(check: dict) -> str:
    if check.get("equal"):
        return "yes"
    return (
        f"**no** ({check.get('different')} differ, {check.get('missing_from_floor')} missing, "
        f"{check.get('extra_in_floor')} extra)"
    )


def recompute_section(results: list[dict]) -> list[str]:
    lines = [
        "## KPI recompute",
        "",
        "Medians of the runs listed. The **ratio** is Boussole ÷ the floor named in its row (1.0 = as "
        "fast as hand-written SQL); the full recompute is held to the month-grouped floor "
        "(`bench.floor.MonthFloor`: each fact table grouped once by month × scope, quarters and years "
        "summed in SQL from those months), and the floor grouped per granularity (`bench.floor.Floor`) "
        "is shown beside it. The **plain scan** reads every row of every fact table the KPIs read once "
        "(`COUNT(column)`, sequential scans, nothing grouped or written): the physical reference, "
        "× = time ÷ scan.",
        "",
        "| run | what | Boussole | floor (the ratio's) | ratio | old floor (per granularity) | "
        "Boussole ÷ old floor | plain scan | Boussole ÷ scan | floor ÷ scan | rows compared | rows equal | "
        "target (M: ≤ 1.5×) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for key, label in (("recompute", "full (24 months)"), ("nightly", "nightly")):
            x = r.get(key)
            if not x:
                continue
            check = x.get("check", {})
            old = x.get("old_floor")
            equal = _equal(check)
            if old and old.get("check"):
                equal += f" (old floor: {_equal(old['check'])})"
            # Results from before issue 17 were measured against the floor of issue 5.
            name = x.get("floor_name", "floor grouped per granularity (bench.floor.Floor)")
            vs_scan = x.get("vs_scan", {})
            target = _ok(x["ratio"] <= 1.5) if key == "recompute" and r["size"] == "M" else "—"
            lines.append(
                f"| {r['size']} / {DB_NAME[r['db']]} | {label} | {_times(x['boussole'])} | "
                f"{_times(x['floor'])}, {name} | **{x['ratio']}×** | {_times(old)} | "
                f"{_x(x.get('old_ratio'))} | {_times(x.get('scan'))} | {_x(vs_scan.get('boussole'))} | "
                f"{_x(vs_scan.get('floor'))} | "
                f"{check.get('boussole_rows', x.get('rows_written', '—')):,} | {equal} | {target} |"
            )
    pending = sorted({k for r in results for k in r.get("recompute", {}).get("pending", [])})
    if pending:
        lines += [
            "",
            f"Not computed by the floors, so left out of the rows compared: {', '.join(pending)} "
            '(why: below, "The month-grouped floor and the plain scan").',
        ]
    lines += [
        "",
        "The nightly run's cost follows what changed (issue 11): a quiet night (nothing dirty) "
        "against the same run after one correction a year back (target on M: quiet night under 2 s, "
        "one dirty month about one month's worth of work).",
        "",
        "| run | quiet night | quiet night, 14 days on | one dirty month | months marked | "
        "months read again | target (M: quiet < 2 s) |",
        "|---|---|---|---|---|---|---|",
    ]

    def timed(t: dict | None) -> str:
        if not t:
            return "—"
        return f"{_s(t['median_s'])} ({', '.join(f'{v:.2f}' for v in t['runs_s'])})"

    for r in results:
        x = r.get("dirty")
        if not x or "quiet" not in x:
            continue
        quiet = x["quiet"]
        target = _ok(quiet["median_s"] < 2) if r["size"] == "M" else "—"
        lines.append(
            f"| {r['size']} / {DB_NAME[r['db']]} | {timed(quiet)} | {timed(x.get('quiet_later'))} | "
            f"{timed(x['dirty'])} | {', '.join(x['dirty_months']) or '—'} | "
            f"{', '.join(x.get('months_read', [])) or '—'} | {target} |"
        )
    return [*lines, ""]


def pages_section(results: list[dict]) -> list[str]:
    lines = [
        "## Pages",
        "",
        "| run | page (as) | p50 | p95 | queries | live floor p50 | live floor p95 | floor queries | "
        "target (M: ≤ 10 queries, p95 < 50 ms) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for name, page in (r.get("pages") or {}).items():
            if not isinstance(page, dict):
                continue  # the step's commit and time
            b, f = page.get("boussole", {}), page.get("floor", {})
            if "p95_ms" not in b:
                lines.append(
                    f"| {r['size']} / {DB_NAME[r['db']]} | {name} | {b.get('status')} | | | "
                    f"{_ms(f.get('p50_ms'))} | {_ms(f.get('p95_ms'))} | {f.get('queries', '—')} | — |"
                )
                continue
            target = "—"
            if r["size"] == "M":
                target = _ok(b["queries"] <= 10 and b["p95_ms"] < 50)
            fewer = (
                "" if b.get("requests") == b.get("requests_planned") else f" ({b.get('requests')} requests)"
            )
            lines.append(
                f"| {r['size']} / {DB_NAME[r['db']]} | {name} ({page.get('as')}) | {_ms(b['p50_ms'])} | "
                f"{_ms(b['p95_ms'])}{fewer} | {b['queries']} | {_ms(f.get('p50_ms'))} | "
                f"{_ms(f.get('p95_ms'))} | "
                f"{f.get('queries', '—')} | {target} |"
            )
    return [*lines, ""]


def submissions_section(results: list[dict]) -> list[str]:
    lines = [
        "## Survey submissions",
        "",
        "| run | Boussole /s | latency p50 / p99 | bare view /s | latency p50 / p99 | ratio | errors | "
        "target (≥ 60%) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        x = r.get("submissions")
        if not x or "bare" not in x:
            continue
        b, f = x["boussole"], x["bare"]
        lines.append(
            f"| {r['size']} / {DB_NAME[r['db']]} | {b['per_second']:.0f} | {b['latency_p50']} / "
            f"{b['latency_p99']} | "
            f"{f['per_second']:.0f} | {f['latency_p50']} / {f['latency_p99']} | **{x['ratio'] * 100:.0f}%** "
            "| "
            f"{b['non_2xx']} / {f['non_2xx']} | {_ok(x['ratio'] >= 0.6)} |"
        )
    if any("bare" in r.get("submissions", {}) for r in results):
        first = next(r["submissions"] for r in results if "bare" in r.get("submissions", {}))
        lines += [
            "",
            f"wrk: {first['threads']} threads, {first['connections']} connections, "
            f"{first['seconds']} s per view; gunicorn: {first['workers']} sync workers.",
        ]
    return [*lines, ""]


# Targets of issue 17, under 6 concurrent sessions on M.
LIST_P95_MS = 150
SNAPSHOT_P95_MS = 100
ANY_P95_MS = 250


def _target(entry: dict) -> tuple[float, str]:
    if entry["kind"] in ("list", "deep", "explain"):
        return LIST_P95_MS, f"< {LIST_P95_MS} ms"
    if entry["kind"] == "snapshot":
        return SNAPSHOT_P95_MS, f"< {SNAPSHOT_P95_MS} ms"
    return ANY_P95_MS, f"< {ANY_P95_MS} ms"


def _commit(step: dict, r: dict) -> str:
    return step.get("commit") or r.get("environment", {}).get("commit", "—")


def load_section(results: list[dict]) -> list[str]:
    lines = []
    for r in results:
        x = r.get("load")
        if not x or not x.get("warm"):
            continue
        cold = {(c["page"], c["role"]): c for c in x.get("cold", [])}
        lines += [
            f"## Concurrent load: {r['size']} / {DB_NAME[r['db']]}",
            "",
            f"Commit `{_commit(x, r)}`; gunicorn {x.get('workers')} sync workers, DEBUG off; wrk with "
            f"{x['sessions']} connections, one logged-in session each, {x['seconds']} s per page and role "
            f"after a 2 s warm-up. Machine load before: `{x.get('uptime_before', '—')}`; after: "
            f"`{x.get('uptime_after', '—')}`.",
            "",
            "Cold: "
            + (
                (
                    "each page's first requests (the 6 sessions, 3 GETs each, at once) right after dropping "
                    "the OS page cache and starting fresh gunicorn workers (PostgreSQL not restarted: its "
                    "128 MB of shared buffers may hold pages read before)."
                    if x.get("cold_requests")
                    else f"the same pages for {x.get('cold_seconds')} s each right after dropping the OS "
                    "page cache and starting fresh gunicorn workers, no warm-up (PostgreSQL not restarted); "
                    "a dash where no request finished within the window."
                )
                if cold
                else "not run."
            ),
            "",
            "| page | as | requests/s | p50 | p95 | queries | cold p50 | cold p95 | target p95 | |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        missed = []
        for e in x["warm"]:
            limit, label = _target(e)
            ok = e["p95_ms"] < limit and e.get("errors", 0) == 0 and e.get("status") == 200
            c = cold.get((e["page"], e["role"]), {})
            if not c.get("requests"):
                c = {}  # no request finished within the cold window
            deep = f" (row {e['position']:,})" if e.get("position") else ""
            lines.append(
                f"| {e['page']}{deep} | {e['role']} | {e['rps']} | {_ms(e['p50_ms'])} | {_ms(e['p95_ms'])} | "
                f"{e['queries']} | {_ms(c.get('p50_ms'))} | {_ms(c.get('p95_ms'))} | {label} | "
                f"{'✅' if ok else '❌'} |"
            )
            if not ok:
                missed.append(f"{e['page']} ({e['role']}): p95 {e['p95_ms']:.0f} ms")
        lines += ["", "Missed: " + ("; ".join(missed) if missed else "none.") if r["size"] == "M" else ""]
        lines.append("")
    return lines


def plans_section(results: list[dict]) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of every list's page and count queries, from
    the largest PostgreSQL run."""
    runs = [r for r in results if r["db"] == "postgres" and r.get("load", {}).get("warm")]
    if not runs:
        return []
    r = runs[-1]
    lines = [
        f"## Query plans ({r['size']} / PostgreSQL, commit `{_commit(r['load'], r)}`)",
        "",
        "`EXPLAIN (ANALYZE, BUFFERS)` of each list's page query (`LIMIT 26`: the page and one row to know "
        "there is a next page) and of its capped count (`LIMIT 10001`), as each role runs them, taken "
        "during the load step on a warm cache.",
        "",
    ]
    for e in r["load"]["warm"]:
        for label, plan in (e.get("explain") or {}).items():
            lines += [
                f"<details><summary>{e['page']} ({e['role']}): {label} query</summary>",
                "",
                "```sql",
                plan["sql"],
                "```",
                "",
                "```",
                plan["plan"],
                "```",
                "",
                "</details>",
                "",
            ]
    return lines


def render(results: list[dict]) -> str:
    parts = [INTRO.read_text()]
    if not results:
        parts.append("No results yet: run `make bench`.\n")
    else:
        parts += environment_section(results)
        parts += dataset_section(results)
        parts += recompute_section(results)
        parts += pages_section(results)
        parts += submissions_section(results)
        parts += load_section(results)
    if ANALYSIS.exists():
        parts.append(ANALYSIS.read_text())
    parts += plans_section(results)
    return "\n".join(parts).rstrip() + "\n"


def main() -> int:
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(render(load()))
    print(f"Wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
