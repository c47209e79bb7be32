"""Search-as-you-type choices: what the suggestions show, what the server accepts."""

from django.urls import reverse

from crm.forms import DealForm
from crm.search import SEARCH_LIMIT, SELECT_LIMIT
from tests.factories import CustomerFactory, DealFactory, UserFactory


def test_suggestions_are_capped_and_visible_only(world, login):
    for i in range(SEARCH_LIMIT + 5):
        CustomerFactory(owner=world.ann, name=f"Acme {i:02d}")
    CustomerFactory(owner=world.sam, name="Acme South")
    html = (
        login(world.ann)
        .get(reverse("record_search", args=["customer"]), {"customer": "acme"})
        .content.decode()
    )
    assert html.count("<option") == SEARCH_LIMIT
    assert "Acme South" not in html


def test_unknown_kind_is_404_and_reps_cannot_search_owners(world, login):
    client = login(world.ann)
    assert client.get(reverse("record_search", args=["secrets"])).status_code == 404
    assert client.get(reverse("record_search", args=["owner"])).status_code == 404


def test_manager_searches_owners_by_name(world, login):
    html = login(world.nina).get(reverse("record_search", args=["owner"]), {"owner": "bob"}).content.decode()
    assert f'value="Bob Rep (#{world.bob.pk})"' in html and "Sam" not in html


def test_the_field_takes_a_suggestion_a_unique_name_or_an_id(world):
    acme = CustomerFactory(owner=world.ann, name="Acme")
    CustomerFactory(owner=world.ann, name="Twin")
    CustomerFactory(owner=world.ann, name="Twin")
    other = CustomerFactory(owner=world.sam, name="Hidden")
    base = {"title": "T", "amount": "10", "stage": "prospecting", "opened_on": "2025-01-02"}

    def customer_field(value):
        form = DealForm({**base, "customer": value}, user=world.ann)
        form.is_valid()
        return form.cleaned_data.get("customer"), form.errors.get("customer")

    assert customer_field(f"Acme (#{acme.pk})")[0] == acme
    assert customer_field("acme")[0] == acme
    assert customer_field(str(acme.pk))[0] == acme
    assert "Several records match" in customer_field("Twin")[1][0]
    assert "Nothing you can see matches" in customer_field("Hidden")[1][0]
    assert "Nothing you can see matches" in customer_field(f"Hidden (#{other.pk})")[1][0]


def test_no_select_lists_every_customer(world, login):
    for i in range(60):
        CustomerFactory(owner=world.ann, name=f"C{i}")
    html = login(world.ann).get(reverse("deal_create")).content.decode()
    assert html.count("<option") < SELECT_LIMIT
    assert 'list="id_customer-options"' in html


def test_an_owner_choice_past_the_limit_becomes_a_search(world, login):
    for i in range(SELECT_LIMIT):
        UserFactory(team=world.north, username=f"extra{i}")
    DealFactory(owner=world.ann)
    html = login(world.nina).get(reverse("deal_create")).content.decode()
    assert 'list="id_owner-options"' in html
    assert html.count("<option") < SELECT_LIMIT


def test_unicode_digits_and_huge_ids_are_field_errors_not_500s(world, login):
    client = login(world.ann)
    base = {"title": "Renewal", "amount": "100", "stage": "prospecting", "opened_on": "2025-06-18"}
    for typed in ["²", "99999999999999999999", "Acme (#99999999999999999999)"]:
        response = client.post(reverse("deal_create"), {**base, "customer": typed})
        assert response.status_code == 200
        assert response.context["form"].errors["customer"]


def test_the_owner_filter_becomes_a_search_past_the_select_limit(world, login):
    client = login(world.admin)
    assert 'list="id_owner-options"' not in client.get(reverse("deal_list")).content.decode()
    for i in range(SELECT_LIMIT):
        UserFactory(team=world.north, username=f"rep{i:02d}")
    DealFactory(owner=world.ann, title="Ann's deal")
    DealFactory(owner=world.bob, title="Bob's deal")
    response = client.get(reverse("deal_list"), {"owner": f"{world.ann} (#{world.ann.pk})"})
    page = response.content.decode()
    assert 'list="id_owner-options"' in page
    assert "Ann&#x27;s deal" in page and "Bob&#x27;s deal" not in page
