"""Factories for the team app: a confirmed training or certification by default."""

import datetime as dt
from decimal import Decimal

import factory
from django.utils import timezone

from team.models import Certification, TrainingSession
from tests.factories import UserFactory


class TrainingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TrainingSession
        skip_postgeneration_save = True

    title = factory.Sequence(lambda n: f"Negotiation {n}")
    kind = TrainingSession.Kind.COURSE
    date = dt.date(2025, 6, 10)
    hours = Decimal("3.5")
    provider = "Academy"
    created_by = factory.SubFactory(UserFactory)
    confirmed_by = factory.SelfAttribute("created_by")
    confirmed_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def people(obj, create, extracted, **kwargs):
        if create and extracted:
            obj.set_attendees(extracted)


class CertificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Certification

    user = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Certified seller {n}")
    obtained_on = dt.date(2025, 1, 15)
    expires_on = dt.date(2027, 1, 15)
    created_by = factory.SelfAttribute("user")
    confirmed_by = factory.SelfAttribute("user")
    confirmed_at = factory.LazyFunction(timezone.now)
