"""What changed: the decomposition maths, the page per role, its query count."""

import datetime as dt
from decimal import Decimal as D

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from kpis.breakdown import Segment, decompose_ratio, decompose_sum, volume_and_size
from kpis.compute import recompute
from tests.factories import ProductFactory, UserFactory
from tests.kpis.factories import lost, won

DEC_5 = dt.datetime(2026, 12, 5, 10, tzinfo=dt.UTC)
TODAY = dt.date(2026, 12, 5)
NOV, DEC = dt.date(2026, 11, 1), dt.date(2026, 12, 1)


# ---------------------------------------------------------------- maths


def test_a_sums_contributions_are_each_lines_own_change():
    lines = decompose_sum([Segment("a", "A", n0=D(100), n1=D(250)), Segment("b", "B", n0=D(80), n1=D(30))])
    assert [s.total for s in lines] == [D(150), D(-50)]


def test_mix_alone_when_every_rate_holds():
    # A converts 50 %, B 20 % in both periods; volume moves from A to B.
    a = Segment("a", "A", n0=D(25), d0=D(50), n1=D(10), d1=D(20))
    b = Segment("b", "B", n0=D(10), d0=D(50), n1=D(16), d1=D(80))
    lines, other = decompose_ratio([a, b], D(100))
    assert sum(s.rate for s in lines) == 0
    assert sum(s.mix for s in lines) == D(26) - D(35)  # 35 % → 26 %
    assert other == 0
    # More volume in the lower-rate line shows as a negative mix on that line.
    assert b.mix < 0 and a.mix < 0


def test_rate_alone_when_the_mix_holds():
    a = Segment("a", "A", n0=D(5), d0=D(10), n1=D(7), d1=D(10))
    b = Segment("b", "B", n0=D(2), d0=D(10), n1=D(2), d1=D(10))
    lines, other = decompose_ratio([a, b], D(100))
    assert [s.mix for s in lines] == [0, 0]
    assert a.rate == D(10) and b.rate == 0  # 35 % → 45 %: all A's rate
    assert other == 0


def test_mix_and_rate_add_up_exactly_with_a_new_line():
    a = Segment("a", "A", n0=D(3), d0=D(7), n1=D(4), d1=D(9))
    b = Segment("b", "B", n0=D(1), d0=D(6), n1=D(5), d1=D(11))
    new = Segment("c", "C", n1=D(2), d1=D(3))
    lines, other = decompose_ratio([a, b, new], D(100))
    change = D(11) / D(23) * 100 - D(4) / D(13) * 100
    assert abs(sum(s.total for s in lines) + other - change) < D("1e-20")
    assert new.rate == 0 and new.mix != 0  # a new line only moves the mix


def test_a_ratio_with_an_na_side_has_nothing_to_explain():
    lines, other = decompose_ratio([Segment("a", "A", n1=D(1), d1=D(2))], D(100))
    assert lines[0].total == 0 and other == 0


def test_revenue_is_volume_times_deal_size():
    volume, size = volume_and_size(D(10), D(1000), D(12), D(1800))
    assert volume == D(2) * D(125)  # two more deals at the mean size
    assert size == D(50) * D(11)  # a deal 50 larger over the mean count
    assert volume + size == D(800)
    assert volume_and_size(D(0), D(0), D(3), D(300)) == (D(300), D(0))


# ---------------------------------------------------------------- the page


@pytest.fixture
def figures(world):
    """North grows, South shrinks, like for like (1–5 Dec against 1–5 Nov)."""
    alpha, beta = ProductFactory(name="Alpha"), ProductFactory(name="Beta")
    won(world.ann, "100", NOV, dt.date(2026, 11, 2), product=alpha)
    won(world.ann, "300", DEC, dt.date(2026, 12, 2), product=alpha)
    won(world.bob, "200", DEC, dt.date(2026, 12, 3), product=beta)
    lost(world.bob, NOV, dt.date(2026, 11, 3))
    won(world.sam, "500", NOV, dt.date(2026, 11, 4), product=beta)
    won(world.sam, "100", DEC, dt.date(2026, 12, 4))
    lost(world.sam, DEC, dt.date(2026, 12, 4))
    # After the like-for-like span: never counted on the previous side.
    won(world.sam, "9000", NOV, dt.date(2026, 11, 20))
    recompute(today=TODAY)
    return world


def _page(client, **params):
    return client.get(reverse("what_changed"), params)


@time_machine.travel(DEC_5, tick=False)
def test_admin_sees_each_teams_contribution_like_for_like(figures, login):
    response = _page(login(figures.admin), kpi="revenue", scope="company")
    b = response.context["b"]
    assert b.compare_label == "1–5 Nov"
    assert (b.previous, b.current) == (D(600), D(600))
    by = {s.label: s.total for s in b.segments}
    assert by == {"North": D(400), "South": D(-400)}
    assert b.volume + b.size == 0
    body = response.content.decode()
    assert 'id="waterfall-data"' in body and "<script>" not in body.replace("<script src", "")
    assert "style=" not in body.split('id="perf-body"')[1]


@time_machine.travel(DEC_5, tick=False)
def test_win_rate_splits_into_mix_and_rate_that_add_up(figures, login):
    b = _page(login(figures.admin), kpi="win_rate", scope="company").context["b"]
    # 1–5 Nov: 2 won of 3; 1–5 Dec: 3 won of 4.
    assert b.change.quantize(D("0.001")) == (D(75) - D(200) / D(3)).quantize(D("0.001"))
    assert abs(sum(s.total for s in b.segments) + b.other - b.change) < D("0.00001")
    assert all(s.mix or s.rate for s in b.segments)


@time_machine.travel(DEC_5, tick=False)
def test_by_product_reads_the_engines_stored_sums(figures, login):
    b = _page(login(figures.admin), kpi="revenue", scope="company", dim="product").context["b"]
    by = {s.label: s.total for s in b.segments}
    assert by == {"Alpha": D(200), "Beta": D(-300), "No product": D(100)}
    alpha = next(s for s in b.segments if s.label == "Alpha")
    assert f"product={ProductFactory(name='Alpha').pk}" in alpha.url


@time_machine.travel(DEC_5, tick=False)
def test_a_salesperson_sees_themselves_and_the_rest_of_the_team_as_one_line(figures, login):
    response = _page(login(figures.ann), kpi="revenue", scope=f"rep-{figures.ann.pk}")
    b = response.context["b"]
    assert b.dimension == "mine"
    assert [(s.label, s.total) for s in b.segments] == [("You", D(200)), ("The rest of the team", D(200))]
    assert str(figures.bob) not in response.content.decode()


@time_machine.travel(DEC_5, tick=False)
def test_a_manager_sees_each_person_of_their_team(figures, login):
    b = _page(login(figures.nina), kpi="revenue", scope=f"team-{figures.north.pk}").context["b"]
    assert {s.label: s.total for s in b.segments} == {str(figures.ann): D(200), str(figures.bob): D(200)}


@time_machine.travel(DEC_5, tick=False)
def test_a_manager_sees_one_person_against_the_rest_of_their_team(figures, login):
    b = _page(login(figures.nina), kpi="revenue", scope=f"rep-{figures.ann.pk}").context["b"]
    assert [(s.label, s.total, s.mine) for s in b.segments] == [
        (str(figures.ann), D(200), False),
        ("The rest of the team", D(200), False),
    ]
    assert (b.previous, b.current) == (D(100), D(500))  # the team's, like for like


@pytest.mark.parametrize(
    ("who", "scope", "status"),
    [
        ("ann", "rep-{bob}", 404),
        ("ann", "team-{north}", 404),
        ("ann", "company", 403),
        ("nina", "team-{south}", 404),
        ("nina", "rep-{sam}", 404),
        ("nina", "company", 403),
        ("admin", "team-{south}", 200),
        ("admin", "rep-{sam}", 200),
    ],
)
def test_who_may_open_which_breakdown(world, login, who, scope, status):
    ids = {"bob": world.bob.pk, "north": world.north.pk, "south": world.south.pk, "sam": world.sam.pk}
    response = _page(login(getattr(world, who)), kpi="revenue", scope=scope.format(**ids))
    assert response.status_code == status


def test_bad_requests(world, login, client):
    assert _page(login(world.admin), kpi="nope", scope="company").status_code == 404
    assert _page(login(world.ann), kpi="cac", scope=f"rep-{world.ann.pk}").status_code == 404
    assert client.post(reverse("what_changed"), {"kpi": "revenue"}).status_code == 405
    client.logout()
    assert _page(client, kpi="revenue").status_code == 302


@time_machine.travel(DEC_5, tick=False)
def test_cards_and_leaderboard_rows_link_to_their_breakdown(figures, login):
    cards = login(figures.ann).get(reverse("scorecard")).context["cards"]
    revenue = next(c for c in cards if c.key == "revenue")
    assert "what-changed/?kpi=revenue" in revenue.breakdown
    assert next(c for c in cards if c.key == "pipeline_velocity").breakdown == ""
    rows = login(figures.ann).get(reverse("leaderboard")).context["rows"]
    assert [bool(r.extra.get("breakdown")) for r in rows] == [r.key == figures.ann.pk for r in rows]
    rows = login(figures.nina).get(reverse("leaderboard")).context["rows"]
    assert all(r.extra.get("breakdown") for r in rows)


@time_machine.travel(DEC_5, tick=False)
def test_the_query_count_does_not_grow_with_the_team(figures, login):
    client = login(figures.nina)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert _page(client, kpi="win_rate", scope=f"team-{figures.north.pk}").status_code == 200
        return len(queries)

    before = count()
    for _i in range(5):
        rep = UserFactory(team=figures.north)
        won(rep, "10", DEC, dt.date(2026, 12, 2))
    recompute(today=TODAY)
    # session, user, the team (visibility), its people, their snapshots, and
    # the header's team name.
    assert count() == before <= 6
