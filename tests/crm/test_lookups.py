"""Search-as-you-type choices: suggestions, visibility, typed names, no long selects."""

import re

import pytest
from django.urls import reverse

from crm.lookups import LIMIT
from crm.models import Activity, Deal
from tests.factories import CustomerFactory, DealFactory

pytestmark = pytest.mark.django_db


def options(response) -> list[str]:
    return re.findall(r'<option value="([^"]*)">', response.content.decode())


def test_suggestions_are_what_the_user_may_choose(world, login):
    mine = CustomerFactory(name="Acme North", owner=world.ann)
    CustomerFactory(name="Acme South", owner=world.sam)
    url = reverse("lookup", args=["customer"])
    assert options(login(world.ann).get(url, {"field": "customer", "customer": "acme"})) == [
        f"Acme North (#{mine.pk})"
    ]
    assert len(options(login(world.admin).get(url, {"field": "customer", "customer": "ACME"}))) == 2


def test_suggestions_are_capped_and_read_in_bounded_queries(world, login, django_assert_max_num_queries):
    for n in range(LIMIT + 5):
        CustomerFactory(name=f"Client {n:02}", owner=world.ann)
    client = login(world.nina)
    with django_assert_max_num_queries(4):
        response = client.get(
            reverse("lookup", args=["customer"]), {"field": "customer", "customer": "client"}
        )
    assert len(options(response)) == LIMIT
    assert options(response)[0].startswith("Client 00")


def test_a_full_suggestion_searches_its_name(world, login):
    acme = CustomerFactory(name="Acme", owner=world.ann)
    response = login(world.ann).get(
        reverse("lookup", args=["customer"]), {"field": "customer", "customer": f"Acme (#{acme.pk})"}
    )
    assert options(response) == [f"Acme (#{acme.pk})"]


def test_people_and_unknown_kinds(world, login):
    client = login(world.nina)
    people = options(client.get(reverse("lookup", args=["owner"]), {"field": "owner", "owner": ""}))
    assert f"{world.ann} (#{world.ann.pk})" in people
    assert not any(p.startswith(str(world.sam)) for p in people)  # another team
    assert client.get(reverse("lookup", args=["secrets"])).status_code == 404
    client.logout()
    assert client.get(reverse("lookup", args=["customer"])).status_code == 302


def test_the_deal_form_renders_no_long_select(world, login):
    for n in range(60):
        CustomerFactory(owner=world.ann, name=f"Customer {n}")
    page = login(world.nina).get(reverse("deal_create")).content.decode()
    for select in re.findall(r"<select.*?</select>", page, re.S):
        assert select.count("<option") <= 50
    assert 'list="id_customer-options"' in page and 'hx-get="/lookup/customer/?field=customer"' in page


@pytest.mark.parametrize("typed", ["Acme", "acme ", "{label}", "{pk}"])
def test_a_typed_name_a_suggestion_or_an_id_is_taken_without_javascript(world, login, typed):
    acme = CustomerFactory(name="Acme", owner=world.ann)
    typed = typed.format(label=f"Acme (#{acme.pk})", pk=acme.pk)
    response = login(world.ann).post(
        reverse("deal_create"),
        {
            "title": "Renewal",
            "customer": typed,
            "amount": "100",
            "stage": "prospecting",
            "opened_on": "2025-06-18",
        },
    )
    assert response.status_code == 302, response.context["form"].errors
    assert Deal.objects.get().customer == acme


def test_ambiguous_unknown_and_foreign_choices_are_field_errors(world, login):
    CustomerFactory(name="Twin", owner=world.ann)
    CustomerFactory(name="twin", owner=world.ann)
    foreign = CustomerFactory(name="Foreign", owner=world.sam)
    client = login(world.ann)
    base = {"title": "Renewal", "amount": "100", "stage": "prospecting", "opened_on": "2025-06-18"}
    for typed, message in [
        ("Twin", "Several records are called"),
        ("Nobody", "Nothing you may choose is called"),
        ("Foreign", "Nothing you may choose is called"),
        (f"Foreign (#{foreign.pk})", "Select a valid choice"),
        ("99999999999999999999", "Nothing you may choose is called"),
        ("²", "Nothing you may choose is called"),
    ]:
        response = client.post(reverse("deal_create"), {**base, "customer": typed})
        assert response.status_code == 200
        assert message in " ".join(response.context["form"].errors["customer"]), typed
        # What was typed stays in the field to be corrected.
        assert response.context["form"]["customer"].value() == typed
    assert not Deal.objects.exists()


def test_an_activity_links_a_deal_by_its_suggestion(world, login):
    deal = DealFactory(owner=world.ann, title="Big one")
    response = login(world.ann).post(
        reverse("activity_create"),
        {
            "kind": "call",
            "occurred_on": "2025-06-18",
            "subject": "Call",
            "deal": f"Big one (#{deal.pk})",
            "done": "on",
        },
    )
    assert response.status_code == 302
    assert Activity.objects.get().deal == deal


def test_the_owner_filter_takes_a_suggestion(world, login):
    DealFactory(owner=world.ann, title="Ann's")
    DealFactory(owner=world.bob, title="Bob's")
    client = login(world.nina)
    page = client.get(reverse("deal_list"), {"owner": f"{world.ann} (#{world.ann.pk})"}).content.decode()
    assert "Ann&#x27;s" in page and "Bob&#x27;s" not in page
    page = client.get(reverse("deal_list"), {"owner": "nobody"})
    assert "Nothing you may choose is called" in page.content.decode()
