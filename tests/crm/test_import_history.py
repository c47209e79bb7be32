"""The whole history in and out: prospects, activities, spend, costs, targets,
survey responses; exports that import back unchanged."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from crm import exporting, importing
from crm.models import (
    Activity,
    Campaign,
    CampaignSpend,
    Customer,
    Deal,
    DealStageChange,
    Product,
    Prospect,
    SalesCost,
    Stage,
    Target,
    Team,
    User,
)
from surveys.models import Invitation, Response, Survey
from tests.factories import (
    ActivityFactory,
    CampaignFactory,
    CampaignSpendFactory,
    CustomerFactory,
    DealFactory,
    ProductFactory,
    ProspectFactory,
    ResponseFactory,
    TargetFactory,
)

FILES = {
    "campaigns.csv": (
        "name,channel,starts_on,team,ends_on\n"
        "Spring fair,events,2025-03-01,North,2025-03-31\n"
        "Company newsletter,email,2025-01-01,,\n"
    ),
    "customers.csv": "name,owner,source_campaign\nAcme,ann,Spring fair\n",
    "prospects.csv": (
        "external_ref,name,owner,company,email,status,created_on,source_campaign,customer,converted_on,lost_reason\n"
        "P1,Paula,ann,Acme,paula@acme.example,converted,2025-03-05,Spring fair,Acme,2025-03-20,\n"
        "P2,Quentin,bob,Quux,,lost,2025-03-06,Spring fair,,,Too small\n"
        "P3,Rita,ann,,,new,2025-04-01,,,,\n"
    ),
    "deals.csv": (
        "external_ref,owner,stage,title,customer,prospect,amount,opened_on,closed_on\n"
        "D1,ann,won,Acme licence,Acme,P1,5000,2025-03-20,2025-04-10\n"
    ),
    "activities.csv": (
        "external_ref,kind,owner,occurred_on,subject,notes,done,prospect,deal,customer\n"
        'A1,call,ann,2025-03-06,First call,"Asked for\nthe price",yes,P1,,\n'
        "A2,meeting,ann,2025-04-01,Demo,,no,,D1,Acme\n"
    ),
    "campaign_spend.csv": (
        "campaign,spent_on,amount,note\n"
        "Spring fair,2025-03-01,1200.50,Booth\n"
        "Spring fair,2025-03-01,1200.50,Booth\n"
        "Company newsletter,2025-01-15,300,\n"
    ),
    "sales_costs.csv": (
        "month,category,amount,team,note\n2025-03,salaries,20000,North,\n2025-03-01,tools,900,,CRM seats\n"
    ),
    "targets.csv": "month,amount,user,team\n2025-03,10000,ann,\n2025-03-15,30000,,North\n",
    "survey_responses.csv": (
        "customer,submitted_at,deal,nps_score,csat_score,comment\n"
        "Acme,2025-04-20T10:30:00+02:00,D1,9,5,Great\n"
        "Acme,2025-06-01,,4,,Slow support\n"
    ),
}


def write(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def generic(directory: Path, importer=None):
    return importing.import_directory(directory, importing.GENERIC, importer=importer)


@pytest.fixture
def history(world, tmp_path):
    return write(tmp_path, FILES)


def test_the_whole_history_comes_in_and_a_second_import_changes_nothing(history, world):
    plan, result = generic(history)
    assert plan.ok, plan.errors
    counts = plan.counts()
    assert {e: c["create"] for e, c in counts.items() if c["create"]} == {
        "campaigns": 2,
        "customers": 1,
        "prospects": 3,
        "deals": 1,
        "activities": 2,
        "campaign_spend": 3,
        "sales_costs": 2,
        "targets": 2,
        "survey_responses": 2,
    }

    fair = Campaign.objects.get(name="Spring fair")
    assert (fair.team, fair.channel, fair.ends_on) == (world.north, "events", dt.date(2025, 3, 31))
    assert Campaign.objects.get(name="Company newsletter").team is None
    p1, p2 = Prospect.objects.get(external_ref="P1"), Prospect.objects.get(external_ref="P2")
    assert (p1.status, p1.customer.name, p1.source_campaign, p1.team) == (
        "converted",
        "Acme",
        fair,
        world.north,
    )
    assert (p2.status, p2.lost_reason, p2.owner) == ("lost", "Too small", world.bob)
    deal = Deal.objects.get(external_ref="D1")
    assert deal.prospect == p1 and deal.customer.acquired_on == dt.date(2025, 4, 10)
    a1, a2 = Activity.objects.get(external_ref="A1"), Activity.objects.get(external_ref="A2")
    assert (a1.notes, a1.done, a1.prospect, a1.team) == ("Asked for\nthe price", True, p1, world.north)
    assert (a2.done, a2.deal, a2.customer.name) == (False, deal, "Acme")
    assert CampaignSpend.objects.filter(campaign=fair, amount=Decimal("1200.50")).count() == 2
    assert set(SalesCost.objects.values_list("team__name", "category", "amount")) == {
        ("North", "salaries", Decimal("20000.00")),
        (None, "tools", Decimal("900.00")),
    }
    assert set(Target.objects.values_list("user__username", "team__name", "month")) == {
        ("ann", None, dt.date(2025, 3, 1)),
        (None, "North", dt.date(2025, 3, 1)),
    }
    answer = Response.objects.select_related("invitation").get(nps_score=9)
    invitation = answer.invitation
    # Credited to the deal's owner and team; dated when it was sent, so it
    # throttles no invitation today.
    assert (invitation.deal, invitation.owner, invitation.team) == (deal, world.ann, world.north)
    assert invitation.sent_at == invitation.created_at == answer.submitted_at
    assert answer.submitted_at == dt.datetime(2025, 4, 20, 8, 30, tzinfo=dt.UTC)
    late = Response.objects.get(nps_score=4)
    assert timezone.localtime(late.submitted_at).hour == 12  # a bare date is its noon
    assert late.invitation.deal is None and late.invitation.owner == world.ann

    again, _result = generic(history)
    totals = again.totals()
    assert (totals["create"], totals["update"]) == (0, 0)
    assert Response.objects.count() == 2 and CampaignSpend.objects.count() == 3


BAD = [
    ("campaigns.csv", "name,channel,starts_on\nX,radio,2025-01-01\n", "unknown channel “radio”"),
    (
        "campaigns.csv",
        "name,channel,starts_on,ends_on\nX,email,2025-02-01,2025-01-01\n",
        "ends before it starts",
    ),
    ("prospects.csv", "external_ref,name,owner,status\nP9,Zed,ann,converted\n", "needs its customer"),
    ("prospects.csv", "external_ref,name,owner,status\nP9,Zed,ann,hot\n", "unknown status “hot”"),
    (
        "prospects.csv",
        "external_ref,name,owner,source_campaign\nP9,Zed,ann,Nope\n",
        "unknown campaign “Nope”",
    ),
    (
        "activities.csv",
        "external_ref,kind,owner,occurred_on,subject\nA9,call,ann,2025-01-01,Hi\n",
        "link the activity",
    ),
    (
        "activities.csv",
        "external_ref,kind,owner,occurred_on,subject,deal\nA9,fax,ann,2025-01-01,Hi,D1\n",
        "unknown kind “fax”",
    ),
    (
        "activities.csv",
        "external_ref,kind,owner,occurred_on,subject,deal\nA9,call,ann,2025-01-01,Hi,NOPE\n",
        "unknown deal “NOPE”",
    ),
    ("campaign_spend.csv", "campaign,spent_on,amount\nNope,2025-01-01,5\n", "unknown campaign “Nope”"),
    ("campaign_spend.csv", "campaign,spent_on,amount\n,2025-01-01,-5\n", "campaign is required"),
    ("sales_costs.csv", "month,category,amount\n2025-01,bribes,5\n", "unknown category “bribes”"),
    ("sales_costs.csv", "month,category,amount\n2025-01,tools,-5\n", "cannot be negative"),
    ("targets.csv", "month,amount,user,team\n2025-01,5,ann,North\n", "not both"),
    ("targets.csv", "month,amount,user\n2025-13,5,ann\n", "is not a date"),
    ("targets.csv", "month,amount,user\n2025-01,5,ann\n2025-01-20,6,ann\n", "listed twice"),
    ("survey_responses.csv", "customer,submitted_at,nps_score\nAcme,yesterday,9\n", "not a date and time"),
    ("survey_responses.csv", "customer,submitted_at,nps_score\nAcme,2025-01-01,11\n", "between 0 and 10"),
    ("survey_responses.csv", "customer,submitted_at\nAcme,2025-01-01\n", "give an nps_score"),
    ("survey_responses.csv", "customer,submitted_at,nps_score\nNobody,2025-01-01,9\n", "unknown customer"),
]


@pytest.mark.parametrize(("name", "text", "reason"), BAD, ids=[f"{b[0]}:{b[2][:20]}" for b in BAD])
def test_bad_rows_are_named_and_nothing_is_written(history, name, text, reason):
    files = {
        k: v
        for k, v in FILES.items()
        if k in ("campaigns.csv", "customers.csv", "prospects.csv", "deals.csv")
    }
    files[name] = text
    directory = history / "bad"
    directory.mkdir()
    plan, result = generic(write(directory, files))
    assert result is None
    assert any(p.file == name and p.line >= 2 and reason in p.reason for p in plan.errors), plan.errors
    assert not Campaign.objects.exists() and not Deal.objects.exists()


def test_a_manager_imports_costs_and_targets_for_their_own_team_only(history, world):
    directory = history / "manager"
    directory.mkdir()
    write(
        directory,
        {
            "sales_costs.csv": "month,category,amount,team\n2025-01,tools,5,North\n"
            "2025-01,tools,5,South\n2025-01,tools,5,\n",
            "targets.csv": "month,amount,user,team\n2025-01,5,ann,\n2025-01,5,sam,\n2025-01,5,,South\n",
        },
    )
    plan, _result = generic(directory, importer=world.nina)
    assert sorted((p.file, p.line) for p in plan.errors) == [
        ("sales_costs.csv", 3),
        ("sales_costs.csv", 4),
        ("targets.csv", 3),
        ("targets.csv", 4),
    ]
    assert all("outside your team" in p.reason for p in plan.errors)


def test_one_entity_imports_alone_for_a_page_upload(world, tmp_path):
    path = tmp_path / "costs.csv"
    path.write_text("month,category,amount,team,note\n2025-02,travel,120.5,North,Trains\n")
    plan, result = importing.import_file(path, "sales_costs", importer=world.nina, dry_run=True)
    assert plan.ok and result is None and not SalesCost.objects.exists()
    plan, result = importing.import_file(path, "sales_costs", importer=world.nina)
    assert result is not None
    assert SalesCost.objects.get().note == "Trains"
    plan, _result = importing.import_file(path, "sales_costs", importer=world.nina)
    assert plan.totals()["unchanged"] == 1
    # A line is its team, month, category and note: a new amount updates it.
    path.write_text("month,category,amount,team,note\n2025-02-14,travel,99,North,Trains\n")
    plan, _result = importing.import_file(path, "sales_costs", importer=world.nina)
    assert plan.totals()["update"] == 1
    assert SalesCost.objects.get().amount == Decimal("99.00")


# ------------------------------------------------------------- round trip


@pytest.fixture
def rich_world(world):
    """Records born in Boussole (pages and factories), not imported."""
    survey = Survey.default_for("en")  # the migrations' default survey
    fair = CampaignFactory(name="=Fair", team=world.north, ends_on=dt.date(2025, 2, 1))
    CampaignFactory(name="Newsletter", team=None)
    gtx = ProductFactory(name="GTX", list_price=Decimal("99.90"))
    ProductFactory(name="Old", is_active=False)
    acme = CustomerFactory(name="Acme", owner=world.ann, source_campaign=fair, employees=40, language="fr")
    CustomerFactory(name="Southwind", owner=world.sam)
    prospect = ProspectFactory(name="Paula", owner=world.ann, source_campaign=fair, email="p@x.example")
    ProspectFactory(name="Lost one", owner=world.bob, status="lost", lost_reason="-Budget")
    won = DealFactory(owner=world.ann, customer=acme, prospect=prospect, product=gtx, amount=Decimal("10"))
    won.mark_won(Decimal("12.50"), dt.date(2025, 2, 1))
    DealFactory(
        owner=world.sam,
        customer=None,
        prospect=None,
        stage=Stage.PROPOSAL,
        expected_close_on=dt.date(2025, 6, 1),
    )
    lost = DealFactory(owner=world.bob, customer=acme)
    lost.mark_lost("Price", dt.date(2025, 1, 20))
    ActivityFactory(owner=world.ann, deal=won, notes="Line 1\nline 2", done=False)
    ActivityFactory(owner=world.sam, deal=None, customer=Customer.objects.get(name="Southwind"))
    CampaignSpendFactory(campaign=fair, amount=Decimal("100.00"), note="Booth")
    CampaignSpendFactory(campaign=fair, amount=Decimal("100.00"), note="Booth")
    SalesCost.objects.create(team=world.north, spent_on=dt.date(2025, 1, 1), category="salaries", amount=5)
    SalesCost.objects.create(team=None, spent_on=dt.date(2025, 1, 1), category="tools", amount=7)
    TargetFactory(user=world.ann, month=dt.date(2025, 1, 1))
    Target.objects.create(team=world.south, month=dt.date(2025, 2, 1), amount=9)
    ResponseFactory(
        invitation__survey=survey,
        invitation__customer=acme,
        invitation__deal=won,
        comment="Merci",
        csat_score=None,
    )
    return world


def export_files(directory: Path, user=None) -> dict[str, str]:
    directory.mkdir()
    exporting.export_directory(directory, user=user)
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(directory.iterdir())}


def test_an_export_imports_back_unchanged_here_and_recreates_everything_elsewhere(rich_world, tmp_path):
    first = export_files(tmp_path / "first")
    assert set(first) == {f"{e}.csv" for e in importing.ENTITIES}
    assert "'=Fair" in first["campaigns.csv"]  # a spreadsheet would run =Fair

    plan, _result = generic(tmp_path / "first")
    assert plan.ok, plan.errors
    assert {
        e: (c["create"], c["update"]) for e, c in plan.counts().items() if c["create"] or c["update"]
    } == {}

    # Elsewhere: an empty Boussole (its admin aside) takes the same files.
    for model in (
        Response,
        Invitation,
        Activity,
        DealStageChange,
        Deal,
        Prospect,
        CampaignSpend,
        SalesCost,
        Target,
    ):
        model.objects.all().delete()
    Customer.objects.all().delete()
    Campaign.objects.all().delete()
    Product.objects.all().delete()
    User.objects.exclude(is_superuser=True).delete()
    Team.objects.all().delete()
    plan, result = generic(tmp_path / "first")
    assert result is not None, plan.errors
    assert export_files(tmp_path / "second") == first


def test_a_managers_export_holds_their_team_and_imports_back_for_them(rich_world, tmp_path):
    files = export_files(tmp_path / "nina", user=rich_world.nina)
    assert "Southwind" not in files["customers.csv"] and "sam" not in files["deals.csv"]
    assert "Newsletter" not in files["campaigns.csv"] and "tools" not in files["sales_costs.csv"]
    plan, _result = generic(tmp_path / "nina", importer=rich_world.nina)
    assert plan.ok, plan.errors
    assert plan.totals()["create"] == plan.totals()["update"] == 0


def test_export_command_and_page(rich_world, tmp_path, login):
    out = io.StringIO()
    call_command("export_crm", str(tmp_path / "all.zip"), stdout=out)
    with zipfile.ZipFile(tmp_path / "all.zip") as archive:
        assert "deals.csv" in archive.namelist()
    assert "Exported" in out.getvalue()
    assert login(rich_world.ann).get(reverse("crm_export")).status_code == 403
    response = login(rich_world.steve).get(reverse("crm_export"))
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        customers = archive.read("customers.csv").decode()
    assert "Southwind" in customers and "Acme" not in customers
