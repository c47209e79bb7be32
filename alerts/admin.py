from django.contrib import admin

from alerts.models import Alert, DigestDelivery, DigestPreference


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["rule", "kpi", "subject", "period_start", "first_seen", "resolved_at", "acknowledged_at"]
    list_filter = ["rule", "scope_type"]
    raw_id_fields = ["team", "user", "product", "acknowledged_by"]


admin.site.register(DigestPreference)
admin.site.register(DigestDelivery)
