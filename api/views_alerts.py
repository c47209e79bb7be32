"""KPI alerts in the API (`/api/v1/alerts/`): the in-app notifications list.

The same alerts as the Alerts page (alerts.models.AlertQuerySet.visible_to:
admins every alert, managers their team's and its people's, salespeople
their own), with the same sentences in the reader's language, and the page's
Acknowledge: anyone who may see an alert may acknowledge it; the first
acknowledgement is kept.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers
from rest_framework.decorators import action

from alerts import text
from alerts.models import Alert, Rule
from api.filters import Filters, date, flag
from api.serializers import ReadSerializer, id_field
from api.views import ApiViewSet
from kpis.definitions import KPIS
from kpis.models import ScopeType


class AlertSerializer(ReadSerializer):
    """A KPI alert as the Alerts page shows it: what, about whom, for which
    period, why, and whether it is still open and who acknowledged it."""

    why = serializers.DictField(
        read_only=True, help_text="The figures behind the alert; their keys depend on the rule (docs/api.md)."
    )
    title = serializers.SerializerMethodField(help_text="The alert in one line, in the reader's language.")
    message = serializers.SerializerMethodField(help_text="Why: the figures behind it, as a sentence.")
    link = serializers.SerializerMethodField(help_text="Where to look in Boussole (a path).")
    is_open = serializers.SerializerMethodField(help_text="The condition still holds (not resolved).")

    class Meta:
        model = Alert
        fields = [
            "id", "rule", "kpi", "scope_type", "scope_id", "team", "user", "product", "subject",
            "granularity", "period_start", "title", "message", "why", "link", "first_seen", "last_seen",
            "is_open", "resolved_at", "acknowledged_by", "acknowledged_at",
        ]  # fmt: skip

    def get_title(self, alert: Alert) -> str:
        return text.title(alert)

    def get_message(self, alert: Alert) -> str:
        return text.why(alert)

    def get_link(self, alert: Alert) -> str:
        return text.link(alert)

    def get_is_open(self, alert: Alert) -> bool:
        return alert.resolved_at is None


class AlertFilters(Filters):
    open = flag("Open alerts only (true) or resolved ones (false).")
    acknowledged = flag("Acknowledged (true) or not yet (false).")
    rule = serializers.ChoiceField(choices=Rule.choices, required=False)
    kpi = serializers.ChoiceField(choices=sorted(KPIS), required=False)
    scope = serializers.ChoiceField(choices=ScopeType.values, required=False, help_text="Scope type.")
    team = id_field(required=False, help_text="Team id.")
    user = id_field(required=False, help_text="The salesperson's user id.")
    product = id_field(required=False, help_text="Product id.")
    seen_from = date("First seen on or after (YYYY-MM-DD).")
    seen_to = date("First seen on or before.")
    lookups = {
        "open": "resolved_at__isnull",
        "acknowledged": "acknowledged_at__isnull",
        "scope": "scope_type",
        "team": "team_id",
        "user": "user_id",
        "product": "product_id",
        "seen_from": "first_seen__date__gte",
        "seen_to": "first_seen__date__lte",
    }

    def filter(self, queryset, name, value):
        if name == "acknowledged":
            value = not value  # isnull
        return super().filter(queryset, name, value)


@extend_schema(tags=["alerts"])
class AlertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """KPI alerts you may see, newest first (docs/alerts.md): salespeople
    their own, managers their team's and its people's, admins all."""

    model = Alert
    serializer_class = AlertSerializer
    filter_serializer = AlertFilters

    def base_queryset(self):
        return Alert.objects.order_by()

    @extend_schema(request=None, responses=AlertSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        """Mark the alert as seen, as its Acknowledge button does: records who
        and when; a second acknowledgement keeps the first (idempotent). It
        stays open until its condition no longer holds."""
        alert = self.get_object()
        alert.acknowledge(request.user)
        return self.output(alert)
