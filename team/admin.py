from django.contrib import admin

from team.models import (
    Certification,
    MemberSettings,
    PulseInvitation,
    PulseRound,
    PulseSchedule,
    TrainingAttendance,
    TrainingSession,
)


class AttendanceInline(admin.TabularInline):
    model = TrainingAttendance
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(TrainingSession)
class TrainingSessionAdmin(admin.ModelAdmin):
    list_display = ["title", "kind", "date", "hours", "provider", "confirmed_at"]
    list_filter = ["kind", "date"]
    search_fields = ["title", "provider"]
    inlines = [AttendanceInline]
    raw_id_fields = ["created_by", "confirmed_by"]


@admin.register(Certification)
class CertificationAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "team", "obtained_on", "expires_on", "confirmed_at"]
    list_filter = ["team", "expires_on"]
    search_fields = ["name", "user__username", "user__last_name"]
    raw_id_fields = ["user", "created_by", "confirmed_by"]


# Pulse answers are not in the admin: one by one, with their team and day,
# a small team's answers could be told apart. Results go through the
# results page, which applies the anonymity threshold.
@admin.register(PulseSchedule)
class PulseScheduleAdmin(admin.ModelAdmin):
    list_display = ["__str__", "is_active", "every_months", "day_of_month"]


@admin.register(PulseRound)
class PulseRoundAdmin(admin.ModelAdmin):
    list_display = ["opened_on"]


@admin.register(PulseInvitation)
class PulseInvitationAdmin(admin.ModelAdmin):
    list_display = ["round", "user", "team", "sent_at", "reminded_at", "answered"]
    list_filter = ["round", "answered"]
    raw_id_fields = ["user"]
    readonly_fields = ["token", "answered"]


@admin.register(MemberSettings)
class MemberSettingsAdmin(admin.ModelAdmin):
    list_display = ["user", "language"]
    raw_id_fields = ["user"]
