"""Manage ▸ Sales costs: the lines behind sales_cost and the blended CAC."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from crm.models import SalesCost

pytestmark = pytest.mark.django_db
LIST = reverse("sales_cost_list")
IMPORT = reverse("sales_cost_import")


def line(team, month=dt.date(2026, 3, 1), category="salaries", amount="1000", note=""):
    return SalesCost.objects.create(
        team=team, spent_on=month, category=category, amount=Decimal(amount), note=note
    )


def test_salespeople_have_no_access(world, login):
    client = login(world.ann)
    assert client.get(LIST).status_code == 403
    assert client.get(IMPORT).status_code == 403
    assert client.post(reverse("sales_cost_delete", args=[line(world.north).pk])).status_code == 403


def test_a_manager_sees_and_edits_their_teams_lines_only(world, login):
    mine, theirs, company = line(world.north), line(world.south), line(None)
    client = login(world.nina)
    body = client.get(LIST + "?year=2026").content.decode()
    assert body.count("Edit<span") == 1
    assert client.get(reverse("sales_cost_edit", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("sales_cost_edit", args=[company.pk])).status_code == 404
    assert client.post(reverse("sales_cost_delete", args=[theirs.pk])).status_code == 404
    response = client.post(
        reverse("sales_cost_edit", args=[mine.pk]),
        {"spent_on": "2026-04", "team": world.north.pk, "category": "tools", "amount": "250", "note": "CRM"},
    )
    assert response.status_code == 302
    mine.refresh_from_db()
    assert (mine.spent_on, mine.category, mine.amount) == (dt.date(2026, 4, 1), "tools", Decimal("250"))


def test_a_manager_cannot_book_a_cost_for_another_team_or_the_company(world, login):
    client = login(world.nina)
    data = {"spent_on": "2026-05", "team": world.south.pk, "category": "travel", "amount": "90"}
    response = client.post(LIST, data)
    assert response.status_code == 400 and "team" in response.context["form"].errors
    assert client.post(LIST, {**data, "team": ""}).status_code == 400
    assert not SalesCost.objects.exists()


def test_adding_bad_input_shows_field_errors_and_saves_nothing(world, login):
    client = login(world.admin)
    response = client.post(LIST, {"spent_on": "March", "team": "", "category": "bribes", "amount": "-3"})
    errors = response.context["form"].errors
    assert response.status_code == 400 and {"spent_on", "category", "amount"} <= set(errors)
    response = client.post(LIST, {"spent_on": "2026-05", "team": "", "category": "tools", "amount": "90"})
    assert response.status_code == 302
    assert SalesCost.objects.get().team is None  # company-wide, an admin's


def test_the_page_shows_monthly_totals_in_a_bounded_number_of_queries(
    world, login, django_assert_max_num_queries
):
    client = login(world.admin)
    line(world.north)
    client.get(LIST + "?year=2026")
    for month in range(1, 13):
        line(world.south, dt.date(2026, month, 1), "commissions", "10")
    # session, user, teams (admin filter), totals, lines, + submit-token bookkeeping
    with django_assert_max_num_queries(8):
        response = client.get(LIST + "?year=2026")
    assert response.context["year_total"] == Decimal("1120")


CSV = (
    "month,team,category,amount,note\n"
    '2026-01,North,salaries,"12 500,50",\n'
    "2026-01,North,tools,300,CRM seats\n"
    "2026-02,,travel,80,\n"
)


def upload(client, text: str):
    return client.post(IMPORT, {"file": SimpleUploadedFile("costs.csv", text.encode())})


def test_import_previews_then_writes_all_and_again_changes_nothing(world, login):
    client = login(world.admin)
    response = upload(client, CSV)
    counts = response.context["counts"]
    assert (counts["create"], counts["update"], response.context["plan"].errors) == (3, 0, [])
    assert not SalesCost.objects.exists()  # a preview writes nothing
    content = response.context["confirm"]["content"].value()
    assert client.post(IMPORT, {"content": content}).status_code == 302
    assert SalesCost.objects.count() == 3
    assert SalesCost.objects.get(category="salaries").amount == Decimal("12500.50")
    again = upload(client, CSV.replace("300,CRM", "350,CRM")).context["counts"]
    assert (again["create"], again["update"], again["unchanged"]) == (0, 1, 2)


def test_import_names_every_bad_row_and_imports_nothing(world, login):
    client = login(world.nina)
    bad = (
        "month,team,category,amount\n"
        "2026-13,North,salaries,1\n"  # no such month
        "2026-01,Atlantis,salaries,1\n"  # no such team
        "2026-01,South,salaries,1\n"  # not the manager's team
        "2026-01,North,bribes,1\n"  # no such category
        "2026-01,North,tools,-5\n"  # negative
        "2026-01,North,salaires,100\n"  # French: fine
    )
    response = upload(client, bad)
    assert response.status_code == 400
    assert [e.line for e in response.context["plan"].errors] == [2, 3, 4, 5, 6]
    assert response.context.get("confirm") is None
    # A tampered confirmation is checked again in full.
    assert client.post(IMPORT, {"content": bad}).status_code == 400
    assert not SalesCost.objects.exists()


def test_import_refuses_a_file_without_the_columns(world, login):
    response = upload(login(world.admin), "when,how much\n2026-01,3\n")
    assert "missing column" in response.context["plan"].errors[0].reason
