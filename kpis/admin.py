from django.contrib import admin

from kpis.models import ForecastSnapshot, KpiSnapshot, RecomputeRun


@admin.register(KpiSnapshot)
class KpiSnapshotAdmin(admin.ModelAdmin):
    """Read-only: snapshots are written by the KPI engine, never by hand."""

    list_display = ["kpi", "scope_type", "scope_id", "granularity", "period_start", "value",
                    "low_sample", "maturing", "computed_at"]  # fmt: skip
    list_filter = ["kpi", "scope_type", "granularity", "low_sample", "maturing"]
    date_hierarchy = "period_start"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(RecomputeRun)
class RecomputeRunAdmin(admin.ModelAdmin):
    list_display = ["created_at", "status", "progress", "rows_written", "churned", "requested_by",
                    "finished_at"]  # fmt: skip
    list_filter = ["status"]
    list_select_related = ["requested_by"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ForecastSnapshot)
class ForecastSnapshotAdmin(admin.ModelAdmin):
    """Read-only: forecasts are written by the nightly run (kpis.forecast)."""

    list_display = ["scope_type", "scope_id", "granularity", "period_start", "kind", "made_on", "p10", "p50",
                    "p90", "actual", "backfilled"]  # fmt: skip
    list_filter = ["scope_type", "granularity", "kind", "backfilled"]
    date_hierarchy = "period_start"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
