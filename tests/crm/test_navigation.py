"""Logging in and out, and what each role finds in the navigation."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_anonymous_visitor_is_sent_to_log_in(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_login_page_renders(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b'name="username"' in response.content


def test_wrong_password_shows_an_error(client, world):
    response = client.post(reverse("login"), {"username": "ann", "password": "nope"})
    assert response.status_code == 200
    assert b'role="alert"' in response.content


def test_log_in_then_log_out(client, world):
    response = client.post(reverse("login"), {"username": "ann", "password": "pw"})
    assert response.status_code == 302
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 302


@pytest.mark.parametrize(
    "who, landing", [("ann", "dashboard"), ("nina", "team_page"), ("admin", "scorecard")]
)
def test_home_sends_each_role_to_its_page(login, world, who, landing):
    client = login(getattr(world, who))
    response = client.get(reverse("home"))
    assert response.status_code == 302 and response.url == reverse(landing)
    assert client.get(response.url).status_code == 200


def test_navigation_links_by_role(login, world):
    rep_page = login(world.ann).get(reverse("dashboard")).content.decode()
    for name in ["dashboard", "scorecard", "leaderboard", "deal_board", "deal_list", "prospect_list"]:
        assert f'href="{reverse(name)}"' in rep_page, name
    for name in ["team_page", "campaign_list", "target_grid", "crm_import", "kpi_status"]:
        assert f'href="{reverse(name)}"' not in rep_page, name
    assert f'href="{reverse("invitation_list")}"' in rep_page
    manager_page = login(world.nina).get(reverse("dashboard")).content.decode()
    for name in ["team_page", "campaign_list", "target_grid", "survey_results", "crm_import", "kpi_status"]:
        assert f'href="{reverse(name)}"' in manager_page, name


def test_admin_link_only_for_staff(login, world):
    rep_page = login(world.ann).get(reverse("home"), follow=True).content.decode()
    assert reverse("admin:index") not in rep_page
    admin_page = login(world.admin).get(reverse("home"), follow=True).content.decode()
    assert reverse("admin:index") in admin_page


def test_admin_lists_every_model(login, world):
    client = login(world.admin)
    for name in [
        "team",
        "user",
        "campaign",
        "campaignspend",
        "product",
        "customer",
        "prospect",
        "deal",
        "dealstagechange",
        "activity",
        "target",
    ]:
        assert client.get(reverse(f"admin:crm_{name}_changelist")).status_code == 200, name
    for name in ["survey", "invitation", "response"]:
        assert client.get(reverse(f"admin:surveys_{name}_changelist")).status_code == 200, name
