"""The Process page: who sees what, the funnel's click-through to the exact
deals, the stalled list, CSV, and a query count that does not grow."""

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from kpis.compute import recompute
from tests.factories import UserFactory
from tests.kpis.process_fixture import MAR, TODAY, build, deal_with_history

pytestmark = pytest.mark.django_db

URL = "/process/"


@pytest.fixture
def page(world):
    deals = build(world)
    with time_machine.travel(dt.datetime(2025, 6, 15, 10, tzinfo=dt.UTC), tick=False):
        recompute(dt.date(2025, 1, 1), dt.date(2025, 6, 1), today=TODAY)
        yield world, deals


def march(**params):
    return {"g": "month", "p": MAR.isoformat(), **params}


def titles(response) -> set[str]:
    return {d.title for d in response.context["deals"]}


def test_nav_links_the_process_page(page, login):
    world, _ = page
    body = login(world.ann).get(reverse("dashboard")).content.decode()
    assert f'href="{URL}"' in body


@pytest.mark.parametrize(
    ("who", "scope", "status"),
    [
        ("ann", "", 200),
        ("ann", "company", 403),
        ("ann", "team-north", 404),
        ("ann", "rep-bob", 404),
        ("nina", "", 200),
        ("nina", "rep-bob", 200),
        ("nina", "team-south", 404),
        ("nina", "rep-sam", 404),
        ("nina", "company", 403),
        ("admin", "", 200),
        ("admin", "team-south", 200),
        ("admin", "rep-sam", 200),
        ("admin", "team-999", 404),
    ],
)
def test_who_sees_which_process(page, login, who, scope, status):
    world, _ = page
    scope = scope.replace("north", str(world.north.pk)).replace("south", str(world.south.pk))
    scope = scope.replace("bob", str(world.bob.pk)).replace("sam", str(world.sam.pk))
    response = login(getattr(world, who)).get(URL, march(scope=scope) if scope else march())
    assert response.status_code == status


def test_default_scopes_are_own_team_and_company(page, login):
    world, _ = page
    assert login(world.ann).get(URL).context["scope"].id == world.ann.pk
    assert login(world.nina).get(URL).context["scope"].id == world.north.pk
    assert login(world.admin).get(URL).context["scope"].type == "company"


def test_the_funnel_reads_the_snapshots_and_links_to_the_exact_deals(page, login):
    world, _ = page
    client = login(world.nina)
    response = client.get(URL, march())
    funnel = {s["stage"]: s for s in response.context["funnel"]}
    assert (funnel["proposal"]["entered"], funnel["proposal"]["left"], funnel["proposal"]["moved_on"]) == (
        3,
        3,
        2,
    )
    assert funnel["qualification"]["lost"] == 1
    deals_url = reverse("process_deals")
    team = f"team-{world.north.pk}"
    assert titles(client.get(deals_url, march(scope=team, stage="proposal", what="moved_on"))) == {
        _title(page, "D1"),
        _title(page, "D2"),
    }
    assert titles(client.get(deals_url, march(scope=team, stage="proposal", what="dropped"))) == {
        _title(page, "D3")
    }
    entered = titles(client.get(deals_url, march(scope=team, stage="qualification", what="entered")))
    assert entered == {_title(page, "D1"), _title(page, "D3"), _title(page, "D6")}
    lost = titles(client.get(deals_url, march(scope=team, stage="qualification", what="lost")))
    assert lost == {_title(page, "D3")}
    # The link on the page is that list.
    assert funnel["proposal"]["links"]["moved_on"].startswith(deals_url)


def test_the_deals_list_keeps_to_what_the_viewer_may_see(page, login):
    world, _ = page
    deals_url = reverse("process_deals")
    ann = login(world.ann)
    assert (
        ann.get(deals_url, march(scope=f"team-{world.north.pk}", stage="proposal", what="left")).status_code
        == 404
    )
    mine = ann.get(deals_url, march(stage="prospecting", what="left"))
    assert _title(page, "D6") not in titles(mine)  # bob's
    assert ann.get(deals_url, march(stage="won", what="left")).status_code == 404


def test_stalled_deals_now_oldest_first_with_owner_and_days(page, login):
    world, _ = page
    with time_machine.travel(dt.datetime(2025, 6, 15, 10, tzinfo=dt.UTC), tick=False):
        response = login(world.admin).get(URL)
    stalled = response.context["stalled"]
    assert [(d.title, d.owner, d.days_in_stage) for d in stalled] == [
        (_title(page, "D6"), world.bob, 105),
        (_title(page, "D9"), world.sam, 14),
    ]


def test_time_in_stage_table_and_lead_response_per_rep(page, login):
    world, _ = page
    response = login(world.nina).get(URL, march())
    times = {t["stage"]: t for t in response.context["times"]}
    assert (times["negotiation"]["median"], times["negotiation"]["p75"]) == ("12.5", "16.25")
    assert times["negotiation"]["company_median"] == "12.5"
    reps = {r["person"].username: r for r in response.context["reps"]}
    assert (reps["ann"]["touched"], reps["ann"]["prospects"], reps["ann"]["never_share"]) == (3, 5, "40")
    body = response.content.decode()
    assert 'id="process-data"' in body and "<script>" not in body.split('id="process-data"')[0][-200:]


def test_csv_export(page, login):
    world, _ = page
    response = login(world.nina).get(URL, march(format="csv"))
    text = response.content.decode()
    assert response["Content-Type"].startswith("text/csv")
    assert "stage,proposal,3,3,2,0,7,8.5" in text
    assert "rep,ann," in text


def test_query_count_does_not_grow_with_people_or_deals(page, login):
    world, _ = page
    client = login(world.admin)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(URL, march()).status_code == 200
        return len(ctx.captured_queries)

    before = count()
    for i in range(5):
        rep = UserFactory(team=world.north, username=f"extra{i}")
        deal_with_history(rep, [("prospecting", dt.date(2025, 3, 1)), ("proposal", dt.date(2025, 3, 5))])
    recompute(dt.date(2025, 3, 1), dt.date(2025, 3, 1), ["month"], today=TODAY)
    # session, user, people, snapshots, lost reasons, scope picker (teams,
    # people), the cards' snapshots, the stalled thresholds, the stalled deals.
    assert count() == before <= 12


def _title(page, key):
    return page[1][key].title
