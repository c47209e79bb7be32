"""seed_demo is deterministic, idempotent and gives working demo logins."""

import datetime as dt
import hashlib
from io import StringIO

import pytest
import time_machine
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.db.models import F
from django.urls import reverse

from crm.models import Activity, Customer, Deal, DealStageChange, Prospect, Stage, Target, Team, User
from kpis.models import KpiSnapshot

pytestmark = pytest.mark.django_db

TODAY = "2026-06-15"


def seed(*extra) -> str:
    out = StringIO()
    call_command("seed_demo", "--today", TODAY, *extra, stdout=out, stderr=StringIO())
    return out.getvalue()


def digest() -> str:
    """A fingerprint of the demo data that ignores database ids."""
    h = hashlib.sha256()
    for row in Deal.objects.order_by("external_ref").values_list(
        "external_ref", "title", "owner__username", "team__name", "amount", "stage", "opened_on", "closed_on"
    ):
        h.update(repr(row).encode())
    for row in Prospect.objects.order_by("email").values_list(
        "email", "status", "created_on", "owner__username"
    ):
        h.update(repr(row).encode())
    for row in Customer.objects.order_by("name", "contact_email").values_list(
        "name", "acquired_on", "churned_on"
    ):
        h.update(repr(row).encode())
    return h.hexdigest()


def counts() -> tuple:
    return (
        User.objects.count(),
        Team.objects.count(),
        Deal.objects.count(),
        Prospect.objects.count(),
        Customer.objects.count(),
        Activity.objects.count(),
        Target.objects.count(),
    )


def test_seed_is_realistic():
    output = seed()
    assert "Demo data loaded" in output
    assert Team.objects.count() == 3
    assert User.objects.filter(role="salesperson").count() == 12
    assert User.objects.filter(role="manager").count() == 3
    assert Prospect.objects.count() > 2000
    assert {s for s in Deal.objects.values_list("stage", flat=True)} == set(Stage.values)
    won, lost = Deal.objects.won().count(), Deal.objects.lost().count()
    assert 0.3 < won / (won + lost) < 0.6
    assert Customer.objects.filter(churned_on__isnull=False).exists()
    assert Target.objects.filter(team__isnull=False).exists()
    # Every won deal's customer has an acquisition date no later than the deal.
    assert not Deal.objects.won().filter(customer__acquired_on__gt=F("closed_on")).exists()
    # The Process page has a story: every lost deal has a reason, several
    # reasons occur, some deals skip a stage or go back, and some stall now.
    assert not Deal.objects.lost().filter(lost_reason__isnull=True).exists()
    assert Deal.objects.lost().values("lost_reason").distinct().count() >= 5
    assert DealStageChange.objects.filter(from_stage="prospecting", to_stage="proposal").exists()
    assert DealStageChange.objects.filter(from_stage="proposal", to_stage="qualification").exists()
    june = dt.date(2026, 6, 1)
    stalled = KpiSnapshot.objects.get(kpi="stalled_deals", scope_type="company", granularity="month",
                                      period_start=june)  # fmt: skip
    assert 0 < stalled.value < Deal.objects.open().count()
    times = KpiSnapshot.objects.get(kpi="time_in_stage_days", scope_type="company", granularity="month",
                                    period_start=dt.date(2026, 5, 1))  # fmt: skip
    assert times.value and all(v["count"] for v in times.details["by_stage"].values())


def test_running_twice_duplicates_nothing():
    seed()
    before = counts()
    output = seed()
    assert "already loaded" in output
    assert counts() == before


def test_same_inputs_give_the_same_data():
    seed()
    first = digest()
    seed("--reset")
    assert digest() == first


def test_demo_logins_work_and_are_printed():
    output = seed()
    for username in ["admin", "claire", "alice"]:
        assert username in output
        assert authenticate(username=username, password="boussole") is not None


def test_bad_today_is_a_clear_error():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("seed_demo", "--today", "15/06/2026", stdout=StringIO())


@time_machine.travel(dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC), tick=False)
def test_on_the_first_day_of_a_month_the_demo_compares_like_for_like(client):
    call_command("seed_demo", "--today", "2026-12-01", stdout=StringIO(), stderr=StringIO())
    client.force_login(User.objects.get(username="alice"))
    body = client.get(reverse("scorecard")).content.decode()
    # 1 December against 1 November, not against the whole of November.
    assert "vs 1 Nov" in body and "−100.0 %" not in body
    client.force_login(User.objects.get(username="claire"))
    response = client.get(reverse("leaderboard"))
    rows = response.context["rows"]
    if response.context["ranked"]:
        # Somebody has a figure on the first morning: ranks against 1 November.
        assert all(r.movement is None or r.previous_rank is not None for r in rows)
    else:
        assert all(r.rank is None and r.movement is None for r in rows)
        assert "nobody is ranked" in response.content.decode()
