"""Issue 19: Unicode digits (², ٣, ４) in query strings are not numbers to
Python's int() though str.isdigit() says yes: never a 500."""

import pytest
from django.urls import reverse

from tests.factories import CustomerFactory, DealFactory

pytestmark = pytest.mark.django_db

PAGES = [
    "home", "deal_list", "deal_board", "deal_create", "prospect_list", "customer_list",
    "activity_list", "activity_create", "campaign_list", "sales_cost_list", "target_grid",
    "kpi_status", "survey_list", "survey_results", "invitation_list", "scorecard", "leaderboard",
    "team_page", "dashboard", "crm_import", "api_tokens", "webhook_list",
]  # fmt: skip
PARAMS = ["customer", "prospect", "year", "team", "owner", "rep", "product", "campaign", "page",
          "after", "cursor", "p", "g", "kpi", "moved", "survey", "deal", "user", "scope_id"]  # fmt: skip


def test_pages_answer_unicode_digits_without_a_500(world, login):
    CustomerFactory(owner=world.ann)
    DealFactory(owner=world.ann)
    for user in (world.ann, world.nina, world.admin):
        client = login(user)
        for page in PAGES:
            for param in PARAMS:
                response = client.get(reverse(page), {param: "²"})
                assert response.status_code < 500, (user, page, param, response.status_code)


@pytest.mark.parametrize("value", ["²", "٣", "４", "1²"])
def test_the_reported_cases(world, login, value):
    client = login(world.nina)
    for page, param in (("deal_create", "customer"), ("target_grid", "year"), ("sales_cost_list", "year")):
        assert client.get(reverse(page), {param: value}).status_code == 200


@pytest.mark.parametrize(
    "path", ["customers", "deals", "prospects", "activities", "targets", "kpis", "survey-responses"]
)
def test_api_answers_unicode_digits_without_a_500(world, login, path):
    client = login(world.admin)
    for param in PARAMS + ["from", "to", "owner", "month"]:
        response = client.get(f"/api/v1/{path}/", {param: "²"})
        assert response.status_code < 500, (path, param, response.status_code)
