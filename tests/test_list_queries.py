"""Every list, as every role that may open it: the same number of queries at 1 row and at 50.

The lists are the workspace's (deals, prospects, customers, activities,
campaigns), the survey invitations and results, and the record lists that
"Explain this number" opens (the same lists with a card's filters). A list
whose queries grew with its rows (a query per row) fails here.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.models import Stage
from tests.factories import (
    ActivityFactory,
    CampaignFactory,
    CampaignSpendFactory,
    CustomerFactory,
    DealFactory,
    ProspectFactory,
    ResponseFactory,
)
from tests.surveys.factories import SentInvitationFactory

pytestmark = pytest.mark.django_db

PERIOD = {"from": "2025-06-01", "to": "2025-06-30"}
LISTS = [
    ("deal_list", {}),
    ("deal_list", {"stage": "open"}),
    ("deal_list", {"stage": "won", "closed_from": "2025-06-01", "closed_to": "2025-06-30"}),
    ("deal_list", {"sort": "-closed_on"}),
    ("prospect_list", {}),
    ("prospect_list", {"created_from": "2025-06-01", "created_to": "2025-06-30"}),
    ("customer_list", {}),
    ("customer_list", {"sort": "-revenue"}),
    ("customer_list", {"acquired_from": "2025-06-01", "acquired_to": "2025-06-30"}),
    ("customer_list", {"churned": "yes"}),
    ("activity_list", {}),
    ("activity_list", PERIOD),
    ("invitation_list", {}),
    ("survey_results", PERIOD),
    ("campaign_list", {}),
]
MANAGERS_ONLY = {"survey_results", "campaign_list"}
# The most any list may run: session, user, header team, the manager's scope
# check, the page, the page's totals, the capped count and the filter bar's
# choices (owner, team, product or campaign).
MOST = 11


def _rows(world, n: int) -> None:
    """n of everything, for a rep in each team."""
    day = dt.date(2025, 6, 10)
    for owner in (world.ann, world.sam):
        for i in range(n):
            customer = CustomerFactory(owner=owner)
            deal = DealFactory(owner=owner, customer=customer, opened_on=day, amount=Decimal(100 + i))
            if i % 2 == 0:  # the first row too: every filtered list has rows
                deal.mark_won(Decimal(100 + i), day)
                customer.refresh_from_db()
                customer.mark_churned(day, "Gone")
            ProspectFactory(owner=owner, created_on=day)
            ActivityFactory(owner=owner, deal=deal, occurred_on=day)
            invitation = SentInvitationFactory(customer=customer, owner=owner, team=owner.team, deal=deal)
            ResponseFactory(invitation=invitation, nps_score=i % 11, comment=f"Comment {i}")
            campaign = CampaignFactory(team=owner.team)
            CampaignSpendFactory(campaign=campaign)


def _count(client, name: str, params: dict) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse(name), params)
    assert response.status_code == 200, (name, params)
    return len(queries)


@pytest.mark.parametrize("role", ["admin", "manager", "salesperson"])
def test_every_list_runs_as_many_queries_for_50_rows_as_for_1(world, client, role):
    user = {"admin": world.admin, "manager": world.nina, "salesperson": world.ann}[role]
    client.force_login(user)
    lists = [(n, p) for n, p in LISTS if role != "salesperson" or n not in MANAGERS_ONLY]
    _rows(world, 1)
    few = [_count(client, name, params) for name, params in lists]
    _rows(world, 49)
    many = [_count(client, name, params) for name, params in lists]
    assert many == few, [(lst, a, b) for lst, a, b in zip(lists, few, many, strict=True) if a != b]
    assert max(many) <= MOST, list(zip(lists, many, strict=True))


def test_stage_history_is_not_a_query_per_row(world, client):
    # The deal list never touches stage history (the timeline is the deal page's).
    client.force_login(world.ann)
    DealFactory.create_batch(3, owner=world.ann, stage=Stage.PROSPECTING)
    with CaptureQueriesContext(connection) as queries:
        client.get(reverse("deal_list"))
    assert not any("crm_dealstagechange" in q["sql"] for q in queries.captured_queries)
