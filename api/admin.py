from django.contrib import admin

from api.models import ApiToken, Webhook, WebhookAttempt, WebhookDelivery


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    # Admins can see and revoke (delete) anyone's tokens, never read one.
    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "expires_at"]
    list_select_related = ["user"]
    search_fields = ["name", "user__username", "prefix"]
    readonly_fields = ["user", "name", "prefix", "created_at", "last_used_at", "expires_at"]

    def has_add_permission(self, request):
        return False  # tokens are created on the owner's profile, where they are shown once


class AttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    readonly_fields = ["number", "attempted_at", "status_code", "error", "response_body", "duration_ms"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["event", "webhook", "status", "attempt_count", "created_at", "next_attempt_at"]
    list_filter = ["status", "event"]
    list_select_related = ["webhook"]
    readonly_fields = ["webhook", "event", "uuid", "payload", "is_test", "created_at"]
    inlines = [AttemptInline]


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    list_display = ["url", "is_active", "created_at"]
