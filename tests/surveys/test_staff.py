"""Staff pages: survey definitions, results, invitations, send-now and bounce."""

import datetime as dt

import pytest
from django.template import Context, Template
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from crm.models import Stage
from surveys.models import Invitation, Survey
from tests.factories import CustomerFactory, DealFactory, ResponseFactory
from tests.surveys.factories import SentInvitationFactory, WonDealFactory

# --- access ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["survey_results", "survey_list", "survey_create"])
def test_salespeople_get_403_on_manager_pages(login, world, name):
    assert login(world.ann).get(reverse(name)).status_code == 403


@pytest.mark.parametrize("name", ["survey_results", "survey_list", "invitation_list"])
def test_anonymous_users_are_sent_to_login(client, db, name):
    response = client.get(reverse(name))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_managers_see_the_surveys_nav_link(login, world):
    assert reverse("survey_results") in login(world.nina).get(reverse("home"), follow=True).content.decode()
    assert (
        reverse("survey_results") not in login(world.ann).get(reverse("home"), follow=True).content.decode()
    )


# --- survey definitions ------------------------------------------------------------------------


def test_migration_creates_an_english_and_a_french_default(db):
    defaults = {s.language: s for s in Survey.objects.filter(is_default=True)}
    assert set(defaults) == {"en", "fr"}
    assert "recommandiez" in defaults["fr"].nps_question


def survey_post(**overrides):
    data = {
        "name": "Onboarding",
        "language": "en",
        "nps_question": "Would you recommend us?",
        "csat_question": "Happy with onboarding?",
        "ask_comment": "on",
        "is_active": "on",
        "questions-TOTAL_FORMS": "1",
        "questions-INITIAL_FORMS": "0",
        "questions-MIN_NUM_FORMS": "0",
        "questions-MAX_NUM_FORMS": "1000",
        "questions-0-text": "Was the training useful?",
        "questions-0-kind": "scale",
        "questions-0-position": "1",
    }
    return data | overrides


def test_manager_creates_a_survey_with_an_extra_question(login, world):
    response = login(world.nina).post(reverse("survey_create"), survey_post())
    assert response.status_code == 302
    survey = Survey.objects.get(name="Onboarding")
    assert [q.text for q in survey.questions.all()] == ["Was the training useful?"]
    assert not survey.is_default


def test_making_a_survey_default_replaces_the_old_default(login, world):
    old = Survey.objects.get(language="en", is_default=True)
    login(world.nina).post(reverse("survey_create"), survey_post(is_default="on"))
    old.refresh_from_db()
    assert not old.is_default
    assert Survey.objects.get(language="en", is_default=True).name == "Onboarding"


def test_saving_the_default_keeps_it_default(login, world):
    survey = Survey.objects.get(language="fr", is_default=True)
    data = survey_post(name="Avis", language="fr", is_default="on") | {"questions-TOTAL_FORMS": "0"}
    assert login(world.nina).post(reverse("survey_edit", args=[survey.pk]), data).status_code == 302
    survey.refresh_from_db()
    assert survey.is_default and survey.name == "Avis"


def test_an_inactive_default_is_a_field_error(login, world):
    data = survey_post(is_default="on")
    del data["is_active"]
    response = login(world.nina).post(reverse("survey_create"), data)
    assert response.status_code == 200
    assert "The default survey must be active." in response.content.decode()
    assert not Survey.objects.filter(name="Onboarding").exists()


def test_unknown_survey_is_404(login, world):
    assert login(world.nina).get(reverse("survey_edit", args=[9999])).status_code == 404


# --- results -----------------------------------------------------------------------------------


def answered(owner, team, nps, csat, comment="", days_ago=3):
    invitation = SentInvitationFactory(
        customer__owner=owner,
        owner=owner,
        team=team,
        sent_at=timezone.now() - dt.timedelta(days=days_ago + 1),
    )
    return ResponseFactory(
        invitation=invitation,
        nps_score=nps,
        csat_score=csat,
        comment=comment,
        submitted_at=timezone.now() - dt.timedelta(days=days_ago),
    )


def test_results_follow_the_spec_and_the_managers_team(login, world):
    for nps, csat in [(10, 5), (9, 4), (8, 4), (3, 2)]:
        answered(world.ann, world.north, nps, csat, comment=f"north {nps}")
    answered(world.sam, world.south, 0, 1, comment="south secret")
    SentInvitationFactory(customer__owner=world.bob, owner=world.bob, team=world.north)
    SentInvitationFactory(
        customer__owner=world.bob, owner=world.bob, team=world.north, bounced_at=timezone.now()
    )
    response = login(world.nina).get(reverse("survey_results"))
    figures = response.context["figures"]
    assert (figures["promoters"], figures["passives"], figures["detractors"]) == (2, 1, 1)
    assert figures["nps"] == 25.0  # (2 − 1) ÷ 4 × 100
    assert figures["csat"] == 75.0  # 4s and 5s ÷ all answers
    assert (figures["answered"], figures["sent"]) == (4, 5)  # the bounce is left out
    assert figures["response_rate"] == 80.0
    html = response.content.decode()
    assert "north 3" in html and "south secret" not in html
    assert 'id="survey-chart-data"' in html and "chartjs/chart.umd.min.js" in html


def test_results_filter_by_rep_and_period(login, world):
    answered(world.ann, world.north, 10, 5, days_ago=3)
    answered(world.bob, world.north, 2, 1, days_ago=3)
    answered(world.ann, world.north, 0, 1, days_ago=100)
    client = login(world.nina)
    today = timezone.localdate()
    params = {"rep": world.ann.pk, "from": today - dt.timedelta(days=30), "to": today}
    figures = client.get(reverse("survey_results"), params).context["figures"]
    assert (figures["promoters"], figures["detractors"], figures["nps"]) == (1, 0, 100.0)


def test_results_without_answers_say_na(login, world):
    response = login(world.admin).get(reverse("survey_results"))
    assert response.context["figures"]["nps"] is None
    assert "n/a" in response.content.decode()


@pytest.mark.parametrize(
    "params",
    [{"team": "999999"}, {"rep": "abc"}, {"from": "2026-13-45"}, {"from": "2026-02-01", "to": "2026-01-01"}],
)
def test_bad_filters_are_field_errors_not_500(login, world, params):
    response = login(world.nina).get(reverse("survey_results"), params)
    assert response.status_code == 200
    assert response.context["figures"] is None
    assert "Please correct the filter above." in response.content.decode()


def test_a_manager_cannot_filter_on_another_team(login, world):
    response = login(world.nina).get(reverse("survey_results"), {"team": world.south.pk})
    assert response.context["figures"] is None


def test_htmx_gets_the_results_partial(login, world):
    response = login(world.nina).get(reverse("survey_results"), headers={"HX-Request": "true"})
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="results"') and "<html" not in html


@pytest.mark.parametrize("size", [3, 30])
def test_results_page_runs_a_bounded_number_of_queries(login, world, size, django_assert_max_num_queries):
    for i in range(size):
        answered(world.ann, world.north, i % 11, 1 + i % 5, comment=f"c{i}")
    client = login(world.admin)
    # session, user, team choices, rep choices, the NPS/CSAT aggregate, the
    # response-rate aggregate, comment count, comment page (the admin has no
    # team, so base.html's header adds none).
    with django_assert_max_num_queries(8):
        assert client.get(reverse("survey_results")).status_code == 200


# --- invitation list and bounce ----------------------------------------------------------------


@pytest.mark.parametrize("size", [2, 25])
def test_invitation_list_is_scoped_and_bounded(login, world, size, django_assert_max_num_queries):
    for _ in range(size):
        SentInvitationFactory(customer__owner=world.ann, owner=world.ann, team=world.north)
    SentInvitationFactory(customer__owner=world.sam, owner=world.sam, team=world.south)
    client = login(world.ann)
    # session, user, the user's team (base.html header), count for the
    # paginator, the page with its joins.
    with django_assert_max_num_queries(5):
        response = client.get(reverse("invitation_list"))
    assert len(response.context["page"]) == size


def test_invitation_list_filters_by_status(login, world):
    a = SentInvitationFactory(customer__owner=world.ann, owner=world.ann)
    b = SentInvitationFactory(customer__owner=world.ann, owner=world.ann, bounced_at=timezone.now())
    ResponseFactory(invitation=a)
    client = login(world.ann)
    assert list(client.get(reverse("invitation_list"), {"status": "bounced"}).context["page"]) == [b]
    assert list(client.get(reverse("invitation_list"), {"status": "answered"}).context["page"]) == [a]


def test_rep_marks_their_invitation_bounced(login, world):
    invitation = SentInvitationFactory(customer__owner=world.ann, owner=world.ann, team=world.north)
    response = login(world.ann).post(reverse("invitation_bounce", args=[invitation.pk]))
    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.bounced_at is not None


def test_another_reps_invitation_is_404(login, world):
    invitation = SentInvitationFactory(customer__owner=world.sam, owner=world.sam, team=world.south)
    assert login(world.ann).post(reverse("invitation_bounce", args=[invitation.pk])).status_code == 404
    assert login(world.nina).post(reverse("invitation_bounce", args=[invitation.pk])).status_code == 404


def test_bounce_needs_post(login, world):
    invitation = SentInvitationFactory(customer__owner=world.ann, owner=world.ann)
    assert login(world.ann).get(reverse("invitation_bounce", args=[invitation.pk])).status_code == 405


# --- send survey now ---------------------------------------------------------------------------


def test_rep_sends_a_survey_from_their_won_deal(
    login, world, mailoutbox, eager_celery, django_capture_on_commit_callbacks
):
    deal = WonDealFactory(owner=world.ann)
    with django_capture_on_commit_callbacks(execute=True):
        response = login(world.ann).post(
            reverse("survey_send_for_deal", args=[deal.pk]), {"next": "/deals/1/"}
        )
    assert response.status_code == 302 and response["Location"] == "/deals/1/"
    invitation = Invitation.objects.get()
    assert (invitation.deal, invitation.owner, invitation.sent_at is not None) == (deal, world.ann, True)
    assert len(mailoutbox) == 1


def test_next_cannot_redirect_off_site(login, world):
    deal = WonDealFactory(owner=world.ann)
    response = login(world.ann).post(
        reverse("survey_send_for_deal", args=[deal.pk]), {"next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("invitation_list")


def test_send_respects_the_throttle(login, world):
    deal = WonDealFactory(owner=world.ann)
    SentInvitationFactory(customer=deal.customer)
    client = login(world.ann)
    response = client.post(reverse("survey_send_for_deal", args=[deal.pk]), follow=True)
    assert "already invited" in response.content.decode()
    assert Invitation.objects.count() == 1


def test_open_deals_cannot_be_surveyed(login, world):
    deal = DealFactory(owner=world.ann, stage=Stage.PROPOSAL)
    response = login(world.ann).post(reverse("survey_send_for_deal", args=[deal.pk]), follow=True)
    assert "once the deal is won" in response.content.decode()
    assert not Invitation.objects.exists()


def test_another_reps_deal_or_customer_is_404(login, world):
    deal = WonDealFactory(owner=world.sam)
    client = login(world.ann)
    assert client.post(reverse("survey_send_for_deal", args=[deal.pk])).status_code == 404
    assert client.post(reverse("survey_send_for_customer", args=[deal.customer.pk])).status_code == 404
    assert not Invitation.objects.exists()


def test_manager_sends_for_a_team_customer(login, world):
    customer = CustomerFactory(owner=world.bob, team=world.north)
    response = login(world.nina).post(reverse("survey_send_for_customer", args=[customer.pk]))
    assert response.status_code == 302
    invitation = Invitation.objects.get()
    assert (invitation.owner, invitation.team, invitation.deal) == (world.bob, world.north, None)


def test_send_needs_post(login, world):
    customer = CustomerFactory(owner=world.ann)
    assert login(world.ann).get(reverse("survey_send_for_customer", args=[customer.pk])).status_code == 405


# --- includes for the deal and customer pages ----------------------------------------------------


def render(source: str, **context) -> str:
    request = RequestFactory().get("/deals/7/")
    return Template(source).render(Context({"request": request, **context}))


def test_send_button_include_posts_to_the_right_endpoint(world):
    deal = WonDealFactory(owner=world.ann)
    html = render('{% include "surveys/includes/send_button.html" %}', deal=deal)
    assert f'action="{reverse("survey_send_for_deal", args=[deal.pk])}"' in html
    assert 'name="next" value="/deals/7/"' in html


def test_send_button_explains_why_it_is_disabled(world):
    customer = CustomerFactory(owner=world.ann)
    SentInvitationFactory(customer=customer)
    html = render('{% include "surveys/includes/send_button.html" %}', customer=customer)
    assert "disabled" in html and "at most once every 90 days" in html


def test_responses_include_lists_scores_and_comments(world):
    response = answered(world.ann, world.north, 4, 2, comment="Slow delivery")
    html = render('{% include "surveys/includes/responses.html" %}', responses=[response])
    assert "Recommend: 4/10" in html and "Slow delivery" in html and "bad" in html
    assert "No survey answers yet." in render('{% include "surveys/includes/responses.html" %}', responses=[])


def test_admin_action_marks_invitations_bounced(login, world):
    invitation = SentInvitationFactory(customer__owner=world.ann)
    response = login(world.admin).post(
        reverse("admin:surveys_invitation_changelist"),
        {"action": "mark_bounced", "_selected_action": [invitation.pk]},
    )
    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.bounced_at is not None
