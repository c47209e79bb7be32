from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from .models import Answer, Invitation, Response, Survey, SurveyQuestion


class SurveyQuestionInline(admin.TabularInline):
    model = SurveyQuestion
    extra = 0


@admin.register(Survey)
class SurveyAdmin(admin.ModelAdmin):
    list_display = ["name", "language", "is_default", "is_active"]
    list_filter = ["language", "is_active"]
    inlines = [SurveyQuestionInline]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["customer", "survey", "owner", "team", "sent_at", "reminded_at", "bounced_at"]
    list_filter = ["survey", "team", "language"]
    list_select_related = ["customer", "survey", "owner", "team"]
    search_fields = ["customer__name", "email"]
    raw_id_fields = ["customer", "deal", "owner"]
    # The token is the customer's private key to the survey: never shown here.
    exclude = ["token"]
    actions = ["mark_bounced"]

    @admin.action(description=_("Mark selected invitations bounced"))
    def mark_bounced(self, request, queryset):
        marked = sum(inv.mark_bounced() for inv in queryset.select_related("response"))
        self.message_user(request, _("%(n)d invitation(s) marked bounced.") % {"n": marked})


class AnswerInline(admin.TabularInline):
    model = Answer
    extra = 0


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = ["invitation", "submitted_at", "nps_score", "csat_score"]
    list_select_related = ["invitation__customer", "invitation__survey"]
    date_hierarchy = "submitted_at"
    raw_id_fields = ["invitation"]
    inlines = [AnswerInline]
