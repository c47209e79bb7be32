"""Deals: the log-a-deal form, the deal page's verbs, the board, the list."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from crm.models import Deal, DealStageChange, Stage
from tests.factories import CustomerFactory, DealFactory, ProductFactory, ProspectFactory, lost_reason

pytestmark = pytest.mark.django_db

TODAY = dt.date(2025, 6, 18)


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(dt.datetime(2025, 6, 18, 10, 0), tick=False):
        yield


def _new_deal(**overrides):
    data = {
        "title": "Big one",
        "amount": "5000",
        "stage": "prospecting",
        "opened_on": "2025-06-01",
        "expected_close_on": "",
    }
    data.update(overrides)
    return data


# Creating -----------------------------------------------------------------


def test_rep_logs_a_deal_for_own_customer_and_owns_it(world, login):
    customer = CustomerFactory(owner=world.ann)
    response = login(world.ann).post(reverse("deal_create"), _new_deal(customer=customer.pk))
    deal = Deal.objects.get()
    assert response.status_code == 302 and response["Location"] == deal.get_absolute_url()
    assert deal.owner == world.ann and deal.team == world.north
    assert list(deal.stage_changes.values_list("from_stage", "to_stage")) == [("", "prospecting")]


def test_rep_cannot_give_a_deal_to_someone_else_by_tampering(world, login):
    customer = CustomerFactory(owner=world.ann)
    login(world.ann).post(
        reverse("deal_create"),
        _new_deal(customer=customer.pk, owner=world.sam.pk, team=world.south.pk),
    )
    deal = Deal.objects.get()
    assert deal.owner == world.ann and deal.team == world.north


def test_manager_assigns_within_team_only(world, login):
    customer = CustomerFactory(owner=world.ann)
    client = login(world.nina)
    response = client.post(reverse("deal_create"), _new_deal(customer=customer.pk, owner=world.sam.pk))
    assert response.status_code == 200
    assert "owner" in response.context["form"].errors
    assert not Deal.objects.exists()
    client.post(reverse("deal_create"), _new_deal(customer=customer.pk, owner=world.bob.pk))
    assert Deal.objects.get().owner == world.bob


def test_rep_cannot_attach_another_reps_customer(world, login):
    theirs = CustomerFactory(owner=world.sam)
    response = login(world.ann).post(reverse("deal_create"), _new_deal(customer=theirs.pk))
    assert "customer" in response.context["form"].errors
    assert not Deal.objects.exists()


def test_a_deal_needs_a_customer_or_a_prospect(world, login):
    response = login(world.ann).post(reverse("deal_create"), _new_deal())
    assert response.context["form"].errors["customer"] == ["Choose a customer or a prospect."]
    prospect = ProspectFactory(owner=world.ann)
    login(world.ann).post(reverse("deal_create"), _new_deal(prospect=prospect.pk))
    assert Deal.objects.get().prospect == prospect


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", "-5"),
        ("amount", "1e15"),
        ("amount", "abc"),
        ("amount", "99999999999"),
        ("stage", "won"),
        ("stage", "teleported"),
        ("opened_on", "3025-01-01"),
        ("opened_on", "not a date"),
        ("expected_close_on", "2025-05-01"),  # before opened_on
        ("product", "999999"),
    ],
)
def test_bad_input_shows_a_field_error_and_saves_nothing(world, login, field, value):
    customer = CustomerFactory(owner=world.ann)
    response = login(world.ann).post(
        reverse("deal_create"), _new_deal(customer=customer.pk, **{field: value})
    )
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not Deal.objects.exists()


def test_double_submit_saves_one_deal(world, login):
    customer = CustomerFactory(owner=world.ann)
    client = login(world.ann)
    data = _new_deal(customer=customer.pk, submit_token="0b7c4a55-8c1e-4a3f-9d36-3c1e3b1a7f11")
    first = client.post(reverse("deal_create"), data)
    second = client.post(reverse("deal_create"), data)
    assert Deal.objects.count() == 1
    assert first["Location"] == second["Location"]


def test_dialog_form_comes_as_a_fragment_and_shows_errors_inline(world, login):
    client = login(world.ann)
    response = client.get(reverse("deal_create"), headers={"HX-Request": "true"})
    body = response.content.decode()
    assert "<html" not in body and 'hx-post="/deals/new/"' in body
    response = client.post(reverse("deal_create"), _new_deal(amount="-1"), headers={"HX-Request": "true"})
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert "The amount cannot be negative." in body
    customer = CustomerFactory(owner=world.ann)
    response = client.post(
        reverse("deal_create"), _new_deal(customer=customer.pk), headers={"HX-Request": "true"}
    )
    deal = Deal.objects.get()
    assert deal.get_absolute_url() in response.content.decode()


def test_every_page_offers_the_log_a_deal_button(world, login):
    for name in ["dashboard", "scorecard", "deal_list", "prospect_list", "customer_list", "activity_list"]:
        body = login(world.ann).get(reverse(name)).content.decode()
        assert 'id="deal-dialog"' in body and f'hx-get="{reverse("deal_create")}"' in body


def test_edit_keeps_stage_and_cannot_open_after_close(world, login):
    deal = DealFactory(owner=world.ann, stage=Stage.WON, closed_on=dt.date(2025, 3, 1))
    data = _new_deal(customer=deal.customer_id, opened_on="2025-04-01", stage="prospecting")
    response = login(world.ann).post(reverse("deal_edit", args=[deal.pk]), data)
    assert "opened_on" in response.context["form"].errors
    deal.refresh_from_db()
    assert deal.stage == Stage.WON and deal.opened_on == dt.date(2025, 1, 1)


# Verbs --------------------------------------------------------------------


def test_mark_won_needs_amount_and_close_date(world, login):
    deal = DealFactory(owner=world.ann)
    client = login(world.ann)
    response = client.post(reverse("deal_won", args=[deal.pk]), {"amount": "", "closed_on": ""})
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"amount", "closed_on"}
    response = client.post(reverse("deal_won", args=[deal.pk]), {"amount": "7000", "closed_on": "2024-12-31"})
    assert "closed_on" in response.context["form"].errors  # before opened_on
    deal.refresh_from_db()
    assert deal.stage == Stage.PROSPECTING and deal.amount == Decimal("1000")
    response = client.post(reverse("deal_won", args=[deal.pk]), {"amount": "7000", "closed_on": "2025-06-10"})
    assert response.status_code == 302
    deal.refresh_from_db()
    deal.customer.refresh_from_db()
    assert (deal.stage, deal.amount, deal.closed_on) == (Stage.WON, Decimal("7000"), dt.date(2025, 6, 10))
    assert deal.customer.acquired_on == dt.date(2025, 6, 10)
    assert deal.stage_changes.last().to_stage == Stage.WON


def test_winning_twice_is_refused(world, login):
    deal = DealFactory(owner=world.ann)
    client = login(world.ann)
    data = {"amount": "7000", "closed_on": "2025-06-10"}
    client.post(reverse("deal_won", args=[deal.pk]), data)
    response = client.post(reverse("deal_won", args=[deal.pk]), data)
    assert response.status_code == 400
    assert DealStageChange.objects.filter(deal=deal, to_stage=Stage.WON).count() == 1


def test_mark_lost_needs_a_reason_then_reopen_clears_the_close(world, login):
    deal = DealFactory(owner=world.ann)
    client = login(world.ann)
    response = client.post(reverse("deal_lost", args=[deal.pk]), {"reason": "  ", "closed_on": "2025-06-10"})
    assert "reason" in response.context["form"].errors
    price = lost_reason("price")
    form = {"reason": price.pk, "note": " Their budget halved ", "closed_on": "2025-06-10"}
    client.post(reverse("deal_lost", args=[deal.pk]), form)
    deal.refresh_from_db()
    assert (deal.stage, deal.lost_reason, deal.lost_note) == (Stage.LOST, price, "Their budget halved")
    client.post(reverse("deal_reopen", args=[deal.pk]), {"stage": "proposal"})
    deal.refresh_from_db()
    assert (deal.stage, deal.closed_on, deal.lost_reason, deal.lost_note) == (Stage.PROPOSAL, None, None, "")
    stages = list(deal.stage_changes.values_list("to_stage", flat=True))
    assert stages == ["prospecting", "lost", "proposal"]  # created, lost, reopened


def test_deal_page_shows_timeline_and_its_survey_answers(world, login):
    from tests.factories import InvitationFactory, ResponseFactory

    deal = DealFactory(owner=world.ann)
    deal.move_to(Stage.PROPOSAL, by=world.ann)
    invitation = InvitationFactory(customer=deal.customer, deal=deal)
    ResponseFactory(invitation=invitation, comment="Great service")
    other = InvitationFactory(customer=deal.customer)  # not for this deal
    ResponseFactory(invitation=other, comment="Unrelated")
    body = login(world.ann).get(deal.get_absolute_url()).content.decode()
    assert "Moved from Prospecting to Proposal" in body
    assert "Great service" in body and "Unrelated" not in body


# Board --------------------------------------------------------------------


def test_board_move_writes_history_and_updates_totals(world, login):
    deal = DealFactory(owner=world.ann, amount=Decimal("1234"))
    DealFactory(owner=world.ann, amount=Decimal("100"), stage=Stage.PROPOSAL)
    response = login(world.ann).post(
        reverse("deal_move", args=[deal.pk]), {"stage": "proposal"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    deal.refresh_from_db()
    assert deal.stage == Stage.PROPOSAL
    assert deal.stage_changes.last().changed_by == world.ann
    body = response.content.decode()
    assert "<html" not in body and "moved to Proposal" in body
    proposal = body.split('data-stage="proposal"')[1].split("</section>")[0]
    assert "<span data-count>2</span> · <span data-total>€1,334</span>" in proposal
    prospecting = body.split('data-stage="prospecting"')[1].split("</section>")[0]
    assert "<span data-count>0</span>" in prospecting


@pytest.mark.parametrize("stage", ["won", "lost", "teleported", ""])
def test_board_refuses_unknown_or_closing_stages(world, login, stage):
    deal = DealFactory(owner=world.ann)
    response = login(world.ann).post(
        reverse("deal_move", args=[deal.pk]), {"stage": stage}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200 and 'role="alert"' in response.content.decode()
    deal.refresh_from_db()
    assert deal.stage == Stage.PROSPECTING and deal.stage_changes.count() == 1  # its creation


def test_board_move_without_javascript_redirects_back(world, login):
    deal = DealFactory(owner=world.ann)
    response = login(world.ann).post(reverse("deal_move", args=[deal.pk]), {"stage": "negotiation"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("deal_board"))
    response = login(world.ann).post(
        reverse("deal_move", args=[deal.pk]), {"stage": "proposal", "back_to": "deal"}
    )
    assert response["Location"] == deal.get_absolute_url()


def test_board_move_without_javascript_keeps_the_moved_card_focused(world, login):
    # Issue 19: Enter pressed before htmx loaded submits the form natively;
    # the redirect must carry the moved deal so its menu keeps the focus.
    deal = DealFactory(owner=world.ann, title="Zeta pilot")
    client = login(world.ann)
    response = client.post(reverse("deal_move", args=[deal.pk]) + "?q=Zeta", {"stage": "proposal"})
    assert response.status_code == 302
    location = response["Location"]
    assert f"moved={deal.pk}" in location and "q=Zeta" in location
    body = client.get(location).content.decode()
    # The moved card's Move menu (its <summary>) holds the focus on arrival.
    assert '<summary class="button small" autofocus>' in body
    assert "Zeta pilot moved to Proposal." in body
    # A moved id that is not a visible card (or not digits) changes nothing.
    other = DealFactory(owner=world.bob)
    for value in (str(other.pk), "²", "abc"):
        body = client.get(reverse("deal_board") + f"?moved={value}").content.decode()
        assert "autofocus" not in body and "moved to" not in body


def test_board_has_one_column_per_open_stage_and_no_closed_deals(world, login):
    DealFactory(owner=world.ann, title="Closed one", stage=Stage.WON, closed_on=TODAY)
    response = login(world.ann).get(reverse("deal_board"))
    assert [c["stage"] for c in response.context["columns"]] == Stage.open_stages()
    assert "Closed one" not in response.content.decode()


# List ---------------------------------------------------------------------


def test_list_filters_follow_the_contract(world, login):
    product = ProductFactory(name="Widget")
    DealFactory(owner=world.ann, title="Open widget", product=product)
    DealFactory(owner=world.ann, title="Won early", stage=Stage.WON, closed_on=dt.date(2025, 2, 1))
    DealFactory(owner=world.bob, title="Bob's", stage=Stage.LOST, closed_on=dt.date(2025, 3, 1))
    client = login(world.nina)

    def titles(**params):
        response = client.get(reverse("deal_list"), params)
        return sorted(d.title for d in response.context["page"])

    assert titles(stage="open") == ["Open widget"]
    assert titles(stage="won") == ["Won early"]
    assert titles(owner=world.bob.pk) == ["Bob's"]
    assert titles(team=world.north.pk) == ["Bob's", "Open widget", "Won early"]
    assert titles(product=product.pk) == ["Open widget"]
    assert titles(closed_from="2025-02-15", closed_to="2025-03-31") == ["Bob's"]
    assert titles(opened_from="2025-01-01", opened_to="2025-01-01") == ["Bob's", "Open widget", "Won early"]
    assert titles(q="widg") == ["Open widget"]
    # Junk values are ignored with a field error, never a 500.
    assert titles(stage="nope", owner="x", team=world.south.pk, sort="password", page="-3") == [
        "Bob's", "Open widget", "Won early",
    ]  # fmt: skip


def test_list_sorts(world, login):
    DealFactory(owner=world.ann, title="Small", amount=Decimal("10"))
    DealFactory(owner=world.ann, title="Large", amount=Decimal("9000"))
    response = login(world.ann).get(reverse("deal_list"), {"sort": "-amount"})
    assert [d.title for d in response.context["page"]] == ["Large", "Small"]


def test_csv_export_has_documented_columns_and_filtered_rows(world, login):
    DealFactory(owner=world.ann, title="Kept, with comma", amount=Decimal("12.50"))
    DealFactory(owner=world.ann, title="Dropped", stage=Stage.WON, closed_on=TODAY)
    response = login(world.ann).get(reverse("deal_list"), {"stage": "open", "format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    lines = b"".join(response.streaming_content).decode().lstrip("\ufeff").splitlines()
    assert lines[0].startswith("id,title,stage,amount,opened_on")
    assert len(lines) == 2 and '"Kept, with comma",prospecting,12.50' in lines[1]


@pytest.mark.parametrize("rows", [1, 50])
def test_list_and_board_queries_are_bounded(world, login, django_assert_max_num_queries, rows):
    for _ in range(rows):
        DealFactory(owner=world.ann, team=world.north)
    client = login(world.nina)
    # session, user, the header's team name, paginator count, page of deals
    # (customer/prospect/owner/team/product joined), totals aggregate, and
    # the owner, team and product choices of the filter bar, and the bulk
    # bar's owner choices and lost reasons.
    with django_assert_max_num_queries(11):
        assert client.get(reverse("deal_list"), {"stage": "open"}).status_code == 200
    # session, user, header team, counts and totals per stage, each
    # column's top card ids (4 open stages), the cards (with days in stage),
    # the stalled thresholds (one snapshot), owner, team, product choices.
    with django_assert_max_num_queries(13):
        assert client.get(reverse("deal_board")).status_code == 200


def test_moving_a_won_deal_to_another_customer_moves_the_acquisition(world, login):
    deal = DealFactory(owner=world.ann)
    first = deal.customer
    deal.mark_won(Decimal("10"), dt.date(2025, 5, 1))
    other = CustomerFactory(owner=world.ann)
    data = _new_deal(customer=other.pk, opened_on="2025-01-01")
    assert login(world.ann).post(reverse("deal_edit", args=[deal.pk]), data).status_code == 302
    first.refresh_from_db()
    other.refresh_from_db()
    assert (first.acquired_on, other.acquired_on) == (None, dt.date(2025, 5, 1))


def test_a_closed_deals_owner_is_locked_and_an_open_deal_joins_its_new_owners_team(world, login):
    deal = DealFactory(owner=world.ann, stage=Stage.WON, closed_on=dt.date(2025, 5, 1))
    open_deal = DealFactory(owner=world.ann)
    client = login(world.admin)
    page = client.get(reverse("deal_edit", args=[deal.pk])).content.decode()
    assert "Reopen it to change its owner." in page
    for d in (deal, open_deal):
        data = _new_deal(customer=d.customer_id, opened_on="2025-01-01", owner=world.sam.pk)
        assert client.post(reverse("deal_edit", args=[d.pk]), data).status_code == 302
    deal.refresh_from_db()
    open_deal.refresh_from_db()
    # kpi-spec: a closed deal's credit never moves (the field is disabled).
    assert (deal.owner, deal.team) == (world.ann, world.north)
    assert (open_deal.owner, open_deal.team) == (world.sam, world.south)


def test_board_columns_cap_their_cards_but_count_everything(world, login, monkeypatch):
    monkeypatch.setattr("crm.views_deals.BOARD_CARDS_PER_COLUMN", 2)
    for amount in (10, 30, 20):
        DealFactory(owner=world.ann, title=f"D{amount}", amount=Decimal(amount))
    DealFactory(owner=world.ann, title="P5", amount=Decimal(5), stage=Stage.PROPOSAL)
    body = login(world.ann).get(reverse("deal_board")).content.decode()
    prospecting = body.split('data-stage="prospecting"')[1].split("</section>")[0]
    assert "D30" in prospecting and "D20" in prospecting and "D10" not in prospecting
    assert "<span data-count>3</span> · <span data-total>€60</span>" in prospecting
    assert "and 1 more deal, in the list" in prospecting
    assert "P5" in body


def test_closed_deal_page_offers_reopen_only(world, login):
    deal = DealFactory(owner=world.ann, stage=Stage.LOST, closed_on=TODAY, lost_reason="Price")
    body = login(world.ann).get(deal.get_absolute_url()).content.decode()
    assert reverse("deal_reopen", args=[deal.pk]) in body
    assert reverse("deal_won", args=[deal.pk]) not in body and "Price" in body


def test_rep_can_edit_a_deal_on_a_colleagues_customer(world, login):
    from tests.factories import ProductFactory as Products

    retired = Products(name="Old", is_active=False)
    customer = CustomerFactory(owner=world.nina)  # the manager's account
    deal = DealFactory(owner=world.ann, customer=customer, product=retired)
    data = _new_deal(customer=customer.pk, product=retired.pk, opened_on="2025-01-01", title="Renamed")
    assert login(world.ann).post(reverse("deal_edit", args=[deal.pk]), data).status_code == 302
    deal.refresh_from_db()
    assert deal.title == "Renamed"
    # ...but cannot pick another account they do not see.
    data["customer"] = CustomerFactory(owner=world.sam).pk
    response = login(world.ann).post(reverse("deal_edit", args=[deal.pk]), data)
    assert "customer" in response.context["form"].errors


def test_plain_new_deal_page_posts_normally(world, login):
    # On the full page the form must not target the (closed) header dialog.
    body = login(world.ann).get(reverse("deal_create")).content.decode()
    assert 'hx-post="/deals/new/"' not in body and 'action="/deals/new/"' in body


def test_lost_form_offers_only_active_reasons_in_the_users_language(world, login):
    deal = DealFactory(owner=world.ann)
    retired = lost_reason("timing")
    retired.is_active = False
    retired.save()
    client = login(world.ann)
    body = client.get(deal.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Prix" in body and "Calendrier" not in body
    response = client.post(
        reverse("deal_lost", args=[deal.pk]), {"reason": retired.pk, "closed_on": "2025-06-10"}
    )
    assert response.status_code == 400 and "reason" in response.context["form"].errors


def test_lost_deal_page_shows_the_reason_and_its_note(world, login):
    deal = DealFactory(owner=world.ann)
    deal.mark_lost(lost_reason("competitor"), closed_on=dt.date(2025, 6, 10), note="Went with Acme")
    body = login(world.ann).get(deal.get_absolute_url()).content.decode()
    assert "Competitor — Went with Acme" in body


def test_mark_lost_with_free_text_names_a_reason_or_keeps_it_as_the_note_of_other(world):
    named, free = DealFactory(owner=world.ann), DealFactory(owner=world.ann)
    named.mark_lost("No decision", closed_on=dt.date(2025, 6, 10))
    free.mark_lost("Budget frozen until spring", closed_on=dt.date(2025, 6, 10))
    assert (named.lost_reason.code, named.lost_note) == ("no_decision", "")
    assert (free.lost_reason.code, free.lost_note) == ("other", "Budget frozen until spring")


def test_board_cards_show_days_in_stage_and_the_stalled_mark(world, login):
    import datetime as dt_

    import time_machine as tm

    from kpis.compute import recompute
    from tests.kpis.process_fixture import TODAY, build

    deals = build(world)
    with tm.travel(dt_.datetime(2025, 6, 15, 10, tzinfo=dt_.UTC), tick=False):
        recompute(dt_.date(2025, 6, 1), dt_.date(2025, 6, 1), ["month"], today=TODAY)
        body = login(world.admin).get(reverse("deal_board")).content.decode()
        detail = login(world.bob).get(deals["D6"].get_absolute_url()).content.decode()
    card = body.split(f'data-deal="{deals["D6"].pk}"')[0].rsplit("<li", 1)[1]
    assert "stalled" in card  # D6: 105 days in Qualification, past its 6
    d6 = body.split(f'data-deal="{deals["D6"].pk}"')[1].split("</li>")[0]
    assert "105 days in stage" in d6 and "data-stalled" in d6
    d8 = body.split(f'data-deal="{deals["D8"].pk}"')[1].split("</li>")[0]
    assert "5 days in stage" in d8 and "data-stalled" not in d8
    # The deal page: 10 days in Prospecting, 105 in Qualification so far.
    rows = detail.split('id="stage-days"')[1].split("</table>")[0]
    assert "Prospecting" in rows and '<td class="num">10</td>' in rows and "105" in rows
