"""Out-of-range input gets a clear answer, never a 500 (found in review)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from crm.import_views import SESSION_KEY
from tests.factories import CustomerFactory, DealFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-01", "9999-12-31"])
@pytest.mark.parametrize("page", ["scorecard", "dashboard", "leaderboard", "team_page"])
def test_performance_pages_survive_extreme_periods(world, login, page, day):
    assert login(world.nina).get(reverse(page), {"g": "month", "p": day}).status_code == 200


@pytest.mark.parametrize("query", [{"from": "0001-01-01"}, {"from": "9999-12-31"}, {"to": "9999-12-31"}])
def test_activity_list_survives_extreme_dates(world, login, query):
    assert login(world.ann).get(reverse("activity_list"), query).status_code == 200


@pytest.mark.parametrize("query", [{"from": "0001-01-01"}, {"from": "2020-01-01", "to": "9999-12-31"}])
def test_survey_results_survive_extreme_dates(world, login, query):
    assert login(world.nina).get(reverse("survey_results"), query).status_code == 200


def upload(client, **files):
    uploads = [SimpleUploadedFile(f"{name}.csv", text.encode()) for name, text in files.items()]
    return client.post(reverse("crm_import"), {"format": "generic", "files": uploads})


def test_import_refuses_dates_outside_the_supported_range(world, login):
    response = upload(login(world.admin), deals="external_ref,owner,stage,amount,opened_on,closed_on\n"
                      "X1,ann,won,10,2025-01-01,9999-12-31\n")  # fmt: skip
    assert "outside 1900–2100" in response.content.decode()
    assert SESSION_KEY not in login(world.admin).session


def test_import_refuses_absurd_employee_counts(world, login):
    response = upload(login(world.admin), customers="name,owner,employees\nBigCo,ann,99999999999999999999\n")
    assert "employees is too large" in response.content.decode()


def test_one_zip_per_upload(world, login):
    zips = [SimpleUploadedFile(f"a{i}.zip", b"PK\x05\x06" + b"\0" * 18) for i in range(2)]
    response = login(world.admin).post(reverse("crm_import"), {"format": "maven", "files": zips})
    assert "Upload one zip file at most." in response.content.decode()


def test_customer_list_revenue_counts_only_deals_the_viewer_may_see(world, login):
    customer = CustomerFactory(owner=world.ann, name="Shared Co")
    DealFactory(owner=world.sam, customer=customer, stage="won", amount=777777, closed_on="2025-02-01")
    response = login(world.ann).get(reverse("customer_list"), {"format": "csv"})
    csv = b"".join(response.streaming_content).decode()
    assert "Shared Co" in csv
    assert "777777" not in csv


def test_a_manager_without_a_team_can_only_assign_to_themselves(world):
    from crm.forms import assignable_owners
    from tests.factories import ManagerFactory, UserFactory

    UserFactory(team=None, username="floater")
    lonely = ManagerFactory(team=None)
    assert list(assignable_owners(lonely)) == [lonely]
