"""A salesperson answers the team pulse on a phone, in their language."""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from team.models import PulseAnswer, PulseInvitation, PulseRound
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_salesperson_answers_the_pulse_on_a_phone(phone_page, screenshot):
    rep = UserFactory(username="pulse-rep")
    pulse = PulseRound.objects.create(opened_on=dt.date(2025, 6, 2))
    invitation = PulseInvitation.objects.create(
        round=pulse, user=rep, team=rep.team, language="fr",
        sent_at=timezone.now(), expires_at=timezone.now() + dt.timedelta(days=30),
    )  # fmt: skip
    page = phone_page
    page.goto(f"/team/p/{invitation.token}/")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    score = page.get_by_role("group").first
    expect(score).to_be_visible()
    screenshot(page, "pulse-phone-form")

    score.get_by_label("9", exact=True).check()
    page.get_by_role("group").nth(1).get_by_label("4", exact=True).check()
    page.locator("textarea[name=comment]").fill("Good team.")
    page.locator("button[type=submit]").click()

    expect(page.get_by_role("status")).to_be_visible()
    screenshot(page, "pulse-phone-thanks")
    answer = PulseAnswer.objects.get()
    assert (answer.score, answer.tools, answer.comment) == (9, 4, "Good team.")
    assert PulseInvitation.objects.get(pk=invitation.pk).answered
