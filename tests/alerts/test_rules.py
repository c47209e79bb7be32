"""The alert rules on synthetic series, and their de-duplication."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from alerts.models import Alert, Rule
from alerts.rules import raise_alerts, robust_band
from kpis.models import KpiSnapshot
from tests.alerts.conftest import NOV, TODAY
from tests.factories import CustomerFactory, DealFactory, InvitationFactory, ProductFactory, ResponseFactory

STABLE = [1000, 1040, 980, 1010, 995, 1025, 970, 1005, 1015, 990, 1030, 1000]


# ---------------------------------------------------------------- the band, on synthetic series


def test_a_stable_series_keeps_its_figure_inside_the_band():
    band = robust_band([float(x) for x in STABLE], unit="money")
    assert band.median == 1002.5
    assert band.holds(1100) and band.holds(900)
    assert not band.holds(1600) and not band.holds(400)


def test_one_outlier_in_the_history_does_not_widen_the_band():
    spiky = [float(x) for x in STABLE[:-1]] + [50_000.0]
    assert robust_band(spiky, unit="money").high < 1300


def test_a_short_history_has_no_band_and_a_shorter_one_a_wider_band():
    assert robust_band([1.0, 2.0, 3.0, 4.0, 5.0], unit="count") is None
    six = robust_band([float(x) for x in STABLE[:6]], unit="money")
    twelve = robust_band([float(x) for x in STABLE[:6] * 2], unit="money")
    assert six.median == twelve.median
    assert six.high - six.low > twelve.high - twelve.low


def test_a_flat_history_still_has_a_floor():
    band = robust_band([10.0] * 12, unit="count")
    assert band.holds(11) and not band.holds(30)
    money = robust_band([1000.0] * 12, unit="money")
    assert money.holds(1100) and not money.holds(1300)


def test_a_rate_over_few_cases_stays_quiet():
    history = [50.0, 52.0, 48.0, 51.0, 49.0, 50.0, 53.0, 47.0]
    assert robust_band(history, unit="percent", sample=4).holds(90)  # 4 cases: noise
    assert not robust_band(history, unit="percent", sample=400).holds(90)
    assert not robust_band(history, unit="score", sample=400).holds(90)
    band = robust_band(history, unit="percent", sample=4)
    assert 0 <= band.low and band.high <= 100


# ---------------------------------------------------------------- rules on snapshots


@pytest.mark.django_db
@time_machine.travel(dt.datetime(2026, 12, 1, 5, tzinfo=dt.UTC), tick=False)
def test_a_kpi_out_of_its_band_is_raised_once_while_it_holds(world, put_series):
    put_series("revenue", "team", world.north.pk, [*STABLE, 4000])
    assert raise_alerts(TODAY) == {"raised": 1, "refreshed": 0, "resolved": 0}
    alert = Alert.objects.get()
    assert (alert.rule, alert.kpi, alert.team, alert.user, alert.period_start) == (
        Rule.BAND,
        "revenue",
        world.north,
        None,
        NOV,
    )
    assert alert.why["direction"] == "up" and alert.subject == "North"
    # The next night, still out: the same alert, refreshed.
    assert raise_alerts(TODAY) == {"raised": 0, "refreshed": 1, "resolved": 0}
    assert Alert.objects.count() == 1
    # Back inside: resolved; out again later: a new alert.
    KpiSnapshot.objects.filter(period_start=NOV).update(value=Decimal(1000))
    assert raise_alerts(TODAY)["resolved"] == 1
    KpiSnapshot.objects.filter(period_start=NOV).update(value=Decimal(10))
    assert raise_alerts(TODAY)["raised"] == 1
    assert Alert.objects.count() == 2 and Alert.objects.open().count() == 1


@pytest.mark.django_db
def test_low_sample_and_short_histories_raise_nothing(world, put_series):
    put_series("win_rate", "rep", world.ann.pk, [50] * 12 + [100], denominators=[20] * 12 + [3])
    put_series("revenue", "rep", world.bob.pk, [1000, 1000, 9000])
    assert raise_alerts(TODAY)["raised"] == 0


@pytest.mark.django_db
def test_pipeline_too_thin_for_the_rest_of_the_target(world, put_series):
    dec = dt.date(2026, 12, 1)
    # Ann: 200 won of a 1,000 target; wins 25 % of what closes; 500 open < 800 ÷ 25 %.
    put_series("win_rate", "rep", world.ann.pk, [25] * 6, denominators=[40] * 6)
    put_series("quota_attainment", "rep", world.ann.pk, [20], denominators=[1000], last=dec)
    put_series("open_pipeline_value", "rep", world.ann.pk, [500], last=dec)
    # Bob: the same target, and 5,000 open: enough.
    put_series("win_rate", "rep", world.bob.pk, [25] * 6, denominators=[40] * 6)
    put_series("quota_attainment", "rep", world.bob.pk, [20], denominators=[1000], last=dec)
    put_series("open_pipeline_value", "rep", world.bob.pk, [5000], last=dec)
    raise_alerts(TODAY)
    alert = Alert.objects.get()
    assert (alert.rule, alert.user, alert.team) == (Rule.COVERAGE, world.ann, world.north)
    assert Decimal(alert.why["needed"]) == Decimal(3200)


@pytest.mark.django_db
def test_a_cluster_of_detractors_for_one_rep_and_one_product(world):
    product = ProductFactory(name="Gizmo")
    for score in (2, 5, 6):
        customer = CustomerFactory(owner=world.bob)
        deal = DealFactory(owner=world.bob, customer=customer, product=product)
        ResponseFactory(invitation=InvitationFactory(customer=customer, deal=deal), nps_score=score)
    ResponseFactory(invitation=InvitationFactory(customer=CustomerFactory(owner=world.ann)), nps_score=3)
    raise_alerts()
    keys = set(Alert.objects.values_list("key", flat=True))
    assert keys == {f"detractors:rep:{world.bob.pk}", f"detractors:product:{product.pk}"}


@pytest.mark.django_db
def test_a_response_rate_falling_three_months_running(world, put_series):
    put_series("survey_response_rate", "team", world.north.pk, [60, 50, 40, 30], denominators=[20] * 4)
    put_series("survey_response_rate", "team", world.south.pk, [60, 50, 55, 30], denominators=[20] * 4)
    put_series("survey_response_rate", "company", 0, [60, 59, 58.5, 58], denominators=[20] * 4)
    raise_alerts(TODAY)
    alert = Alert.objects.get()
    assert (alert.rule, alert.team) == (Rule.RESPONSE_RATE, world.north)


@pytest.mark.django_db
def test_the_nightly_recompute_raises_the_alerts(world, monkeypatch):
    from kpis import tasks

    called = []
    monkeypatch.setattr("alerts.rules.raise_alerts", lambda today=None: called.append(today) or {})
    tasks.nightly_recompute.apply()
    assert called == [None]


@pytest.mark.django_db
def test_a_failing_rule_never_fails_the_recompute(world, monkeypatch):
    from kpis import tasks
    from kpis.models import RecomputeRun

    def boom(today=None):
        raise RuntimeError("rule broke")

    monkeypatch.setattr("alerts.rules.raise_alerts", boom)
    tasks.nightly_recompute.apply()
    assert RecomputeRun.objects.get().status == RecomputeRun.Status.DONE


@pytest.mark.django_db
def test_the_command_runs_the_rules(world, put_series):
    from io import StringIO

    from django.core.management import call_command

    put_series("revenue", "team", world.north.pk, [*STABLE, 4000])
    out = StringIO()
    call_command("raise_alerts", "--today", "2026-12-01", stdout=out)
    assert out.getvalue().strip() == "1 raised, 0 still holding, 0 resolved."


# ---------------------------------------------------------------- targets at risk from the forecast

DEC, Q4 = dt.date(2026, 12, 1), dt.date(2026, 10, 1)


@pytest.mark.django_db
def test_a_target_the_forecast_gives_little_chance_is_raised_once_while_it_holds(world, put_forecast):
    ann = put_forecast("rep", world.ann.pk, "month", DEC, 12)
    put_forecast("rep", world.bob.pk, "month", DEC, 55)  # likely enough
    put_forecast("team", world.north.pk, "quarter", Q4, 20, target=9000, p50=6000)
    put_forecast("company", 0, "month", DEC, None, target=None)  # no target, no chance
    put_forecast("rep", world.ann.pk, "month", NOV, 5)  # a closed month
    put_forecast("rep", world.ann.pk, "month", dt.date(2027, 1, 1), 5)  # next month: not yet
    put_forecast("team", world.south.pk, "month", DEC, 5, kind="start")  # kept, not the latest
    assert raise_alerts(TODAY) == {"raised": 2, "refreshed": 0, "resolved": 0}
    rep = Alert.objects.get(user=world.ann)
    assert (rep.rule, rep.scope_type, rep.team, rep.granularity, rep.period_start) == (
        Rule.FORECAST, "rep", world.north, "month", DEC,
    )  # fmt: skip
    why = {k: Decimal(rep.why[k]) for k in ("p50", "target", "gap", "threshold", "chance")}
    assert why == {"p50": 600, "target": 1000, "gap": 400, "threshold": 30, "chance": 12}
    team = Alert.objects.get(user=None)
    assert (team.team, team.granularity, team.period_start) == (world.north, "quarter", Q4)
    # Still at risk the next night: refreshed, not raised again.
    ann.chance_of_target = Decimal("18.5")
    ann.save()
    assert raise_alerts(TODAY) == {"raised": 0, "refreshed": 2, "resolved": 0}
    assert Decimal(Alert.objects.get(user=world.ann).why["chance"]) == Decimal("18.5")
    # Back on track: resolved.
    ann.chance_of_target = Decimal(45)
    ann.save()
    assert raise_alerts(TODAY) == {"raised": 0, "refreshed": 1, "resolved": 1}


@pytest.mark.django_db
def test_the_forecast_alert_reads_as_a_sentence_and_links_to_the_forecast(world, put_forecast):
    from django.utils import translation

    from alerts import text

    put_forecast("rep", world.ann.pk, "month", DEC, 12)
    raise_alerts(TODAY)
    alert = Alert.objects.get()
    assert text.title(alert) == "Ann Rep: December 2026's target at risk from the forecast"
    assert text.why(alert) == (
        "12.0 % chance of reaching the €1,000.00 target of December 2026 (alert below 30.0 %): the median "
        "forecast (P50) is €600.00, €400.00 short, with €100.00 won so far "
        "(P10–P90: €300.00 – €900.00)."
    )
    assert text.link(alert) == f"/forecast/?rep={world.ann.pk}"
    with translation.override("fr"):
        assert "600,00\xa0€" in text.why(alert)


@pytest.mark.django_db
def test_the_forecast_threshold_is_a_setting(world, put_forecast, settings):
    put_forecast("rep", world.bob.pk, "month", DEC, 45)
    assert raise_alerts(TODAY)["raised"] == 0
    settings.ALERT_FORECAST_MIN_CHANCE = Decimal(50)
    assert raise_alerts(TODAY)["raised"] == 1


@pytest.mark.django_db
def test_the_forecast_rule_reads_one_query_however_many_scopes(world, put_forecast,
                                                               django_assert_num_queries):  # fmt: skip
    from alerts.rules import _Names, forecast_findings

    names = _Names()
    for person in (world.ann, world.bob, world.sam, world.sue):
        for g, start in (("month", DEC), ("quarter", Q4)):
            put_forecast("rep", person.pk, g, start, 10)
    with django_assert_num_queries(1):
        assert len(forecast_findings(TODAY, names)) == 8
