"""A full recompute reads with a fixed number of queries, whatever the data size."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import Stage
from kpis.compute import recompute
from tests.factories import (
    ActivityFactory,
    CampaignFactory,
    CampaignSpendFactory,
    CustomerFactory,
    InvitationFactory,
    ProspectFactory,
    ResponseFactory,
    TargetFactory,
    TeamFactory,
    UserFactory,
)
from tests.kpis.factories import lost, open_deal, won

pytestmark = pytest.mark.django_db

MAR = dt.date(2025, 3, 1)
SENT = dt.datetime(2025, 3, 10, 9, tzinfo=dt.UTC)

# The reads of a recompute of months/quarters/year in one span:
#  22  the span of the data: first and last date of each fact table (index
#      probes), and whether any date lies outside the plausible range
#   2  the dirty months waiting, and the months whose facts are stored
#   1  the periods whose stored cohort figures changed maturity since
#  21  the months read from the raw tables, one GROUP BY each (by month):
#      12 period sums (closed deals, deals opened, prospects, new customers,
#      spend, sales cost, answers, invitations, targets, activities,
#      activities on won deals, lost deals by stage and reason),
#      5 running-sum facts of customers (acquired, churned, repeat, ARPA
#      revenue, ARPA's customer-months), 1 of the pipeline (stage history)
#      and 3 process counts (stays ended, lead responses, stage entries:
#      kpis.process)
#  60  the same but the stage entries (20) for the first days of a month,
#      for each like-for-like comparison of a period under way (month,
#      quarter and year: 3); a comparison shows no funnel
#   1  what the last run kept of those partial months (PartialFacts: none
#      here, so each is read whole; a next night reads its new day only)
#   1  stored process counts of the months outside those read (the
#      like-for-like spans' previous year)
#   2  stalled deals: the thresholds (won deals' stays), and the open deals
#      past them counted per owner, team and stage
#   2  stored monthly facts (period sums; running sums)
#   3  the scopes that get rows: teams, sales staff, campaigns
#   2  the scopes that have rows, and those with stored facts (a scope that
#      came or went since the last run)
#   1  the rows of the periods written that this run did not write (stale)
#  (+1 on SQLite: the stored figures, to write only those that changed,
#      which PostgreSQL's upsert does in its WHERE)
#  20  the team (team/kpis.py): 6 more span probes (training sessions,
#      certifications, pulse answers), 3 more GROUP BYs per read (training
#      hours, selling days, pulse answers) × 4 reads, and the salespeople and
#      confirmed certifications once per run
#   1  the roster, signed for the next nightly run (kpis.models.EngineState;
#      this run leaves out 2024, a previous year, so it updates no state)
READS = 139


def _dataset(size: int) -> None:
    teams = [TeamFactory(name=f"Team {i}") for i in range(max(1, size // 10))]
    for i in range(size):
        rep = UserFactory(team=teams[i % len(teams)])
        campaign = CampaignFactory(team=teams[i % len(teams)])
        customer = CustomerFactory(owner=rep, source_campaign=campaign)
        deal = open_deal(rep, "100", customer=customer, opened_on=dt.date(2025, 2, 1))
        deal.mark_won(Decimal("100"), closed_on=dt.date(2025, 3, 2))
        won(rep, "50", dt.date(2025, 1, 1), dt.date(2025, 3, 5), customer=customer)
        lost(rep, dt.date(2025, 1, 1), dt.date(2025, 3, 6))
        open_deal(rep, "70", stage=Stage.NEGOTIATION)
        ProspectFactory(owner=rep, created_on=dt.date(2025, 3, 3), source_campaign=campaign)
        CampaignSpendFactory(campaign=campaign, spent_on=dt.date(2025, 3, 4))
        invitation = InvitationFactory(customer=customer, sent_at=SENT)
        ResponseFactory(invitation=invitation, submitted_at=SENT)
        TargetFactory(user=rep, month=MAR)
        ActivityFactory(owner=rep, occurred_on=dt.date(2025, 3, 7))


def _reads(size: int) -> tuple[int, int]:
    _dataset(size)
    with CaptureQueriesContext(connection) as ctx:
        written = recompute(dt.date(2025, 1, 1), dt.date(2025, 6, 1), today=dt.date(2025, 6, 15))
    # Writes (the churn rule's two UPDATEs, upsert batches, stored facts,
    # deletes of stale rows and consumed dirty months) are counted apart.
    reads = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith(("SELECT", "WITH"))]
    return len(reads), written


@pytest.mark.parametrize("size", [1, 30])
def test_reads_do_not_grow_with_reps_deals_teams_or_campaigns(size):
    reads, written = _reads(size)
    assert reads == READS + (connection.vendor != "postgresql")
    assert written.rows > 0


def test_writes_are_batched_upserts(world):
    _dataset(5)
    with CaptureQueriesContext(connection) as ctx:
        written = recompute(MAR, MAR, ["month"], today=dt.date(2025, 6, 15))
    inserts = [q for q in ctx.captured_queries if q["sql"].startswith('INSERT INTO "kpis_kpisnapshot"')]
    # Upserts in batches (SQLite caps a statement's parameters; PostgreSQL
    # takes 2000 rows a statement): never one statement per row.
    assert 1 <= len(inserts) < written.rows / 50
