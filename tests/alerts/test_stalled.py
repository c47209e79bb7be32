"""Deals stalled past their stage threshold: the alert rule (per team and
salesperson, the count and the oldest deals), its de-duplication, and the
digest's section (locmem email backend)."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from alerts import text
from alerts.digest import build_message
from alerts.models import Alert, DigestPreference, Rule
from alerts.rules import _Names, raise_alerts, stalled_findings
from crm.models import Deal, DealStageChange, Stage
from kpis.models import KpiSnapshot
from tests.kpis.factories import open_deal, won

pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 12, 1)
DEC = dt.date(2026, 12, 1)


def entered(deal, day):
    """The deal entered its current stage on `day` (noon, company time)."""
    at = timezone.make_aware(dt.datetime.combine(day, dt.time(12)))
    DealStageChange.objects.filter(deal=deal).update(changed_at=at)
    return deal


def stalled_snapshot(scope_type, scope_id, value, month=DEC, **details):
    return KpiSnapshot.objects.create(
        kpi="stalled_deals", scope_type=scope_type, scope_id=scope_id, granularity="month",
        period_start=month, value=Decimal(value), numerator=Decimal(value), details=details,
        computed_at=timezone.now(),
    )  # fmt: skip


@pytest.fixture
def stuck(world):
    """North holds proposals to 10.5 days and negotiations to 20; the rest of
    the company (South) to 30 and 25."""
    thresholds = {"0": {"proposal": "30", "negotiation": "25"},
                  str(world.north.pk): {"proposal": "10.5", "negotiation": "20"}}  # fmt: skip
    stalled_snapshot("company", 0, 5, thresholds=thresholds)
    stalled_snapshot("team", world.north.pk, 5, by_stage={"proposal": 3, "negotiation": 2})
    stalled_snapshot("team", world.south.pk, 0)
    stalled_snapshot("rep", world.ann.pk, 3, by_stage={"proposal": 3})
    stalled_snapshot("rep", world.bob.pk, 2, by_stage={"negotiation": 2})
    stalled_snapshot("rep", world.sam.pk, 0)
    stalled_snapshot("rep", world.ann.pk, 9, month=dt.date(2026, 11, 1))  # last month's: not read
    entered(open_deal(world.ann, "100", title="A0"), dt.date(2026, 9, 1))
    entered(open_deal(world.ann, "100", title="A1"), dt.date(2026, 10, 1))
    entered(open_deal(world.ann, "100", title="A2"), dt.date(2026, 11, 15))
    entered(open_deal(world.ann, "100", title="A3 fresh"), dt.date(2026, 11, 30))
    entered(open_deal(world.bob, "100", stage=Stage.NEGOTIATION, title="B1"), dt.date(2026, 11, 1))
    b2 = open_deal(
        world.bob, "100", stage=Stage.NEGOTIATION, title="B2 no history", opened_on=dt.date(2026, 10, 15)
    )
    DealStageChange.objects.filter(deal=b2).delete()  # an imported deal: since it opened
    entered(open_deal(world.sam, "100", title="S1 within the company's 30"), dt.date(2026, 11, 20))
    entered(
        won(world.ann, "100", dt.date(2026, 1, 1), dt.date(2026, 2, 1), title="W closed"), dt.date(2026, 2, 1)
    )
    return world


def oldest(alert):
    return [d["title"] for d in alert.why["oldest"]]


def test_a_team_and_each_rep_with_stalled_deals_get_one_alert_while_it_holds(stuck):
    assert raise_alerts(TODAY) == {"raised": 3, "refreshed": 0, "resolved": 0}
    ann = Alert.objects.get(key=f"stalled:rep:{stuck.ann.pk}")
    assert (ann.rule, ann.kpi, ann.team, ann.user, ann.period_start) == (
        Rule.STALLED, "stalled_deals", stuck.north, stuck.ann, DEC,
    )  # fmt: skip
    assert ann.why["count"] == 3 and ann.why["by_stage"] == {"proposal": 3}
    assert oldest(ann) == ["A0", "A1", "A2"]
    assert [d["days"] for d in ann.why["oldest"]] == [91, 61, 16]
    bob = Alert.objects.get(key=f"stalled:rep:{stuck.bob.pk}")
    assert oldest(bob) == ["B2 no history", "B1"] and bob.why["count"] == 2
    north = Alert.objects.get(key=f"stalled:team:{stuck.north.pk}")
    assert (north.team, north.user) == (stuck.north, None)
    assert north.why["count"] == 5 and oldest(north) == ["A0", "A1", "B2 no history"]
    # The next night, still stalled: refreshed; Bob's deals moved on: resolved.
    assert raise_alerts(TODAY) == {"raised": 0, "refreshed": 3, "resolved": 0}
    KpiSnapshot.objects.filter(kpi="stalled_deals", scope_type="rep", scope_id=stuck.bob.pk).update(value=0)
    assert raise_alerts(TODAY) == {"raised": 0, "refreshed": 2, "resolved": 1}
    assert Alert.objects.count() == 3


def test_the_minimum_is_a_setting(stuck, settings):
    settings.ALERT_STALLED_MIN = 3
    raise_alerts(TODAY)
    assert set(Alert.objects.values_list("key", flat=True)) == {
        f"stalled:rep:{stuck.ann.pk}", f"stalled:team:{stuck.north.pk}",
    }  # fmt: skip


def test_nothing_before_the_kpi_is_computed(world):
    entered(open_deal(world.ann, "100", title="Old"), dt.date(2026, 1, 1))
    assert raise_alerts(TODAY)["raised"] == 0


def test_the_stalled_alert_reads_as_a_sentence_and_links_to_the_process_page(stuck):
    from django.utils import translation

    raise_alerts(TODAY)
    alert = Alert.objects.get(key=f"stalled:rep:{stuck.ann.pk}")
    assert text.title(alert) == "Ann Rep: deals stalled past their stage threshold"
    assert text.why(alert) == (
        "3 open deals have sat in their stage longer than the threshold (the time 75 % of won deals took to "
        "leave that stage). Oldest: A0: Proposal for 91 days (threshold 10.5 days); A1: Proposal for 61 days "
        "(threshold 10.5 days); A2: Proposal for 16 days (threshold 10.5 days)."
    )
    assert text.link(alert) == f"/process/?rep={stuck.ann.pk}"
    with translation.override("fr"):
        assert "10,5" in text.why(alert)


@pytest.mark.parametrize("more", [0, 12])
def test_the_rule_reads_two_queries_however_many_deals_and_people(stuck, more, django_assert_num_queries):
    for i in range(more):
        entered(open_deal(stuck.sue if i % 2 else stuck.bob, "100", title=f"More {i}"), dt.date(2026, 6, 1))
        stalled_snapshot("rep", stuck.sue.pk, more) if i == 0 else None
    names = _Names()
    with django_assert_num_queries(2):
        found = stalled_findings(TODAY, names)
    assert len(found) == 3 + (1 if more else 0)
    assert all(len(f.why["oldest"]) <= 3 for f in found)


# ---------------------------------------------------------------- the digest

MONDAY = dt.datetime(2026, 12, 7, 6, tzinfo=dt.UTC)


@time_machine.travel(MONDAY, tick=False)
def test_the_digest_lists_the_teams_or_ones_own_stalled_deals(stuck):
    DigestPreference.objects.create(user=stuck.ann, weekly_digest=True)
    nina = build_message(stuck.nina).text
    section = nina.split("Stalled deals")[1]
    assert (
        f"5 open deals past their stage's threshold. {settings.SITE_URL}/process/?team={stuck.north.pk}"
        in section
    )
    assert "- A0: Proposal for 97 days (threshold 10.5 days)" in section
    assert "B2 no history: Negotiation for 53 days (threshold 20.0 days)" in section
    assert "A3 fresh" not in section and "S1" not in section
    deal = Deal.objects.get(title="A0")
    assert f"{settings.SITE_URL}/deals/{deal.pk}/" in section
    ann = build_message(stuck.ann)
    section = ann.text.split("Stalled deals")[1]
    assert "3 open deals past their stage's threshold." in section
    assert "A0" in section and "B1" not in section and "B2" not in section
    assert f'href="{settings.SITE_URL}/process/?rep={stuck.ann.pk}"' in ann.html
    # South: nothing stalled, said so.
    assert "0 open deals past their stage's threshold." in build_message(stuck.steve).text


@time_machine.travel(MONDAY, tick=False)
def test_no_stalled_section_before_the_kpi_is_computed(world):
    assert "Stalled deals" not in build_message(world.nina).text


# ---------------------------------------------------------------- with the engine's own stalled_deals


def test_the_alerts_agree_with_the_engines_stalled_deals(world):
    """tests/kpis/process_fixture.py: on 15 June 2025 D6 (bob, North) has sat
    in Qualification 105 days (threshold 6) and D9 (sam, South) in
    Prospecting 14 days (threshold 2.5); D8 (sam) is within its threshold."""
    from kpis.compute import recompute
    from tests.kpis.process_fixture import JUN, TODAY, build

    build(world)
    recompute(dt.date(2025, 1, 1), JUN, today=TODAY)
    raise_alerts(TODAY)
    found = {
        a.key: (a.why["count"],
                [(d["title"], d["stage"], d["days"], Decimal(d["limit"])) for d in a.why["oldest"]])
        for a in Alert.objects.filter(rule=Rule.STALLED)
    }  # fmt: skip
    d6 = [(Deal.objects.get(owner=world.bob, stage="qualification").title, "qualification", 105, Decimal(6))]
    d9 = [(Deal.objects.get(owner=world.sam, stage="prospecting").title, "prospecting", 14, Decimal("2.5"))]
    assert found == {
        f"stalled:rep:{world.bob.pk}": (1, d6), f"stalled:team:{world.north.pk}": (1, d6),
        f"stalled:rep:{world.sam.pk}": (1, d9), f"stalled:team:{world.south.pk}": (1, d9),
    }  # fmt: skip


@time_machine.travel(MONDAY, tick=False)
def test_the_digests_stalled_section_reads_a_fixed_number_of_queries(stuck, login):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    client = login(stuck.nina)

    def count():
        with CaptureQueriesContext(connection) as q:
            assert client.get(reverse("digest_preview")).status_code == 200
        return len(q)

    before = count()
    for i in range(15):
        entered(open_deal(stuck.ann if i % 2 else stuck.bob, "100", title=f"Old {i}"), dt.date(2026, 5, 1))
    assert count() == before
    section = build_message(stuck.nina).text.split("Stalled deals")[1].split("\n\n")[0]
    assert section.count("\n- ") == 10  # the ten stalled longest
