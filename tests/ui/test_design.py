"""The design system's pages: the style guide (admins), the profile, friendly errors."""

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import include, path
from django.utils import translation

from ui.formatting import money


def test_admin_sees_the_style_guide(world, login):
    response = login(world.admin).get("/styleguide/")
    assert response.status_code == 200
    assert b"Style guide" in response.content


@pytest.mark.parametrize("who", ["ann", "nina"])
def test_salesperson_and_manager_get_403_on_the_style_guide(world, login, who):
    response = login(getattr(world, who)).get("/styleguide/")
    assert response.status_code == 403


def test_anonymous_is_sent_to_log_in_from_the_style_guide(client, db):
    response = client.get("/styleguide/")
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_profile_shows_role_and_team(world, login):
    response = login(world.ann).get("/profile/")
    assert response.status_code == 200
    assert b"North" in response.content


def test_base_layout_has_a_favicon_and_no_inline_handlers(world, login):
    html = login(world.nina).get("/profile/").content.decode()
    assert 'rel="icon"' in html
    assert "onchange=" not in html and "onclick=" not in html and " style=" not in html


def test_user_menu_holds_profile_tokens_language_and_log_out(world, login):
    html = login(world.ann).get("/profile/").content.decode()
    menu = html.split('class="menu user-menu"', 1)[1].split("</details>", 1)[0]
    for needle in ['href="/profile/"', 'href="/profile/tokens/"', 'name="language"', 'action="/logout/"']:
        assert needle in menu


def test_money_follows_the_active_language(settings):
    settings.CURRENCY = "EUR"
    with translation.override("fr"):
        assert money(Decimal("12278.62")) == "12\u00a0278,62\u00a0€"
        assert money(Decimal("12278.62"), short=True) == "12\u00a0279\u00a0€"
        assert money(Decimal("480.5"), short=True) == "480,50\u00a0€"
    with translation.override("en"):
        assert money(Decimal("12278.62")) == "€12,278.62"
        assert money(Decimal("-1142189"), short=True) == "-€1,142,189"


def test_one_date_format_per_language(world, login):
    import datetime as dt

    from django.utils import formats

    day = dt.date(2026, 11, 29)
    with translation.override("en"):
        assert formats.date_format(day) == formats.date_format(day, "SHORT_DATE_FORMAT") == "Nov 29, 2026"
    with translation.override("fr"):
        assert formats.date_format(day) == formats.date_format(day, "SHORT_DATE_FORMAT") == "29 nov. 2026"


# Error pages with DEBUG off, as production renders them.


def _boom(request):
    raise RuntimeError("boom")


urlpatterns = [path("boom/", _boom), path("", include("config.urls"))]
handler500 = "api.errors.server_error"


@pytest.fixture
def production(settings):
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["testserver"]


def test_404_is_a_friendly_page_in_the_layout(world, login, production):
    response = login(world.ann).get("/no-such-page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "We can't find this page" in html
    assert 'class="site-header"' in html and 'href="/"' in html


def test_403_says_why_and_where_to_go(world, login, production):
    response = login(world.ann).get("/styleguide/")
    assert response.status_code == 403
    html = response.content.decode()
    assert "The style guide is for administrators." in html
    assert "Go to your home page" in html
    assert "Salesperson" in html


def test_500_is_a_friendly_page(world, production, settings):
    settings.ROOT_URLCONF = __name__
    client = Client(raise_request_exception=False)
    response = client.get("/boom/")
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.content.decode()


def test_a_reps_scorecard_offers_no_link_they_would_get_a_403_from(world, login):
    import datetime as dt

    from tests.kpis.factories_performance import snap

    month = dt.date.today().replace(day=1)
    snap("nps", world.ann, month, 40)
    snap("revenue", world.ann, month, 1000)
    rep_html = login(world.ann).get("/scorecard/").content.decode()
    assert "/surveys/results/" not in rep_html
    assert "/deals/?" in rep_html  # the revenue card still explains itself
    manager_html = login(world.nina).get(f"/scorecard/?scope=rep-{world.ann.pk}").content.decode()
    assert "/surveys/results/" in manager_html


def test_the_survey_page_names_the_company_and_shows_its_logo(db, client, settings):
    from tests.surveys.factories import SentInvitationFactory

    settings.COMPANY_NAME = "Acme Conseil"
    invitation = SentInvitationFactory()
    html = client.get(f"/s/{invitation.token}/").content.decode()
    assert "A question from Acme Conseil" in html and 'class="company-mark"' in html
    settings.COMPANY_LOGO_URL = "/static/favicon.svg"
    html = client.get(f"/s/{invitation.token}/").content.decode()
    assert '<img class="company-logo" src="/static/favicon.svg"' in html


def test_the_thank_you_page_says_where_the_answer_goes(db, client, settings):
    from tests.surveys.factories import SentInvitationFactory

    settings.COMPANY_NAME = "Acme Conseil"
    invitation = SentInvitationFactory()
    response = client.post(f"/s/{invitation.token}/", {"nps_score": 9, "csat_score": 5})
    html = response.content.decode()
    owner = invitation.owner.get_full_name()
    assert f"Your answer goes to {owner}, your contact at Acme Conseil" in html
