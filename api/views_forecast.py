"""Revenue forecasts in the API (`/api/v1/forecasts/`), read only.

The rows the Forecast page reads (kpis.forecast writes them nightly): per
scope, granularity (month, quarter) and period, the latest forecast of the
current and next periods and the ones kept from a period's start and middle,
with what closed periods made. Visibility as on the page: a salesperson their
own (`rep`), a manager their team and its people, an admin every scope
including the company.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers

from api.filters import Filters, YearMonthField
from api.serializers import ReadSerializer
from api.views import ApiViewSet
from api.views_kpis import ScopeNames, visible_scopes
from kpis import forecast as fc
from kpis.definitions import COMPANY, REP, TEAM
from kpis.models import ForecastSnapshot


class ForecastSerializer(ReadSerializer):
    """One stored forecast: money as decimal strings in the company currency."""

    scope_name = serializers.SerializerMethodField()
    details = serializers.DictField(
        read_only=True,
        help_text="Explain this number: `deals` (the open deals simulated that move it most, each with "
        "its probability and where that came from) and `rates` (the historical win rates used).",
    )

    class Meta:
        model = ForecastSnapshot
        fields = [
            "id", "scope_type", "scope_id", "scope_name", "granularity", "period_start", "kind", "made_on",
            "won_so_far", "p10", "p50", "p90", "expected", "target", "chance_of_target", "open_deals",
            "actual", "details", "backfilled", "formula_version", "computed_at",
        ]  # fmt: skip
        extra_kwargs = {
            "kind": {"help_text": "latest: rewritten nightly; start, mid: made once at the period's start "
                     "and after its middle, then kept."},
            "chance_of_target": {"help_text": "Percent of simulated outcomes reaching the target (0–100)."},
            "actual": {"help_text": "What the period really made, once it is over."},
        }  # fmt: skip

    def get_scope_name(self, row) -> str:
        return self.context.get("scope_names", {}).get((row.scope_type, row.scope_id), "")


class ForecastFilters(Filters):
    scope = serializers.ChoiceField(choices=[COMPANY, TEAM, REP], required=False, help_text="Scope type.")
    scope_id = serializers.IntegerField(
        required=False, min_value=0, max_value=2**63 - 1, help_text="The team's or person's id (company: 0)."
    )
    granularity = serializers.ChoiceField(choices=list(fc.GRANULARITIES), required=False)
    kind = serializers.ChoiceField(choices=ForecastSnapshot.Kind.choices, required=False)
    lookups = {"scope": "scope_type", "from": "period_start__gte", "to": "period_start__lte"}

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = YearMonthField(
            required=False, help_text="Periods starting from this month, YYYY-MM."
        )
        fields["to"] = YearMonthField(required=False, help_text="Periods starting up to this month, YYYY-MM.")
        return fields


@extend_schema(tags=["kpis"])
class ForecastViewSet(ScopeNames, mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """Revenue forecasts (docs/forecast.md) of the scopes the Forecast page
    shows you: P10/P50/P90, expected revenue, won so far, the target and the
    chance of reaching it, per scope and period."""

    serializer_class = ForecastSerializer
    filter_serializer = ForecastFilters

    def get_queryset(self):
        return visible_scopes(ForecastSnapshot.objects.order_by(), self.request.user)
