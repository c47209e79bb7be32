from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _

from .models import (
    Activity,
    Campaign,
    CampaignSpend,
    Customer,
    Deal,
    DealStageChange,
    LostReason,
    Product,
    Prospect,
    SalesCost,
    Target,
    Team,
    User,
)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "region"]
    search_fields = ["name", "region"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "first_name", "last_name", "email", "role", "team", "is_active"]
    list_filter = ["role", "team", "is_active", "is_staff"]
    list_select_related = ["team"]
    fieldsets = BaseUserAdmin.fieldsets + ((_("Boussole"), {"fields": ["role", "team"]}),)
    add_fieldsets = BaseUserAdmin.add_fieldsets + ((_("Boussole"), {"fields": ["role", "team"]}),)


class CampaignSpendInline(admin.TabularInline):
    model = CampaignSpend
    extra = 1


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "channel", "team", "starts_on", "ends_on"]
    list_filter = ["channel", "team"]
    search_fields = ["name"]
    date_hierarchy = "starts_on"
    inlines = [CampaignSpendInline]


@admin.register(CampaignSpend)
class CampaignSpendAdmin(admin.ModelAdmin):
    list_display = ["campaign", "spent_on", "amount", "note"]
    list_filter = ["campaign__channel", "campaign"]
    list_select_related = ["campaign"]
    date_hierarchy = "spent_on"


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "list_price", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name"]


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "owner",
        "team",
        "country",
        "acquired_on",
        "churned_on",
        "source_campaign",
    ]
    list_filter = ["team", "language", "sector", ("churned_on", admin.EmptyFieldListFilter)]
    list_select_related = ["owner", "team", "source_campaign"]
    search_fields = ["name", "contact_name", "contact_email"]
    date_hierarchy = "acquired_on"
    raw_id_fields = ["owner", "source_campaign"]
    readonly_fields = ["first_deal"]


@admin.register(Prospect)
class ProspectAdmin(admin.ModelAdmin):
    list_display = ["name", "company", "owner", "team", "status", "created_on", "source_campaign"]
    list_filter = ["status", "team", "source_campaign"]
    list_select_related = ["owner", "team", "source_campaign"]
    search_fields = ["name", "company", "email"]
    date_hierarchy = "created_on"
    raw_id_fields = ["owner", "customer", "source_campaign"]


class DealStageChangeInline(admin.TabularInline):
    model = DealStageChange
    extra = 0
    readonly_fields = ["from_stage", "to_stage", "changed_at", "changed_by"]
    can_delete = False


@admin.register(Deal)
class DealAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "owner",
        "team",
        "stage",
        "amount",
        "opened_on",
        "closed_on",
        "external_ref",
    ]
    list_filter = ["stage", "team", "product", "lost_reason"]
    list_select_related = ["owner", "team"]
    search_fields = ["title", "external_ref", "customer__name"]
    date_hierarchy = "opened_on"
    raw_id_fields = ["owner", "customer", "prospect"]
    inlines = [DealStageChangeInline]


@admin.register(LostReason)
class LostReasonAdmin(admin.ModelAdmin):
    """The managed list of lost reasons (kpi-spec lost_reasons). A reason in
    use cannot be deleted (its deals protect it): untick "active" to retire it
    from the lost form."""

    list_display = ["code", "name", "name_fr", "position", "is_active"]
    list_editable = ["name", "name_fr", "position", "is_active"]
    search_fields = ["code", "name", "name_fr"]


@admin.register(DealStageChange)
class DealStageChangeAdmin(admin.ModelAdmin):
    list_display = ["deal", "from_stage", "to_stage", "changed_at", "changed_by"]
    list_filter = ["to_stage"]
    list_select_related = ["deal", "changed_by"]
    raw_id_fields = ["deal"]


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    list_display = ["subject", "kind", "occurred_on", "owner", "team"]
    list_filter = ["kind", "team"]
    list_select_related = ["owner", "team"]
    search_fields = ["subject", "notes"]
    date_hierarchy = "occurred_on"
    raw_id_fields = ["owner", "prospect", "deal", "customer"]


@admin.register(Target)
class TargetAdmin(admin.ModelAdmin):
    list_display = ["month", "user", "team", "amount"]
    list_filter = ["team", "month"]
    list_select_related = ["user", "team"]


@admin.register(SalesCost)
class SalesCostAdmin(admin.ModelAdmin):
    list_display = ["spent_on", "team", "category", "amount", "note"]
    list_filter = ["category", "team"]
    list_select_related = ["team"]
    date_hierarchy = "spent_on"
