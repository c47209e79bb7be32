from django.contrib import admin

from team.models import Certification, TrainingAttendance, TrainingSession


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
