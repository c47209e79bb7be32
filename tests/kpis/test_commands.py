"""recompute_kpis, export_kpis and kpi_docs."""

import csv
import datetime as dt
import io
import json

import pytest
from django.core.management import CommandError, call_command

from kpis.compute import COHORT_KPIS, CUMULATIVE_KPIS
from kpis.docs import DOCS_PATH, generate
from kpis.models import KpiSnapshot, RecomputeRun
from tests.factories import CampaignFactory
from tests.kpis.factories import lost, won

MAR = dt.date(2025, 3, 1)


def _call(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def march(world):
    won(world.ann, "1500", dt.date(2025, 3, 1), dt.date(2025, 3, 11))
    lost(world.bob, dt.date(2025, 3, 1), dt.date(2025, 3, 12))
    CampaignFactory(name="Spring fair")
    return world


@pytest.mark.django_db
class TestRecomputeKpis:
    def test_range_and_granularity(self, march):
        _call("recompute_kpis")  # every month's facts are stored from now on
        first = KpiSnapshot.objects.latest("computed_at").computed_at
        # A run writes only the figures that changed: make every stored one
        # wrong, so that what it computes shows as written.
        KpiSnapshot.objects.update(value=-1)
        out, err = _call("recompute_kpis", "--from", "2025-03", "--to", "2025-03", "--granularity", "month")
        written = KpiSnapshot.objects.filter(computed_at__gt=first)
        assert set(written.values_list("granularity", flat=True)) == {"month"}
        # The range's periods whole; later periods only their running sums
        # (customers active, the pipeline open at their end), which March feeds.
        assert set(written.filter(period_start=MAR).values_list("kpi", flat=True)) >= {"revenue", "win_rate"}
        later = set(written.exclude(period_start=MAR).values_list("kpi", flat=True))
        assert later <= CUMULATIVE_KPIS | COHORT_KPIS
        assert "KPI snapshots written for 2025-03 to 2025-03" in out
        assert "[" in err and "#" in err  # the progress bar
        assert RecomputeRun.objects.filter(kind="command", status="done").count() == 2

    def test_a_first_range_run_also_computes_months_never_computed(self, march):
        # Running sums need every month's facts: none are stored yet.
        _call("recompute_kpis", "--from", "2025-03", "--to", "2025-03", "--granularity", "month")
        months = set(KpiSnapshot.objects.filter(kpi="revenue").values_list("period_start", flat=True))
        assert MAR in months and len(months) > 1

    def test_today_makes_a_reproducible_run(self, march):
        out, _err = _call("recompute_kpis", "--today", "2025-06-30")
        assert "as of 2025-06-30" in out
        assert RecomputeRun.objects.get().as_of == dt.date(2025, 6, 30)
        assert not KpiSnapshot.objects.filter(period_start__gt=dt.date(2025, 6, 30)).exists()
        with pytest.raises(CommandError, match="YYYY-MM-DD"):
            _call("recompute_kpis", "--today", "30/06/2025")

    def test_without_flags_every_period_with_data(self, march):
        _call("recompute_kpis")
        starts = set(KpiSnapshot.objects.filter(granularity="month").values_list("period_start", flat=True))
        assert MAR in starts
        assert min(starts) == MAR  # the earliest data

    def test_bad_month_is_a_clear_error(self, db):
        with pytest.raises(CommandError, match="YYYY-MM"):
            _call("recompute_kpis", "--from", "March")

    def test_to_before_from(self, db):
        with pytest.raises(CommandError, match="before"):
            _call("recompute_kpis", "--from", "2025-03", "--to", "2025-01")


@pytest.mark.django_db
class TestExportKpis:
    COLUMNS = (
        "kpi,scope_type,scope_id,scope_name,granularity,period_start,value,numerator,"
        "denominator,low_sample,maturing,formula_version,computed_at"
    )

    def test_csv(self, march):
        _call("recompute_kpis", "--from", "2025-03", "--to", "2025-03")
        out, _ = _call(
            "export_kpis", "--format", "csv", "--kpi", "win_rate", "--granularity", "month",
            "--from", "2025-03", "--to", "2025-03",
        )  # fmt: skip
        assert out.splitlines()[0] == self.COLUMNS
        rows = {(r["scope_type"], r["scope_name"]): r for r in csv.DictReader(io.StringIO(out))}
        company = rows[("company", "company")]
        assert (company["value"], company["numerator"], company["denominator"]) == ("50", "1", "2")
        assert company["period_start"] == "2025-03-01" and company["low_sample"] == "true"
        assert rows[("team", "North")]["value"] == "50"
        assert rows[("rep", "Sue Rep")]["value"] == ""  # n/a
        assert {r["kpi"] for r in rows.values()} == {"win_rate"}

    def test_json_with_filters(self, march):
        _call("recompute_kpis", "--from", "2025-03", "--to", "2025-04")
        out, _ = _call(
            "export_kpis", "--format", "json", "--scope", "campaign",
            "--from", "2025-04", "--to", "2025-04", "--granularity", "month",
        )  # fmt: skip
        records = json.loads(out)
        assert records and {r["scope_name"] for r in records} == {"Spring fair"}
        assert {r["period_start"] for r in records} == {"2025-04-01"}
        assert list(records[0]) == self.COLUMNS.split(",")
        revenue = next(r for r in records if r["kpi"] == "revenue")
        assert revenue["value"] == "0" and revenue["low_sample"] is False

    def test_empty_json_is_a_list(self, db):
        out, _ = _call("export_kpis", "--format", "json")
        assert json.loads(out) == []

    def test_unknown_kpi_is_refused(self, db):
        with pytest.raises(CommandError):
            _call("export_kpis", "--kpi", "happiness")


def test_committed_docs_equal_the_generated_docs():
    assert DOCS_PATH.read_text(encoding="utf-8") == generate(), "run python manage.py kpi_docs"


def test_docs_explain_every_kpi():
    from kpis.definitions import KPIS

    text = generate()
    for key, definition in KPIS.items():
        assert f"`{key}`" in text and str(definition.description) in text


def test_kpi_docs_check(tmp_path, monkeypatch):
    out, _ = _call("kpi_docs", "--check")
    assert "up to date" in out
    monkeypatch.setattr("kpis.management.commands.kpi_docs.DOCS_PATH", tmp_path / "kpis.md")
    with pytest.raises(CommandError, match="out of date"):
        _call("kpi_docs", "--check")
    _call("kpi_docs")
    assert (tmp_path / "kpis.md").read_text(encoding="utf-8") == generate()
