"""Survey-specific factories (the basic ones live in tests/factories.py)."""

import datetime as dt

import factory
from django.utils import timezone

from crm.models import Stage
from surveys.models import SurveyQuestion
from tests.factories import DealFactory, InvitationFactory, SurveyFactory


class WonDealFactory(DealFactory):
    stage = Stage.WON
    closed_on = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=5))


class SentInvitationFactory(InvitationFactory):
    """An invitation sent an hour ago, open for SURVEY_EXPIRY_DAYS."""

    sent_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(hours=1))
    expires_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=30))


class QuestionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SurveyQuestion

    survey = factory.SubFactory(SurveyFactory)
    text = factory.Sequence(lambda n: f"Extra question {n}?")
    kind = SurveyQuestion.Kind.SCALE
