"""surveys.demo.seed_surveys: realistic, deterministic, idempotent demo answers."""

import datetime as dt
import random

import pytest

from crm.models import Activity
from surveys.demo import seed_surveys
from surveys.models import Invitation, Response
from tests.factories import CustomerFactory, UserFactory
from tests.surveys.factories import WonDealFactory

TODAY = dt.date(2026, 6, 30)


@pytest.fixture
def won_deals(db):
    rng = random.Random(7)
    reps = UserFactory.create_batch(3)
    deals = []
    for i in range(300):
        rep = reps[i % 3]
        customer = CustomerFactory(owner=rep, language="fr" if i % 4 == 0 else "en")
        deals.append(
            WonDealFactory(
                owner=rep,
                customer=customer,
                opened_on=dt.date(2025, 1, 1),
                closed_on=dt.date(2025, 1, 1) + dt.timedelta(days=rng.randrange(540)),
            )
        )
    return deals


def snapshot():
    return sorted(Response.objects.values_list("invitation__deal_id", "nps_score", "csat_score", "comment"))


def test_seed_is_realistic(won_deals):
    calls = []
    seed_surveys(random.Random(1), TODAY, lambda done, total: calls.append((done, total)))
    invitations = Invitation.objects.all()
    sent = invitations.count()
    assert sent >= 250  # every deal but the too-recent ones
    counted = invitations.counted().count()
    answered = invitations.answered().count()
    assert 0.35 <= answered / counted <= 0.45
    assert invitations.filter(bounced_at__isnull=False).exists()
    assert invitations.filter(reminded_at__isnull=False).exists()
    assert calls and calls[-1] == (300, 300)
    # Sent a few days after the close, in the customer's language.
    for invitation in invitations.select_related("deal", "survey")[:50]:
        gap = (invitation.sent_at.date() - invitation.deal.closed_on).days
        assert 2 <= gap <= 6
        assert invitation.survey.language == invitation.language
        assert invitation.created_at == invitation.sent_at
    responses = list(Response.objects.all())
    promoters = sum(r.nps_score >= 9 for r in responses) / len(responses)
    detractors = sum(r.nps_score <= 6 for r in responses) / len(responses)
    assert 0.3 <= promoters <= 0.7 and 0.05 <= detractors <= 0.35
    # NPS and CSAT move together.
    happy = [r.csat_score for r in responses if r.nps_score >= 9]
    unhappy = [r.csat_score for r in responses if r.nps_score <= 6]
    assert sum(happy) / len(happy) > sum(unhappy) / len(unhappy) + 0.75
    assert all(r.submitted_at > r.invitation.sent_at for r in responses[:50])
    # Detractors got their follow-up call.
    assert Activity.objects.filter(kind="call").count() == sum(r.nps_score <= 6 for r in responses)


def test_seed_is_deterministic_and_idempotent(won_deals):
    seed_surveys(random.Random(1), TODAY, lambda done, total: None)
    first = snapshot()
    seed_surveys(random.Random(2), TODAY, lambda done, total: None)
    assert snapshot() == first  # skipped: already seeded
    Activity.objects.all().delete()
    Invitation.objects.all().delete()
    seed_surveys(random.Random(1), TODAY, lambda done, total: None)
    assert snapshot() == first
