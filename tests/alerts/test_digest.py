"""The weekly digest: who gets it, what it says per role, in which language,
opt-out, and sending once whatever runs twice (locmem email backend)."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from alerts.digest import build_message, queue_weekly, recipients, send_digest
from alerts.models import Alert, DigestDelivery, DigestPreference, Rule
from crm.models import Activity, Stage
from kpis.compute import recompute
from tests.factories import CustomerFactory, InvitationFactory, ResponseFactory, TargetFactory
from tests.kpis.factories import open_deal, won

pytestmark = pytest.mark.django_db
MONDAY = dt.datetime(2026, 12, 7, 6, tzinfo=dt.UTC)  # 07:00 in Paris
TODAY = dt.date(2026, 12, 7)
WEEK = dt.date(2026, 12, 7)


@pytest.fixture
def week(world):
    won(world.ann, "300", dt.date(2026, 11, 1), dt.date(2026, 11, 2))
    won(world.ann, "800", dt.date(2026, 12, 1), dt.date(2026, 12, 2))
    won(world.bob, "100", dt.date(2026, 12, 1), dt.date(2026, 12, 3))
    TargetFactory(team=world.north, user=None, month=dt.date(2026, 12, 1), amount=Decimal(2000))
    deal = open_deal(world.ann, "5000", stage=Stage.NEGOTIATION, title="Big one")
    Activity.objects.create(kind="call", subject="Call Acme back", owner=world.ann, deal=deal, done=False,
                            occurred_on=dt.date(2026, 12, 9))  # fmt: skip
    open_deal(world.ann, "700", title="Forgotten deal")
    customer = CustomerFactory(owner=world.bob, name="Grumpy Ltd")
    ResponseFactory(invitation=InvitationFactory(customer=customer), nps_score=3,
                    submitted_at=dt.datetime(2026, 12, 4, 10, tzinfo=dt.UTC))  # fmt: skip
    Alert.objects.create(rule=Rule.DETRACTORS, key="x", kpi="nps", scope_type="rep", scope_id=world.bob.pk,
                         team=world.north, user=world.bob, subject="Bob Rep",
                         period_start=dt.date(2026, 12, 1), why={"count": 3, "days": 30})  # fmt: skip
    recompute(today=TODAY)
    return world


def test_managers_and_admins_get_it_by_default_salespeople_when_they_ask(world):
    assert set(recipients()) == {world.nina, world.steve, world.admin}
    DigestPreference.objects.create(user=world.ann, weekly_digest=True)
    DigestPreference.objects.create(user=world.nina, weekly_digest=False)
    world.steve.email = ""
    world.steve.save()
    assert set(recipients()) == {world.ann, world.admin}


@time_machine.travel(MONDAY, tick=False)
def test_a_managers_digest_holds_the_teams_week(week):
    message = build_message(week.nina)
    assert message.subject == "Your week in Boussole: North, December 2026"
    text = message.text
    assert "North's numbers" in text and "Revenue: €900 (+200.0 % vs 1–7 Nov: €300)" in text
    assert "What changed most" in text and "mostly Ann Rep (+€500.00)" in text
    assert "Bob Rep: a cluster of detractors" in text
    assert "Grumpy Ltd · 3/10" in text
    assert "Attainment: 45.0 % of a €2,000.00 target." in text
    assert f"{settings.SITE_URL}/what-changed/?kpi=revenue" in text
    assert "Tasks due" not in text
    assert '<a href="http' in message.html and "<script" not in message.html and "style=" not in message.html


@time_machine.travel(MONDAY, tick=False)
def test_a_salespersons_digest_holds_their_own_numbers_rank_tasks_and_deals(week):
    DigestPreference.objects.create(user=week.ann, weekly_digest=True)
    text = build_message(week.ann).text
    assert "Your numbers" in text and "Revenue: €800" in text
    assert "You rank 1 of 2 on revenue in your team." in text
    assert "Call Acme back" in text
    assert "Forgotten deal" in text and "Big one" not in text.split("Deals needing a next step")[1]
    assert "Grumpy Ltd" not in text and "Detractors to call back" not in text
    assert "Bob Rep" not in text


@time_machine.travel(MONDAY, tick=False)
def test_the_digest_is_in_the_persons_language(week):
    DigestPreference.objects.create(user=week.nina, language="fr")
    message = build_message(week.nina)
    assert message.language == "fr"
    assert "décembre 2026" in message.subject and '<html lang="fr">' in message.html
    assert "900\xa0€" in message.text


@time_machine.travel(MONDAY, tick=False)
def test_sent_once_whatever_runs_twice(week):
    sent = []

    def send(pk, iso):
        sent.append(send_digest(pk, dt.date.fromisoformat(iso)))

    assert queue_weekly(send=send) == 3
    assert queue_weekly(send=send) == 3
    assert len(mail.outbox) == 3 and sent.count(True) == 3
    assert DigestDelivery.objects.filter(week=WEEK).count() == 3
    email = next(m for m in mail.outbox if m.to == [week.nina.email])
    assert email.alternatives[0][1] == "text/html" and "North" in email.body


@time_machine.travel(MONDAY, tick=False)
def test_an_opted_out_person_gets_nothing(week):
    DigestPreference.objects.create(user=week.nina, weekly_digest=False)
    assert send_digest(week.nina.pk, WEEK) is False
    assert mail.outbox == []


@time_machine.travel(MONDAY, tick=False)
def test_a_failed_send_can_be_retried(week, monkeypatch):
    def down(self, *args, **kwargs):
        raise OSError("mail server down")

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", down)
    with pytest.raises(OSError):
        send_digest(week.nina.pk, WEEK)
    assert not DigestDelivery.objects.exists()
    monkeypatch.undo()
    assert send_digest(week.nina.pk, WEEK) is True


def test_the_beat_sends_it_on_monday_at_seven_company_time():
    entry = settings.CELERY_BEAT_SCHEDULE["alerts-weekly-digest"]
    assert entry["task"] == "alerts.tasks.weekly_digest"
    assert entry["schedule"].hour == {7} and entry["schedule"].minute == {0}
    assert entry["schedule"].day_of_week == {1}
    assert settings.CELERY_TIMEZONE == settings.TIME_ZONE


# ---------------------------------------------------------------- the pages


@time_machine.travel(MONDAY, tick=False)
@pytest.mark.parametrize("who", ["ann", "nina", "admin"])
def test_the_preview_shows_exactly_what_would_be_sent(week, login, who):
    user = getattr(week, who)
    response = login(user).get(reverse("digest_preview"))
    assert response.status_code == 200
    message = build_message(user, "http://testserver")
    assert response.context["message"].text == message.text
    body = response.content.decode()
    assert message.subject.replace("'", "&#x27;") in body


def test_the_preview_and_settings_need_a_login(client):
    assert client.get(reverse("digest_preview")).status_code == 302
    assert client.get(reverse("digest_settings")).status_code == 302
    assert client.post(reverse("digest_settings"), {}).status_code == 302


def test_people_choose_their_digest_and_its_language(world, login):
    assert login(world.nina).get(reverse("digest_settings")).context["form"].initial["weekly_digest"] is True
    client = login(world.ann)
    form = client.get(reverse("digest_settings")).context["form"]
    assert form.initial["weekly_digest"] is False  # salespeople: off by default
    response = client.post(reverse("digest_settings"), {"weekly_digest": "on", "language": "fr"})
    assert response.status_code == 302
    pref = DigestPreference.objects.get(user=world.ann)
    assert pref.weekly_digest and pref.language == "fr"
    assert client.post(reverse("digest_settings"), {"language": "xx"}).status_code == 200
    assert client.put(reverse("digest_settings")).status_code == 405


@time_machine.travel(MONDAY, tick=False)
def test_the_preview_reads_a_fixed_number_of_queries(week, login):
    client = login(week.nina)

    def count():
        with CaptureQueriesContext(connection) as q:
            client.get(reverse("digest_preview"))
        return len(q)

    before = count()
    for i in range(8):
        open_deal(week.ann, "10", title=f"More {i}")
        Alert.objects.create(rule=Rule.BAND, key=f"k{i}", kpi="revenue", scope_type="team",
                             scope_id=week.north.pk, team=week.north, subject="North",
                             period_start=dt.date(2026, 11, 1), why={"value": "1"})  # fmt: skip
    assert count() == before


# ---------------------------------------------------------------- the forecast

Q4 = dt.date(2026, 10, 1)


@time_machine.travel(MONDAY, tick=False)
def test_managers_and_salespeople_read_the_quarters_forecast_with_a_link(week, put_forecast):
    put_forecast("team", week.north.pk, "quarter", Q4, "42.5", target=9000, p50=8000)
    put_forecast("team", week.north.pk, "month", dt.date(2026, 12, 1), 5)  # the month's: not in the digest
    put_forecast("rep", week.ann.pk, "quarter", Q4, None, target=None, p50=3000)
    DigestPreference.objects.create(user=week.ann, weekly_digest=True)
    nina = build_message(week.nina)
    line = "Q4 2026: €8,000.00 most likely (P50), 42.5 % chance of reaching the €9,000.00 target."
    assert "Forecast" in nina.text and line in nina.text
    assert f"{settings.SITE_URL}/forecast/?team={week.north.pk}" in nina.text
    assert f'href="{settings.SITE_URL}/forecast/?team={week.north.pk}"' in nina.html
    ann = build_message(week.ann).text
    assert "Q4 2026: €3,000.00 most likely (P50) (no target)." in ann
    assert f"/forecast/?rep={week.ann.pk}" in ann
    assert "8,000.00" not in ann
    # No forecast stored yet (the admin's company): no section.
    assert "most likely (P50)" not in build_message(week.admin).text


@time_machine.travel(MONDAY, tick=False)
def test_the_forecast_is_in_the_persons_language(week, put_forecast):
    put_forecast("team", week.north.pk, "quarter", Q4, "42.5", target=9000, p50=8000)
    DigestPreference.objects.create(user=week.nina, language="fr")
    text = build_message(week.nina).text
    assert "8 000,00 €" in text.replace("\u202f", " ").replace("\xa0", " ")
    assert "42,5 %" in text
