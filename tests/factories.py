"""Small factories: each builds one valid row with sensible defaults."""

import datetime as dt
from decimal import Decimal

import factory
from django.utils import timezone

from crm.models import (
    Activity,
    Campaign,
    CampaignSpend,
    Customer,
    Deal,
    LostReason,
    Product,
    Prospect,
    Role,
    Stage,
    Target,
    Team,
    User,
)
from surveys.models import Invitation, Response, Survey


def lost_reason(code: str) -> LostReason:
    """A managed lost reason (seeded by migration; a flushed database may lack it)."""
    name = code.replace("_", " ").capitalize()
    return LostReason.objects.get_or_create(code=code, defaults={"name": name})[0]


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"Team {n}")
    region = "West"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Sequence(lambda n: f"First{n}")
    last_name = "Rep"
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    role = Role.SALESPERSON
    team = factory.SubFactory(TeamFactory)
    password = factory.PostGenerationMethodCall("set_password", "pw")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class ManagerFactory(UserFactory):
    role = Role.MANAGER
    last_name = "Manager"


class AdminFactory(UserFactory):
    role = Role.ADMIN
    team = None
    is_staff = True
    is_superuser = True
    last_name = "Admin"


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    channel = Campaign.Channel.EMAIL
    starts_on = dt.date(2025, 1, 1)


class CampaignSpendFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CampaignSpend

    campaign = factory.SubFactory(CampaignFactory)
    spent_on = dt.date(2025, 1, 15)
    amount = Decimal("1000.00")


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"Product {n}")
    list_price = Decimal("1000.00")


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Sequence(lambda n: f"Customer {n}")
    contact_email = factory.Sequence(lambda n: f"buyer{n}@customer.example")
    owner = factory.SubFactory(UserFactory)
    team = factory.LazyAttribute(lambda c: c.owner.team)


class ProspectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prospect

    name = factory.Sequence(lambda n: f"Prospect {n}")
    company = "Acme"
    owner = factory.SubFactory(UserFactory)
    team = factory.LazyAttribute(lambda p: p.owner.team)
    created_on = dt.date(2025, 1, 10)


class DealFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Deal

    title = factory.Sequence(lambda n: f"Deal {n}")
    owner = factory.SubFactory(UserFactory)
    customer = factory.SubFactory(CustomerFactory, owner=factory.SelfAttribute("..owner"))
    amount = Decimal("1000.00")
    stage = Stage.PROSPECTING
    opened_on = dt.date(2025, 1, 1)
    closed_on = None
    lost_reason = factory.LazyAttribute(lambda d: lost_reason("price") if d.stage == Stage.LOST else None)

    @classmethod
    def _adjust_kwargs(cls, **kwargs):
        # Free text names a managed reason or becomes "other" with a note, as
        # Deal.mark_lost does.
        if isinstance(kwargs.get("lost_reason"), str):
            reason, note = LostReason.resolve(kwargs["lost_reason"])
            kwargs["lost_reason"] = reason
            kwargs.setdefault("lost_note", note)
        return kwargs


class ActivityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Activity

    kind = Activity.Kind.CALL
    subject = "Call"
    owner = factory.SubFactory(UserFactory)
    deal = factory.SubFactory(DealFactory, owner=factory.SelfAttribute("..owner"))
    occurred_on = dt.date(2025, 1, 10)


class TargetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Target

    user = factory.SubFactory(UserFactory)
    month = dt.date(2025, 1, 1)
    amount = Decimal("10000.00")


class SurveyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Survey

    name = factory.Sequence(lambda n: f"Survey {n}")


class InvitationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Invitation

    survey = factory.SubFactory(SurveyFactory)
    customer = factory.SubFactory(CustomerFactory)
    owner = factory.LazyAttribute(lambda i: i.customer.owner)
    team = factory.LazyAttribute(lambda i: i.customer.team)
    email = factory.LazyAttribute(lambda i: i.customer.contact_email or "x@example.com")
    sent_at = factory.LazyFunction(timezone.now)


class ResponseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Response

    invitation = factory.SubFactory(InvitationFactory)
    submitted_at = factory.LazyFunction(timezone.now)
    nps_score = 9
    csat_score = 5
