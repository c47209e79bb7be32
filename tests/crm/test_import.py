"""Importing from another CRM: the Maven sample, bad files, the generic format."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.core.management import CommandError, call_command

from crm import importing
from crm.models import Customer, Deal, DealStageChange, Product, Role, Stage, Team, User
from tests.factories import AdminFactory, CustomerFactory, DealFactory, ProductFactory

# The real sample sits beside the repository: <repo>/../shared/datasets/maven-crm.
MAVEN_DIR = Path(settings.BASE_DIR).parent / "shared" / "datasets" / "maven-crm"
needs_sample = pytest.mark.skipif(
    not (MAVEN_DIR / "sales_pipeline.csv").exists(),
    reason=f"the Maven CRM sample is not at {MAVEN_DIR}",
)

IMPORT_DAY = dt.date(2026, 3, 2)


def run(*args: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_crm", *args, "--no-recompute", stdout=out, stderr=err)
    return out.getvalue()


def pipeline_rows() -> list[dict[str, str]]:
    with (MAVEN_DIR / "sales_pipeline.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


# A tiny Maven export, one quirk of each kind.
TINY = {
    "sales_teams.csv": (
        "sales_agent,manager,regional_office\n"
        "Anna Snelling,Dustin Brinkmann,Central\n"
        "Moses Frase,Dustin Brinkmann,Central\n"
        "Zane Levy,Cara Losch,East\n"
    ),
    "accounts.csv": (
        "account,sector,year_established,revenue,employees,office_location,subsidiary_of\n"
        "Acme Corporation,technolgy,1996,1100.04,2822,United States,\n"
        "Betatech,medical,1986,647.18,1185,Kenya,\n"
    ),
    "products.csv": "product,series,sales_price\nGTX Pro,GTX,4821\nMG Special,MG,55\n",
    "sales_pipeline.csv": (
        "opportunity_id,sales_agent,product,account,deal_stage,engage_date,close_date,close_value\n"
        "A1,Anna Snelling,GTXPro,Acme Corporation,Won,2017-01-10,2017-02-01,4500\n"
        "A2,Moses Frase,MG Special,Acme Corporation,Won,2017-01-05,2017-01-20,50\n"
        "A3,Zane Levy,MG Special,Betatech,Lost,2017-02-01,2017-03-01,0\n"
        "A4,Zane Levy,GTX Pro,,Engaging,2017-03-01,,\n"
        "A5,Anna Snelling,MG Special,,Prospecting,,,\n"
        "B1,Zane Levy,GTX Pro,Betatech,Won,2017-04-01,2017-05-01,4800\n"
    ),
}


def write_tiny(directory: Path, **replace: str) -> Path:
    for name, text in TINY.items():
        (directory / name).write_text(replace.get(name.replace(".csv", ""), text))
    return directory


def nothing_written() -> bool:
    return not (
        Team.objects.exists()
        or User.objects.exists()
        or Customer.objects.exists()
        or Product.objects.exists()
        or Deal.objects.exists()
    )


# ------------------------------------------------------------- the real sample


@needs_sample
@pytest.mark.django_db
@time_machine.travel(dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC), tick=False)
def test_maven_sample_imports_whole_with_no_flags():
    out = run(str(MAVEN_DIR))

    assert "8939 to create, 0 to update, 0 unchanged, 0 skipped" in out
    assert Team.objects.count() == 6
    assert set(Team.objects.values_list("region", flat=True)) == {"Central", "East", "West"}
    assert User.objects.count() == 41
    assert User.objects.filter(role=Role.MANAGER).count() == 6
    assert User.objects.filter(role=Role.SALESPERSON).count() == 35
    assert not any(u.has_usable_password() for u in User.objects.all())
    # Each manager leads a team named after them; each agent sits in it.
    dustin = User.objects.get(username="dustin.brinkmann")
    assert dustin.team.name == "Dustin Brinkmann" and dustin.team.region == "Central"
    assert User.objects.get(username="anna.snelling").team == dustin.team
    assert User.objects.filter(team=dustin.team, role=Role.SALESPERSON).count() == 5
    assert Customer.objects.count() == 85
    assert Product.objects.count() == 7
    stages = Counter(Deal.objects.values_list("stage", flat=True))
    assert stages == {
        Stage.WON: 4238,
        Stage.LOST: 2473,
        Stage.PROPOSAL: 1589,
        Stage.PROSPECTING: 500,
    }
    assert DealStageChange.objects.count() == 8800
    # `GTXPro` in the pipeline is products.csv's `GTX Pro`.
    gtx_pro = sum(1 for r in pipeline_rows() if r["product"] in ("GTXPro", "GTX Pro"))
    assert Deal.objects.filter(product__name="GTX Pro").count() == gtx_pro
    # Open deals are worth their product's list price; prospecting ones open today.
    z = Deal.objects.get(external_ref="6CWZFOHJ")  # a Prospecting row of the sample
    assert (z.stage, z.opened_on, z.closed_on) == (Stage.PROSPECTING, IMPORT_DAY, None)
    assert z.amount == z.product.list_price
    assert Deal.objects.filter(customer=None, prospect=None).count() == 1088 + 337


@needs_sample
@pytest.mark.django_db
def test_maven_customers_are_acquired_on_their_first_won_deal():
    run(str(MAVEN_DIR))

    first_won: dict[str, str] = {}
    for r in pipeline_rows():
        if r["deal_stage"] == "Won":
            first_won[r["account"]] = min(first_won.get(r["account"], "9999"), r["close_date"])
    acquired = {c.name: c.acquired_on.isoformat() for c in Customer.objects.all()}
    assert acquired == first_won
    acme = Customer.objects.select_related("first_deal", "owner").get(name="Acme Corporation")
    assert (acme.sector, acme.country, acme.employees) == ("technolgy", "United States", 2822)
    assert acme.first_deal.closed_on == acme.acquired_on
    assert acme.owner == acme.first_deal.owner and acme.team_id == acme.first_deal.team_id


@needs_sample
@pytest.mark.django_db
def test_importing_the_sample_twice_changes_nothing():
    run(str(MAVEN_DIR))
    before = list(Deal.objects.order_by("pk").values_list("pk", "updated_at", "amount", "stage"))

    out = run(str(MAVEN_DIR))

    assert "0 to create, 0 to update, 8939 unchanged" in out
    assert "Nothing to change" in out
    assert list(Deal.objects.order_by("pk").values_list("pk", "updated_at", "amount", "stage")) == before
    assert DealStageChange.objects.count() == 8800
    assert User.objects.count() == 41


@needs_sample
@pytest.mark.django_db
def test_dry_run_previews_and_writes_nothing():
    out = run("--dry-run", str(MAVEN_DIR))

    assert "8800" in out and "Dry run: nothing was written." in out
    assert nothing_written()


@needs_sample
@pytest.mark.django_db
def test_kpis_after_recompute_match_figures_computed_from_the_csv():
    compute = pytest.importorskip("kpis.compute", reason="kpis.compute (issue 4) is not built yet")
    from kpis.models import KpiSnapshot

    run(str(MAVEN_DIR))
    compute.recompute()

    rows = pipeline_rows()

    def closed(stage: str, prefix: str) -> list[dict[str, str]]:
        return [r for r in rows if r["deal_stage"] == stage and r["close_date"].startswith(prefix)]

    def company(kpi: str, granularity: str, start: dt.date) -> Decimal:
        return KpiSnapshot.objects.get(
            kpi=kpi, scope_type="company", scope_id=0, granularity=granularity, period_start=start
        ).value

    won_2017 = closed("Won", "2017")
    revenue_2017 = sum(Decimal(r["close_value"]) for r in won_2017)
    assert company("revenue", "year", dt.date(2017, 1, 1)) == revenue_2017
    assert company("deals_won", "year", dt.date(2017, 1, 1)) == len(won_2017)
    avg = company("avg_deal_size", "year", dt.date(2017, 1, 1))
    assert abs(avg - revenue_2017 / len(won_2017)) < Decimal("0.01")

    q2 = ("2017-04", "2017-05", "2017-06")
    won_q2 = sum(len(closed("Won", m)) for m in q2)
    lost_q2 = sum(len(closed("Lost", m)) for m in q2)
    win_rate = company("win_rate", "quarter", dt.date(2017, 4, 1))
    assert abs(win_rate - Decimal(100 * won_q2) / (won_q2 + lost_q2)) < Decimal("0.001")

    darcel = User.objects.get(username="darcel.schlecht")
    darcel_june = sum(
        Decimal(r["close_value"]) for r in closed("Won", "2017-06") if r["sales_agent"] == "Darcel Schlecht"
    )
    rep = KpiSnapshot.objects.get(
        kpi="revenue",
        scope_type="rep",
        scope_id=darcel.pk,
        granularity="month",
        period_start=dt.date(2017, 6, 1),
    )
    assert rep.value == darcel_june


@needs_sample
@pytest.mark.django_db
def test_sample_imports_with_queries_that_do_not_grow_with_its_rows():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # Speed is measured in the benchmarks (~1.5 s on SQLite, ~3 s on
    # PostgreSQL, alone); here, that 8,939 rows never cost a query each.
    with CaptureQueriesContext(connection) as ctx:
        run(str(MAVEN_DIR), "--no-recompute")
    assert Deal.objects.count() == 8800
    assert len(ctx.captured_queries) < 300


# ------------------------------------------------------------- a tiny export


@pytest.mark.django_db
@time_machine.travel(dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC), tick=False)
def test_tiny_maven_export_maps_every_column(tmp_path):
    run(str(write_tiny(tmp_path)))

    a1 = Deal.objects.select_related("owner", "team", "product", "customer").get(external_ref="A1")
    assert (a1.owner.username, a1.team.name, a1.product.name, a1.customer.name) == (
        "anna.snelling",
        "Dustin Brinkmann",
        "GTX Pro",
        "Acme Corporation",
    )
    assert (a1.stage, a1.amount, a1.opened_on, a1.closed_on) == (
        Stage.WON,
        Decimal("4500"),
        dt.date(2017, 1, 10),
        dt.date(2017, 2, 1),
    )
    a3 = Deal.objects.get(external_ref="A3")
    assert a3.stage == Stage.LOST and a3.amount == 0
    # Maven records no reason: "other", saying so in the note.
    assert (a3.lost_reason.code, a3.lost_note) == ("other", "Not recorded in the imported data")
    a4 = Deal.objects.get(external_ref="A4")
    assert (a4.stage, a4.amount, a4.customer, a4.prospect) == (Stage.PROPOSAL, Decimal("4821"), None, None)
    a5 = Deal.objects.get(external_ref="A5")
    assert (a5.stage, a5.opened_on, a5.amount) == (Stage.PROSPECTING, IMPORT_DAY, Decimal("55"))
    # Acme was acquired by A2 (closed first), so Moses owns it for his team.
    acme = Customer.objects.get(name="Acme Corporation")
    assert (acme.acquired_on, acme.first_deal.external_ref, acme.owner.username) == (
        dt.date(2017, 1, 20),
        "A2",
        "moses.frase",
    )
    history = DealStageChange.objects.get(deal=a1)
    assert (history.from_stage, history.to_stage) == ("", Stage.WON)
    assert history.changed_at.astimezone(dt.timezone(dt.timedelta(hours=1))).hour == 12  # Paris, winter


@pytest.mark.django_db
def test_existing_rows_are_matched_and_updated_not_duplicated(tmp_path):
    ProductFactory(name="GTX  pro", list_price=Decimal("4000"))
    run(str(write_tiny(tmp_path)))
    assert Product.objects.filter(name="GTX  pro", list_price=Decimal("4821")).exists()
    assert Product.objects.count() == 2

    changed = TINY["sales_pipeline.csv"].replace(
        "A4,Zane Levy,GTX Pro,,Engaging,2017-03-01,,",
        "A4,Zane Levy,GTX Pro,Betatech,Won,2017-03-01,2017-03-05,4700",
    )
    out = run(str(write_tiny(tmp_path, sales_pipeline=changed)))

    assert "0 to create, 1 to update" in out
    a4 = Deal.objects.get(external_ref="A4")
    assert (a4.stage, a4.amount, a4.closed_on) == (Stage.WON, Decimal("4700"), dt.date(2017, 3, 5))
    move = DealStageChange.objects.filter(deal=a4).order_by("pk").last()
    assert (move.from_stage, move.to_stage) == (Stage.PROPOSAL, Stage.WON)
    # Betatech's first win is now A4 (5 March), not B1 (1 May).
    assert Customer.objects.get(name="Betatech").acquired_on == dt.date(2017, 3, 5)


@pytest.mark.django_db
def test_import_leaves_admins_alone(tmp_path):
    AdminFactory(username="anna.snelling", first_name="Anna")
    out = run(str(write_tiny(tmp_path)))
    assert "anna.snelling is an admin" in out
    assert User.objects.get(username="anna.snelling").role == Role.ADMIN


@pytest.mark.django_db
def test_a_zip_of_the_files_imports_too(tmp_path):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, text in TINY.items():
            zf.writestr(f"export/{name}", text)
        zf.writestr("../evil.csv", "x\n")
    run(str(archive))
    assert Deal.objects.count() == 6
    assert not (tmp_path.parent / "evil.csv").exists()


@pytest.mark.django_db
def test_import_queries_do_not_grow_with_the_rows(tmp_path, django_assert_max_num_queries):
    small = tmp_path / "small"
    small.mkdir()
    write_tiny(small)
    big = tmp_path / "big"
    big.mkdir()
    extra = "".join(
        f"X{n},Zane Levy,GTX Pro,Betatech,Won,2017-04-01,2017-05-{1 + n % 28:02d},{100 + n}\n"
        for n in range(500)
    )
    write_tiny(big, sales_pipeline=TINY["sales_pipeline.csv"] + extra)
    # Reads (5): teams, products, users, customers, deals by external_ref.
    # Writes: savepoint + release (2), one bulk insert per entity (5), the
    # stage history (1), acquisition refresh: won deals, customers, bulk
    # update (3). On SQLite a bulk insert is split at 999 parameters, which
    # adds a statement per ~60 deals, never one per row.
    with django_assert_max_num_queries(22):
        run(str(small))
    Deal.objects.all().delete()
    Customer.objects.all().delete()
    with django_assert_max_num_queries(40):
        run(str(big))
    assert Deal.objects.count() == 506


# ------------------------------------------------------------- bad files


BAD_FILES = [
    (
        "missing column",
        {"sales_pipeline": TINY["sales_pipeline.csv"].replace(",close_value\n", "\n", 1)},
        ["sales_pipeline.csv line 1: missing column(s): close_value"],
    ),
    (
        "wrong dates",
        {
            "sales_pipeline": TINY["sales_pipeline.csv"]
            .replace("2017-01-10,2017-02-01", "2017-13-10,2017-02-01")
            .replace("2017-02-01,2017-03-01,0", "2017-02-01,01/03/2017,0")
        },
        [
            "sales_pipeline.csv line 2: engage_date “2017-13-10” is not a date (YYYY-MM-DD)",
            "sales_pipeline.csv line 4: close_date “01/03/2017” is not a date (YYYY-MM-DD)",
        ],
    ),
    (
        "negative values",
        {
            "sales_pipeline": TINY["sales_pipeline.csv"].replace(",50\n", ",-50\n"),
            "products": "product,series,sales_price\nGTX Pro,GTX,-1\nMG Special,MG,55\n",
        },
        [
            "products.csv line 2: sales_price cannot be negative (-1)",
            "sales_pipeline.csv line 3: close_value cannot be negative (-50)",
            # The deals of the bad product are bad too, and say why.
            "sales_pipeline.csv line 2: refers to “GTXPro”, whose own row is bad",
            "sales_pipeline.csv line 5: refers to “GTX Pro”, whose own row is bad",
            "sales_pipeline.csv line 7: refers to “GTX Pro”, whose own row is bad",
        ],
    ),
    (
        "unknown stage",
        {"sales_pipeline": TINY["sales_pipeline.csv"].replace("Lost", "Closed")},
        [
            "sales_pipeline.csv line 4: unknown deal stage “Closed” "
            "(expected Won, Lost, Engaging or Prospecting)"
        ],
    ),
    (
        "closes before it opens",
        {
            "sales_pipeline": TINY["sales_pipeline.csv"].replace(
                "2017-04-01,2017-05-01", "2017-06-01,2017-05-01"
            )
        },
        ["sales_pipeline.csv line 7: the deal closes before it opens"],
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize("case, replace, expected", BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_files_are_reported_and_nothing_is_written(tmp_path, case, replace, expected):
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match=f"{len(expected)} bad row"):
        call_command("import_crm", str(write_tiny(tmp_path, **replace)), stdout=out, stderr=err)

    for line in expected:
        assert line in out.getvalue()
    assert nothing_written()


@pytest.mark.django_db
def test_a_missing_file_is_reported(tmp_path):
    write_tiny(tmp_path)
    (tmp_path / "accounts.csv").unlink()
    with pytest.raises(CommandError):
        run(str(tmp_path))
    assert nothing_written()


@pytest.mark.django_db
def test_apply_refuses_a_plan_with_bad_rows(tmp_path):
    source = importing.load(write_tiny(tmp_path, products="product\nX\n"))
    plan = importing.build_plan(source)
    assert not plan.ok
    with pytest.raises(ValueError):
        importing.apply(plan)
    assert nothing_written()


# ------------------------------------------------------------- generic format


GENERIC = {
    "teams.csv": "Team,Region\nNorth,Lille\n",
    "users.csv": "Login,First,Last,Role,Team\nnina,Nina,North,manager,North\nann,Ann,A,salesperson,North\n",
    "customers.csv": "Company,Owner,Country,Staff\nAcme,ann,France,12\n",
    "products.csv": "Product,Price\nWidget,100\n",
    "deals.csv": (
        "Ref,Owner,Company,Product,Status,Value,Opened,Closed,Why lost\n"
        "D1,ann,Acme,Widget,won,1200,2025-01-02,2025-02-03,\n"
        "D2,ann,Acme,Widget,lost,0,2025-01-05,2025-01-20,Too expensive\n"
        "D3,nina,,Widget,negotiation,,2025-03-01,,\n"
    ),
}
MAPPING = {
    "teams": {"name": "Team", "region": "Region"},
    "users": {
        "username": "Login",
        "first_name": "First",
        "last_name": "Last",
        "role": "Role",
        "team": "Team",
    },
    "customers": {"name": "Company", "owner": "Owner", "country": "Country", "employees": "Staff"},
    "products": {"name": "Product", "list_price": "Price"},
    "deals": {
        "external_ref": "Ref",
        "owner": "Owner",
        "customer": "Company",
        "product": "Product",
        "stage": "Status",
        "amount": "Value",
        "opened_on": "Opened",
        "closed_on": "Closed",
        "lost_reason": "Why lost",
    },
}


def write_generic(directory: Path, **replace: str) -> tuple[Path, Path]:
    for name, text in GENERIC.items():
        (directory / name).write_text(replace.get(name.replace(".csv", ""), text))
    mapping = directory / "mapping.json"
    mapping.write_text(json.dumps(MAPPING))
    return directory, mapping


@pytest.mark.django_db
def test_generic_files_import_through_a_mapping(tmp_path):
    directory, mapping = write_generic(tmp_path)
    out = run("--format", "generic", "--mapping", str(mapping), str(directory))

    assert "8 to create" in out
    nina = User.objects.get(username="nina")
    assert (nina.role, nina.team.name, nina.team.region) == (Role.MANAGER, "North", "Lille")
    acme = Customer.objects.get(name="Acme")
    assert (acme.owner.username, acme.country, acme.employees) == ("ann", "France", 12)
    assert acme.acquired_on == dt.date(2025, 2, 3)
    d2 = Deal.objects.get(external_ref="D2")
    assert (d2.lost_reason.code, d2.lost_note) == ("other", "Too expensive")
    d3 = Deal.objects.get(external_ref="D3")
    assert (d3.stage, d3.amount) == (Stage.NEGOTIATION, Decimal("100"))

    again = run("--format", "generic", "--mapping", str(mapping), str(directory))
    assert "0 to create, 0 to update, 8 unchanged" in again


@pytest.mark.django_db
def test_generic_lost_reasons_map_codes_and_names_and_keep_notes(tmp_path):
    CustomerFactory(name="Globex", owner__username="zoe")
    (tmp_path / "deals.csv").write_text(
        "external_ref,owner,customer,stage,amount,opened_on,closed_on,lost_reason,lost_note\n"
        "L1,zoe,globex,lost,0,2025-01-01,2025-01-02,competitor,Acme\n"
        "L2,zoe,globex,lost,0,2025-01-01,2025-01-02,Pas de décision,\n"
        "L3,zoe,globex,lost,0,2025-01-01,2025-01-02,NO_DECISION,\n"
        "L4,zoe,globex,lost,0,2025-01-01,2025-01-02,Went quiet,\n"
        "L5,zoe,globex,lost,0,2025-01-01,2025-01-02,,\n"
        "L6,zoe,globex,proposal,0,2025-01-01,,price,\n"
    )
    run("--format", "generic", str(tmp_path))
    got = {
        d.external_ref: (d.lost_reason.code if d.lost_reason else None, d.lost_note)
        for d in Deal.objects.select_related("lost_reason")
    }
    assert got == {
        "L1": ("competitor", "Acme"),
        "L2": ("no_decision", ""),
        "L3": ("no_decision", ""),
        "L4": ("other", "Went quiet"),
        "L5": ("other", "Not recorded in the imported data"),
        "L6": (None, ""),  # an open deal has no lost reason
    }
    assert "0 to create, 0 to update, 6 unchanged" in run("--format", "generic", str(tmp_path))


@pytest.mark.django_db
def test_exported_lost_reasons_import_back_unchanged(tmp_path):
    CustomerFactory(name="Globex", owner__username="zoe")
    (tmp_path / "deals.csv").write_text(
        "external_ref,owner,customer,stage,amount,opened_on,closed_on,lost_reason,lost_note\n"
        "L1,zoe,globex,lost,0,2025-01-01,2025-01-02,timing,Next year\n"
    )
    run("--format", "generic", str(tmp_path))
    out = tmp_path / "export"
    call_command("export_crm", "--entity", "deals", str(out), stdout=io.StringIO())
    exported = (out / "deals.csv").read_text()
    assert "timing,Next year" in exported
    assert "0 to create, 0 to update, 1 unchanged" in run("--format", "generic", str(out))


@pytest.mark.django_db
def test_generic_files_in_boussole_columns_need_no_mapping(tmp_path):
    CustomerFactory(name="Globex", owner__username="zoe")
    (tmp_path / "deals.csv").write_text(
        "external_ref,owner,customer,stage,amount,opened_on,closed_on\n"
        "G1,zoe,globex,won,10,2025-01-01,2025-01-02\n"
    )
    run("--format", "generic", str(tmp_path))
    deal = Deal.objects.get(external_ref="G1")
    assert deal.customer.name == "Globex" and deal.team == deal.owner.team


@pytest.mark.django_db
def test_generic_bad_references_are_reported(tmp_path):
    DealFactory(external_ref="D9")
    directory, mapping = write_generic(
        tmp_path,
        deals=(
            "Ref,Owner,Company,Product,Status,Value,Opened,Closed,Why lost\n"
            "D1,ghost,Acme,Widget,won,1,2025-01-02,2025-02-03,\n"
            "D2,ann,Nobody,Widget,won,1,2025-01-02,2025-02-03,\n"
            "D3,ann,Acme,Gadget,won,1,2025-01-02,2025-02-03,\n"
            "D4,ann,Acme,Widget,won,,2025-01-02,2025-02-03,\n"
            "D5,ann,Acme,Widget,open,1,2025-01-02,,\n"
            "D5,ann,Acme,Widget,won,1,2025-01-02,2025-02-03,\n"
            "D5,ann,Acme,Widget,won,1,2025-01-02,2025-02-03,\n"
        ),
    )
    out = io.StringIO()
    with pytest.raises(CommandError, match="6 bad row"):
        call_command(
            "import_crm",
            "--format",
            "generic",
            "--mapping",
            str(mapping),
            str(directory),
            stdout=out,
            stderr=io.StringIO(),
        )
    text = out.getvalue()
    for expected in (
        "deals.csv line 2: unknown user “ghost”",
        "deals.csv line 3: unknown customer “Nobody”",
        "deals.csv line 4: unknown product “Gadget”",
        "deals.csv line 5: a won deal needs an amount",
        "deals.csv line 6: unknown stage “open”",
        "deals.csv line 8: D5 is listed twice (first on line 7)",
    ):
        assert expected in text
    assert Deal.objects.count() == 1 and not User.objects.filter(username="nina").exists()


def test_a_mapping_naming_unknown_columns_is_refused(tmp_path):
    mapping = tmp_path / "m.json"
    mapping.write_text(json.dumps({"deals": {"value": "Value"}, "widgets": {}}))
    with pytest.raises(CommandError, match="has no column “value”"):
        run("--format", "generic", "--mapping", str(mapping), str(tmp_path))


def test_usernames_are_derived_from_names():
    assert importing.username_for("Mei-Mei Johns") == "mei-mei.johns"
    assert importing.username_for("Élodie  Durand") == "elodie.durand"
