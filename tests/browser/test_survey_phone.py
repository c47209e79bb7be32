"""A customer answers a survey on a phone, choosing scores with the keyboard."""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from surveys.models import Response
from tests.factories import UserFactory
from tests.surveys.factories import SentInvitationFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_customer_answers_on_a_phone_by_keyboard(phone_page, screenshot):
    rep = UserFactory(username="rep")
    invitation = SentInvitationFactory(customer__owner=rep, expires_at=timezone.now() + dt.timedelta(days=30))
    page = phone_page
    page.goto(f"/s/{invitation.token}/")
    nps_group = page.get_by_role("group", name=invitation.survey.nps_question)
    expect(nps_group).to_be_visible()
    screenshot(page, "survey-phone-form")

    # Tab lands on the first 0–10 radio; arrows move and choose within the group.
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_attribute("name", "nps_score")
    for _ in range(9):
        page.keyboard.press("ArrowRight")
    expect(nps_group.get_by_label("9", exact=True)).to_be_checked()
    # The focus is visible on the drawn box, not only on the hidden radio.
    outline = page.evaluate("getComputedStyle(document.activeElement.nextElementSibling).outlineStyle")
    assert outline == "solid"

    page.keyboard.press("Tab")  # into the 1–5 group
    expect(page.locator(":focus")).to_have_attribute("name", "csat_score")
    page.keyboard.press("Space")
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Tab")
    page.keyboard.type("Quick and friendly.")
    screenshot(page, "survey-phone-filled")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Thank you!")).to_be_visible()
    screenshot(page, "survey-phone-thanks")
    response = Response.objects.get(invitation=invitation)
    assert (response.nps_score, response.csat_score, response.comment) == (9, 4, "Quick and friendly.")


def test_missing_answer_is_announced_on_a_phone(phone_page):
    invitation = SentInvitationFactory(customer__owner=UserFactory(username="rep2"))
    phone_page.goto(f"/s/{invitation.token}/")
    phone_page.get_by_role("button", name="Send my answer").click()
    alert = phone_page.get_by_role("alert")
    expect(alert).to_contain_text("Please answer the questions marked below.")
    assert not Response.objects.exists()
