"""Numbers that stay true (kpi-spec: a correction reaches every period it
touches; derived facts stay derived; history never moves).

Every write path — a page, the Django admin, an import, a queryset update()
or delete(), bulk_update — edits, re-dates, reopens and deletes past records;
the nightly run must then leave exactly the rows a recompute from scratch
writes.
"""

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.test import override_settings
from django.urls import reverse

from crm.models import Activity, CampaignSpend, Customer, Deal, Prospect, SalesCost, Stage, Target
from kpis.compute import apply_churn_rule, pending_months, recompute, refresh
from kpis.models import DirtyMonth, FactMonth, KpiSnapshot, MonthFact, RecomputeRun
from tests.factories import (
    ActivityFactory,
    CampaignFactory,
    CampaignSpendFactory,
    CustomerFactory,
    InvitationFactory,
    ProspectFactory,
    ResponseFactory,
    TargetFactory,
)
from tests.kpis.factories import lost, open_deal, won

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 12, 5)
JUNE = dt.date(2026, 6, 1)
COLUMNS = ("kpi", "scope_type", "scope_id", "granularity", "period_start", "value", "numerator",
           "denominator", "details", "low_sample", "maturing", "formula_version")  # fmt: skip


def rows() -> set:
    return {tuple(str(v) for v in row) for row in KpiSnapshot.objects.values_list(*COLUMNS)}


def from_scratch() -> set:
    KpiSnapshot.objects.all().delete()
    MonthFact.objects.all().delete()
    FactMonth.objects.all().delete()
    recompute(today=TODAY)
    return rows()


def assert_nightly_equals_from_scratch() -> None:
    assert pending_months(), "the change marked no month dirty"
    refresh(today=TODAY)
    assert not DirtyMonth.objects.exists()
    nightly = rows()
    scratch = from_scratch()
    assert nightly - scratch == set() and scratch - nightly == set()


def value(kpi, g="month", start=JUNE, scope_type="company", scope_id=0):
    snap = KpiSnapshot.objects.get(
        kpi=kpi, scope_type=scope_type, scope_id=scope_id, granularity=g, period_start=start
    )
    return snap.value


@pytest.fixture
def history(world):
    """Two years of a little of everything, computed once from scratch."""
    campaign = CampaignFactory(team=world.north, starts_on=dt.date(2025, 1, 1))
    acme = CustomerFactory(owner=world.ann, source_campaign=campaign)
    globex = CustomerFactory(owner=world.sam)
    deals = {
        "june": won(world.ann, "1000", dt.date(2026, 5, 2), dt.date(2026, 6, 10), customer=acme),
        "early": won(world.ann, "500", dt.date(2025, 2, 1), dt.date(2025, 3, 3), customer=acme),
        "sam": won(world.sam, "800", dt.date(2026, 1, 5), dt.date(2026, 2, 20), customer=globex),
        "lost": lost(world.bob, dt.date(2026, 3, 1), dt.date(2026, 4, 2)),
        "open": open_deal(world.bob, "700", opened_on=dt.date(2026, 2, 1)),
    }
    deals["open"].move_to(Stage.NEGOTIATION)
    for month in (3, 6, 9):
        ProspectFactory(owner=world.ann, created_on=dt.date(2026, month, 4), source_campaign=campaign)
    CampaignSpendFactory(campaign=campaign, spent_on=dt.date(2026, 6, 1), amount=Decimal("300"))
    SalesCost.objects.create(team=world.north, spent_on=dt.date(2026, 6, 1), category="salaries",
                             amount=Decimal("2000"))  # fmt: skip
    TargetFactory(user=world.ann, month=JUNE, amount=Decimal("4000"))
    ActivityFactory(owner=world.ann, occurred_on=dt.date(2026, 6, 3), deal=deals["june"])
    invitation = InvitationFactory(customer=acme, deal=deals["june"],
                                   sent_at=dt.datetime(2026, 6, 20, 9, tzinfo=dt.UTC))  # fmt: skip
    ResponseFactory(
        invitation=invitation, submitted_at=dt.datetime(2026, 6, 21, 9, tzinfo=dt.UTC), nps_score=9
    )
    recompute(today=TODAY)
    DirtyMonth.objects.all().delete()
    return deals


# -- the story of issue 11: a June deal raised by 100,000 --------------------------


def test_a_june_correction_reaches_the_june_month_quarter_and_year(world, history):
    assert value("revenue") == 1000
    Deal.objects.filter(pk=history["june"].pk).update(amount=Decimal("101000"))
    # June's figures, and May's pipeline (the deal was open from 2 May).
    assert {dt.date(2026, 5, 1), JUNE} <= set(pending_months())
    refresh(today=TODAY)
    assert value("revenue") == 101000
    assert value("revenue", "quarter", dt.date(2026, 4, 1)) == 101000
    assert value("revenue", "year", dt.date(2026, 1, 1)) == 101800
    assert not DirtyMonth.objects.exists()


# -- every write path, then the nightly run equals a recompute from scratch --------


def test_queryset_update_and_delete(world, history):
    Deal.objects.filter(pk=history["early"].pk).update(closed_on=dt.date(2025, 7, 8), amount=Decimal("650"))
    Deal.objects.filter(pk=history["lost"].pk).delete()
    Prospect.objects.filter(created_on__month=9).update(created_on=dt.date(2025, 11, 30))
    Activity.objects.update(done=False)
    Target.objects.update(amount=Decimal("1"))
    CampaignSpend.objects.update(spent_on=dt.date(2025, 12, 24))
    SalesCost.objects.update(team=world.south)
    assert_nightly_equals_from_scratch()


def test_bulk_update_reopen_and_re_date(world, history):
    early = history["early"]
    early.closed_on, early.amount = dt.date(2025, 4, 30), Decimal("900")
    Deal.objects.bulk_update([early], ["closed_on", "amount"])
    history["sam"].reopen()
    assert_nightly_equals_from_scratch()


def test_the_pages(world, history, login):
    client = login(world.ann)
    june = history["june"]
    client.post(reverse("deal_reopen", args=[june.pk]), {"stage": "proposal"})
    client.post(reverse("deal_won", args=[june.pk]), {"amount": "1234", "closed_on": "2026-07-02"})
    june.refresh_from_db()
    assert (june.stage, june.closed_on) == (Stage.WON, dt.date(2026, 7, 2))
    client.post(
        reverse("deal_lost", args=[history["open"].pk]), {"reason": "Price", "closed_on": "2026-11-30"}
    )
    assert_nightly_equals_from_scratch()


def test_the_admin(world, history, login):
    client = login(world.admin)
    early = history["early"]
    # Re-date the first won deal of Acme in the admin's change form.
    page = client.get(reverse("admin:crm_deal_change", args=[early.pk]))
    data = _admin_form_data(page.context["adminform"].form, page.context["inline_admin_formsets"])
    data.update({"closed_on": "2025-09-09", "amount": "5000"})
    response = client.post(reverse("admin:crm_deal_change", args=[early.pk]), data)
    assert response.status_code == 302, (
        response.context["adminform"].form.errors,
        [f.formset.errors for f in response.context["inline_admin_formsets"]],
        data,
    )
    acme = early.customer
    acme.refresh_from_db()
    # Derived in the database: the first won deal is now June 2026's? No: 9 September 2025.
    assert acme.acquired_on == dt.date(2025, 9, 9)
    # Delete Sam's only won deal: Globex has no acquisition any more.
    response = client.post(reverse("admin:crm_deal_delete", args=[history["sam"].pk]), {"post": "yes"})
    assert response.status_code == 302
    globex = Customer.objects.get(pk=history["sam"].customer_id)
    assert (globex.acquired_on, globex.first_deal) == (None, None)
    assert_nightly_equals_from_scratch()


def test_an_import(world, history, tmp_path):
    Deal.objects.filter(pk=history["june"].pk).update(external_ref="J1")
    (tmp_path / "deals.csv").write_text(
        "external_ref,owner,customer,stage,amount,opened_on,closed_on\n"
        f"J1,ann,{history['june'].customer.name},won,2500,2026-05-02,2026-08-15\n"
        f"N1,sam,{history['sam'].customer.name},won,10,2025-01-01,2025-01-02\n"
    )
    DirtyMonth.objects.all().delete()
    call_command("import_crm", str(tmp_path), "--format", "generic", "--no-recompute",
                 stdout=io.StringIO(), stderr=io.StringIO())  # fmt: skip
    # The import marked its months in the same transaction as its rows.
    assert {dt.date(2026, 6, 1), dt.date(2026, 8, 1), dt.date(2025, 1, 1)} <= set(pending_months())
    assert_nightly_equals_from_scratch()


def test_surveys_customers_and_activities(world, history):
    Customer.objects.filter(pk=history["june"].customer_id).update(source_campaign=None, team=world.south)
    from surveys.models import Response

    Response.objects.update(nps_score=3)
    ActivityFactory(owner=world.bob, occurred_on=dt.date(2025, 10, 1), deal=history["lost"])
    assert_nightly_equals_from_scratch()


def test_a_failed_run_keeps_its_dirty_months(world, history, monkeypatch):
    Deal.objects.filter(pk=history["june"].pk).update(amount=Decimal("7"))
    from kpis import compute

    def boom(*args, **kwargs):
        raise RuntimeError("killed")

    monkeypatch.setattr(compute._Engine, "_delete_stale", boom)
    with pytest.raises(RuntimeError):
        refresh(today=TODAY)
    assert JUNE in pending_months()
    assert value("revenue") == 1000  # nothing half-written
    monkeypatch.undo()
    refresh(today=TODAY)
    assert value("revenue") == 7 and not pending_months()


# -- credit rules ------------------------------------------------------------------


def test_a_converted_prospects_deal_and_customer_go_to_the_reps_team_now(world, login):
    prospect = ProspectFactory(owner=world.ann)  # recorded in North
    world.ann.team = world.south
    world.ann.save()
    login(world.ann).post(
        reverse("prospect_convert", args=[prospect.pk]),
        {"mode": "new", "customer_name": "Moved Co", "deal_title": "D", "amount": "1"},
    )
    deal = Deal.objects.get()
    assert deal.team == world.south and deal.customer.team == world.south
    assert prospect.team == world.north  # the prospect's own history stays


def test_every_creating_path_takes_the_owners_team(world):
    assert Deal.objects.create(title="x", owner=world.sam, team=world.north).team == world.south
    [bulk] = Deal.objects.bulk_create([Deal(title="y", owner=world.sam, team=world.north)])
    assert Deal.objects.get(pk=bulk.pk).team == world.south


def test_a_closed_deals_credit_never_moves(world, history, login):
    june = history["june"]
    # The queryset path: refused by the database.
    with pytest.raises(IntegrityError), transaction.atomic():
        Deal.objects.filter(pk=june.pk).update(owner=world.bob)
    with pytest.raises(IntegrityError), transaction.atomic():
        Deal.objects.filter(pk=june.pk).update(team=world.south)
    # The admin: a field error, nothing saved.
    client = login(world.admin)
    page = client.get(reverse("admin:crm_deal_change", args=[june.pk]))
    data = _admin_form_data(page.context["adminform"].form, page.context["inline_admin_formsets"])
    data["owner"] = world.bob.pk
    response = client.post(reverse("admin:crm_deal_change", args=[june.pk]), data)
    assert response.status_code == 200
    assert "Reopen it to change its owner." in str(response.context["adminform"].form.errors)
    # Reopening frees it; the next close credits the new owner.
    june.refresh_from_db()
    june.reopen()
    Deal.objects.filter(pk=june.pk).update(owner=world.bob)
    june.refresh_from_db()
    june.mark_won(Decimal("1000"), dt.date(2026, 6, 10))
    refresh(today=TODAY)
    assert value("revenue", scope_type="rep", scope_id=world.bob.pk) == 1000
    assert value("revenue", scope_type="rep", scope_id=world.ann.pk) == 0


def test_an_import_cannot_move_a_closed_deals_owner(world, history, tmp_path):
    Deal.objects.filter(pk=history["june"].pk).update(external_ref="J1")
    (tmp_path / "deals.csv").write_text(
        "external_ref,owner,customer,stage,amount,opened_on,closed_on\n"
        f"J1,bob,{history['june'].customer.name},won,1000,2026-05-02,2026-06-10\n"
    )
    out = io.StringIO()
    with pytest.raises(Exception, match="bad row"):
        call_command("import_crm", str(tmp_path), "--format", "generic", "--no-recompute",
                     stdout=out, stderr=out)  # fmt: skip
    assert "keeps the owner it closed with" in out.getvalue()
    assert Deal.objects.get(external_ref="J1").owner == world.ann


def test_a_persons_move_moves_none_of_their_past_figures(world, history):
    before = value("revenue", scope_type="team", scope_id=world.north.pk)
    world.ann.team = world.south
    world.ann.save()
    recompute(today=TODAY)
    assert value("revenue", scope_type="team", scope_id=world.north.pk) == before


# -- derived facts: the customer's acquisition --------------------------------------


def test_acquisition_follows_any_change_to_won_deals(world):
    customer = CustomerFactory(owner=world.ann)
    first = won(world.ann, "1", dt.date(2025, 1, 1), dt.date(2025, 2, 1), customer=customer)
    second = won(world.ann, "1", dt.date(2025, 1, 1), dt.date(2025, 5, 1), customer=customer)
    customer.refresh_from_db()
    assert (customer.acquired_on, customer.first_deal, customer.repeat_on, customer.last_won_on) == (
        dt.date(2025, 2, 1), first, dt.date(2025, 5, 1), dt.date(2025, 5, 1)
    )  # fmt: skip
    Customer.objects.filter(pk=customer.pk).update(churned_on=dt.date(2025, 3, 1))
    Deal.objects.filter(pk=first.pk).update(closed_on=dt.date(2025, 6, 1))
    customer.refresh_from_db()
    # Now acquired on 1 May: a churn on 1 March is before it and cannot stand.
    assert (customer.acquired_on, customer.first_deal, customer.repeat_on, customer.last_won_on) == (
        dt.date(2025, 5, 1), second, dt.date(2025, 6, 1), dt.date(2025, 6, 1)
    )  # fmt: skip
    assert customer.churned_on is None
    # Reopened, the latest won deal no longer counts (the churn rule starts
    # from the one before).
    Deal.objects.filter(pk=first.pk).update(stage="proposal", closed_on=None)
    customer.refresh_from_db()
    assert (customer.acquired_on, customer.repeat_on, customer.last_won_on) == (
        dt.date(2025, 5, 1), None, dt.date(2025, 5, 1)
    )  # fmt: skip
    Deal.objects.filter(customer=customer).delete()
    customer.refresh_from_db()
    assert (customer.acquired_on, customer.first_deal, customer.repeat_on, customer.last_won_on) == (
        None, None, None, None
    )  # fmt: skip


# -- the churn rule -------------------------------------------------------------------


@override_settings(KPI_CHURN_INACTIVITY_DAYS=365)
def test_every_recompute_applies_the_churn_rule_as_of_its_day(world):
    lapsed = CustomerFactory(owner=world.ann)
    won(world.ann, "1", dt.date(2024, 1, 1), dt.date(2024, 1, 10), customer=lapsed)
    kept = CustomerFactory(owner=world.ann)
    won(world.ann, "1", dt.date(2024, 1, 1), dt.date(2024, 1, 10), customer=kept)
    kept.refresh_from_db()
    kept.mark_churned(dt.date(2024, 6, 1), "Went bankrupt")  # a person's churn
    recompute(today=dt.date(2025, 3, 1))
    lapsed.refresh_from_db()
    assert (lapsed.churned_on, lapsed.churned_by_rule) == (dt.date(2025, 1, 9), True)
    assert value("churn_rate", start=dt.date(2025, 1, 1)) == 100
    # The same run for an earlier day: not lapsed yet then (reproducible).
    recompute(today=dt.date(2024, 12, 1))
    lapsed.refresh_from_db()
    assert lapsed.churned_on is None and not lapsed.churned_by_rule
    # A won deal after the churn date: no longer lapsed.
    recompute(today=dt.date(2025, 3, 1))
    won(world.ann, "1", dt.date(2025, 2, 1), dt.date(2025, 2, 2), customer=lapsed)
    assert apply_churn_rule(dt.date(2025, 3, 1)) == 1
    lapsed.refresh_from_db()
    assert lapsed.churned_on is None
    kept.refresh_from_db()
    assert kept.churned_on == dt.date(2024, 6, 1)  # a person's churn is never touched


# -- like for like --------------------------------------------------------------------


def test_a_period_under_way_is_compared_with_the_same_span_of_the_previous(world):
    won(world.ann, "100", dt.date(2026, 11, 1), dt.date(2026, 11, 3))  # in 1–5 Nov
    won(world.ann, "900", dt.date(2026, 11, 1), dt.date(2026, 11, 20))  # later in November
    won(world.ann, "50", dt.date(2026, 12, 1), dt.date(2026, 12, 2))
    won(world.ann, "70", dt.date(2026, 9, 1), dt.date(2026, 9, 3))  # Q3's first days
    recompute(today=TODAY)
    december = KpiSnapshot.objects.get(kpi="revenue", scope_type="company", granularity="month",
                                       period_start=dt.date(2026, 12, 1))  # fmt: skip
    assert december.value == 50
    assert december.details["compare"] == {
        "start": "2026-11-01", "end": "2026-11-05", "value": "100", "numerator": "100",
        "denominator": None, "low_sample": False,
        # Won, lost and revenue per product (0: none), for "What changed" by product.
        "by_product": {"0": ["1", "0", "100"]},
    }  # fmt: skip
    # Q4's first 66 days (1 Oct – 5 Dec) against Q3's first 66 (1 Jul – 4 Sep).
    q4 = KpiSnapshot.objects.get(kpi="revenue", scope_type="company", granularity="quarter",
                                 period_start=dt.date(2026, 10, 1))  # fmt: skip
    assert (q4.details["compare"]["end"], q4.details["compare"]["value"]) == ("2026-09-04", "70")
    # A closed period is compared whole: no partial comparison stored.
    november = KpiSnapshot.objects.get(kpi="revenue", scope_type="company", granularity="month",
                                       period_start=dt.date(2026, 11, 1))  # fmt: skip
    assert november.value == 1000 and "compare" not in november.details


def test_rates_are_compared_like_for_like_too(world):
    won(world.ann, "1", dt.date(2026, 11, 1), dt.date(2026, 11, 2))
    lost(world.ann, dt.date(2026, 11, 1), dt.date(2026, 11, 4))
    lost(world.ann, dt.date(2026, 11, 1), dt.date(2026, 11, 25))
    recompute(today=TODAY)
    rate = KpiSnapshot.objects.get(kpi="win_rate", scope_type="rep", scope_id=world.ann.pk,
                                   granularity="month", period_start=dt.date(2026, 12, 1))  # fmt: skip
    assert rate.value is None  # nothing closed in December yet
    assert rate.details["compare"]["value"] == "50" and rate.details["compare"]["low_sample"]


# -- every recompute is recorded ------------------------------------------------------


def test_seed_import_and_command_runs_are_recorded(world, tmp_path):
    call_command("recompute_kpis", "--today", "2026-12-05", stdout=io.StringIO(), stderr=io.StringIO())
    (tmp_path / "deals.csv").write_text(
        "external_ref,owner,stage,amount,opened_on,closed_on\nR1,ann,won,10,2025-01-01,2025-01-02\n"
    )
    call_command(
        "import_crm", str(tmp_path), "--format", "generic", stdout=io.StringIO(), stderr=io.StringIO()
    )
    kinds = list(RecomputeRun.objects.order_by("pk").values_list("kind", "status"))
    assert kinds == [("command", "done"), ("import", "done")]


def _admin_form_data(form, inline_formsets) -> dict:
    """What the admin's change form would post back unchanged."""

    def plain(value):
        if hasattr(value, "pk"):
            return value.pk
        if isinstance(value, dt.date):
            return value.isoformat()
        return "" if value is None else value

    data = {name: plain(form.initial.get(name, field.initial)) for name, field in form.fields.items()}
    for inline in inline_formsets:
        formset = inline.formset
        data[f"{formset.prefix}-TOTAL_FORMS"] = len(formset.forms)
        data[f"{formset.prefix}-INITIAL_FORMS"] = formset.initial_form_count()
        for sub in formset.forms:
            for name in sub.fields:
                data[f"{sub.prefix}-{name}"] = plain(sub.initial.get(name))
            data[f"{sub.prefix}-id"] = sub.instance.pk
    return data


def test_a_date_outside_the_plausible_range_is_reported_never_a_crash(world):
    # Forms and imports refuse such dates; an old row or raw SQL may hold one.
    TargetFactory(user=world.ann, month=dt.date(9999, 12, 1))
    won(world.ann, "10", dt.date(2026, 3, 1), dt.date(2026, 3, 2))
    result = recompute(today=TODAY)
    assert result.rows > 0
    assert "1 targets with a month outside 1900–2100 count in no period" in result.message
    run = RecomputeRun.objects.create(kind="command")
    from kpis.tasks import run_nightly

    run_nightly(run, today=TODAY)
    run.refresh_from_db()
    assert run.status == "done" and "outside 1900–2100" in run.message


def test_people_teams_and_campaigns_that_come_and_go(world, history):
    from tests.factories import TeamFactory, UserFactory

    CampaignFactory(name="New fair")  # no spend yet: a row of zeros in every period
    east = TeamFactory(name="East")
    UserFactory(username="newbie", team=east)
    world.sue.is_active = False  # left, with no figure anywhere: no rows any more
    world.sue.save()
    DirtyMonth.objects.create(month=dt.date(2026, 11, 1), marked_at=dt.datetime(2026, 11, 2, tzinfo=dt.UTC))
    assert_nightly_equals_from_scratch()
    assert not KpiSnapshot.objects.filter(scope_type="rep", scope_id=world.sue.pk).exists()
    assert KpiSnapshot.objects.filter(scope_type="team", scope_id=east.pk, period_start=JUNE).exists()


def test_stage_history_and_lost_reasons(world, history):
    """Issue 12's tables: a stage change re-dated, added or deleted, a lost
    deal's reason changed, a reason's code renamed, an activity moved to
    another deal."""
    from crm.models import DealStageChange, LostReason

    move = DealStageChange.objects.get(deal=history["open"], to_stage=Stage.NEGOTIATION)
    DealStageChange.objects.filter(pk=move.pk).update(changed_at=dt.datetime(2026, 3, 15, 9, tzinfo=dt.UTC))
    DealStageChange.objects.create(
        deal=history["open"], from_stage="negotiation", to_stage="proposal",
        changed_at=dt.datetime(2026, 5, 20, 9, tzinfo=dt.UTC),
    )  # fmt: skip
    DealStageChange.objects.filter(deal=history["sam"], from_stage="").delete()
    Deal.objects.filter(pk=history["lost"].pk).update(lost_reason=LostReason.objects.get(code="timing"))
    LostReason.objects.filter(code="timing").update(code="later")
    Activity.objects.update(deal=history["early"])
    assert_nightly_equals_from_scratch()


# -- a quiet night: nothing changed, nothing read again ---------------------------


def _scratch_on(day: dt.date) -> set:
    KpiSnapshot.objects.all().delete()
    MonthFact.objects.all().delete()
    FactMonth.objects.all().delete()
    recompute(today=day)
    return rows()


@pytest.mark.parametrize("days_later", [0, 1, 26, 27])
def test_a_quiet_night_reads_no_month_and_equals_from_scratch(world, history, days_later):
    """With no month marked, the nightly run rebuilds the current and previous
    periods from the stored monthly facts (and the stored process figures of
    periods none of whose months moved): no month is read again, on the same
    day or later in the month, and the rows are those of a recompute from
    scratch on that day (like-for-like spans and maturity move with it)."""
    day = TODAY + dt.timedelta(days=days_later)
    result = refresh(today=day)
    # The first night of a month reads that month (it has no facts yet).
    assert result.months == ([] if day.month == TODAY.month else [day.replace(day=1)])
    nightly = rows()
    scratch = _scratch_on(day)
    assert nightly - scratch == set() and scratch - nightly == set()


def test_the_churn_rule_marks_the_churn_months_only(world, history):
    """The rule moves churns every night: only the months of the churn dates
    are dirty, not the months the customers were acquired in (a night
    would otherwise read a year of months again)."""
    customer = CustomerFactory(owner=world.sam)
    won(world.sam, "100", dt.date(2024, 12, 1), dt.date(2025, 1, 10), customer=customer)
    recompute(today=TODAY)
    DirtyMonth.objects.all().delete()
    Customer.objects.filter(pk=customer.pk).update(churned_on=None, churned_by_rule=False)
    assert pending_months() == [dt.date(2026, 1, 1)]  # the old churn date's month
    DirtyMonth.objects.all().delete()
    assert apply_churn_rule(TODAY) == 1
    customer.refresh_from_db()
    assert customer.churned_on == dt.date(2026, 1, 10)
    assert pending_months() == [dt.date(2026, 1, 1)]
    # Only the churn counts move: the month is read again for them alone.
    assert set(DirtyMonth.objects.values_list("family", flat=True)) == {"customers"}
    Customer.objects.filter(pk=customer.pk).update(churn_reason="Moved abroad")
    assert pending_months() == [dt.date(2026, 1, 1)]  # no figure counts the reason
    assert_nightly_equals_from_scratch()


def test_a_churn_reads_only_the_churn_counts_of_its_month(world, history, monkeypatch):
    """A month marked for one family is read again for that family alone (the
    other families' stored facts of that month hold), and the rows still
    equal a recompute from scratch; a mark for every family in the same month
    reads it whole."""
    from kpis.compute import _Reader
    from kpis.periods import month_starts

    customer = CustomerFactory(owner=world.sam)
    won(world.sam, "100", dt.date(2024, 12, 1), dt.date(2025, 1, 10), customer=customer)
    recompute(today=TODAY)
    DirtyMonth.objects.all().delete()
    Customer.objects.filter(pk=customer.pk).update(churned_on=dt.date(2026, 2, 3), churned_by_rule=False)
    read = []
    for name in ("read_sales", "read_customers", "read_pipeline", "read_process"):
        original = getattr(_Reader, name)

        def spy(reader, original=original, name=name):
            if reader.fixed is None:  # whole months, not a like-for-like partial one
                read.append((name, reader.ranges))
            return original(reader)

        monkeypatch.setattr(_Reader, name, spy)
    result = refresh(today=TODAY)
    # The old churn month and the new, customers only:
    assert read == [("read_customers", [(dt.date(2026, 1, 1), dt.date(2026, 2, 28))])]
    assert result.months == [dt.date(2026, 1, 1), dt.date(2026, 2, 1)]
    nightly = rows()
    assert nightly == _scratch_on(TODAY)

    read.clear()
    recompute(today=TODAY)
    DirtyMonth.objects.all().delete()
    Customer.objects.filter(pk=customer.pk).update(churned_on=dt.date(2026, 3, 3))
    Deal.objects.filter(customer=customer).update(amount=Decimal("150"))
    read.clear()
    refresh(today=TODAY)

    def months(name):
        return {m for n, ranges in read if n == name for lo, hi in ranges for m in month_starts(lo, hi)}

    assert dt.date(2025, 1, 1) in months("read_sales")  # the deal's month, every family
    assert dt.date(2026, 2, 1) not in months("read_sales")
    assert {dt.date(2025, 1, 1), dt.date(2026, 2, 1), dt.date(2026, 3, 1)} <= months("read_customers")
    assert rows() == _scratch_on(TODAY)


def test_a_quiet_night_leaves_settled_previous_periods_alone(world, history):
    """The previous month, quarter and year are rewritten only when something
    may have moved them: a month of theirs read again, a roll-over (their
    rows were written while under way), a new engine or formula version, other
    settings, or a salesperson who joined, left or changed team."""
    from kpis.compute import _settled_previous, _signature

    previous = [("month", dt.date(2026, 11, 1)), ("quarter", dt.date(2026, 7, 1)),
                ("year", dt.date(2025, 1, 1))]  # fmt: skip
    assert _settled_previous(TODAY + dt.timedelta(days=1), _signature()) == previous
    assert _settled_previous(TODAY + dt.timedelta(days=26), _signature()) == previous
    assert _settled_previous(dt.date(2027, 1, 1), _signature()) == []  # every period rolled over
    assert _settled_previous(TODAY - dt.timedelta(days=1), _signature()) == []  # a run for an earlier day
    with override_settings(KPI_MIN_SAMPLE=3):
        assert _settled_previous(TODAY, _signature()) == []
    world.bob.team = world.south if world.bob.team == world.north else world.north
    world.bob.save()
    assert _settled_previous(TODAY, _signature()) == []
    world.bob.refresh_from_db()
    refresh(today=TODAY)  # rewrites them with the new roster, and says so
    assert _settled_previous(TODAY, _signature()) == previous
    KpiSnapshot.objects.filter(granularity="month", period_start=dt.date(2026, 11, 1)).delete()
    assert _settled_previous(TODAY, _signature()) == previous[1:]
    refresh(today=TODAY)
    assert KpiSnapshot.objects.filter(granularity="month", period_start=dt.date(2026, 11, 1)).exists()


def test_a_customer_paying_before_the_last_run_makes_no_cohort_stale(world, history):
    """Only a first won deal dated after the last run's day, and on or before
    today, moves a cohort with the calendar alone; one dated earlier was
    counted when the change that dated it was read (a month computed long
    ago does not make every later acquisition's cohort stale every night)."""
    from kpis.compute import _stale_months

    customer = CustomerFactory(owner=world.ann)
    ProspectFactory(owner=world.ann, created_on=JUNE, customer=customer)
    won(world.ann, "100", dt.date(2026, 7, 1), dt.date(2026, 8, 3), customer=customer)
    refresh(today=TODAY)
    FactMonth.objects.filter(month=dt.date(2026, 3, 1)).update(
        computed_at=dt.datetime(2026, 4, 1, 9, tzinfo=dt.UTC)
    )  # a month nothing touched since April
    assert _stale_months(TODAY + dt.timedelta(days=1)) == set()
    later = CustomerFactory(owner=world.ann)
    ProspectFactory(owner=world.ann, created_on=JUNE, customer=later)
    won(world.ann, "100", dt.date(2026, 7, 1), TODAY + dt.timedelta(days=2), customer=later)
    refresh(today=TODAY)
    assert _stale_months(TODAY + dt.timedelta(days=1)) == set()
    assert _stale_months(TODAY + dt.timedelta(days=2)) == {JUNE}


def test_a_partial_month_goes_on_from_last_nights_sums(world, history, monkeypatch):
    """A like-for-like span's partial month (on 5 December, 1–5 November) is
    kept: the next night reads 6 November alone and adds it; a correction
    inside the kept days marks the month, which is then read whole again."""
    from kpis.compute import _Reader
    from kpis.models import PartialFacts

    november = dt.date(2026, 11, 1)
    assert PartialFacts.objects.get(month=november).cut == dt.date(2026, 11, 5)
    windows = []
    real = _Reader.read

    def read(self):
        windows.extend(self.ranges)
        return real(self)

    monkeypatch.setattr(_Reader, "read", read)
    day = TODAY + dt.timedelta(days=1)
    refresh(today=day)
    assert (dt.date(2026, 11, 6), dt.date(2026, 11, 6)) in windows
    assert (november, dt.date(2026, 11, 6)) not in windows
    assert PartialFacts.objects.get(month=november).cut == dt.date(2026, 11, 6)
    assert rows() == _scratch_on(day)

    won(world.ann, "250", dt.date(2026, 10, 1), dt.date(2026, 11, 2))
    windows.clear()
    day += dt.timedelta(days=1)
    refresh(today=day)
    assert (november, dt.date(2026, 11, 7)) in windows
    assert rows() == _scratch_on(day)


def test_a_quiet_night_after_a_roll_over_rewrites_the_closed_periods(world, history):
    """The first night of a month writes the month just ended as closed (no
    like-for-like comparison, no stalled deals); the second leaves it."""
    refresh(today=dt.date(2026, 12, 31))
    first = refresh(today=dt.date(2027, 1, 1))
    december = KpiSnapshot.objects.filter(granularity="month", period_start=dt.date(2026, 12, 1))
    assert not december.filter(details__has_key="compare").exists()
    assert not december.filter(kpi="stalled_deals").exists()
    nightly = refresh(today=dt.date(2027, 1, 2))
    assert nightly.rows < first.rows  # the current periods only
    assert rows() == _scratch_on(dt.date(2027, 1, 2))


def test_a_customer_becoming_paying_on_a_later_day_reaches_its_prospects_cohort(world, history):
    """Lead conversion counts prospects whose customer is paying by the day of
    computation: a first won deal dated after the last run is no change any
    trigger sees when that day comes, so the nightly run reads the cohort's
    month again."""
    customer = CustomerFactory(owner=world.ann)
    ProspectFactory(owner=world.ann, created_on=JUNE, customer=customer)
    won(world.ann, "100", dt.date(2026, 11, 2), TODAY + dt.timedelta(days=3), customer=customer)
    recompute(today=TODAY)
    DirtyMonth.objects.all().delete()
    converted = KpiSnapshot.objects.get(
        kpi="lead_conversion_rate", scope_type="company", scope_id=0, granularity="month", period_start=JUNE
    ).numerator
    later = TODAY + dt.timedelta(days=5)
    result = refresh(today=later)
    assert JUNE in result.months
    assert (
        KpiSnapshot.objects.get(
            kpi="lead_conversion_rate",
            scope_type="company",
            scope_id=0,
            granularity="month",
            period_start=JUNE,
        ).numerator
        == converted + 1
    )
    nightly = rows()
    scratch = _scratch_on(later)
    assert nightly - scratch == set() and scratch - nightly == set()


def test_a_past_correction_keeps_the_stored_process_figures_of_untouched_years(world, history):
    """A stage change re-dated in 2026 reads 2026's months again; 2025's
    year figures for time in stage are kept as stored, and still equal a
    recompute from scratch."""
    from crm.models import DealStageChange

    before = KpiSnapshot.objects.get(
        kpi="time_in_stage_days", scope_type="company", scope_id=0, granularity="year",
        period_start=dt.date(2025, 1, 1),
    )  # fmt: skip
    move = DealStageChange.objects.get(deal=history["open"], to_stage=Stage.NEGOTIATION)
    DealStageChange.objects.filter(pk=move.pk).update(changed_at=dt.datetime(2026, 3, 15, 9, tzinfo=dt.UTC))
    result = refresh(today=TODAY)
    assert all(month.year == 2026 for month in result.months)
    after = KpiSnapshot.objects.get(pk=before.pk)
    assert (after.value, after.details) == (before.value, before.details)
    nightly = rows()
    scratch = from_scratch()
    assert nightly - scratch == set() and scratch - nightly == set()
