"""The schema-driven fuzz run: every operation of /api/schema/, with data
generated from the schema (valid and invalid), must answer without a 500,
with a documented status and a body that matches the schema.

Deterministic (derandomized Hypothesis, no example database) and bounded:
a few examples per operation, so the whole run takes well under a minute on
a loaded 2-core machine.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from alerts.models import Alert, Rule
from api.models import ApiToken
from crm.models import SalesCost, Stage
from kpis.models import ForecastSnapshot, KpiSnapshot
from tests.factories import (
    ActivityFactory,
    CampaignFactory,
    CampaignSpendFactory,
    DealFactory,
    ProductFactory,
    ProspectFactory,
    ResponseFactory,
    TargetFactory,
)
from tests.team.factories import CertificationFactory, TrainingFactory

EXAMPLES_PER_OPERATION = 6

# Generated data only (the "coverage" phase's exhaustive boundary cases
# would take minutes), from a fixed seed.
CONFIG = SchemathesisConfig.from_dict({"seed": 16, "phases": {"coverage": {"enabled": False}}})
schema = schemathesis.openapi.from_dict(
    SchemaGenerator().get_schema(request=None, public=True), config=CONFIG
)
schema.app = get_wsgi_application()

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(autouse=True)
def _keep_the_tests_connection():
    """Requests go through the real WSGI handler, whose request signals close
    the database connection: inside the test's transaction that would end it
    (PostgreSQL). Django's own test client detaches them the same way."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def token(world, settings):
    """Some of everything, owned around the admin whose token the fuzzer uses."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "100000/hour", "anon": "100000/hour"},
    }
    campaign = CampaignFactory(team=world.north)
    CampaignSpendFactory(campaign=campaign)
    product = ProductFactory()
    deal = DealFactory(owner=world.ann, product=product)
    DealFactory(owner=world.sam, stage=Stage.WON, closed_on=dt.date(2025, 2, 1))
    ProspectFactory(owner=world.ann, source_campaign=campaign)
    ActivityFactory(owner=world.ann, deal=deal)
    TargetFactory(user=world.ann)
    SalesCost.objects.create(team=world.north, spent_on=dt.date(2025, 1, 1), category="tools", amount=5)
    ResponseFactory(invitation__customer=deal.customer, invitation__deal=deal)
    KpiSnapshot.objects.create(
        kpi="win_rate", scope_type="team", scope_id=world.north.pk, granularity="month",
        period_start=dt.date(2025, 1, 1), value=Decimal("0.5"), numerator=1, denominator=2,
        computed_at=dt.datetime(2025, 2, 1, tzinfo=dt.UTC),
    )  # fmt: skip
    Alert.objects.create(
        rule=Rule.BAND, key="band:revenue:team", kpi="revenue", scope_type="team", scope_id=world.north.pk,
        team=world.north, subject="North", period_start=dt.date(2025, 1, 1),
        why={"value": "1", "low": "2", "high": "3", "median": "2.5", "points": 12, "direction": "down"},
    )  # fmt: skip
    TrainingFactory(created_by=world.ann, confirmed_by=None, confirmed_at=None, people=[world.ann])
    CertificationFactory(user=world.ann, confirmed_by=None, confirmed_at=None)
    ForecastSnapshot.objects.create(
        scope_type="team", scope_id=world.north.pk, granularity="quarter", period_start=dt.date(2025, 1, 1),
        kind="start", made_on=dt.date(2025, 1, 1), won_so_far=0, p10=100, p50=200, p90=300, expected=210,
        target=250, chance_of_target=Decimal("40.0"), actual=190,
        computed_at=dt.datetime(2025, 1, 2, tzinfo=dt.UTC),
        details={"deals": [], "rates": [], "draws": 10000, "seed": 1},
    )  # fmt: skip
    _token, raw = ApiToken.issue(world.admin, "fuzz")
    return raw


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
@pytest.mark.django_db
def test_no_operation_fails_or_breaks_its_schema(case, token):
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
