"""Domain verbs keep history and acquisition dates right."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from crm.models import Customer, Deal, DealStageChange, Prospect, Stage
from tests.factories import CustomerFactory, DealFactory, ProspectFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_deal_records_the_owners_team_and_keeps_it_when_the_owner_moves(world):
    deal = DealFactory(owner=world.ann, team=None)
    assert deal.team == world.north
    world.ann.team = world.south
    world.ann.save()
    deal.refresh_from_db()
    assert deal.team == world.north


def test_moving_a_deal_writes_stage_history(world):
    deal = DealFactory(owner=world.ann)
    deal.move_to(Stage.PROPOSAL, by=world.ann)
    # The first entry is the deal's creation (Deal.save), the second the move.
    change = DealStageChange.objects.filter(deal=deal).last()
    assert (change.from_stage, change.to_stage, change.changed_by) == (
        Stage.PROSPECTING,
        Stage.PROPOSAL,
        world.ann,
    )


def test_winning_the_first_deal_acquires_the_customer(world):
    deal = DealFactory(owner=world.ann, opened_on=dt.date(2025, 1, 1))
    deal.mark_won(Decimal("5000"), dt.date(2025, 3, 31), by=world.ann)
    deal.customer.refresh_from_db()
    assert deal.customer.acquired_on == dt.date(2025, 3, 31)
    assert deal.customer.first_deal == deal
    assert deal.customer.team == world.north


def test_an_earlier_win_moves_the_acquisition_date_back(world):
    customer = CustomerFactory(owner=world.ann)
    late = DealFactory(owner=world.ann, customer=customer, opened_on=dt.date(2025, 1, 1))
    late.mark_won(Decimal("1"), dt.date(2025, 6, 1))
    early = DealFactory(owner=world.ann, customer=customer, opened_on=dt.date(2025, 1, 1))
    early.mark_won(Decimal("1"), dt.date(2025, 2, 1))
    customer.refresh_from_db()
    assert customer.acquired_on == dt.date(2025, 2, 1)
    assert customer.first_deal == early


def test_reopening_clears_the_close_date_and_the_acquisition(world):
    deal = DealFactory(owner=world.ann, opened_on=dt.date(2025, 1, 1))
    deal.mark_won(Decimal("5000"), dt.date(2025, 2, 1))
    deal.reopen(by=world.ann)
    deal.refresh_from_db()
    deal.customer.refresh_from_db()
    assert deal.stage == Stage.NEGOTIATION and deal.closed_on is None
    assert deal.customer.acquired_on is None
    assert [c.to_stage for c in deal.stage_changes.all()] == [Stage.PROSPECTING, Stage.WON, Stage.NEGOTIATION]


def test_losing_needs_a_reason(world):
    deal = DealFactory(owner=world.ann)
    with pytest.raises(ValidationError) as error:
        deal.mark_lost("  ")
    assert "lost_reason" in error.value.message_dict
    deal.refresh_from_db()
    assert deal.stage == Stage.PROSPECTING
    # Only the entry that recorded the deal's creation.
    assert list(deal.stage_changes.values_list("from_stage", "to_stage")) == [("", Stage.PROSPECTING)]


def test_closing_before_opening_is_refused_and_nothing_is_saved(world):
    deal = DealFactory(owner=world.ann, opened_on=dt.date(2025, 5, 1))
    with pytest.raises(ValidationError):
        deal.mark_won(Decimal("10"), dt.date(2025, 4, 1))
    deal.refresh_from_db()
    assert deal.stage == Stage.PROSPECTING
    assert list(DealStageChange.objects.values_list("to_stage", flat=True)) == [Stage.PROSPECTING]


def test_unknown_stage_is_a_validation_error(world):
    deal = DealFactory(owner=world.ann)
    with pytest.raises(ValidationError):
        deal.move_to("maybe")


def test_visibility_rep_sees_own_manager_team_admin_all(world):
    mine = DealFactory(owner=world.ann)
    teammate = DealFactory(owner=world.bob)
    other_team = DealFactory(owner=world.sam)
    assert set(Deal.objects.visible_to(world.ann)) == {mine}
    assert set(Deal.objects.visible_to(world.nina)) == {mine, teammate}
    assert set(Deal.objects.visible_to(world.admin)) == {mine, teammate, other_team}
    assert set(Customer.objects.visible_to(world.steve)) == {other_team.customer}


def test_managers_see_history_of_their_team_even_after_a_rep_leaves(world):
    deal = DealFactory(owner=world.ann)
    world.ann.team = world.south
    world.ann.save()
    assert deal in Deal.objects.visible_to(world.nina)


def test_user_without_team_sees_only_own_rows(db):
    loner = UserFactory(team=None)
    DealFactory(owner=UserFactory(team=TeamFactory()))
    prospect = ProspectFactory(owner=loner, team=None)
    assert list(Prospect.objects.visible_to(loner)) == [prospect]
    assert not Deal.objects.visible_to(loner).exists()


def test_superuser_is_always_an_admin(db):
    user = UserFactory(is_superuser=True)
    assert user.role == "admin" and user.is_admin_role
