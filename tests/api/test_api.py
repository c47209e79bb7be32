"""The API's contract: tokens, limits, pages, filters, the pages' rules."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import IntegrityError
from django.utils import timezone
from rest_framework.test import APIClient

from api.models import ApiToken, hash_token
from crm.models import Customer, Deal, DealStageChange, Prospect, SalesCost, Stage, Target
from kpis.definitions import KPIS
from kpis.models import KpiSnapshot
from tests.factories import CustomerFactory, DealFactory, ProductFactory, ProspectFactory, TargetFactory

# ---------------------------------------------------------------- tokens


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_a_token_is_stored_hashed_and_records_its_last_use(world):
    token, raw = ApiToken.issue(world.ann, "BI")
    assert raw.startswith("bsl_") and len(raw) > 40
    assert token.key_hash == hash_token(raw) and raw not in token.key_hash
    assert token.prefix == raw[:8]
    assert bearer(raw).get("/api/v1/me/").json()["username"] == "ann"
    token.refresh_from_db()
    first_use = token.last_used_at
    assert first_use is not None
    # Written at most once a minute: a busy script is not a write per read.
    bearer(raw).get("/api/v1/me/")
    token.refresh_from_db()
    assert token.last_used_at == first_use


@pytest.mark.parametrize("case", ["wrong", "expired", "revoked", "inactive", "malformed"])
def test_a_bad_token_is_refused_with_401(world, case):
    token, raw = ApiToken.issue(world.ann, "BI", expires_at=timezone.now() + dt.timedelta(days=1))
    header = f"Bearer {raw}"
    if case == "wrong":
        header = "Bearer bsl_" + "x" * 43
    elif case == "expired":
        token.expires_at = timezone.now() - dt.timedelta(seconds=1)
        token.save()
    elif case == "revoked":
        token.delete()
    elif case == "inactive":
        world.ann.is_active = False
        world.ann.save()
    elif case == "malformed":
        header = f"Bearer {raw} extra"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/deals/")
    assert response.status_code == 401
    assert "detail" in response.json()


def test_the_browsable_api_uses_the_session(world, login):
    client = login(world.ann)
    response = client.get("/api/v1/deals/", headers={"accept": "text/html"})
    assert response.status_code == 200 and b"<html" in response.content
    # A session write needs the CSRF token, as any form does.
    csrf_client = APIClient(enforce_csrf_checks=True)
    csrf_client.force_login(world.ann)
    assert csrf_client.post("/api/v1/prospects/", {"name": "X"}, format="json").status_code == 403


def test_the_rate_limit_is_per_token(world, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "3/minute", "anon": "3/minute"},
    }
    _t1, first = ApiToken.issue(world.ann, "one")
    _t2, second = ApiToken.issue(world.ann, "two")
    with time_machine.travel(dt.datetime(2025, 3, 1, 9, tzinfo=dt.UTC), tick=False):
        statuses = [bearer(first).get("/api/v1/me/").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = bearer(first).get("/api/v1/me/")
        assert int(limited["Retry-After"]) > 0
        assert bearer(second).get("/api/v1/me/").status_code == 200


# ---------------------------------------------------------------- pages of results


def test_cursor_pages_cover_every_row_once(world, api_as):
    deals = DealFactory.create_batch(7, owner=world.ann)
    client = api_as(world.ann)
    url, seen = "/api/v1/deals/?page_size=3", []
    while url:
        page = client.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
    assert seen == sorted((d.pk for d in deals), reverse=True)
    assert client.get("/api/v1/deals/?cursor=not-a-cursor").status_code == 404


@pytest.mark.parametrize("rows", [3, 30])
def test_a_list_runs_a_bounded_number_of_queries(world, api_as, rows, django_assert_max_num_queries):
    DealFactory.create_batch(rows, owner=world.ann)
    client = api_as(world.nina)
    # The token (with its user), the last-used stamp, the page of deals.
    with django_assert_max_num_queries(3):
        response = client.get("/api/v1/deals/?page_size=50")
    assert len(response.json()["results"]) == rows


def test_kpi_snapshot_pages_name_their_scopes_in_a_bounded_number_of_queries(
    world, api_as, django_assert_max_num_queries
):
    for month in range(1, 13):
        for scope_type, scope_id in (("team", world.north.pk), ("rep", world.ann.pk), ("company", 0)):
            KpiSnapshot.objects.create(
                kpi="revenue", scope_type=scope_type, scope_id=scope_id, granularity="month",
                period_start=dt.date(2025, month, 1), value=1, computed_at=timezone.now(),
            )  # fmt: skip
    client = api_as(world.admin)
    # Token, last-used stamp, the page, team names, people's names.
    with django_assert_max_num_queries(5):
        rows = client.get("/api/v1/kpi-snapshots/?page_size=100").json()["results"]
    assert {r["scope_name"] for r in rows} == {"North", "Ann Rep", "company"}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("stage=bogus", "stage"),
        ("owner=abc", "owner"),
        ("owner=99999999999999999999999", "owner"),
        ("opened_from=2025-13-01", "opened_from"),
        ("status=maybe", "status"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(world, api_as, query, field):
    response = api_as(world.ann).get(f"/api/v1/deals/?{query}")
    assert response.status_code == 400
    assert field in response.json()


def test_filters_narrow_the_list(world, api_as):
    won = DealFactory(owner=world.ann, stage=Stage.WON, closed_on=dt.date(2025, 3, 1))
    DealFactory(owner=world.ann)
    DealFactory(owner=world.bob, stage=Stage.WON, closed_on=dt.date(2025, 5, 1))
    client = api_as(world.nina)
    rows = client.get("/api/v1/deals/?status=won&closed_to=2025-04-01").json()["results"]
    assert [r["id"] for r in rows] == [won.pk]
    assert len(client.get(f"/api/v1/deals/?owner={world.bob.pk}").json()["results"]) == 1


# ---------------------------------------------------------------- writes: the pages' rules


def test_a_deal_is_logged_with_the_forms_rules(world, api_as):
    customer = CustomerFactory(owner=world.ann)
    client = api_as(world.ann)
    missing = client.post("/api/v1/deals/", {"title": "X"})
    assert missing.status_code == 400 and "customer" in missing.json()
    negative = client.post("/api/v1/deals/", {"title": "X", "customer": customer.pk, "amount": "-1"})
    assert negative.status_code == 400 and "amount" in negative.json()
    foreign = client.post("/api/v1/deals/", {"title": "X", "customer": CustomerFactory(owner=world.sam).pk})
    assert foreign.status_code == 400 and "customer" in foreign.json()
    not_mine = client.post("/api/v1/deals/", {"title": "X", "customer": customer.pk, "owner": world.bob.pk})
    assert not_mine.status_code == 400 and "owner" in not_mine.json()
    created = client.post("/api/v1/deals/", {"title": "X", "customer": customer.pk, "stage": "proposal"})
    assert created.status_code == 201, created.json()
    deal = Deal.objects.get(pk=created.json()["id"])
    assert (deal.owner, deal.team, deal.stage, deal.opened_on) == (
        world.ann,
        world.north,
        "proposal",
        timezone.localdate(),
    )
    assert deal.external_ref.startswith("bsl-")
    assert list(deal.stage_changes.values_list("from_stage", "to_stage")) == [("", "proposal")]
    assert Deal.objects.count() == 1


def test_a_manager_assigns_within_their_team(world, api_as):
    customer = CustomerFactory(owner=world.ann)
    client = api_as(world.nina)
    ok = client.post("/api/v1/deals/", {"title": "X", "customer": customer.pk, "owner": world.bob.pk})
    assert ok.status_code == 201 and ok.json()["owner"] == world.bob.pk
    outside = client.post("/api/v1/deals/", {"title": "X", "customer": customer.pk, "owner": world.sam.pk})
    assert outside.status_code == 400 and "owner" in outside.json()


def test_the_deal_verbs_obey_the_pages(world, api_as):
    customer = CustomerFactory(owner=world.ann)
    deal = DealFactory(owner=world.ann, customer=customer, opened_on=dt.date(2025, 1, 1))
    client = api_as(world.ann)
    url = f"/api/v1/deals/{deal.pk}"
    assert client.post(f"{url}/move/", {"stage": "won"}).status_code == 400  # won asks for more
    assert client.post(f"{url}/move/", {"stage": "proposal"}).json()["stage"] == "proposal"
    early = client.post(f"{url}/won/", {"amount": "900", "closed_on": "2024-12-31"})
    assert early.status_code == 400 and "closed_on" in early.json()
    won = client.post(f"{url}/won/", {"amount": "900", "closed_on": "2025-02-01"})
    assert won.json()["stage"] == "won" and won.json()["amount"] == "900.00"
    customer.refresh_from_db()
    assert customer.acquired_on == dt.date(2025, 2, 1)
    again = client.post(f"{url}/won/", {"amount": "900", "closed_on": "2025-02-01"})
    assert again.status_code == 400 and "non_field_errors" in again.json()
    assert client.post(f"{url}/move/", {"stage": "proposal"}).status_code == 400  # closed: reopen first
    assert client.patch(f"{url}/", {"stage": "lost"}).status_code == 400
    assert client.post(f"{url}/lost/", {"reason": " ", "closed_on": "2025-02-02"}).status_code == 400
    reopened = client.post(f"{url}/reopen/", {"stage": "negotiation"}).json()
    assert (reopened["stage"], reopened["closed_on"]) == ("negotiation", None)
    lost = client.post(f"{url}/lost/", {"reason": "Price", "closed_on": "2025-02-02"}).json()
    assert (lost["stage"], lost["lost_reason"], lost["lost_note"]) == ("lost", "price", "")
    history = client.get(f"{url}/stage-changes/").json()
    assert [(h["from_stage"], h["to_stage"]) for h in history] == [
        ("", "prospecting"),  # its creation
        ("prospecting", "proposal"),
        ("proposal", "won"),
        ("won", "negotiation"),
        ("negotiation", "lost"),
    ]


def test_the_lost_action_takes_a_reason_code_and_an_optional_note(world, api_as):
    client = api_as(world.ann)
    coded, free, bad = (DealFactory(owner=world.ann, opened_on=dt.date(2025, 1, 1)) for _ in range(3))
    body = {"reason_code": "competitor", "reason": "Acme was cheaper", "closed_on": "2025-02-02"}
    lost = client.post(f"/api/v1/deals/{coded.pk}/lost/", body).json()
    assert (lost["lost_reason"], lost["lost_note"]) == ("competitor", "Acme was cheaper")
    # The older form (free text only) still works: it is kept as the note of "other".
    lost = client.post(
        f"/api/v1/deals/{free.pk}/lost/", {"reason": "Merger", "closed_on": "2025-02-02"}
    ).json()
    assert (lost["lost_reason"], lost["lost_note"]) == ("other", "Merger")
    unknown = client.post(
        f"/api/v1/deals/{bad.pk}/lost/", {"reason_code": "weather", "closed_on": "2025-02-02"}
    )
    assert unknown.status_code == 400 and "reason_code" in unknown.json()
    bad.refresh_from_db()
    assert bad.stage == Stage.PROSPECTING


def test_the_models_and_the_databases_refusals_are_400s(world, api_as, monkeypatch):
    deal = DealFactory(owner=world.ann, opened_on=dt.date(2025, 1, 1))
    client = api_as(world.nina)

    # The model's clean() (e.g. a closed deal's owner is locked) …
    def locked(self):
        raise ValidationError({"owner": "A closed deal's owner is locked: reopen it first."})

    monkeypatch.setattr(Deal, "clean", locked)
    response = client.patch(f"/api/v1/deals/{deal.pk}/", {"owner": world.bob.pk})
    assert response.status_code == 400
    assert response.json() == {"owner": ["A closed deal's owner is locked: reopen it first."]}
    monkeypatch.undo()

    # … and the database's (a constraint or trigger) roll the write back.
    def refused(self, *args, **kwargs):
        raise IntegrityError("deal_owner_locked: closed deals keep their owner")

    monkeypatch.setattr(Deal, "save", refused)
    response = client.post(f"/api/v1/deals/{deal.pk}/won/", {"amount": "5", "closed_on": "2025-02-01"})
    assert response.status_code == 400
    assert "deal_owner_locked" in response.json()["non_field_errors"][0]
    monkeypatch.undo()
    deal.refresh_from_db()
    assert deal.stage == Stage.PROSPECTING
    # Only the entry of its creation: the refused win left none.
    assert DealStageChange.objects.filter(deal=deal).count() == 1


def test_a_prospect_is_converted_in_one_step(world, api_as):
    prospect = ProspectFactory(owner=world.ann, company="Acme")
    product = ProductFactory()
    response = api_as(world.ann).post(
        f"/api/v1/prospects/{prospect.pk}/convert/",
        {
            "mode": "new",
            "customer_name": "Acme SA",
            "deal_title": "Acme deal",
            "amount": "10",
            "product": product.pk,
        },
    )
    assert response.status_code == 201, response.json()
    deal = Deal.objects.get(pk=response.json()["id"])
    prospect.refresh_from_db()
    assert (prospect.status, prospect.customer.name, deal.customer, deal.prospect) == (
        "converted", "Acme SA", prospect.customer, prospect,
    )  # fmt: skip
    again = api_as(world.ann).post(
        f"/api/v1/prospects/{prospect.pk}/convert/", {"mode": "new", "customer_name": "B", "deal_title": "B"}
    )
    assert again.status_code == 400 and Customer.objects.count() == 1


def test_prospects_and_customers_are_edited_partially(world, api_as):
    prospect = ProspectFactory(owner=world.ann, company="Acme", email="a@acme.example")
    response = api_as(world.ann).patch(f"/api/v1/prospects/{prospect.pk}/", {"phone": "0102"})
    assert response.status_code == 200
    prospect.refresh_from_db()
    assert (prospect.phone, prospect.company, prospect.email) == ("0102", "Acme", "a@acme.example")
    bad = api_as(world.ann).patch(f"/api/v1/prospects/{prospect.pk}/", {"email": "nope"})
    assert bad.status_code == 400 and "email" in bad.json()
    moved = api_as(world.nina).patch(f"/api/v1/prospects/{prospect.pk}/", {"owner": world.bob.pk})
    assert moved.json()["owner"] == world.bob.pk
    assert Prospect.objects.get(pk=prospect.pk).owner == world.bob


def test_sales_cost_lines_by_role(world, api_as):
    line = {"spent_on": "2025-03-01", "category": "salaries", "amount": "12000"}
    nina = api_as(world.nina)
    assert nina.post("/api/v1/sales-costs/", {**line, "team": world.north.pk}).status_code == 201
    assert "team" in nina.post("/api/v1/sales-costs/", {**line, "team": world.south.pk}).json()
    assert "team" in nina.post("/api/v1/sales-costs/", {**line, "team": None}).json()
    assert api_as(world.admin).post("/api/v1/sales-costs/", {**line, "team": None}).status_code == 201
    assert api_as(world.ann).post("/api/v1/sales-costs/", {**line, "team": world.north.pk}).status_code == 403
    first = SalesCost.objects.get(team=world.north)
    patched = nina.patch(f"/api/v1/sales-costs/{first.pk}/", {"amount": "13000"})
    assert patched.json()["amount"] == "13000.00"
    assert nina.delete(f"/api/v1/sales-costs/{first.pk}/").status_code == 204


def test_targets_by_role(world, api_as):
    nina = api_as(world.nina)
    created = nina.post("/api/v1/targets/", {"user": world.ann.pk, "month": "2025-03-17", "amount": "5000"})
    assert created.status_code == 201 and created.json()["month"] == "2025-03-01"
    twice = nina.post("/api/v1/targets/", {"user": world.ann.pk, "month": "2025-03-01", "amount": "1"})
    assert twice.status_code == 400 and "month" in twice.json()
    assert (
        "user"
        in nina.post("/api/v1/targets/", {"user": world.sam.pk, "month": "2025-03-01", "amount": "1"}).json()
    )
    both = nina.post(
        "/api/v1/targets/",
        {"user": world.ann.pk, "team": world.north.pk, "month": "2025-03-01", "amount": "1"},
    )
    assert both.status_code == 400
    assert (
        nina.post(
            "/api/v1/targets/", {"team": world.north.pk, "month": "2025-03-01", "amount": "9"}
        ).status_code
        == 201
    )
    target = Target.objects.get(user=world.ann)
    assert nina.patch(f"/api/v1/targets/{target.pk}/", {"amount": "6000"}).json()["amount"] == "6000.00"
    ann = api_as(world.ann)
    assert ann.get(f"/api/v1/targets/{target.pk}/").status_code == 200
    assert ann.patch(f"/api/v1/targets/{target.pk}/", {"amount": "1"}).status_code == 403
    assert (
        ann.post("/api/v1/targets/", {"user": world.ann.pk, "month": "2025-04-01", "amount": "1"}).status_code
        == 403
    )
    assert nina.delete(f"/api/v1/targets/{target.pk}/").status_code == 204
    TargetFactory(user=world.sam)
    assert len(nina.get("/api/v1/targets/").json()["results"]) == 1  # the team's own


def test_an_activity_is_logged_by_its_author(world, api_as):
    deal = DealFactory(owner=world.ann)
    client = api_as(world.nina)
    response = client.post(
        "/api/v1/activities/",
        {
            "kind": "call",
            "occurred_on": "2025-01-10",
            "subject": "Coaching call",
            "deal": deal.pk,
            "done": False,
        },
    )
    assert response.status_code == 201, response.json()
    assert (response.json()["owner"], response.json()["done"]) == (world.nina.pk, False)
    assert client.post(f"/api/v1/activities/{response.json()['id']}/done/").json()["done"] is True
    orphan = client.post("/api/v1/activities/", {"kind": "call", "occurred_on": "2025-01-10", "subject": "X"})
    assert orphan.status_code == 400 and "non_field_errors" in orphan.json()


# ---------------------------------------------------------------- KPIs


def test_kpi_snapshots_carry_the_export_kpis_columns_and_filters(world, api_as):
    for month, value in ((1, "0.5"), (2, "0.25"), (3, None)):
        KpiSnapshot.objects.create(
            kpi="win_rate", scope_type="team", scope_id=world.north.pk, granularity="month",
            period_start=dt.date(2025, month, 1), value=value and Decimal(value), numerator=1, denominator=2,
            low_sample=True, computed_at=dt.datetime(2025, 4, 1, 2, tzinfo=dt.UTC),
        )  # fmt: skip
    KpiSnapshot.objects.create(
        kpi="revenue", scope_type="team", scope_id=world.north.pk, granularity="month",
        period_start=dt.date(2025, 2, 1), value=100, computed_at=dt.datetime(2025, 4, 1, 2, tzinfo=dt.UTC),
    )  # fmt: skip
    query = f"kpi=win_rate&scope=team&scope_id={world.north.pk}&granularity=month&from=2025-02&to=2025-03"
    rows = api_as(world.nina).get(f"/api/v1/kpi-snapshots/?{query}").json()["results"]
    out = io.StringIO()
    call_command(
        "export_kpis", "--format", "json", "--kpi", "win_rate", "--scope", "team", "--granularity", "month",
        "--from", "2025-02", "--to", "2025-03", stdout=out,
    )  # fmt: skip
    exported = json.loads(out.getvalue())

    def same(row: dict) -> dict:  # computed_at: one instant, the API writes it in company time
        return {
            k: dt.datetime.fromisoformat(v) if k == "computed_at" else v for k, v in row.items() if k != "id"
        }

    assert sorted(map(same, rows), key=lambda r: r["period_start"]) == list(map(same, exported))
    assert api_as(world.nina).get("/api/v1/kpi-snapshots/?from=2025-13").status_code == 400


def test_kpi_definitions(world, api_as):
    client = api_as(world.ann)
    listed = client.get("/api/v1/kpis/").json()
    assert [d["key"] for d in listed] == list(KPIS)
    win_rate = client.get("/api/v1/kpis/win_rate/").json()
    assert (win_rate["unit"], win_rate["is_rate"], win_rate["better"]) == ("percent", True, "up")
    assert client.get("/api/v1/kpis/nope/").status_code == 404


# ---------------------------------------------------------------- the reference


def test_the_schema_and_its_reference_pages_need_no_cdn(client, db):
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/deals/{id}/won/" in paths and "/api/v1/kpi-snapshots/" in paths
    assert "401" in paths["/api/v1/deals/"]["get"]["responses"]
    for url in ("/api/docs/", "/api/redoc/"):
        page = client.get(url).content.decode()
        assert "drf_spectacular_sidecar" in page
        assert "https://" not in page and "cdn" not in page.lower()
        assert "<style" not in page and "<script>" not in page  # ready for a strict CSP


def test_the_browsable_api_lists_no_record_for_choosing(world, login):
    CustomerFactory(owner=world.sam, name="Secret Southern Customer")
    DealFactory(owner=world.ann)
    page = login(world.ann).get("/api/v1/deals/", headers={"accept": "text/html"}).content.decode()
    assert "Secret Southern Customer" not in page


def test_a_closed_deals_owner_cannot_move_through_the_api(world):
    import datetime as dt
    from decimal import Decimal

    from rest_framework.test import APIClient

    from tests.factories import DealFactory

    deal = DealFactory(owner=world.ann)
    deal.mark_won(Decimal("10"), dt.date(2025, 3, 1))
    client = APIClient()
    client.force_authenticate(world.nina)
    response = client.patch(f"/api/v1/deals/{deal.pk}/", {"owner": world.bob.pk}, format="json")
    assert response.status_code == 400 and "Reopen it" in str(response.json()["owner"])
    deal.refresh_from_db()
    assert deal.owner == world.ann
    created = client.post(
        "/api/v1/deals/", {"title": "New", "customer": deal.customer_id, "amount": "5"}, format="json"
    )
    assert created.status_code == 201
    new = type(deal).objects.get(pk=created.json()["id"])
    assert list(new.stage_changes.values_list("from_stage", "to_stage")) == [("", "prospecting")]
