"""Who sees what: every workspace URL × role × someone else's object.

The objects belong to Sam (a rep in South). Ann (a rep in North) and Nina
(North's manager) must get 404 on every one of them; Steve (South's manager)
and the admin get through. Sam's own records are, of course, his.
"""

import datetime as dt

import pytest
from django.urls import reverse

from tests.factories import (
    ActivityFactory,
    CustomerFactory,
    DealFactory,
    ProspectFactory,
)


@pytest.fixture
def sams(world):
    customer = CustomerFactory(owner=world.sam, team=world.south)
    deal = DealFactory(owner=world.sam, customer=customer, team=world.south)
    prospect = ProspectFactory(owner=world.sam, team=world.south)
    activity = ActivityFactory(owner=world.sam, deal=deal, done=False)
    return {"deal": deal, "prospect": prospect, "customer": customer, "activity": activity}


# (url name, object key, method). POSTs are sent empty: the access check
# comes before validation, so a 404 here means "not yours", never "bad form".
OBJECT_URLS = [
    ("deal_detail", "deal", "get"),
    ("deal_edit", "deal", "get"),
    ("deal_edit", "deal", "post"),
    ("deal_move", "deal", "post"),
    ("deal_won", "deal", "post"),
    ("deal_lost", "deal", "post"),
    ("deal_reopen", "deal", "post"),
    ("prospect_detail", "prospect", "get"),
    ("prospect_edit", "prospect", "get"),
    ("prospect_edit", "prospect", "post"),
    ("prospect_status", "prospect", "post"),
    ("prospect_lost", "prospect", "post"),
    ("prospect_convert", "prospect", "post"),
    ("customer_detail", "customer", "get"),
    ("customer_edit", "customer", "get"),
    ("customer_edit", "customer", "post"),
    ("customer_churn", "customer", "post"),
    ("activity_done", "activity", "post"),
]


@pytest.mark.parametrize(("name", "key", "method"), OBJECT_URLS)
@pytest.mark.parametrize("who", ["ann", "bob", "nina"])
def test_others_outside_the_team_get_404(world, sams, login, name, key, method, who):
    client = login(getattr(world, who))
    url = reverse(name, args=[sams[key].pk])
    response = getattr(client, method)(url)
    assert response.status_code == 404


@pytest.mark.parametrize(("name", "key", "method"), OBJECT_URLS)
@pytest.mark.parametrize("who", ["sam", "steve", "admin"])
def test_owner_manager_and_admin_get_through(world, sams, login, name, key, method, who):
    client = login(getattr(world, who))
    url = reverse(name, args=[sams[key].pk])
    response = getattr(client, method)(url)
    if name == "customer_churn" and who == "sam":
        assert response.status_code == 403  # reps may not mark churn
    else:
        # 200 page, 302 after a valid POST, 400 for an empty POST: never 404/500.
        assert response.status_code in (200, 302, 400)


@pytest.mark.parametrize(
    "name",
    ["deal_list", "deal_board", "deal_create", "prospect_list", "prospect_create",
     "customer_list", "customer_create", "activity_list", "activity_create"],
)  # fmt: skip
@pytest.mark.parametrize("who", ["ann", "nina", "admin"])
def test_lists_show_only_what_the_role_may_see(world, sams, login, name, who):
    response = login(getattr(world, who)).get(reverse(name))
    assert response.status_code == 200
    body = response.content.decode()
    shows = {"deal_list": "deal", "deal_board": "deal", "prospect_list": "prospect",
             "customer_list": "customer"}.get(name)  # fmt: skip
    if shows:
        assert (sams[shows].get_absolute_url() in body) is (who == "admin")
    for key in ("deal", "prospect", "customer"):
        if who != "admin":
            assert sams[key].get_absolute_url() not in body


@pytest.mark.parametrize("name", ["deal_list", "prospect_list", "customer_list"])
@pytest.mark.parametrize(("who", "sees"), [("ann", False), ("nina", False), ("steve", True), ("admin", True)])
def test_csv_exports_only_visible_rows(world, sams, login, name, who, sees):
    response = login(getattr(world, who)).get(reverse(name), {"format": "csv"})
    body = b"".join(response.streaming_content).decode()
    key = name.split("_")[0]
    assert (f"\n{sams[key].pk}," in body) is sees


def test_anonymous_is_sent_to_login(client, sams):
    for name in ["deal_list", "deal_board", "prospect_list", "customer_list", "activity_list"]:
        response = client.get(reverse(name))
        assert response.status_code == 302 and "/login/" in response["Location"]
    response = client.get(reverse("deal_detail", args=[sams["deal"].pk]))
    assert response.status_code == 302


@pytest.mark.parametrize("name", ["campaign_list", "campaign_create", "target_grid"])
def test_reps_cannot_use_manager_pages(world, login, name):
    assert login(world.ann).get(reverse(name)).status_code == 403
    assert login(world.nina).get(reverse(name)).status_code == 200


@pytest.mark.parametrize(
    "name", ["deal_move", "deal_won", "deal_lost", "deal_reopen", "prospect_convert", "customer_churn"]
)
def test_verbs_refuse_get(world, sams, login, name):
    key = {"prospect": "prospect", "customer": "customer"}.get(name.split("_")[0], "deal")
    assert login(world.sam).get(reverse(name, args=[sams[key].pk])).status_code == 405


def test_activities_of_others_are_not_in_my_week(world, sams, login):
    today = dt.date.today()
    ActivityFactory(owner=world.sam, subject="Secret call", occurred_on=today)
    for who in (world.ann, world.nina):
        body = login(who).get(reverse("activity_list"), {"from": "2000-01-01", "to": "2100-01-01"})
        assert "Secret call" not in body.content.decode()
    body = login(world.steve).get(reverse("activity_list"), {"from": "2000-01-01", "to": "2100-01-01"})
    assert "Secret call" in body.content.decode()
