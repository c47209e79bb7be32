"""Page timings: p50 and p95 over warm requests, with their query counts.

Each page is requested through Django's test Client (no network, no
gunicorn: the view, its queries and its template) as the user who would
open it, after a few untimed requests; its floor is the same page computed
live from the raw tables (bench.views). Queries are counted on one extra
request with CaptureQueriesContext so the timed requests carry no debug
cursor.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse

from crm.models import User


@dataclass
class Page:
    name: str
    url_name: str
    floor_url_name: str
    user: str  # "admin" or "manager"
    floor_kwargs: dict | None = None


PAGES = [
    Page("scorecard", "scorecard", "bench_live_scorecard", "admin"),
    Page("leaderboard", "leaderboard", "bench_live_leaderboard", "admin"),
    Page("team page", "team_page", "bench_live_team", "manager", {"team_id": "team"}),
    Page("pipeline board", "deal_board", "bench_live_board", "manager"),
]


def _user(role: str) -> User:
    if role == "admin":
        return User.objects.filter(username="admin").get()
    return User.objects.filter(role=User.Role.MANAGER, team__isnull=False).order_by("pk").first()


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def time_url(client: Client, url: str, requests: int = 50, warm: int = 5, budget_s: float = 120) -> dict:
    """p50/p95 in ms over `requests` warm GETs (fewer if the page is so slow
    that they would take more than budget_s), and the query count."""
    status = None
    first = None
    for i in range(warm):
        began = time.perf_counter()
        response = client.get(url)
        if i == 0:
            first = time.perf_counter() - began
        status = response.status_code
    if status != 200:
        return {"url": url, "status": status}
    planned = requests
    if first and first * requests > budget_s:
        requests = max(5, int(budget_s / first))
    times = []
    size = 0
    for _ in range(requests):
        began = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - began) * 1000)
        size = len(response.content)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    return {
        "url": url,
        "status": status,
        "requests": requests,
        "requests_planned": planned,
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(_percentile(times, 95), 2),
        "queries": len(queries),
        "bytes": size,
    }


def bench_pages(requests: int = 50, warm: int = 5, log=print, only: list[str] | None = None) -> dict:
    results = {}
    for page in PAGES:
        if only and page.name not in only:
            continue
        user = _user(page.user)
        client = Client()
        client.force_login(user)
        entry = {"as": page.user}
        try:
            url = reverse(page.url_name)
        except NoReverseMatch:
            entry["boussole"] = {"status": "not available on this branch"}
        else:
            entry["boussole"] = time_url(client, url, requests, warm)
        kwargs = {k: user.team_id for k in (page.floor_kwargs or {})}
        entry["floor"] = time_url(client, reverse(page.floor_url_name, kwargs=kwargs), requests, warm)
        b, f = entry["boussole"].get("p95_ms"), entry["floor"].get("p95_ms")
        entry["p95_ratio"] = round(b / f, 2) if b and f else None
        log(
            f"  {page.name}: boussole p50 {entry['boussole'].get('p50_ms')} ms p95 {b} ms "
            f"({entry['boussole'].get('queries')} queries); live floor p95 {f} ms"
        )
        results[page.name] = entry
    return results
