"""Query-string filters for the lists, validated like any input: a bad value
is a 400 naming the parameter, never a 500 or a silently ignored filter."""

from __future__ import annotations

from rest_framework import serializers

from api.serializers import id_field
from crm.models import Activity, Campaign, Prospect, SalesCost, Stage
from kpis.definitions import GRANULARITIES, KPIS
from kpis.models import ScopeType


def flag(help_text: str) -> serializers.BooleanField:
    # allow_null: an absent flag is "either", not False.
    return serializers.BooleanField(required=False, allow_null=True, default=None, help_text=help_text)


def date(help_text: str) -> serializers.DateField:
    return serializers.DateField(required=False, help_text=help_text)


class Filters(serializers.Serializer):
    """Each validated parameter becomes `.filter(<lookup>=value)`."""

    lookups: dict[str, str] = {}

    def apply(self, queryset):
        for name, value in self.validated_data.items():
            if value is None:
                continue
            queryset = self.filter(queryset, name, value)
        return queryset

    def filter(self, queryset, name, value):
        return queryset.filter(**{self.lookups.get(name, name): value})


class OwnedFilters(Filters):
    owner = id_field(required=False, help_text="Owner's user id.")
    team = id_field(required=False, help_text="Team id.")
    lookups = {"owner": "owner_id", "team": "team_id"}


class UserFilters(Filters):
    team = id_field(required=False)
    role = serializers.ChoiceField(choices=["salesperson", "manager", "admin"], required=False)
    is_active = flag("Active accounts only (true) or deactivated ones (false).")
    lookups = {"team": "team_id"}


class ProspectFilters(OwnedFilters):
    status = serializers.ChoiceField(choices=Prospect.Status.choices, required=False)
    source_campaign = id_field(required=False)
    external_ref = serializers.CharField(required=False, max_length=100)
    created_from = date("Created on or after (YYYY-MM-DD).")
    created_to = date("Created on or before.")
    lookups = {
        **OwnedFilters.lookups,
        "source_campaign": "source_campaign_id",
        "created_from": "created_on__gte",
        "created_to": "created_on__lte",
    }


class CustomerFilters(OwnedFilters):
    acquired = flag("Customers with a won deal (true) or not yet (false).")
    churned = flag("Churned customers (true) or active ones (false).")
    source_campaign = id_field(required=False)
    lookups = {
        **OwnedFilters.lookups,
        "acquired": "acquired_on__isnull",
        "churned": "churned_on__isnull",
        "source_campaign": "source_campaign_id",
    }

    def filter(self, queryset, name, value):
        if name in ("acquired", "churned"):
            value = not value  # isnull
        return super().filter(queryset, name, value)


class DealFilters(OwnedFilters):
    stage = serializers.ChoiceField(choices=Stage.choices, required=False)
    status = serializers.ChoiceField(choices=["open", "won", "lost"], required=False)
    customer = id_field(required=False)
    prospect = id_field(required=False)
    product = id_field(required=False)
    external_ref = serializers.CharField(required=False, max_length=100)
    opened_from = date("Opened on or after.")
    opened_to = date("Opened on or before.")
    closed_from = date("Closed on or after.")
    closed_to = date("Closed on or before.")
    lookups = {
        **OwnedFilters.lookups,
        "customer": "customer_id",
        "prospect": "prospect_id",
        "product": "product_id",
        "opened_from": "opened_on__gte",
        "opened_to": "opened_on__lte",
        "closed_from": "closed_on__gte",
        "closed_to": "closed_on__lte",
    }

    def filter(self, queryset, name, value):
        if name == "status":
            return queryset.open() if value == "open" else queryset.filter(stage=value)
        return super().filter(queryset, name, value)


class ActivityFilters(OwnedFilters):
    kind = serializers.ChoiceField(choices=Activity.Kind.choices, required=False)
    done = flag("Done (true) or planned (false).")
    prospect = id_field(required=False)
    deal = id_field(required=False)
    customer = id_field(required=False)
    occurred_from = date("On or after.")
    occurred_to = date("On or before.")
    lookups = {
        **OwnedFilters.lookups,
        "prospect": "prospect_id",
        "deal": "deal_id",
        "customer": "customer_id",
        "occurred_from": "occurred_on__gte",
        "occurred_to": "occurred_on__lte",
    }


class CampaignFilters(Filters):
    channel = serializers.ChoiceField(choices=Campaign.Channel.choices, required=False)
    team = id_field(required=False)
    lookups = {"team": "team_id"}


class SpendFilters(Filters):
    campaign = id_field(required=False)
    spent_from = date("Spent on or after.")
    spent_to = date("Spent on or before.")
    lookups = {"campaign": "campaign_id", "spent_from": "spent_on__gte", "spent_to": "spent_on__lte"}


class SalesCostFilters(Filters):
    team = id_field(required=False)
    company_wide = flag("Company-wide lines only (true) or team lines only (false).")
    category = serializers.ChoiceField(choices=SalesCost.Category.choices, required=False)
    spent_from = date("Spent on or after.")
    spent_to = date("Spent on or before.")
    lookups = {
        "team": "team_id",
        "company_wide": "team__isnull",
        "spent_from": "spent_on__gte",
        "spent_to": "spent_on__lte",
    }


class TargetFilters(Filters):
    user = id_field(required=False)
    team = id_field(required=False)
    month_from = date("Months from this one.")
    month_to = date("Months up to this one.")
    lookups = {"user": "user_id", "team": "team_id", "month_from": "month__gte", "month_to": "month__lte"}


class InvitationFilters(OwnedFilters):
    customer = id_field(required=False)
    deal = id_field(required=False)
    answered = flag("Answered (true) or not (false).")
    sent_from = serializers.DateTimeField(required=False)
    sent_to = serializers.DateTimeField(required=False)
    lookups = {
        **OwnedFilters.lookups,
        "customer": "customer_id",
        "deal": "deal_id",
        "answered": "response__isnull",
        "sent_from": "sent_at__gte",
        "sent_to": "sent_at__lte",
    }

    def filter(self, queryset, name, value):
        if name == "answered":
            value = not value
        return super().filter(queryset, name, value)


class ResponseFilters(Filters):
    customer = id_field(required=False)
    deal = id_field(required=False)
    submitted_from = serializers.DateTimeField(required=False)
    submitted_to = serializers.DateTimeField(required=False)
    lookups = {
        "customer": "invitation__customer_id",
        "deal": "invitation__deal_id",
        "submitted_from": "submitted_at__gte",
        "submitted_to": "submitted_at__lte",
    }


class YearMonthField(serializers.DateField):
    """YYYY-MM → the first day of that month (export_kpis' --from/--to)."""

    def __init__(self, **kwargs):
        super().__init__(input_formats=["%Y-%m"], format="%Y-%m", **kwargs)


class KpiSnapshotFilters(Filters):
    """The filters of `manage.py export_kpis`, plus one scope's id."""

    kpi = serializers.ChoiceField(choices=sorted(KPIS), required=False)
    scope = serializers.ChoiceField(choices=ScopeType.values, required=False, help_text="Scope type.")
    scope_id = serializers.IntegerField(
        required=False, min_value=0, max_value=2**63 - 1, help_text="The team's, person's or campaign's id."
    )
    granularity = serializers.ChoiceField(choices=GRANULARITIES, required=False)
    lookups = {"scope": "scope_type", "from": "period_start__gte", "to": "period_start__lte"}

    def get_fields(self):
        # `from` and `to`, as the command says them, are Python keywords.
        fields = super().get_fields()
        fields["from"] = YearMonthField(required=False, help_text="First month, YYYY-MM.")
        fields["to"] = YearMonthField(required=False, help_text="Last month, YYYY-MM.")
        return fields
