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

INTRO = """# Benchmarks

How fast Boussole computes and shows its numbers, measured beside the fastest
way to compute the same thing, in the same run, on the same data.

Run them with `make bench SIZE=S DB=postgres` (sizes `tiny`, `S`, `M`; `DB=sqlite`
too), or `python -m bench.run --size M --db postgres`; each run writes
`bench-results/<db>-<size>.json` and `python -m bench.report` (or
`make bench-report`) rewrites this page from every result there. CI runs the
same code at a tiny size (`tests/bench/test_bench_tiny.py`) so it cannot rot.

## What is measured, and against what

| measure | Boussole | its floor |
|---|---|---|
| full recompute | `kpis.compute.recompute(start, end)`: every KPI × scope × month/quarter/year over the 24 months, from an empty snapshot table | hand-written SQL (`bench/floor.py`): one `INSERT … SELECT … ON CONFLICT DO UPDATE` per fact table (deals with targets, prospects, customers with spend, surveys, activities); on PostgreSQL `GROUPING SETS` over period × scope with `FILTER` clauses; on SQLite (no `GROUPING SETS`) a `UNION ALL` of `GROUP BY`s. It writes every KPI of the spec, and the benchmark **asserts its rows equal Boussole's** (kpi, scope, granularity, period, value, numerator, denominator, low sample, maturing, at 6 decimals) |
| nightly run | the churn rule, then the current and previous period of each granularity, over a full snapshot table | the same SQL for those periods |
| pages | the view through Django's test Client as the user who opens it (admin: scorecard, leaderboard; a manager: team page, board), p50/p95 over 50 warm requests (5 untimed first), queries counted on one more request | the same page computed live from the raw tables, as CRMs without snapshots do (`bench/views.py`: one aggregate per fact table over the 13 months a scorecard shows); for the board, the board bounded to 50 cards per stage with totals from one aggregate |
| survey submissions | POSTs to `/s/<token>/` through gunicorn (2 workers, DEBUG off) on 127.0.0.1, `wrk` in another process, each token answered once, CSRF on | a bare Django view (`bench.views.bare_submit`): the same POST parsed by a form, one lookup, one ORM insert, same middleware |

Datasets come from `bench/generate.py`: set-based `INSERT … SELECT` over
`generate_series` (PostgreSQL) or a recursive CTE (SQLite), every choice a hash
of the row number (fixed seed), dated over the 24 months before the run's day.
Sizes: **S** ≈ 100k deals, 300k prospects, 30k responses, 50 reps; **M** ≈ 1M
deals, 3M prospects, 300k responses, 200 reps (plus a manager per team of ten).

Targets: full recompute within **1.5×** its SQL floor on M; pages at most
**10 queries** and **p95 under 50 ms** on M; survey submissions at least **60%**
of the bare view's rate.
"""


def load() -> list[dict]:
    results = []
    for path in sorted(RESULTS.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if "size" in data and "db" in data:
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
        lines.append(f"- **{DB_NAME[r['db']]}** runs: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory')} RAM, "
                     f"{m.get('os')}; Python {env.get('python')}, Django {env.get('django')}, "
                     f"gunicorn {env.get('gunicorn')}, {env.get('wrk', '').split(' Copyright')[0]}.")  # fmt: skip
        lines.append(f"  - {env.get('database')}")
        settings = ", ".join(f"`{k}={v}`" for k, v in env.get("database_settings", {}).items())
        lines.append(f"  - settings: {settings} (stock settings: nothing tuned for the benchmark)")
    return [*lines, ""]


def dataset_section(results: list[dict]) -> list[str]:
    lines = ["## Datasets", "", "| run | deals | prospects | customers | activities | invitations | responses | "
             "users | teams | campaigns | generated in |", "|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in results:
        rows = r.get("rows", {})
        gen = r.get("generate", {})
        lines.append(
            f"| {r['size']} / {DB_NAME[r['db']]} | {rows.get('crm_deal', 0):,} | {rows.get('crm_prospect', 0):,} | "
            f"{rows.get('crm_customer', 0):,} | {rows.get('crm_activity', 0):,} | "
            f"{rows.get('surveys_invitation', 0):,} | {rows.get('surveys_response', 0):,} | "
            f"{rows.get('crm_user', 0):,} | {rows.get('crm_team', 0):,} | {rows.get('crm_campaign', 0):,} | "
            f"{gen.get('total_s', '—')} s |"
        )
    return [*lines, ""]


def recompute_section(results: list[dict]) -> list[str]:
    lines = [
        "## KPI recompute",
        "",
        "Medians of the runs listed; ratio = Boussole ÷ floor (1.0 = as fast as hand-written SQL).",
        "",
        "| run | what | Boussole | SQL floor | ratio | rows written | rows equal | target (M: ≤ 1.5×) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for key, label in (("recompute", "full (24 months)"), ("nightly", "nightly")):
            x = r.get(key)
            if not x:
                continue
            check = x.get("check", {})
            equal = "yes" if check.get("equal") else f"**no** ({check.get('different')} differ, " \
                f"{check.get('missing_from_floor')} missing, {check.get('extra_in_floor')} extra)"
            target = _ok(x["ratio"] <= 1.5) if key == "recompute" and r["size"] == "M" else "—"
            runs = ", ".join(f"{t:.2f}" for t in x["boussole"]["runs_s"])
            floor_runs = ", ".join(f"{t:.2f}" for t in x["floor"]["runs_s"])
            lines.append(
                f"| {r['size']} / {DB_NAME[r['db']]} | {label} | {_s(x['boussole']['median_s'])} ({runs}) | "
                f"{_s(x['floor']['median_s'])} ({floor_runs}) | **{x['ratio']}×** | "
                f"{check.get('boussole_rows', x.get('rows_written', '—')):,} | {equal} | {target} |"
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
            b, f = page.get("boussole", {}), page.get("floor", {})
            if "p95_ms" not in b:
                lines.append(f"| {r['size']} / {DB_NAME[r['db']]} | {name} | {b.get('status')} | | | "
                             f"{_ms(f.get('p50_ms'))} | {_ms(f.get('p95_ms'))} | {f.get('queries', '—')} | — |")  # fmt: skip
                continue
            target = "—"
            if r["size"] == "M":
                target = _ok(b["queries"] <= 10 and b["p95_ms"] < 50)
            fewer = "" if b.get("requests") == b.get("requests_planned") else f" ({b.get('requests')} requests)"
            lines.append(
                f"| {r['size']} / {DB_NAME[r['db']]} | {name} ({page.get('as')}) | {_ms(b['p50_ms'])} | "
                f"{_ms(b['p95_ms'])}{fewer} | {b['queries']} | {_ms(f.get('p50_ms'))} | {_ms(f.get('p95_ms'))} | "
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
        if not x:
            continue
        b, f = x["boussole"], x["bare"]
        lines.append(
            f"| {r['size']} / {DB_NAME[r['db']]} | {b['per_second']:.0f} | {b['latency_p50']} / {b['latency_p99']} | "
            f"{f['per_second']:.0f} | {f['latency_p50']} / {f['latency_p99']} | **{x['ratio'] * 100:.0f}%** | "
            f"{b['non_2xx']} / {f['non_2xx']} | {_ok(x['ratio'] >= 0.6)} |"
        )
    if len(lines) > 6 or any(r.get("submissions") for r in results):
        first = next(r["submissions"] for r in results if r.get("submissions"))
        lines += ["", f"wrk: {first['threads']} threads, {first['connections']} connections, "
                      f"{first['seconds']} s per view; gunicorn: {first['workers']} sync workers."]  # fmt: skip
    return [*lines, ""]


def render(results: list[dict]) -> str:
    parts = [INTRO]
    if not results:
        parts.append("No results yet: run `make bench`.\n")
    else:
        parts += environment_section(results)
        parts += dataset_section(results)
        parts += recompute_section(results)
        parts += pages_section(results)
        parts += submissions_section(results)
    if ANALYSIS.exists():
        parts.append(ANALYSIS.read_text())
    return "\n".join(parts).rstrip() + "\n"


def main() -> int:
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(render(load()))
    print(f"Wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
