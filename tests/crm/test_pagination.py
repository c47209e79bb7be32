"""Keyset pagination, capped counts and the manager's indexed scope (crm/pagination.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import pytest
from django.urls import reverse

from crm.filters import DealFilterForm
from crm.models import Deal, Stage
from crm.pagination import PAGE_SIZE, capped_totals
from tests.factories import ActivityFactory, CustomerFactory, DealFactory, ProspectFactory

pytestmark = pytest.mark.django_db


def _walk(client, url: str, params: dict, attr: str = "pk") -> tuple[list, list[str]]:
    """Every row by following Next from the first page; the URLs visited."""
    seen, urls = [], []
    response = client.get(url, params)
    while True:
        page = response.context["page"]
        seen += [getattr(row, attr) for row in page]
        if not page.has_next:
            return seen, urls
        urls.append(page.next_url)
        response = client.get(url + page.next_url)


def _deals(world, n: int) -> list[Deal]:
    # Few distinct keys: ties on the sort key must page by id, none lost or repeated.
    return [
        DealFactory(
            owner=world.ann,
            opened_on=dt.date(2025, 1, 1 + i % 3),
            amount=Decimal(100 * (i % 4)),
            title=f"Deal {i % 5}",
            stage=Stage.WON if i % 2 else Stage.PROSPECTING,
            closed_on=dt.date(2025, 2, 1 + i % 2) if i % 2 else None,
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("sort", ["-opened_on", "opened_on", "-amount", "amount", "-closed_on", "title"])
def test_next_links_walk_every_deal_once_in_order(world, login, sort):
    deals = _deals(world, 2 * PAGE_SIZE + 7)
    client = login(world.ann)
    seen, urls = _walk(client, reverse("deal_list"), {"sort": sort})
    expected = list(DealFilterForm({"sort": sort}, user=world.ann).filter(Deal.objects.all()))
    assert seen == [d.pk for d in expected]
    assert sorted(seen) == sorted(d.pk for d in deals)
    # The sort and the filters travel with the cursor.
    assert all(parse_qs(urlparse(u).query)["sort"] == [sort] for u in urls)


def test_recently_closed_puts_open_deals_last(world, login):
    _deals(world, 6)
    rows = list(login(world.ann).get(reverse("deal_list"), {"sort": "-closed_on"}).context["page"])
    closed = [d.closed_on for d in rows]
    assert closed == sorted(closed[:3], reverse=True) + [None, None, None]


def test_previous_link_comes_back_to_the_same_rows(world, login):
    _deals(world, 2 * PAGE_SIZE + 3)
    client = login(world.ann)
    url = reverse("deal_list")
    first = client.get(url, {"sort": "-amount", "stage": "won"}).context["page"]
    second = client.get(url + first.next_url).context["page"]
    assert second.has_previous and second.first_url == "?sort=-amount&stage=won"
    back = client.get(url + second.previous_url).context["page"]
    assert [d.pk for d in back] == [d.pk for d in first]
    assert not back.has_previous and back.has_next


def test_a_junk_cursor_is_the_first_page(world, login):
    _deals(world, 3)
    client = login(world.ann)
    first = [d.pk for d in client.get(reverse("deal_list")).context["page"]]
    for junk in ["x", "2025-13-01_4", "_", "2025-01-01_", "2025-01-01_abc", "nan_3", "a" * 1000, "\x00_1"]:
        for name in ("after", "before"):
            response = client.get(
                reverse("deal_list"), {name: junk, "sort": "-amount" if "nan" in junk else ""}
            )
            assert response.status_code == 200
    assert [d.pk for d in client.get(reverse("deal_list"), {"after": "x"}).context["page"]] == first
    # An old page-number link still lands on the first page.
    assert [d.pk for d in client.get(reverse("deal_list"), {"page": "40"}).context["page"]] == first


def test_links_work_without_javascript_and_refresh_with_htmx(world, login):
    _deals(world, PAGE_SIZE + 1)
    client = login(world.ann)
    html = client.get(reverse("deal_list"), {"sort": "-amount"}).content.decode()
    assert 'rel="next"' in html and 'href="?sort=-amount&amp;after=' in html
    assert 'hx-target="#results"' in html
    partial = client.get(reverse("deal_list"), {"sort": "-amount"}, headers={"HX-Request": "true"})
    assert partial.content.decode().lstrip().startswith('<div id="results"')


def test_every_list_pages_by_keyset(world, login):
    customer = CustomerFactory(owner=world.ann)
    for i in range(PAGE_SIZE + 2):
        ProspectFactory(owner=world.ann, name=f"P{i:02}")
        CustomerFactory(owner=world.ann, name=f"C{i:02}")
        ActivityFactory(
            owner=world.ann, deal=None, customer=customer, occurred_on=dt.date(2025, 6, 16 + i % 5)
        )
    client = login(world.ann)
    week = {"from": "2025-06-16", "to": "2025-06-22"}
    for url, params, expected in [
        (reverse("prospect_list"), {"sort": "name"}, PAGE_SIZE + 2),
        (reverse("customer_list"), {"sort": "-acquired_on"}, PAGE_SIZE + 3),
        (reverse("customer_list"), {"sort": "-revenue"}, PAGE_SIZE + 3),
        (reverse("activity_list"), week, PAGE_SIZE + 2),
    ]:
        seen, _urls = _walk(client, url, params)
        assert len(seen) == len(set(seen)) == expected, url


def test_counts_stop_at_the_cap_and_give_no_total_past_it(world, login):
    deals = _deals(world, 5)
    qs = Deal.objects.all()
    assert capped_totals(qs, "amount", cap=10).amount == capped_totals(qs, "amount", cap=5).amount
    exact = capped_totals(qs, "amount", cap=5)
    assert (exact.count, exact.capped, exact.amount) == (5, False, sum(d.amount for d in deals))
    over = capped_totals(qs, "amount", cap=4)
    assert (over.count, over.capped, over.amount) == (4, True, None)


def test_the_list_says_10000_plus_past_the_cap(world, login, monkeypatch):
    import crm.views_deals

    _deals(world, 3)
    monkeypatch.setattr(crm.views_deals, "capped_totals", lambda qs, field: capped_totals(qs, field, cap=2))
    html = login(world.ann).get(reverse("deal_list")).content.decode()
    assert "2+ deals" in html and "total" not in html.split("2+ deals")[1].split("</p>")[0]


def test_a_manager_still_sees_their_own_deal_recorded_on_another_team(world, login):
    # Nina moved from South: her old deal is on South's books, and hers.
    mine = DealFactory(owner=world.nina, team=world.south, title="Nina's old deal")
    team = DealFactory(owner=world.ann, team=world.north, title="Ann's deal")
    DealFactory(owner=world.sam, team=world.south, title="Sam's deal")
    rows = {d.pk for d in login(world.nina).get(reverse("deal_list")).context["page"]}
    assert rows == {mine.pk, team.pk}
    assert set(Deal.objects.visible_to_indexed(world.nina)) == set(Deal.objects.visible_to(world.nina))
