"""The customer's page /s/<token>/: no login, the token is the only key."""

import datetime as dt
import threading
from unittest import mock

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from crm.models import Activity
from surveys.models import Response, Survey
from tests.factories import ResponseFactory
from tests.surveys.factories import QuestionFactory, SentInvitationFactory

ANSWER = {"nps_score": "9", "csat_score": "5", "comment": "Lovely people."}


def url(invitation) -> str:
    return reverse("survey_answer", args=[invitation.token])


@pytest.fixture
def invitation(world):
    return SentInvitationFactory(
        customer__owner=world.ann, customer__name="Secret Customer SA", customer__contact_name="Zoé"
    )


def test_token_has_at_least_128_bits(invitation):
    # token_urlsafe(32): 32 random bytes, 43 URL-safe characters.
    assert len(invitation.token) >= 43


def test_get_shows_the_form_and_records_nothing(client, invitation):
    response = client.get(url(invitation))
    assert response.status_code == 200
    html = response.content.decode()
    assert invitation.survey.nps_question in html
    assert "<fieldset" in html and "<legend>" in html
    assert 'type="radio" name="nps_score" value="10"' in html
    assert Response.objects.count() == 0
    assert response["Referrer-Policy"] == "same-origin"
    assert "no-store" in response["Cache-Control"]
    # The public page has no staff navigation and names nobody.
    assert "Log out" not in html and "Secret Customer" not in html


def test_post_records_the_answer_and_thanks(client, invitation):
    response = client.post(url(invitation), ANSWER)
    assert response.status_code == 200
    assert "Thank you" in response.content.decode()
    saved = Response.objects.get()
    assert (saved.invitation, saved.nps_score, saved.csat_score) == (invitation, 9, 5)
    assert saved.comment == "Lovely people."


def test_extra_questions_are_answered(client, invitation):
    scale = QuestionFactory(survey=invitation.survey, text="Was delivery on time?", required=True)
    text = QuestionFactory(survey=invitation.survey, text="What should we improve?", kind="text")
    page = client.get(url(invitation)).content.decode()
    assert "Was delivery on time?" in page and "What should we improve?" in page
    missing = client.post(url(invitation), ANSWER)
    assert "Please choose a number from 1 to 5." in missing.content.decode()
    client.post(url(invitation), ANSWER | {f"q{scale.pk}": "4", f"q{text.pk}": "Faster quotes"})
    answers = {a.question_id: a for a in Response.objects.get().answers.all()}
    assert answers[scale.pk].scale_value == 4
    assert answers[text.pk].text_value == "Faster quotes"


def test_missing_answers_get_field_errors_and_keep_the_comment(client, invitation):
    response = client.post(url(invitation), {"nps_score": "11", "comment": "Keep me"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Please answer the questions marked below." in html
    assert "Please choose a number from 1 to 5." in html
    assert "Keep me" in html
    assert Response.objects.count() == 0


@pytest.mark.parametrize("token", ["nope", "x" * 300, "a.b-c_d", "%00"])
def test_unknown_token_is_a_404_page(client, invitation, token):
    response = client.get(f"/s/{token}/")
    assert response.status_code == 404
    assert "We could not find this survey" in response.content.decode()


def test_tampered_token_is_a_404_that_reveals_nothing(client, invitation):
    tampered = invitation.token[:-1] + ("A" if invitation.token[-1] != "A" else "B")
    for method in (client.get, client.post):
        response = method(f"/s/{tampered}/", ANSWER)
        assert response.status_code == 404
        assert "Secret Customer" not in response.content.decode()
    assert Response.objects.count() == 0


def test_an_unsent_invitation_is_unknown(client, world):
    pending = SentInvitationFactory(sent_at=None)
    assert client.get(url(pending)).status_code == 404


def test_expired_link_is_a_410_page(client, invitation):
    invitation.expires_at = timezone.now() - dt.timedelta(minutes=1)
    invitation.save()
    for method in (client.get, client.post):
        response = method(url(invitation), ANSWER)
        assert response.status_code == 410
        assert "This survey is closed" in response.content.decode()
        assert "Secret Customer" not in response.content.decode()
    assert Response.objects.count() == 0


def test_answered_link_shows_already_answered(client, invitation):
    ResponseFactory(invitation=invitation)
    response = client.get(url(invitation))
    assert response.status_code == 200
    assert "You have already answered, thank you!" in response.content.decode()


def test_double_submit_stores_one_response_and_thanks_twice(client, invitation):
    first = client.post(url(invitation), ANSWER)
    second = client.post(url(invitation), ANSWER | {"nps_score": "2"})
    for response in (first, second):
        assert response.status_code == 200
        assert "Your answer has been recorded" in response.content.decode()
    assert Response.objects.get().nps_score == 9


@pytest.mark.django_db(transaction=True)
def test_concurrent_submits_store_one_response(world):
    if connection.vendor != "postgresql":
        pytest.skip("Needs PostgreSQL: SQLite serialises writers, so there is no race to test.")
    invitation = SentInvitationFactory(customer__owner=world.ann)
    barrier = threading.Barrier(2)
    results = []

    def submit():
        client = Client()
        barrier.wait()
        try:
            results.append(client.post(url(invitation), ANSWER).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200, 200]
    assert Response.objects.filter(invitation=invitation).count() == 1


def test_answer_verb_reports_the_existing_response_on_a_second_call(invitation):
    first, created = invitation.answer(nps_score=8, csat_score=4)
    again, created_again = invitation.answer(nps_score=1, csat_score=1)
    assert created and not created_again
    assert again.pk == first.pk and again.nps_score == 8


def test_post_without_csrf_token_is_refused(invitation):
    client = Client(enforce_csrf_checks=True)
    assert client.post(url(invitation), ANSWER).status_code == 403
    assert Response.objects.count() == 0


def test_form_carries_a_csrf_token(client, invitation):
    assert 'name="csrfmiddlewaretoken"' in client.get(url(invitation)).content.decode()


def test_submissions_are_rate_limited_per_address(client, world, settings):
    settings.SURVEY_RATE_LIMIT_PER_HOUR = 2
    invitations = SentInvitationFactory.create_batch(3, customer__owner=world.ann)
    codes = [client.post(url(i), ANSWER).status_code for i in invitations]
    assert codes == [200, 200, 429]
    # Another address is not affected.
    other = Client(REMOTE_ADDR="203.0.113.9")
    assert other.post(url(invitations[2]), ANSWER).status_code == 200


def test_rate_limit_reads_the_proxy_header_when_configured(client, world, settings):
    settings.SURVEY_RATE_LIMIT_PER_HOUR = 1
    settings.SURVEY_CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    a, b = SentInvitationFactory.create_batch(2, customer__owner=world.ann)
    assert client.post(url(a), ANSWER, HTTP_X_FORWARDED_FOR="spoof, 198.51.100.1").status_code == 200
    assert client.post(url(b), ANSWER, HTTP_X_FORWARDED_FOR="198.51.100.2").status_code == 200


def test_other_methods_are_refused(client, invitation):
    assert client.put(url(invitation)).status_code == 405


def test_french_invitation_gets_the_french_page(client, world):
    survey = Survey.objects.get(language="fr", is_default=True)
    invitation = SentInvitationFactory(survey=survey, language="fr", customer__owner=world.ann)
    html = client.get(url(invitation)).content.decode()
    assert '<html lang="fr">' in html
    assert "Quelle est la probabilité que vous nous recommandiez" in html


def test_detractor_answer_creates_a_follow_up_call_and_tells_the_managers(
    client, world, mailoutbox, eager_celery, django_capture_on_commit_callbacks
):
    invitation = SentInvitationFactory(
        customer__owner=world.ann, customer__name="Grumpy SARL", owner=world.ann, team=world.north
    )
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url(invitation), ANSWER | {"nps_score": "3", "comment": "Late again."})
    call = Activity.objects.get()
    assert call.kind == Activity.Kind.CALL and not call.done
    assert call.owner == world.ann and call.customer == invitation.customer
    assert "Grumpy SARL" in call.subject and call.notes == "Late again."
    assert [m.to for m in mailoutbox] == [[world.nina.email]]
    assert "Grumpy SARL" in mailoutbox[0].subject
    assert "Late again." in mailoutbox[0].body


@pytest.mark.parametrize("score", ["7", "10"])
def test_passives_and_promoters_need_no_follow_up(client, invitation, score, mailoutbox):
    client.post(url(invitation), ANSWER | {"nps_score": score})
    assert Activity.objects.count() == 0 and mailoutbox == []


def test_an_answer_clears_a_mistaken_bounce(client, invitation):
    invitation.bounced_at = timezone.now()
    invitation.save()
    client.post(url(invitation), ANSWER)
    invitation.refresh_from_db()
    assert invitation.bounced_at is None


def test_a_broker_outage_does_not_break_the_thank_you_page(
    client, invitation, django_capture_on_commit_callbacks
):
    with mock.patch("surveys.tasks.notify_detractor.delay", side_effect=ConnectionError("down")):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(url(invitation), ANSWER | {"nps_score": "1"})
    assert response.status_code == 200 and "Thank you" in response.content.decode()
    assert Response.objects.get().nps_score == 1


@pytest.mark.parametrize("n_questions", [0, 6])
def test_public_page_runs_a_bounded_number_of_queries(
    client, invitation, n_questions, django_assert_max_num_queries
):
    QuestionFactory.create_batch(n_questions, survey=invitation.survey)
    # the invitation with its survey, response, customer and extra questions.
    with django_assert_max_num_queries(1):
        client.get(url(invitation))
    # the invitation (questions included), savepoint + insert + release of
    # the response, the answers in one bulk insert, the webhooks listening
    # for survey.response_received (api.signals).
    with django_assert_max_num_queries(6):
        client.post(url(invitation), ANSWER)
    assert Response.objects.count() == 1
