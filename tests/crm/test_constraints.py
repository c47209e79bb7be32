"""Every integrity rule is enforced by the database itself, not only by forms."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from crm.models import Activity, Campaign, Customer, Deal, Prospect, Stage, Target
from surveys.models import Response
from tests.factories import (
    CampaignFactory,
    CampaignSpendFactory,
    CustomerFactory,
    DealFactory,
    InvitationFactory,
    ProductFactory,
    ProspectFactory,
    ResponseFactory,
    TargetFactory,
    TeamFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def rejected(fn):
    with pytest.raises(IntegrityError), transaction.atomic():
        fn()


def test_negative_amounts_are_rejected():
    rejected(lambda: DealFactory(amount=Decimal("-1")))
    rejected(lambda: CampaignSpendFactory(amount=Decimal("-0.01")))
    rejected(lambda: ProductFactory(list_price=Decimal("-5")))
    rejected(lambda: TargetFactory(amount=Decimal("-100")))


def test_won_or_lost_deal_needs_a_close_date():
    rejected(lambda: DealFactory(stage=Stage.WON, closed_on=None))
    rejected(lambda: DealFactory(stage=Stage.LOST, closed_on=None))


def test_open_deal_has_no_close_date():
    rejected(lambda: DealFactory(stage=Stage.PROPOSAL, closed_on=dt.date(2025, 2, 1)))


def test_deal_cannot_close_before_it_opened():
    rejected(
        lambda: DealFactory(stage=Stage.WON, opened_on=dt.date(2025, 3, 1), closed_on=dt.date(2025, 2, 28))
    )


def test_unknown_stage_is_rejected():
    rejected(lambda: DealFactory(stage="maybe"))


def test_external_references_are_unique_but_optional():
    DealFactory(external_ref=None)
    DealFactory(external_ref=None)
    DealFactory(external_ref="CRM-1")
    rejected(lambda: DealFactory(external_ref="CRM-1"))


def test_one_target_per_rep_and_month():
    rep = UserFactory()
    TargetFactory(user=rep, month=dt.date(2025, 1, 1))
    rejected(lambda: TargetFactory(user=rep, month=dt.date(2025, 1, 1)))


def test_one_target_per_team_and_month():
    team = TeamFactory()
    TargetFactory(user=None, team=team, month=dt.date(2025, 1, 1))
    rejected(lambda: TargetFactory(user=None, team=team, month=dt.date(2025, 1, 1)))


def test_target_is_for_a_rep_or_a_team_not_both_nor_neither():
    rep = UserFactory()
    rejected(lambda: Target.objects.create(user=rep, team=rep.team, month=dt.date(2025, 1, 1), amount=1))
    rejected(lambda: Target.objects.create(month=dt.date(2025, 1, 1), amount=1))


def test_target_month_is_the_first_of_the_month():
    rejected(lambda: TargetFactory(month=dt.date(2025, 1, 15)))


def test_converted_prospect_needs_its_customer():
    rejected(lambda: ProspectFactory(status=Prospect.Status.CONVERTED, customer=None))


def test_lost_prospect_needs_a_reason():
    rejected(lambda: ProspectFactory(status=Prospect.Status.LOST, lost_reason=""))


def test_activity_is_linked_to_something():
    rep = UserFactory()
    rejected(lambda: Activity.objects.create(kind=Activity.Kind.CALL, subject="x", owner=rep))


def test_campaign_cannot_end_before_it_starts():
    rejected(lambda: CampaignFactory(starts_on=dt.date(2025, 5, 1), ends_on=dt.date(2025, 4, 1)))


def test_customer_cannot_churn_before_acquisition():
    rejected(lambda: CustomerFactory(acquired_on=dt.date(2025, 5, 1), churned_on=dt.date(2025, 4, 1)))
    rejected(lambda: CustomerFactory(acquired_on=None, churned_on=dt.date(2025, 4, 1)))


def test_survey_scores_stay_in_range():
    rejected(lambda: ResponseFactory(nps_score=11))
    rejected(lambda: ResponseFactory(csat_score=0))
    rejected(lambda: ResponseFactory(csat_score=6))


def test_one_response_per_invitation():
    invitation = InvitationFactory()
    ResponseFactory(invitation=invitation)
    rejected(lambda: Response.objects.create(invitation=invitation, submitted_at=invitation.sent_at))


def test_valid_rows_are_accepted():
    deal = DealFactory(stage=Stage.WON, opened_on=dt.date(2025, 1, 1), closed_on=dt.date(2025, 1, 1))
    assert Deal.objects.filter(pk=deal.pk).exists()
    assert Customer.objects.count() == 1
    assert Campaign.objects.count() == 0
