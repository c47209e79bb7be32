"""KPI snapshots and definitions (read only), and who the caller is."""

from __future__ import annotations

from django.db.models import Q
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from api import filters
from api import serializers as s
from api.views import ApiViewSet
from crm.models import Campaign, Team, User
from kpis.definitions import KPIS
from kpis.models import KpiSnapshot, ScopeType


def visible_snapshots(user):
    """The snapshots the performance pages would show this user."""
    return visible_scopes(KpiSnapshot.objects.order_by(), user)


def visible_scopes(snapshots, user):
    """Rows per (scope_type, scope_id) that the performance pages (the
    scorecards, the Forecast page) would show this user.

    An admin reads every scope; a manager their team's and its people's
    scorecards; anyone else their own. Company and campaign figures are
    admins' (only their pages show them).
    """
    if user.is_admin_role:
        return snapshots
    own = Q(scope_type=ScopeType.REP, scope_id=user.pk)
    if user.is_manager and user.team_id:
        people = User.objects.visible_to(user).values("pk")
        return snapshots.filter(
            own
            | Q(scope_type=ScopeType.TEAM, scope_id=user.team_id)
            | Q(scope_type=ScopeType.REP, scope_id__in=people)
        )
    return snapshots.filter(own)


class ScopeNames:
    """Gives the serializer `scope_names` for the rows it shows."""

    def get_serializer(self, *args, **kwargs):
        # Scope names for this page only: one small query per scope type present.
        objects = args[0] if args else []
        objects = objects if isinstance(objects, list) else [objects]
        wanted: dict[str, set[int]] = {}
        for snap in objects:
            wanted.setdefault(snap.scope_type, set()).add(snap.scope_id)
        names: dict[tuple[str, int], str] = {(ScopeType.COMPANY, 0): "company"}
        if wanted.get(ScopeType.TEAM):
            for pk, name in Team.objects.filter(pk__in=wanted[ScopeType.TEAM]).values_list("pk", "name"):
                names[(ScopeType.TEAM, pk)] = name
        if wanted.get(ScopeType.REP):
            for person in User.objects.filter(pk__in=wanted[ScopeType.REP]).only(
                "username", "first_name", "last_name"
            ):
                names[(ScopeType.REP, person.pk)] = str(person)
        if wanted.get(ScopeType.CAMPAIGN):
            campaigns = Campaign.objects.filter(pk__in=wanted[ScopeType.CAMPAIGN]).values_list("pk", "name")
            for pk, name in campaigns:
                names[(ScopeType.CAMPAIGN, pk)] = name
        kwargs["context"] = {**self.get_serializer_context(), "scope_names": names}
        return self.serializer_class(*args, **kwargs)


@extend_schema(tags=["kpis"])
class KpiSnapshotViewSet(ScopeNames, mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """KPI values as stored by the nightly recompute: the columns and filters
    of `manage.py export_kpis`. Values are exact decimals as strings; null
    means n/a (see /api/v1/kpis/ for each KPI's unit)."""

    serializer_class = s.KpiSnapshotSerializer
    filter_serializer = filters.KpiSnapshotFilters

    def get_queryset(self):
        return visible_snapshots(self.request.user)


def _definition(defn) -> dict:
    return {
        "key": defn.key,
        "label": str(defn.label),
        "unit": defn.unit,
        "better": defn.better,
        "scopes": list(defn.scopes),
        "description": str(defn.description),
        "formula_version": defn.formula_version,
        "is_rate": defn.is_rate,
        "is_cohort": defn.is_cohort,
        "point_in_time": defn.point_in_time,
    }


@extend_schema(tags=["kpis"])
class KpiDefinitionViewSet(viewsets.ViewSet):
    """The KPI definitions (docs/kpis.md): one short, fixed list, not paginated."""

    lookup_field = "key"
    lookup_value_regex = "[a-z0-9_]+"
    serializer_class = s.KpiDefinitionSerializer

    @extend_schema(responses=s.KpiDefinitionSerializer(many=True))
    def list(self, request):
        return Response([_definition(d) for d in KPIS.values()])

    @extend_schema(responses=s.KpiDefinitionSerializer)
    def retrieve(self, request, key=None):
        if key not in KPIS:
            raise Http404
        return Response(_definition(KPIS[key]))


@extend_schema(tags=["people"], responses=s.MeSerializer)
class MeView(APIView):
    """Who the token (or session) belongs to: your id, role and team."""

    serializer_class = s.MeSerializer

    def get(self, request):
        user = User.objects.select_related("team").get(pk=request.user.pk)
        return Response(s.MeSerializer(user).data)
