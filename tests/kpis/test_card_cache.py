"""The scorecard's rendered cards are cached while their snapshot rows are
unchanged (kpis.scorecards.cards_cache_key): a second view reads them from
the cache, and any recompute that changes a row shows at once."""

import datetime as dt
import re
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from crm.models import Deal
from kpis.compute import recompute
from tests.kpis.factories import won

pytestmark = pytest.mark.django_db
DEC_5 = dt.datetime(2026, 12, 5, 10, tzinfo=dt.UTC)
TODAY = dt.date(2026, 12, 5)


def _cards(response) -> str:
    """The page's cards, without what changes on every request (CSRF)."""
    html = response.content.decode()
    html = re.sub(r'"x-csrftoken":\s*"[^"]*"', "", html)
    return html[html.index('class="kpi-section"') :]


@time_machine.travel(DEC_5, tick=False)
def test_a_second_view_reads_the_cards_from_the_cache(world, login):
    won(world.ann, "150", dt.date(2026, 12, 1), dt.date(2026, 12, 2))
    recompute(today=TODAY)
    client = login(world.ann)
    first = client.get(reverse("scorecard"))
    assert "cards" in first.context  # built from the rows
    with CaptureQueriesContext(connection) as captured:
        second = client.get(reverse("scorecard"))
    assert "cards" not in second.context  # read from the cache
    assert _cards(second) == _cards(first)
    # The rows' stamp is read (one aggregate), not the rows.
    reads = [q["sql"] for q in captured.captured_queries if "kpis_kpisnapshot" in q["sql"]]
    assert len(reads) == 1 and "MAX(" in reads[0]


def test_a_recompute_that_changes_a_figure_shows_at_once(world, login):
    won(world.ann, "150", dt.date(2026, 12, 1), dt.date(2026, 12, 2))
    with time_machine.travel(DEC_5, tick=False):
        recompute(today=TODAY)
        client = login(world.ann)
        client.get(reverse("scorecard"))
    # Written with update(): only the database triggers see it. The rows the
    # next run changes carry its time: the stamp, so the key, moves.
    Deal.objects.filter(owner=world.ann).update(amount=F("amount") + 1000)
    with time_machine.travel(DEC_5 + dt.timedelta(minutes=5), tick=False):
        recompute(today=TODAY)
        response = client.get(reverse("scorecard"))
    assert "cards" in response.context
    revenue = next(c for c in response.context["cards"] if c.key == "revenue")
    assert revenue.value == Decimal("1150")


@time_machine.travel(DEC_5, tick=False)
def test_a_deleted_row_changes_the_cards(world, login):
    won(world.ann, "150", dt.date(2026, 12, 1), dt.date(2026, 12, 2))
    recompute(today=TODAY)
    client = login(world.ann)
    client.get(reverse("scorecard"))
    from kpis.models import KpiSnapshot

    KpiSnapshot.objects.filter(scope_type="rep", scope_id=world.ann.pk, kpi="revenue").delete()
    assert "cards" in client.get(reverse("scorecard")).context


@time_machine.travel(DEC_5, tick=False)
def test_a_salesperson_never_gets_a_managers_cached_links(world, login):
    won(world.ann, "150", dt.date(2026, 12, 1), dt.date(2026, 12, 2))
    recompute(today=TODAY)
    url = reverse("scorecard") + f"?rep={world.ann.pk}"
    assert "/surveys/results/" in _cards(login(world.nina).get(url))  # the manager's links
    response = login(world.ann).get(url)
    assert "cards" in response.context  # not the manager's cached cards
    assert "/surveys/results/" not in _cards(response)


@time_machine.travel(DEC_5, tick=False)
def test_each_language_has_its_own_cards(world, login):
    won(world.ann, "150", dt.date(2026, 12, 1), dt.date(2026, 12, 2))
    recompute(today=TODAY)
    client = login(world.ann)
    english = _cards(client.get(reverse("scorecard"), HTTP_ACCEPT_LANGUAGE="en"))
    with translation.override("fr"):
        french = _cards(client.get(reverse("scorecard"), HTTP_ACCEPT_LANGUAGE="fr"))
    assert "Explain this number" in english
    assert "Explain this number" not in french


def test_the_next_day_builds_the_cards_again(world, login):
    won(world.ann, "150", dt.date(2026, 12, 1), dt.date(2026, 12, 2))
    with time_machine.travel(DEC_5, tick=False):
        recompute(today=TODAY)
        client = login(world.ann)
        assert "cards" in client.get(reverse("scorecard")).context
        assert "cards" not in client.get(reverse("scorecard")).context
    # Like-for-like labels ("vs 1–6 Nov") move with the day.
    with time_machine.travel(DEC_5 + dt.timedelta(days=1), tick=False):
        assert "cards" in client.get(reverse("scorecard")).context


@time_machine.travel(DEC_5, tick=False)
def test_a_failing_cache_never_fails_the_page(world, login, monkeypatch, caplog):
    from kpis import performance_views

    class Down:
        """The cache as the scorecard sees it, with Redis down (sessions keep theirs)."""

        def get(self, *args, **kwargs):
            raise ConnectionError("Redis is down")

        set = get

    monkeypatch.setattr(performance_views, "cache", Down())
    won(world.ann, "150", dt.date(2026, 12, 1), dt.date(2026, 12, 2))
    recompute(today=TODAY)
    response = login(world.ann).get(reverse("scorecard"))
    assert response.status_code == 200
    assert "cards" in response.context and 'class="kpi-section"' in response.content.decode()
    assert "the cache failed" in caplog.text
