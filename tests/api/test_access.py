"""Who sees what through the API: role × endpoint × someone else's record.

Ann is a salesperson in North (managed by Nina); Bob is her teammate, Steve
manages South, Sam sells there. The API answers exactly as the pages do:
a record you may not see is a 404 (its existence is no one's business), a
page your role may not use is a 403.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from crm.models import SalesCost
from kpis.models import KpiSnapshot
from tests.factories import (
    ActivityFactory,
    CampaignFactory,
    CampaignSpendFactory,
    CustomerFactory,
    DealFactory,
    InvitationFactory,
    ProspectFactory,
    ResponseFactory,
    TargetFactory,
)

VIEWERS = ["ann", "bob", "nina", "steve", "sam", "admin"]
# Who may see a record Ann owns: herself, her manager, admins.
SEES_ANNS = {"ann", "nina", "admin"}


def snapshot(world):
    return KpiSnapshot.objects.create(
        kpi="win_rate", scope_type="rep", scope_id=world.ann.pk, granularity="month",
        period_start=dt.date(2025, 1, 1), value=Decimal("0.5"), numerator=1, denominator=2,
        computed_at=dt.datetime(2025, 2, 1, tzinfo=dt.UTC),
    )  # fmt: skip


ANNS = {
    "prospects": lambda w: ProspectFactory(owner=w.ann),
    "customers": lambda w: CustomerFactory(owner=w.ann),
    "deals": lambda w: DealFactory(owner=w.ann),
    "activities": lambda w: ActivityFactory(owner=w.ann),
    "survey-invitations": lambda w: InvitationFactory(customer=CustomerFactory(owner=w.ann)),
    "survey-responses": lambda w: ResponseFactory(invitation__customer=CustomerFactory(owner=w.ann)),
    "targets": lambda w: TargetFactory(user=w.ann),
    "kpi-snapshots": snapshot,
    "users": lambda w: w.ann,
}


@pytest.mark.parametrize("viewer", VIEWERS)
@pytest.mark.parametrize("resource", sorted(ANNS))
def test_anns_records_are_seen_by_her_her_manager_and_admins(world, api_as, resource, viewer):
    record = ANNS[resource](world)
    client = api_as(getattr(world, viewer))
    listed = client.get(f"/api/v1/{resource}/", {"page_size": 500})
    assert listed.status_code == 200
    ids = {row["id"] for row in listed.json()["results"]}
    detail = client.get(f"/api/v1/{resource}/{record.pk}/")
    if viewer in SEES_ANNS:
        assert record.pk in ids
        assert detail.status_code == 200
    else:
        assert record.pk not in ids
        assert detail.status_code == 404
        assert detail.json() == {"detail": detail.json()["detail"]}


WRITES = [
    ("deals", "patch", "", {"title": "Renamed"}),
    ("deals", "post", "move/", {"stage": "proposal"}),
    ("deals", "post", "won/", {"amount": "10", "closed_on": "2025-02-01"}),
    ("deals", "post", "lost/", {"reason": "Price", "closed_on": "2025-02-01"}),
    ("prospects", "patch", "", {"name": "Renamed"}),
    ("prospects", "post", "status/", {"status": "contacted"}),
    ("prospects", "post", "lost/", {"reason": "Gone"}),
    ("prospects", "post", "convert/", {"mode": "new", "customer_name": "X", "deal_title": "X"}),
    ("customers", "patch", "", {"name": "Renamed"}),
    ("activities", "post", "done/", {}),
]


@pytest.mark.parametrize("viewer", VIEWERS)
@pytest.mark.parametrize(("resource", "method", "suffix", "body"), WRITES, ids=lambda v: str(v)[:12])
def test_only_those_who_see_a_record_may_change_it(world, api_as, resource, method, suffix, body, viewer):
    factory = {"deals": DealFactory, "prospects": ProspectFactory, "customers": CustomerFactory}
    record = (
        factory[resource](owner=world.ann, opened_on=dt.date(2025, 1, 1))
        if resource == "deals"
        else factory[resource](owner=world.ann)
        if resource in factory
        else ActivityFactory(owner=world.ann, done=False)
    )
    response = getattr(api_as(getattr(world, viewer)), method)(
        f"/api/v1/{resource}/{record.pk}/{suffix}", body, format="json"
    )
    if viewer in SEES_ANNS:
        assert response.status_code in (200, 201), response.json()
    else:
        assert response.status_code == 404


@pytest.mark.parametrize(
    ("viewer", "expected"),
    [("ann", 403), ("bob", 403), ("nina", 200), ("steve", 200), ("admin", 200)],
)
def test_spend_lines_are_for_managers_and_admins(world, api_as, viewer, expected):
    line = CampaignSpendFactory(campaign=CampaignFactory(team=world.north))
    client = api_as(getattr(world, viewer))
    assert client.get("/api/v1/spend-lines/").status_code == expected
    assert client.get(f"/api/v1/spend-lines/{line.pk}/").status_code == expected
    # Changing them is for the campaign's own team (and admins).
    deleted = client.delete(f"/api/v1/spend-lines/{line.pk}/")
    assert deleted.status_code == {"nina": 204, "admin": 204, "steve": 403}.get(viewer, 403)


@pytest.mark.parametrize(
    ("viewer", "listed", "detail"),
    [("ann", 403, 403), ("nina", 200, 200), ("steve", 200, 404), ("admin", 200, 200)],
)
def test_sales_costs_are_a_managers_own_teams(world, api_as, viewer, listed, detail):
    line = SalesCost.objects.create(
        team=world.north, spent_on=dt.date(2025, 1, 1), category="tools", amount=5
    )
    SalesCost.objects.create(team=None, spent_on=dt.date(2025, 1, 1), category="tools", amount=7)
    client = api_as(getattr(world, viewer))
    response = client.get("/api/v1/sales-costs/")
    assert response.status_code == listed
    if listed == 200:
        teams = {row["team"] for row in response.json()["results"]}
        assert teams == (
            {world.north.pk, None} if viewer == "admin" else {world.north.pk} if viewer == "nina" else set()
        )
    assert client.get(f"/api/v1/sales-costs/{line.pk}/").status_code == detail


@pytest.mark.parametrize(
    ("viewer", "teams"), [("ann", {"North"}), ("steve", {"South"}), ("admin", {"North", "South"})]
)
def test_teams_a_person_sees(world, api_as, viewer, teams):
    response = api_as(getattr(world, viewer)).get("/api/v1/teams/")
    assert {row["name"] for row in response.json()["results"]} == teams


def test_kpi_snapshots_follow_the_performance_pages(world, api_as):
    rows = {
        "rep-ann": ("rep", world.ann.pk),
        "rep-sam": ("rep", world.sam.pk),
        "team-north": ("team", world.north.pk),
        "team-south": ("team", world.south.pk),
        "company": ("company", 0),
    }
    made = {}
    for name, (scope_type, scope_id) in rows.items():
        made[name] = KpiSnapshot.objects.create(
            kpi="revenue", scope_type=scope_type, scope_id=scope_id, granularity="month",
            period_start=dt.date(2025, 1, 1), value=1, computed_at=dt.datetime(2025, 2, 1, tzinfo=dt.UTC),
        ).pk  # fmt: skip

    def seen(user) -> set[str]:
        ids = {row["id"] for row in api_as(user).get("/api/v1/kpi-snapshots/").json()["results"]}
        return {name for name, pk in made.items() if pk in ids}

    assert seen(world.ann) == {"rep-ann"}
    assert seen(world.nina) == {"rep-ann", "team-north"}
    assert seen(world.admin) == set(rows)


def test_campaigns_are_read_by_everyone_and_run_by_their_team(world, api_as):
    campaign = CampaignFactory(team=world.north)
    assert api_as(world.sam).get(f"/api/v1/campaigns/{campaign.pk}/").status_code == 200
    assert (
        api_as(world.ann).patch(f"/api/v1/campaigns/{campaign.pk}/", {"name": "X"}, format="json").status_code
        == 403
    )
    assert api_as(world.steve).patch(f"/api/v1/campaigns/{campaign.pk}/", {"name": "X"}).status_code == 403
    assert api_as(world.nina).patch(f"/api/v1/campaigns/{campaign.pk}/", {"name": "X"}).status_code == 200
    assert api_as(world.ann).post("/api/v1/campaigns/", {}, format="json").status_code == 403


def test_nothing_without_credentials(world, client):
    response = client.get("/api/v1/deals/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def many(resource: str, world, n: int):
    """The n-th of several records (snapshots and targets are unique per month)."""
    month = dt.date(2024, 1 + n % 12, 1)
    if resource == "targets":
        return TargetFactory(user=world.ann, month=month)
    if resource == "kpi-snapshots":
        return KpiSnapshot.objects.create(
            kpi="revenue", scope_type="rep", scope_id=world.ann.pk, granularity="month",
            period_start=month, value=1, computed_at=dt.datetime(2025, 2, 1, tzinfo=dt.UTC),
        )  # fmt: skip
    return ANNS[resource](world)


@pytest.mark.parametrize("resource", sorted(set(ANNS) - {"users"}))
def test_every_list_runs_a_bounded_number_of_queries(world, api_as, resource, django_assert_max_num_queries):
    client = api_as(world.admin)
    counts = []
    for batch in range(2):
        for n in range(4):
            many(resource, world, batch * 4 + n)
        with django_assert_max_num_queries(6) as captured:
            assert client.get(f"/api/v1/{resource}/").status_code == 200
        counts.append(len(captured.captured_queries))
    assert counts[1] <= counts[0]  # more rows, not more queries
