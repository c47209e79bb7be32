"""Training sessions and certifications in the API (`/api/v1/training-sessions/`,
`/api/v1/certifications/`).

The pages' rules (team/views.py, team/forms.py): a salesperson sees the
sessions they attended and their own certifications, and records only their
own, which wait for a manager's confirmation; a manager sees and records
their team's (confirmed at once); an admin everyone's. Creating goes through
the pages' forms; confirming obeys the models' `can_confirm`.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action

from api.filters import Filters, date
from api.serializers import ReadSerializer, id_field, text
from api.views import ApiViewSet, form_data, valid
from team.forms import CertificationForm, TrainingForm
from team.models import Certification, TrainingAttendance, TrainingSession
from team.views import _confirms_at_once

STATUS = serializers.ChoiceField(
    choices=["confirmed", "pending"],
    required=False,
    help_text="confirmed, or pending (waiting for a manager's confirmation).",
)


# ---------------------------------------------------------------- serializers


class TrainingSessionSerializer(ReadSerializer):
    """A training session: what, when, how long, who attended; a salesperson's
    own record counts in no KPI until a manager confirms it."""

    is_confirmed = serializers.BooleanField(read_only=True)

    class Meta:
        model = TrainingSession
        fields = [
            "id", "title", "kind", "date", "hours", "provider", "notes", "attendees", "created_by",
            "is_confirmed", "confirmed_by", "confirmed_at", "created_at",
        ]  # fmt: skip


class TrainingSessionInput(serializers.Serializer):
    title = text(200)
    kind = serializers.ChoiceField(choices=TrainingSession.Kind.choices, required=False)
    date = serializers.DateField()
    hours = serializers.DecimalField(max_digits=5, decimal_places=2, help_text="More than 0, at most 1000.")
    provider = text(200, required=False, allow_blank=True)
    notes = text(10_000, required=False, allow_blank=True)
    attendees = serializers.ListField(
        child=id_field(),
        required=False,
        max_length=1000,
        help_text="Who attended (user ids). Salespeople: themselves only (the default); managers: "
        "people of their team; admins: anyone.",
    )


class CertificationSerializer(ReadSerializer):
    """A person's certification; `team` is the person's team when recorded."""

    is_confirmed = serializers.BooleanField(read_only=True)

    class Meta:
        model = Certification
        fields = [
            "id", "user", "team", "name", "obtained_on", "expires_on", "created_by", "is_confirmed",
            "confirmed_by", "confirmed_at", "created_at",
        ]  # fmt: skip


class CertificationInput(serializers.Serializer):
    user = id_field(
        required=False,
        help_text="Whose certification. Salespeople: themselves (the default); managers: a person of "
        "their team; admins: anyone.",
    )
    name = text(200)
    obtained_on = serializers.DateField()
    expires_on = serializers.DateField(required=False, allow_null=True, help_text="null: never expires.")


# ---------------------------------------------------------------- filters


class TrainingFilters(Filters):
    status = STATUS
    kind = serializers.ChoiceField(choices=TrainingSession.Kind.choices, required=False)
    attendee = id_field(required=False, help_text="Sessions this person attended.")
    team = id_field(required=False, help_text="Sessions a member of this team attended (their team then).")
    date_from = date("On or after (YYYY-MM-DD).")
    date_to = date("On or before.")
    lookups = {"date_from": "date__gte", "date_to": "date__lte"}

    def filter(self, queryset, name, value):
        if name == "status":
            return queryset.filter(confirmed_at__isnull=value == "pending")
        if name in ("attendee", "team"):
            field = "user_id" if name == "attendee" else "team_id"
            return queryset.filter(
                Exists(TrainingAttendance.objects.filter(session=OuterRef("pk"), **{field: value}))
            )
        return super().filter(queryset, name, value)


class CertificationFilters(Filters):
    status = STATUS
    user = id_field(required=False, help_text="The certified person's user id.")
    team = id_field(required=False)
    obtained_from = date("Obtained on or after.")
    obtained_to = date("Obtained on or before.")
    expires_from = date("Expires on or after.")
    expires_to = date("Expires on or before (certifications that never expire are left out).")
    lookups = {
        "user": "user_id",
        "team": "team_id",
        "obtained_from": "obtained_on__gte",
        "obtained_to": "obtained_on__lte",
        "expires_from": "expires_on__gte",
        "expires_to": "expires_on__lte",
    }

    def filter(self, queryset, name, value):
        if name == "status":
            return queryset.filter(confirmed_at__isnull=value == "pending")
        return super().filter(queryset, name, value)


# ---------------------------------------------------------------- views


class _Confirmable:
    """POST {id}/confirm/: a manager of the record's people, or an admin."""

    @action(detail=True, methods=["post"])
    def confirm(self, request, pk=None):
        """Confirm a salesperson's own record so it counts in the KPIs: their
        manager (a manager of every attendee, for a session) or an admin."""
        record = self.get_object()
        if record.is_confirmed:
            raise serializers.ValidationError({"non_field_errors": [_("It is already confirmed.")]})
        if not record.can_confirm(request.user):
            raise PermissionDenied
        record.confirm(request.user)
        return self.output(record)

    def _confirm_now(self, record, user) -> None:
        # As on the pages: a manager's or an admin's record counts at once.
        if _confirms_at_once(user):
            record.confirmed_by, record.confirmed_at = user, timezone.now()


@extend_schema(tags=["team"])
@extend_schema_view(
    create=extend_schema(request=TrainingSessionInput, responses={201: TrainingSessionSerializer}),
    confirm=extend_schema(request=None, responses=TrainingSessionSerializer),
)
class TrainingSessionViewSet(_Confirmable, mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """Training sessions: a salesperson those they attended, a manager those a
    member of their team attended (or they recorded), an admin all."""

    model = TrainingSession
    serializer_class = TrainingSessionSerializer
    filter_serializer = TrainingFilters
    http_method_names = ["get", "post", "head", "options"]

    def base_queryset(self):
        return TrainingSession.objects.order_by().prefetch_related("attendees")

    def create(self, request):
        """Record a session. A salesperson's (they attended it themselves)
        waits for their manager's confirmation; a manager's or admin's counts
        at once."""
        data = self.input(TrainingSessionInput)
        data.setdefault("kind", TrainingSession.Kind.COURSE)
        if "attendees" not in data and request.user.is_salesperson:
            data["attendees"] = [request.user.pk]
        form = valid(TrainingForm(form_data(data), user=request.user))
        with transaction.atomic():
            session = form.save(commit=False)
            session.created_by = request.user
            self._confirm_now(session, request.user)
            session.full_clean()
            session.save()
            session.set_attendees(form.cleaned_data["attendees"])
        session = self.base_queryset().get(pk=session.pk)
        return self.output(session, status.HTTP_201_CREATED)


@extend_schema(tags=["team"])
@extend_schema_view(
    create=extend_schema(request=CertificationInput, responses={201: CertificationSerializer}),
    confirm=extend_schema(request=None, responses=CertificationSerializer),
)
class CertificationViewSet(_Confirmable, mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """Certifications: a salesperson their own, a manager their team's (and
    their own), an admin everyone's."""

    model = Certification
    serializer_class = CertificationSerializer
    filter_serializer = CertificationFilters
    http_method_names = ["get", "post", "head", "options"]

    def base_queryset(self):
        return Certification.objects.order_by()

    def create(self, request):
        """Record a certification. A salesperson's own waits for their
        manager's confirmation; a manager's or admin's counts at once."""
        data = self.input(CertificationInput)
        if "user" not in data and request.user.is_salesperson:
            data["user"] = request.user.pk
        form = valid(CertificationForm(form_data(data), user=request.user))
        with transaction.atomic():
            cert = form.save(commit=False)
            cert.created_by = request.user
            self._confirm_now(cert, request.user)
            cert.full_clean()
            cert.save()
        return self.output(cert, status.HTTP_201_CREATED)
