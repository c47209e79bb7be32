"""The JSON API's resources (`/api/v1/`).

Reads go through each model's `visible_to(user)`: what a page would not show
you, the API answers 404 for. Writes go through the pages' own forms and the
models' verbs inside one transaction, so the same rules hold whichever door
a change comes through; errors come back as 400s with field errors
(api/errors.py turns the models' and the database's refusals into those).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Model
from django.forms.models import model_to_dict
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from api import filters
from api import serializers as s
from api.errors import form_errors
from crm.forms import (
    ActivityForm,
    CampaignForm,
    ChurnForm,
    ConvertForm,
    CustomerForm,
    DealForm,
    DealLostForm,
    DealMoveForm,
    DealReopenForm,
    DealWonForm,
    ProspectForm,
    ProspectLostForm,
    ProspectStatusForm,
    SalesCostForm,
    SpendForm,
)
from crm.models import (
    Activity,
    Campaign,
    CampaignSpend,
    Customer,
    Deal,
    Product,
    Prospect,
    SalesCost,
    Stage,
    Target,
    Team,
    User,
    today,
)
from crm.views_campaigns import can_edit_campaign
from crm.views_common import require_manager
from crm.views_prospects import convert
from surveys.models import Invitation
from surveys.models import Response as SurveyResponse

# ---------------------------------------------------------------- helpers


def form_data(values: dict) -> dict:
    """Typed values → what a Django form reads from a POST."""
    data = {}
    for name, value in values.items():
        if value is None or value is False:
            data[name] = ""
        elif value is True:
            data[name] = "on"
        elif isinstance(value, Model):
            data[name] = value.pk
        elif isinstance(value, dt.date | Decimal | int):
            data[name] = str(value)
        else:
            data[name] = value
    return data


def valid(form):
    if not form.is_valid():
        raise form_errors(form)
    return form


class ApiViewSet(viewsets.GenericViewSet):
    """Lists and fetches through visible_to; filters validated like a form."""

    model: type[Model]
    filter_serializer: type[filters.Filters] | None = None
    lookup_value_regex = "[0-9]+"

    def base_queryset(self):
        return self.model.objects.all()

    def get_queryset(self):
        return self.base_queryset().visible_to(self.request.user)

    def filter_queryset(self, queryset):
        if self.action == "list" and self.filter_serializer is not None:
            params = self.filter_serializer(data=self.request.query_params, context={"view": self})
            params.is_valid(raise_exception=True)
            queryset = params.apply(queryset)
        return queryset

    def input(self, serializer_class, partial: bool = False) -> dict:
        serializer = serializer_class(data=self.request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def output(self, obj, code=status.HTTP_200_OK, serializer_class=None) -> Response:
        serializer_class = serializer_class or self.get_serializer_class()
        return Response(serializer_class(obj, context=self.get_serializer_context()).data, status=code)

    def owner_rule(self, data: dict, current: int | None = None) -> dict:
        """Salespeople own what they create; others name an owner (default: themselves)."""
        user = self.request.user
        if user.is_salesperson:
            if data.get("owner") not in (None, current or user.pk):
                raise serializers.ValidationError({"owner": [_("Salespeople own their own records.")]})
            data.pop("owner", None)
        else:
            data.setdefault("owner", current or user.pk)
        return data

    def merged(self, instance, fields: list[str], data: dict) -> dict:
        """For PATCH: the record's current values, overlaid with the request's."""
        return {**model_to_dict(instance, fields=fields), **data}


CREDIT_LOCKED = gettext_lazy(
    "A closed deal stays credited to the owner it closed with. Reopen it to change its owner."
)


class ReadWrite(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    http_method_names = ["get", "post", "patch", "head", "options"]


# ---------------------------------------------------------------- people


@extend_schema(tags=["people"])
class TeamViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """Teams: admins see every team, everyone else their own."""

    serializer_class = s.TeamSerializer

    def get_queryset(self):
        user = self.request.user
        teams = Team.objects.order_by()
        return teams if user.is_admin_role else teams.filter(pk=user.team_id)


@extend_schema(tags=["people"])
class UserViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """People you may see: yourself; a manager's team; everyone for admins."""

    model = User
    serializer_class = s.UserSerializer
    filter_serializer = filters.UserFilters


@extend_schema(tags=["people"])
class ProductViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    serializer_class = s.ProductSerializer

    def get_queryset(self):
        return Product.objects.order_by()


# ---------------------------------------------------------------- prospects


@extend_schema(tags=["prospects"])
@extend_schema_view(
    create=extend_schema(request=s.ProspectInput, responses={201: s.ProspectSerializer}),
    partial_update=extend_schema(request=s.ProspectInput, responses=s.ProspectSerializer),
)
class ProspectViewSet(ReadWrite):
    model = Prospect
    serializer_class = s.ProspectSerializer
    filter_serializer = filters.ProspectFilters
    form_fields = ["name", "company", "email", "phone", "source_campaign", "owner"]

    def create(self, request):
        data = self.owner_rule(self.input(s.ProspectInput))
        form = valid(ProspectForm(form_data(data), user=request.user))
        with transaction.atomic():
            prospect = form.save()
        return self.output(prospect, status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        prospect = self.get_object()
        data = self.owner_rule(self.input(s.ProspectInput, partial=True), prospect.owner_id)
        data = self.merged(prospect, self.form_fields, data)
        form = valid(ProspectForm(form_data(data), instance=prospect, user=request.user))
        with transaction.atomic():
            form.save()
        return self.output(prospect)

    @extend_schema(request=s.ProspectStatusInput, responses=s.ProspectSerializer)
    @action(detail=True, methods=["post"])
    def status(self, request, pk=None):
        """Move an open prospect along: new → contacted → qualified."""
        prospect = self.get_object()
        form = valid(ProspectStatusForm(form_data(self.input(s.ProspectStatusInput)), prospect=prospect))
        prospect.status = form.cleaned_data["status"]
        prospect.save(update_fields=["status"])
        return self.output(prospect)

    @extend_schema(request=s.ReasonInput, responses=s.ProspectSerializer)
    @action(detail=True, methods=["post"])
    def lost(self, request, pk=None):
        prospect = self.get_object()
        form = valid(ProspectLostForm(form_data(self.input(s.ReasonInput)), prospect=prospect))
        prospect.status = Prospect.Status.LOST
        prospect.lost_reason = form.cleaned_data["reason"]
        prospect.full_clean()
        prospect.save(update_fields=["status", "lost_reason"])
        return self.output(prospect)

    @extend_schema(request=s.ConvertInput, responses={201: s.DealSerializer})
    @action(detail=True, methods=["post"])
    def convert(self, request, pk=None):
        """Customer (new or linked) + an open deal, all or nothing; returns the deal."""
        data = self.input(s.ConvertInput)
        with transaction.atomic():
            # Locked, as on the page: two conversions cannot both pass the check.
            prospect = Prospect.objects.select_for_update().get(pk=self.get_object().pk)
            form = valid(ConvertForm(form_data(data), prospect=prospect, user=request.user))
            deal = convert(prospect, form.cleaned_data, by=request.user)
        return self.output(deal, status.HTTP_201_CREATED, s.DealSerializer)


# ---------------------------------------------------------------- customers


@extend_schema(tags=["customers"])
@extend_schema_view(
    create=extend_schema(request=s.CustomerInput, responses={201: s.CustomerSerializer}),
    partial_update=extend_schema(request=s.CustomerInput, responses=s.CustomerSerializer),
)
class CustomerViewSet(ReadWrite):
    model = Customer
    serializer_class = s.CustomerSerializer
    filter_serializer = filters.CustomerFilters
    form_fields = [
        "name", "contact_name", "contact_email", "language", "sector", "country", "employees",
        "source_campaign", "owner",
    ]  # fmt: skip

    def create(self, request):
        data = self.owner_rule(self.input(s.CustomerInput))
        form = valid(CustomerForm(form_data(data), user=request.user))
        with transaction.atomic():
            customer = form.save()
        return self.output(customer, status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        customer = self.get_object()
        data = self.owner_rule(self.input(s.CustomerInput, partial=True), customer.owner_id)
        data = self.merged(customer, self.form_fields, data)
        form = valid(CustomerForm(form_data(data), instance=customer, user=request.user))
        with transaction.atomic():
            form.save()
        return self.output(customer)

    @extend_schema(request=s.ChurnInput, responses=s.CustomerSerializer)
    @action(detail=True, methods=["post"])
    def churn(self, request, pk=None):
        customer = self.get_object()
        form = valid(ChurnForm(form_data(self.input(s.ChurnInput)), customer=customer))
        with transaction.atomic():
            customer.mark_churned(form.cleaned_data["churned_on"], form.cleaned_data["reason"])
        return self.output(customer)


# ---------------------------------------------------------------- deals


@extend_schema(tags=["deals"])
@extend_schema_view(
    create=extend_schema(request=s.DealInput, responses={201: s.DealSerializer}),
    partial_update=extend_schema(
        request=s.DealInput,
        responses=s.DealSerializer,
        description="Edit a deal. Its stage moves only through the move, won, lost and reopen actions.",
    ),
)
class DealViewSet(ReadWrite):
    model = Deal
    serializer_class = s.DealSerializer
    filter_serializer = filters.DealFilters
    form_fields = [
        "title",
        "customer",
        "prospect",
        "product",
        "amount",
        "opened_on",
        "expected_close_on",
        "owner",
    ]

    def base_queryset(self):
        return Deal.objects.select_related("lost_reason").order_by()

    def create(self, request):
        data = self.owner_rule(self.input(s.DealInput))
        data.setdefault("stage", Stage.PROSPECTING)
        data.setdefault("opened_on", today())
        form = valid(DealForm(form_data(data), user=request.user))
        deal = form.save(commit=False)
        deal.full_clean()
        # Deal.save() writes the first stage history entry, in its transaction.
        deal.save(by=request.user)
        return self.output(deal, status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        deal = self.get_object()
        if "stage" in request.data:
            raise serializers.ValidationError(
                {"stage": [_("A deal's stage moves through the move, won, lost and reopen actions.")]}
            )
        data = self.owner_rule(self.input(s.DealInput, partial=True), deal.owner_id)
        if deal.credit_is_locked and data.get("owner", deal.owner_id) != deal.owner_id:
            # kpi-spec: a closed deal's credit never moves (the page's field is disabled).
            raise serializers.ValidationError({"owner": [CREDIT_LOCKED]})
        data = self.merged(deal, self.form_fields, data)
        form = valid(DealForm(form_data(data), instance=deal, user=request.user))
        deal = form.save(commit=False)
        deal.full_clean()
        # Both customers' acquisitions follow in the database (kpis.triggers).
        deal.save()
        return self.output(deal)

    @extend_schema(responses=s.StageChangeSerializer(many=True), filters=False)
    @action(detail=True, methods=["get"], url_path="stage-changes", pagination_class=None)
    def stage_changes(self, request, pk=None):
        """The deal's stage history, oldest first."""
        deal = self.get_object()
        return Response(s.StageChangeSerializer(deal.stage_changes.all(), many=True).data)

    def _verb(self, form_class, input_class, run):
        deal = self.get_object()
        form = valid(form_class(form_data(self.input(input_class)), deal=deal))
        with transaction.atomic():
            run(deal, form.cleaned_data)
        return self.output(deal)

    @extend_schema(request=s.DealMoveInput, responses=s.DealSerializer)
    @action(detail=True, methods=["post"])
    def move(self, request, pk=None):
        """Move an open deal to another open stage (as on the board)."""
        return self._verb(
            DealMoveForm, s.DealMoveInput, lambda deal, data: deal.move_to(data["stage"], by=request.user)
        )

    @extend_schema(request=s.DealWonInput, responses=s.DealSerializer)
    @action(detail=True, methods=["post"])
    def won(self, request, pk=None):
        return self._verb(
            DealWonForm,
            s.DealWonInput,
            lambda deal, data: deal.mark_won(data["amount"], data["closed_on"], by=request.user),
        )

    @extend_schema(request=s.DealLostInput, responses=s.DealSerializer)
    @action(detail=True, methods=["post"])
    def lost(self, request, pk=None):
        """Lose an open deal for a managed reason (`reason_code`), with an optional note (`reason`)."""
        deal = self.get_object()
        data = self.input(s.DealLostInput)
        fields = {"reason": data["lost_reason"], "note": data["note"], "closed_on": data["closed_on"]}
        form = valid(DealLostForm(form_data(fields), deal=deal))
        with transaction.atomic():
            deal.mark_lost(
                form.cleaned_data["reason"],
                closed_on=form.cleaned_data["closed_on"],
                by=request.user,
                note=form.cleaned_data["note"],
            )
        return self.output(deal)

    @extend_schema(request=s.DealReopenInput, responses=s.DealSerializer)
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        """Reopen a won or lost deal at an open stage (its close date is cleared)."""
        return self._verb(
            DealReopenForm,
            s.DealReopenInput,
            lambda deal, data: deal.reopen(by=request.user, stage=data["stage"]),
        )


# ---------------------------------------------------------------- activities


@extend_schema(tags=["activities"])
@extend_schema_view(create=extend_schema(request=s.ActivityInput, responses={201: s.ActivitySerializer}))
class ActivityViewSet(ReadWrite):
    model = Activity
    serializer_class = s.ActivitySerializer
    filter_serializer = filters.ActivityFilters
    http_method_names = ["get", "post", "head", "options"]

    def create(self, request):
        """Log an activity: yours, on a prospect, deal or customer you may see."""
        data = self.input(s.ActivityInput)
        form = valid(ActivityForm(form_data(data), user=request.user))
        with transaction.atomic():
            activity = form.save(commit=False)
            activity.owner = request.user  # the person logging it did it
            activity.save()
        return self.output(activity, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.ActivitySerializer)
    @action(detail=True, methods=["post"])
    def done(self, request, pk=None):
        """A planned activity happened (idempotent)."""
        activity = self.get_object()
        if not activity.done:
            activity.done = True
            activity.save(update_fields=["done"])
        return self.output(activity)


# ---------------------------------------------------------------- campaigns and costs


@extend_schema(tags=["campaigns"])
@extend_schema_view(
    create=extend_schema(request=s.CampaignInput, responses={201: s.CampaignSerializer}),
    partial_update=extend_schema(request=s.CampaignInput, responses=s.CampaignSerializer),
)
class CampaignViewSet(ReadWrite):
    """Everyone reads campaigns (a prospect's source); managers run their
    team's, admins the company-wide ones."""

    model = Campaign
    serializer_class = s.CampaignSerializer
    filter_serializer = filters.CampaignFilters
    form_fields = ["name", "channel", "team", "starts_on", "ends_on"]

    def create(self, request):
        require_manager(request.user)
        form = valid(CampaignForm(form_data(self.input(s.CampaignInput)), user=request.user))
        with transaction.atomic():
            campaign = form.save()
        return self.output(campaign, status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        campaign = self.get_object()
        if not can_edit_campaign(request.user, campaign):
            raise PermissionDenied
        data = self.merged(campaign, self.form_fields, self.input(s.CampaignInput, partial=True))
        form = valid(CampaignForm(form_data(data), instance=campaign, user=request.user))
        with transaction.atomic():
            form.save()
        return self.output(campaign)


@extend_schema(tags=["campaigns"])
@extend_schema_view(create=extend_schema(request=s.SpendLineInput, responses={201: s.SpendLineSerializer}))
class SpendLineViewSet(mixins.DestroyModelMixin, ReadWrite):
    """Campaign spend lines: managers and admins."""

    serializer_class = s.SpendLineSerializer
    filter_serializer = filters.SpendFilters
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_queryset(self):
        require_manager(self.request.user)
        return CampaignSpend.objects.order_by()

    def create(self, request):
        data = self.input(s.SpendLineInput)
        campaign = self._editable_campaign(data.pop("campaign"))
        form = valid(SpendForm(form_data(data)))
        with transaction.atomic():
            line = form.save(commit=False)
            line.campaign = campaign
            line.save()
        return self.output(line, status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        self._editable_campaign(instance.campaign_id)
        instance.delete()

    def _editable_campaign(self, pk: int) -> Campaign:
        campaign = Campaign.objects.visible_to(self.request.user).filter(pk=pk).first()
        if campaign is None:
            raise serializers.ValidationError({"campaign": [_("No such campaign.")]})
        if not can_edit_campaign(self.request.user, campaign):
            raise PermissionDenied
        return campaign


@extend_schema(tags=["costs"])
@extend_schema_view(
    create=extend_schema(request=s.SalesCostInput, responses={201: s.SalesCostSerializer}),
    partial_update=extend_schema(request=s.SalesCostInput, responses=s.SalesCostSerializer),
)
class SalesCostViewSet(mixins.DestroyModelMixin, ReadWrite):
    """Sales cost lines: a manager's team's, or any for admins."""

    model = SalesCost
    serializer_class = s.SalesCostSerializer
    filter_serializer = filters.SalesCostFilters
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    form_fields = ["team", "spent_on", "category", "amount", "note"]

    def get_queryset(self):
        require_manager(self.request.user)
        return SalesCost.objects.order_by().visible_to(self.request.user)

    def create(self, request):
        require_manager(request.user)
        form = valid(SalesCostForm(form_data(self.input(s.SalesCostInput)), user=request.user))
        with transaction.atomic():
            line = form.save()
        return self.output(line, status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        line = self.get_object()
        data = self.merged(line, self.form_fields, self.input(s.SalesCostInput, partial=True))
        form = valid(SalesCostForm(form_data(data), instance=line, user=request.user))
        with transaction.atomic():
            form.save()
        return self.output(line)


@extend_schema(tags=["targets"])
@extend_schema_view(
    create=extend_schema(request=s.TargetInput, responses={201: s.TargetSerializer}),
    partial_update=extend_schema(request=s.TargetAmountInput, responses=s.TargetSerializer),
)
class TargetViewSet(mixins.DestroyModelMixin, ReadWrite):
    """Monthly revenue targets. Salespeople read their own; managers set their
    team's and its people's (as on the targets grid); admins any."""

    model = Target
    serializer_class = s.TargetSerializer
    filter_serializer = filters.TargetFilters
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        if self.action not in ("list", "retrieve"):
            require_manager(self.request.user)
        return Target.objects.order_by().visible_to(self.request.user)

    def create(self, request):
        require_manager(request.user)
        data = self.input(s.TargetInput)
        if bool(data.get("user")) == bool(data.get("team")):
            raise serializers.ValidationError(
                {"non_field_errors": [_("A target is for a salesperson or for a team, not both.")]}
            )
        month = data["month"].replace(day=1)
        if data.get("user"):
            people = User.objects.visible_to(request.user).sales_staff()
            owner = people.filter(pk=data["user"]).first()
            if owner is None:
                raise serializers.ValidationError({"user": [_("No such salesperson in your team.")]})
            lookup = {"user": owner, "month": month}
        else:
            teams = (
                Team.objects.all()
                if request.user.is_admin_role
                else Team.objects.filter(pk=request.user.team_id)
            )
            team = teams.filter(pk=data["team"]).first()
            if team is None:
                raise serializers.ValidationError({"team": [_("No such team among yours.")]})
            lookup = {"team": team, "month": month}
        if Target.objects.filter(**lookup).exists():
            raise serializers.ValidationError(
                {"month": [_("There is already a target for that month: change its amount instead.")]}
            )
        target = Target(**lookup, amount=data["amount"])
        with transaction.atomic():
            target.full_clean()
            target.save()
        return self.output(target, status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        target = self.get_object()
        target.amount = self.input(s.TargetAmountInput)["amount"]
        with transaction.atomic():
            target.full_clean()
            target.save(update_fields=["amount"])
        return self.output(target)


# ---------------------------------------------------------------- surveys


@extend_schema(tags=["surveys"])
class InvitationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    model = Invitation
    serializer_class = s.InvitationSerializer
    filter_serializer = filters.InvitationFilters

    def base_queryset(self):
        return Invitation.objects.order_by().select_related("response")


@extend_schema(tags=["surveys"])
class SurveyResponseViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    model = SurveyResponse
    serializer_class = s.ResponseSerializer
    filter_serializer = filters.ResponseFilters

    def base_queryset(self):
        return (
            SurveyResponse.objects.order_by()
            .select_related("invitation")
            .prefetch_related("answers__question")
        )
