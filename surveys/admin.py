from django.contrib import admin

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
