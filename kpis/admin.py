from django.contrib import admin

from kpis.models import KpiSnapshot, RecomputeRun


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
