"""The performance pages: who may see what, htmx partials, CSV, query counts."""

import csv
import datetime as dt
import io

import pytest
from django.urls import reverse

from crm.models import User
from kpis.models import DashboardCard
from tests.factories import UserFactory
from tests.kpis.factories_performance import bulk_snapshots, months_back, snap

pytestmark = pytest.mark.django_db


MARCH = dt.date(2026, 3, 1)
FEB = dt.date(2026, 2, 1)
P = "?g=month&p=2026-03-01"


def _csv(response):
    return list(csv.reader(io.StringIO(response.content.decode())))


# ---------------------------------------------------------------- access


@pytest.mark.parametrize("name", ["scorecard", "leaderboard", "team_page", "dashboard"])
def test_pages_need_a_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.parametrize("name", ["scorecard", "leaderboard", "team_page", "dashboard"])
def test_pages_refuse_post(world, login, name):
    assert login(world.admin).post(reverse(name)).status_code == 405


def test_dashboard_edit_refuses_get(world, login):
    assert login(world.ann).get(reverse("dashboard_edit")).status_code == 405


def test_a_rep_sees_their_own_scorecard_by_default(world, login):
    snap("revenue", world.ann, MARCH, 5000)
    response = login(world.ann).get(reverse("scorecard") + P)
    assert response.status_code == 200
    assert response.context["scope"].id == world.ann.pk
    assert "€5,000" in response.content.decode()


def test_a_rep_cannot_open_a_colleagues_scorecard(world, login):
    client = login(world.ann)
    assert client.get(reverse("scorecard") + f"?rep={world.bob.pk}").status_code == 404
    assert client.get(reverse("scorecard") + f"?scope=rep-{world.bob.pk}").status_code == 404


def test_a_rep_cannot_open_the_team_or_company_scorecard(world, login):
    client = login(world.ann)
    assert client.get(reverse("scorecard") + f"?team={world.north.pk}").status_code == 404
    assert client.get(reverse("scorecard") + "?scope=company").status_code == 403


def test_a_manager_sees_their_team_and_their_reps_but_not_others(world, login):
    client = login(world.nina)
    default = client.get(reverse("scorecard"))
    assert default.context["scope"].type == "team"
    assert default.context["scope"].id == world.north.pk
    assert client.get(reverse("scorecard") + f"?rep={world.ann.pk}").status_code == 200
    assert client.get(reverse("scorecard") + f"?rep={world.sam.pk}").status_code == 404
    assert client.get(reverse("scorecard") + f"?team={world.south.pk}").status_code == 404


def test_an_admin_sees_company_any_team_and_any_rep(world, login):
    client = login(world.admin)
    assert client.get(reverse("scorecard")).context["scope"].type == "company"
    assert client.get(reverse("scorecard") + f"?team={world.south.pk}").status_code == 200
    assert client.get(reverse("scorecard") + f"?scope=rep-{world.sue.pk}").status_code == 200


@pytest.mark.parametrize("query", ["?rep=abc", "?team=999999", "?scope=planet-3", "?scope=rep-", "?rep=1e9"])
def test_tampered_scope_is_404_not_500(world, login, query):
    assert login(world.admin).get(reverse("scorecard") + query).status_code == 404


def test_tampered_period_still_renders(world, login):
    response = login(world.ann).get(reverse("scorecard") + "?g=fortnight&p=2026-02-31")
    assert response.status_code == 200


# ---------------------------------------------------------------- scorecard content


def test_card_shows_change_attainment_badges_and_explain(world, login):
    snap("revenue", world.ann, MARCH, 5000)
    snap("revenue", world.ann, FEB, 4000)
    snap("quota_attainment", world.ann, MARCH, 80, numerator=5000, denominator=6250)
    snap("win_rate", world.ann, MARCH, 50, numerator=2, denominator=4, low_sample=True)
    snap("lead_conversion_rate", world.ann, MARCH, 20, numerator=2, denominator=10, maturing=True)
    html = login(world.ann).get(reverse("scorecard") + P).content.decode()
    assert "+25.0 %" in html
    assert "80.0 % of target €6,250" in html
    assert 'data-badge="low"' in html and "Based on 4 only" in html
    assert 'data-badge="maturing"' in html
    assert "Explain this number" in html
    assert (
        f"/deals/?owner={world.ann.pk}&amp;stage=won&amp;closed_from=2026-03-01&amp;closed_to=2026-03-31"
        "&amp;sort=-closed_on" in html
    )
    assert "As of" in html


def test_rep_scorecard_lists_only_rep_kpis(world, login):
    cards = login(world.ann).get(reverse("scorecard") + P).context["cards"]
    keys = [c.key for c in cards]
    assert "revenue" in keys and "quota_attainment" in keys
    assert "churn_rate" not in keys and "marketing_spend" not in keys


def test_htmx_period_switch_returns_only_the_body(world, login):
    client = login(world.ann)
    response = client.get(reverse("scorecard") + P, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert '<div id="perf-body">' in html and "<html" not in html
    assert "HX-Request" in response["Vary"]


def test_htmx_history_restore_gets_the_whole_page(world, login):
    response = login(world.ann).get(
        reverse("scorecard") + P, HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )
    assert "<html" in response.content.decode()


def test_period_links_keep_the_scope_and_step_the_period(world, login):
    response = login(world.nina).get(reverse("scorecard") + f"?rep={world.ann.pk}&g=quarter&p=2026-03-01")
    assert response.context["prev_query"] == f"?scope=rep-{world.ann.pk}&g=quarter&p=2025-10-01"
    assert response.context["next_query"] == f"?scope=rep-{world.ann.pk}&g=quarter&p=2026-04-01"


def test_scorecard_csv(world, login):
    snap("revenue", world.ann, MARCH, 5000, numerator=5000)
    response = login(world.ann).get(reverse("scorecard") + P + "&format=csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = _csv(response)
    assert rows[0][:3] == ["kpi", "label", "scope"]
    revenue = next(r for r in rows if r[0] == "revenue")
    assert revenue[5] == "5000.000000" and revenue[7] == "€5,000"


# ---------------------------------------------------------------- leaderboards


def _board(world):
    snap("revenue", world.ann, MARCH, 500)
    snap("revenue", world.bob, MARCH, 500)
    snap("quota_attainment", world.ann, MARCH, 50, numerator=500, denominator=1000)
    snap("quota_attainment", world.bob, MARCH, 25, numerator=500, denominator=2000)
    snap("win_rate", world.ann, MARCH, 90, numerator=2, denominator=2, low_sample=True)
    snap("win_rate", world.bob, MARCH, 40, numerator=4, denominator=10)


def test_a_rep_sees_their_teams_ranks_but_not_targets(world, login):
    _board(world)
    response = login(world.ann).get(reverse("leaderboard") + P)
    html = response.content.decode()
    rows = response.context["rows"]
    assert [(r.label, r.rank) for r in rows] == [("Ann Rep", 1), ("Bob Rep", 1)]  # a tie
    assert "Target" not in html and "€2,000.00" not in html
    assert "Sam" not in html  # another team


def test_a_manager_sees_every_column(world, login):
    _board(world)
    html = login(world.nina).get(reverse("leaderboard") + P).content.decode()
    assert "Target" in html and "€2,000.00" in html and "Attainment" in html


def test_low_sample_rows_are_ranked_last_and_marked(world, login):
    _board(world)
    response = login(world.nina).get(reverse("leaderboard") + P + "&kpi=win_rate")
    assert [(r.label, r.rank, r.low_sample) for r in response.context["rows"]] == [
        ("Bob Rep", 1, False),
        ("Ann Rep", 2, True),
    ]
    assert "low-sample" in response.content.decode()


def test_a_rep_cannot_open_another_teams_board_or_the_teams_board(world, login):
    client = login(world.ann)
    assert client.get(reverse("leaderboard") + f"?team={world.south.pk}").status_code == 404
    assert client.get(reverse("leaderboard") + "?board=teams").status_code == 403


def test_an_admin_gets_the_board_of_teams_and_any_teams_board(world, login):
    snap("revenue", world.north, MARCH, 900)
    snap("revenue", world.south, MARCH, 1200)
    client = login(world.admin)
    response = client.get(reverse("leaderboard") + P)
    assert [r.label for r in response.context["rows"]] == ["South", "North"]
    response = client.get(reverse("leaderboard") + P + f"&board=reps&team={world.south.pk}")
    assert {r.label for r in response.context["rows"]} == {"Sam Rep", "Sue Rep"}


def test_unknown_metric_falls_back_to_revenue(world, login):
    response = login(world.ann).get(reverse("leaderboard") + "?kpi=salary")
    assert response.status_code == 200
    assert response.context["kpi"].key == "revenue"


def test_leaderboard_csv_hides_targets_from_reps(world, login):
    _board(world)
    rep_rows = _csv(login(world.ann).get(reverse("leaderboard") + P + "&format=csv"))
    assert "target" not in rep_rows[0] and len(rep_rows) == 3
    manager_rows = _csv(login(world.nina).get(reverse("leaderboard") + P + "&format=csv"))
    assert "target" in manager_rows[0]


def test_leaderboard_chart_data_is_json(world, login):
    _board(world)
    html = login(world.ann).get(reverse("leaderboard") + P).content.decode()
    assert '<script id="leaderboard-data" type="application/json">' in html


# ---------------------------------------------------------------- team page


def test_team_page_is_for_managers_and_admins(world, login):
    assert login(world.ann).get(reverse("team_page")).status_code == 403
    assert login(world.nina).get(reverse("team_page")).status_code == 200
    assert login(world.nina).get(reverse("team_page") + f"?team={world.south.pk}").status_code == 404
    assert login(world.admin).get(reverse("team_page") + f"?team={world.south.pk}").status_code == 200


def test_team_page_shows_reps_funnel_pipeline_and_trend(world, login):
    from django.utils import timezone

    snap("revenue", world.ann, MARCH, 5000)
    snap("revenue", world.north, MARCH, 9000)
    snap("quota_attainment", world.north, MARCH, 90, numerator=9000, denominator=10000)
    # The funnel and the pipeline by stage come from the team's snapshots'
    # details (the engine's test checks those against raw rows).
    snap("deals_won", world.north, MARCH, 2, details={"opened": 1})
    snap("lead_conversion_rate", world.north, MARCH, 25, numerator=1, denominator=4, details={"qualified": 2})
    by_stage = {"proposal": {"count": 2, "amount": "1000.00"}}
    today_month = timezone.localdate().replace(day=1)
    snap("open_pipeline_value", world.north, today_month, 1000, details={"by_stage": by_stage})
    response = login(world.nina).get(reverse("team_page") + P)
    funnel = [(s.label, s.count, s.drop) for s in response.context["funnel"]]
    assert funnel == [
        ("Prospects", 4, None),
        ("Qualified", 2, "50.0 %"),
        ("Deals opened", 1, "50.0 %"),
        ("Deals won", 2, None),
    ]
    proposal = next(s for s in response.context["pipeline"] if s["stage"] == "proposal")
    assert (proposal["count"], proposal["amount"]) == (2, "€1,000.00")
    trend = response.context["trend"]
    assert trend["revenue"][-1] == 9000.0 and trend["target"][-1] == 10000.0
    html = response.content.decode()
    assert "€5,000.00" in html and '<script id="trend-data"' in html


# ---------------------------------------------------------------- dashboard


def test_dashboard_defaults_by_role(world, login):
    rep = login(world.ann).get(reverse("dashboard")).context
    assert rep["scope"].type == "rep" and [c.key for c in rep["cards"]][0] == "revenue"
    manager = login(world.nina).get(reverse("dashboard")).context
    assert manager["scope"].type == "team" and "lead_conversion_rate" in [c.key for c in manager["cards"]]
    admin = login(world.admin).get(reverse("dashboard")).context
    assert admin["scope"].type == "company" and "churn_rate" in [c.key for c in admin["cards"]]


def test_dashboard_edits_are_kept_per_user(world, login):
    client = login(world.ann)
    url = reverse("dashboard_edit")
    assert client.post(url, {"action": "add", "kpi": "nps"}, HTTP_HX_REQUEST="true").status_code == 200
    client.post(url, {"action": "up", "kpi": "nps"}, HTTP_HX_REQUEST="true")
    client.post(url, {"action": "remove", "kpi": "revenue"}, HTTP_HX_REQUEST="true")
    keys = [c.key for c in client.get(reverse("dashboard")).context["cards"]]
    assert keys == ["quota_attainment", "deals_won", "win_rate", "open_pipeline_value", "nps", "activities"]
    assert list(DashboardCard.objects.for_user(world.ann).values_list("kpi", flat=True)) == keys
    assert not DashboardCard.objects.filter(user=world.bob).exists()


def test_dashboard_edit_without_htmx_redirects_back(world, login):
    response = login(world.ann).post(
        reverse("dashboard_edit"), {"action": "add", "kpi": "nps", **dict(g="month")}
    )
    assert response.status_code == 302 and response["Location"].startswith("/dashboard/")


def test_dashboard_rejects_tampered_edits(world, login):
    client = login(world.ann)
    assert client.post(reverse("dashboard_edit"), {"action": "explode", "kpi": "nps"}).status_code == 400
    assert client.post(reverse("dashboard_edit"), {"action": "add", "kpi": "salary"}).status_code == 400
    # A KPI that exists but not for a rep is ignored, not added.
    client.post(reverse("dashboard_edit"), {"action": "add", "kpi": "churn_rate"})
    assert not DashboardCard.objects.filter(user=world.ann, kpi="churn_rate").exists()


def test_dashboard_reset_goes_back_to_defaults(world, login):
    client = login(world.ann)
    client.post(reverse("dashboard_edit"), {"action": "remove", "kpi": "revenue"})
    client.post(reverse("dashboard_edit"), {"action": "reset"})
    assert [c.key for c in client.get(reverse("dashboard")).context["cards"]][0] == "revenue"


# ---------------------------------------------------------------- query counts


def _grow(world, n):
    """n salespeople in North with 13 months of every KPI, plus team and company rows."""
    # bulk_create: hashing 100 passwords would dwarf what is measured.
    User.objects.bulk_create(
        User(username=f"rep{i}", first_name=f"Rep{i}", team=world.north, password="!") for i in range(n - 1)
    )
    reps = [world.ann, *User.objects.filter(username__startswith="rep")]
    scopes = [("rep", r.pk) for r in reps] + [("team", world.north.pk), ("company", 0)]
    bulk_snapshots(scopes, months_back(MARCH, 13))
    return reps


@pytest.mark.parametrize("n", [1, 100])
def test_scorecard_query_count_is_constant(world, login, django_assert_max_num_queries, n):
    _grow(world, n)
    client = login(world.admin)
    # 1 session, 2 user, 3 teams for the picker, 4 people for the picker,
    # 5 the team's name, 6 the rows' stamp (the cards' cache key), 7 the
    # snapshots (every KPI × 12 periods, one query).
    url = reverse("scorecard") + P + f"&team={world.north.pk}"
    with django_assert_max_num_queries(7):
        response = client.get(url)
    assert response.status_code == 200
    # The same cards again: from the cache, the rows not read.
    with django_assert_max_num_queries(6):
        assert client.get(url).status_code == 200


@pytest.mark.parametrize("n", [1, 100])
def test_leaderboard_query_count_is_constant(world, login, django_assert_max_num_queries, n):
    _grow(world, n)
    client = login(world.nina)
    # 1 session, 2 user, 3 the manager's team, 4 the team's salespeople,
    # 5 the KPI and quota snapshots for this and the previous period.
    with django_assert_max_num_queries(5):
        response = client.get(reverse("leaderboard") + P)
    assert len(response.context["rows"]) == n + 1  # bob too


@pytest.mark.parametrize("n", [1, 100])
def test_team_page_query_count_is_constant(world, login, django_assert_max_num_queries, n):
    _grow(world, n)
    client = login(world.nina)
    # 1 session, 2 user, 3 the manager's team, 4 its people, 5 the per-rep
    # and team snapshots, 6 prospects funnel aggregate, 7 deals opened,
    # 8 revenue and target for 12 months, 9 open pipeline by stage,
    # 10 certifications expiring in the next 60 days, 11 the current
    # quarter's forecast card.
    with django_assert_max_num_queries(11):
        response = client.get(reverse("team_page") + P)
    assert response.status_code == 200


@pytest.mark.parametrize("n", [1, 100])
def test_dashboard_query_count_is_constant(world, login, django_assert_max_num_queries, n):
    _grow(world, n)
    client = login(world.nina)
    # 1 session, 2 user, 3 the saved cards, 4 the team (the scope's name),
    # 5 the snapshots of the cards for 12 periods, 6 the current quarter's
    # forecast card.
    with django_assert_max_num_queries(6):
        response = client.get(reverse("dashboard") + P)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("user", "name"),
    [("ann", "scorecard"), ("ann", "leaderboard"), ("nina", "team_page"), ("ann", "dashboard")],
)
def test_every_page_answers_htmx_with_its_body_and_a_status(world, login, user, name):
    response = login(getattr(world, user)).get(reverse(name) + P, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="perf-body">') and "<html" not in html
    assert 'id="perf-status" hx-swap-oob="innerHTML"' in html


def test_people_without_a_team_see_no_one_elses_board(world, login):
    loner = UserFactory(username="loner", team=None)
    manager = UserFactory(username="boss", team=None, role="manager")
    response = login(loner).get(reverse("leaderboard") + P)
    assert response.status_code == 200 and response.context["rows"] == []
    assert login(manager).get(reverse("team_page")).status_code == 404


def test_dashboard_csv_has_the_chosen_cards_in_order(world, login):
    client = login(world.ann)
    client.post(reverse("dashboard_edit"), {"action": "down", "kpi": "revenue"})
    rows = _csv(client.get(reverse("dashboard") + P + "&format=csv"))
    assert [r[0] for r in rows[1:3]] == ["quota_attainment", "revenue"]


def test_a_rep_sees_only_their_own_attainment(world, login):
    # Issue 19: revenue ÷ a colleague's attainment would give away their target.
    _board(world)
    client = login(world.ann)
    response = client.get(reverse("leaderboard") + P + "&kpi=quota_attainment")
    assert [r.label for r in response.context["rows"]] == ["Ann Rep"]
    assert "Bob Rep" not in response.content.decode()
    csv = client.get(reverse("leaderboard") + P + "&kpi=quota_attainment&format=csv").content.decode()
    assert "Ann Rep" in csv and "Bob Rep" not in csv and "25" not in csv
    # The manager still sees everyone's.
    response = login(world.nina).get(reverse("leaderboard") + P + "&kpi=quota_attainment")
    assert [r.label for r in response.context["rows"]] == ["Ann Rep", "Bob Rep"]


def test_csv_exports_defuse_formulas_in_names(world, login):
    # Issue 19: a name typed as a formula must not run when the CSV is opened.
    world.ann.first_name = '=HYPERLINK("http://evil.example","x")'
    world.ann.save()
    _board(world)
    rows = _csv(login(world.nina).get(reverse("leaderboard") + P + "&format=csv"))
    names = [r[1] for r in rows[1:]]
    assert any(n.startswith("'=HYPERLINK") for n in names) and not any(n.startswith("=") for n in names)
    rows = _csv(login(world.ann).get(reverse("scorecard") + P + "&format=csv"))
    assert all(not cell.startswith(("=", "+", "@")) for row in rows for cell in row)
    assert any(cell.startswith("'=HYPERLINK") for row in rows[1:] for cell in row)


def test_export_kpis_defuses_formulas_in_names(world):
    from django.core.management import call_command

    world.north.name = "+cmd|' /C calc'!A0"
    world.north.save()
    snap("revenue", world.north, MARCH, 900)
    out = io.StringIO()
    call_command("export_kpis", "--format", "csv", stdout=out)
    cells = [cell for row in csv.reader(io.StringIO(out.getvalue())) for cell in row]
    assert "'+cmd|' /C calc'!A0" in cells and not any(c.startswith("+cmd") for c in cells)
