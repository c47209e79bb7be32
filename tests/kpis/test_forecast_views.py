"""The forecast page and cards: who sees which forecast, what they show,
and a query count that stays the same however many deals and periods."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from kpis.definitions import COMPANY, MONTH, QUARTER, REP, TEAM
from kpis.models import ForecastSnapshot

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 3, 10)
Q1 = dt.date(2026, 1, 1)
MARCH = dt.date(2026, 3, 1)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC), tick=False):
        yield


def forecast(scope_type, scope_id, granularity, start, kind="latest", deals=(), **fields):
    values = {
        "won_so_far": 100,
        "p10": 1000,
        "p50": 2000,
        "p90": 3000,
        "expected": 2000,
        "open_deals": len(deals),
    }
    values.update(fields)
    return ForecastSnapshot.objects.create(
        scope_type=scope_type, scope_id=scope_id, granularity=granularity, period_start=start, kind=kind,
        made_on=TODAY, computed_at=timezone.now(),
        details={
            "deals": [
                {"id": pk, "title": f"Deal {pk}", "amount": "500.00", "stage": "proposal", "age": "0–30",
                 "expected_close_on": None, "overdue_days": 0, "base_probability": 0.5, "probability": 0.5,
                 "source": "team", "wins": 4, "closed": 8}
                for pk in deals
            ],
            "rates": [{"stage": "proposal", "bucket": 0, "age": "0–30", "source": "team", "wins": 4,
                       "closed": 8, "rate": 0.5, "deals": len(deals)}],
        },
        **{k: Decimal(str(v)) if isinstance(v, int | float) else v for k, v in values.items()},
    )  # fmt: skip


def scope_rows(scope_type, scope_id, deals=(91,)):
    for g, starts in ((MONTH, [MARCH, dt.date(2026, 4, 1), dt.date(2026, 5, 1)]),
                      (QUARTER, [Q1, dt.date(2026, 4, 1), dt.date(2026, 7, 1)])):  # fmt: skip
        for start in starts:
            forecast(scope_type, scope_id, g, start, deals=deals, target=Decimal(2500), chance_of_target=40)


# ---------------------------------------------------------------- access


def test_page_needs_a_login_and_refuses_post(client, world, login):
    assert client.get(reverse("forecast")).status_code == 302
    assert login(world.ann).post(reverse("forecast")).status_code == 405


def test_a_rep_sees_their_own_forecast_only(world, login):
    scope_rows(REP, world.ann.pk)
    client = login(world.ann)
    response = client.get(reverse("forecast"))
    assert response.status_code == 200
    assert (response.context["scope"].type, response.context["scope"].id) == (REP, world.ann.pk)
    assert "€2,000.00" in response.content.decode()
    assert client.get(reverse("forecast") + f"?scope=rep-{world.bob.pk}").status_code == 404
    assert client.get(reverse("forecast") + f"?scope=team-{world.north.pk}").status_code == 404
    assert client.get(reverse("forecast") + "?scope=company").status_code == 403


def test_a_manager_sees_their_team_and_its_reps(world, login):
    client = login(world.nina)
    assert client.get(reverse("forecast")).context["scope"].type == TEAM
    assert client.get(reverse("forecast") + f"?scope=rep-{world.ann.pk}").status_code == 200
    assert client.get(reverse("forecast") + f"?scope=rep-{world.sam.pk}").status_code == 404
    assert client.get(reverse("forecast") + f"?scope=team-{world.south.pk}").status_code == 404
    assert client.get(reverse("forecast") + "?scope=company").status_code == 403


def test_an_admin_sees_everything(world, login):
    client = login(world.admin)
    assert client.get(reverse("forecast")).context["scope"].type == COMPANY
    assert client.get(reverse("forecast") + f"?scope=team-{world.south.pk}").status_code == 200
    assert client.get(reverse("forecast") + f"?scope=rep-{world.sue.pk}").status_code == 200
    assert client.get(reverse("forecast") + "?scope=team-nope").status_code == 404


# ---------------------------------------------------------------- content


def test_page_shows_the_fan_the_chance_and_the_deals_that_move_it(world, login):
    scope_rows(TEAM, world.north.pk, deals=(91, 92))
    # Last month's latest row is history, not one of the periods shown.
    forecast(TEAM, world.north.pk, MONTH, dt.date(2026, 2, 1), p50=99999)
    response = login(world.nina).get(reverse("forecast"))
    html = response.content.decode()
    months, quarters = response.context["sections"]
    assert [v.row.period_start for v in months["views"]] == [MARCH, dt.date(2026, 4, 1), dt.date(2026, 5, 1)]
    assert [v.label for v in quarters["views"]] == ["Q1 2026", "Q2 2026", "Q3 2026"]
    assert "99,999" not in html
    assert 'id="fan-month-data"' in html and 'id="fan-quarter-data"' in html
    assert months["chart"]["p90"] == [3000.0, 3000.0, 3000.0]
    assert "40.0 %" in html  # chance of target
    assert reverse("deal_detail", args=[92]) in html
    assert "4 won of 8, the team&#x27;s deals" in html
    # CSP: no inline code or style, charts get data through json_script.
    assert "style=" not in html.split('id="perf-body"')[1]
    assert "<script>" not in html and " onclick" not in html


def test_accuracy_states_coverage_and_error_of_closed_periods(world, login):
    forecast(TEAM, world.north.pk, MONTH, dt.date(2026, 1, 1), kind="start", actual=Decimal(2500))  # held
    forecast(TEAM, world.north.pk, MONTH, dt.date(2026, 2, 1), kind="start", actual=Decimal(4000))  # missed
    # March is under way: not scored yet.
    forecast(TEAM, world.north.pk, MONTH, MARCH, kind="start", actual=Decimal(1))
    response = login(world.nina).get(reverse("forecast"))
    months, quarters = response.context["accuracy"]
    assert (months["accuracy"].periods, months["accuracy"].covered) == (2, 1)
    assert months["accuracy"].coverage == Decimal("50.0")
    assert months["accuracy"].mape == Decimal("35.0")  # (500/2500 + 2000/4000) / 2
    assert months["chart"]["actual"] == [2500.0, 4000.0]
    html = response.content.decode()
    assert "inside the P10–P90 range in 1 of 2 periods (50.0 %" in html
    assert "The P50 was off by 35.0 % on average." in html
    assert "No closed period has a forecast made at its start yet." in html  # quarters


def test_team_page_and_dashboard_show_the_quarter_card_with_its_explanation(world, login):
    forecast(TEAM, world.north.pk, QUARTER, Q1, deals=(91,))
    forecast(REP, world.ann.pk, QUARTER, Q1, deals=(93,), p50=1234)
    team = login(world.nina).get(reverse("team_page")).content.decode()
    assert "Forecast · Q1 2026" in team and "€2,000.00" in team
    assert reverse("deal_detail", args=[91]) in team
    assert f"{reverse('forecast')}?scope=team-{world.north.pk}" in team
    mine = login(world.ann).get(reverse("dashboard")).content.decode()
    assert "€1,234.00" in mine and reverse("deal_detail", args=[93]) in mine
    assert "Explain this number" in mine


def test_card_says_when_there_is_no_forecast_yet(world, login):
    html = login(world.ann).get(reverse("dashboard")).content.decode()
    assert "No forecast yet: it is computed by the nightly run." in html


# ---------------------------------------------------------------- queries


@pytest.mark.parametrize("n", [1, 40])
def test_forecast_page_query_count_is_constant(world, login, django_assert_max_num_queries, n):
    deals = tuple(range(1, n + 1))
    scope_rows(TEAM, world.north.pk, deals=deals)
    for i in range(n):
        start = dt.date(2020 + i // 12, i % 12 + 1, 1)
        forecast(TEAM, world.north.pk, MONTH, start, kind="start", actual=Decimal(1500))
    client = login(world.nina)
    # 1 session, 2 user, 3 the manager's team (scope name), 4 people for the
    # picker, 5 the latest forecasts, 6 the kept start forecasts.
    with django_assert_max_num_queries(6):
        response = client.get(reverse("forecast"))
    assert response.status_code == 200


def test_django_admin_lists_forecasts_read_only(world, login):
    forecast(COMPANY, 0, QUARTER, Q1)
    client = login(world.admin)
    assert client.get(reverse("admin:kpis_forecastsnapshot_changelist")).status_code == 200
    assert client.get(reverse("admin:kpis_forecastsnapshot_add")).status_code == 403
