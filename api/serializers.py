"""What the API returns (read serializers) and accepts (input serializers).

Input serializers check types and shapes only, so the schema says exactly
what a request may hold; the business rules (who may own what, plausible
dates and amounts, which stage may follow which) are the pages' own forms
and the models' verbs, run by the views (api/views.py).
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from crm.forms import AMOUNT_MAX
from crm.models import (
    Activity,
    Campaign,
    CampaignSpend,
    Customer,
    Deal,
    DealStageChange,
    Language,
    LostReason,
    Product,
    Prospect,
    SalesCost,
    Stage,
    Target,
    Team,
    User,
)
from surveys.models import Answer, Invitation, Response

ID_MAX = 2**63 - 1


def id_field(**kwargs) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=ID_MAX, **kwargs)


def amount_field(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=Decimal("0"), max_value=AMOUNT_MAX, **kwargs
    )


def text(max_length: int, **kwargs) -> serializers.CharField:
    return serializers.CharField(max_length=max_length, **kwargs)


class ReadSerializer(serializers.ModelSerializer):
    """What the API shows: read-only (writes have their input serializers), so
    no form of the browsable API ever lists related records for choosing."""

    # An email may be blank (""), which the schema's "format: email" refuses.
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.EmailField: serializers.CharField,
    }

    def get_extra_kwargs(self):
        extra = super().get_extra_kwargs()
        for name in self.Meta.fields:
            extra[name] = {**extra.get(name, {}), "read_only": True}
        return extra


# ---------------------------------------------------------------- people


class TeamSerializer(ReadSerializer):
    class Meta:
        model = Team
        fields = ["id", "name", "region"]


class UserSerializer(ReadSerializer):
    name = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "name", "role", "team", "is_active"]

    def get_name(self, user: User) -> str:
        return str(user)


class MeSerializer(UserSerializer):
    team = TeamSerializer(allow_null=True)

    class Meta(UserSerializer.Meta):
        fields = ["id", "username", "name", "email", "role", "team"]


class ProductSerializer(ReadSerializer):
    class Meta:
        model = Product
        fields = ["id", "name", "list_price", "is_active"]


# ---------------------------------------------------------------- prospects


class ProspectSerializer(ReadSerializer):
    class Meta:
        model = Prospect
        fields = [
            "id", "external_ref", "name", "company", "email", "phone", "status", "owner", "team",
            "source_campaign", "created_on", "customer", "converted_on", "lost_reason",
        ]  # fmt: skip


class ProspectInput(serializers.Serializer):
    name = text(200)
    company = text(200, required=False, allow_blank=True)
    email = serializers.EmailField(required=False, allow_blank=True)
    phone = text(50, required=False, allow_blank=True)
    source_campaign = id_field(required=False, allow_null=True)
    owner = id_field(required=False, help_text="Managers and admins: who owns it (default: you).")


class ProspectStatusInput(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=[Prospect.Status.NEW, Prospect.Status.CONTACTED, Prospect.Status.QUALIFIED]
    )


class ReasonInput(serializers.Serializer):
    reason = text(200)


class ConvertInput(serializers.Serializer):
    mode = serializers.ChoiceField(
        choices=["new", "existing"], help_text="new: create a customer; existing: link `customer`."
    )
    customer_name = text(200, required=False, allow_blank=True)
    customer = id_field(required=False, allow_null=True)
    deal_title = text(200)
    amount = amount_field(required=False, default=Decimal("0"))
    product = id_field(required=False, allow_null=True)
    expected_close_on = serializers.DateField(required=False, allow_null=True)


# ---------------------------------------------------------------- customers


class CustomerSerializer(ReadSerializer):
    class Meta:
        model = Customer
        fields = [
            "id", "name", "contact_name", "contact_email", "language", "sector", "country", "employees",
            "owner", "team", "source_campaign", "acquired_on", "churned_on", "churn_reason",
        ]  # fmt: skip


class CustomerInput(serializers.Serializer):
    name = text(200)
    contact_name = text(200, required=False, allow_blank=True)
    contact_email = serializers.EmailField(required=False, allow_blank=True)
    language = serializers.ChoiceField(choices=Language.choices, required=False)
    sector = text(100, required=False, allow_blank=True)
    country = text(100, required=False, allow_blank=True)
    employees = serializers.IntegerField(min_value=0, max_value=10_000_000, required=False, allow_null=True)
    source_campaign = id_field(required=False, allow_null=True)
    owner = id_field(required=False, help_text="Managers and admins: the account owner (default: you).")


class ChurnInput(serializers.Serializer):
    churned_on = serializers.DateField()
    reason = text(200)


# ---------------------------------------------------------------- deals


class DealSerializer(ReadSerializer):
    lost_reason = serializers.SlugRelatedField(
        slug_field="code",
        read_only=True,
        allow_null=True,
        help_text="The code of the managed lost reason when the deal is lost, else null.",
    )

    class Meta:
        model = Deal
        fields = [
            "id", "external_ref", "title", "stage", "amount", "owner", "team", "customer", "prospect",
            "product", "opened_on", "expected_close_on", "closed_on", "lost_reason", "lost_note",
            "created_at", "updated_at",
        ]  # fmt: skip


class StageChangeSerializer(ReadSerializer):
    class Meta:
        model = DealStageChange
        fields = ["id", "from_stage", "to_stage", "changed_at", "changed_by"]


class DealInput(serializers.Serializer):
    title = text(200)
    customer = id_field(required=False, allow_null=True, help_text="A customer, a prospect, or both.")
    prospect = id_field(required=False, allow_null=True)
    product = id_field(required=False, allow_null=True)
    amount = amount_field(required=False, default=Decimal("0"))
    stage = serializers.ChoiceField(
        choices=Stage.open_stages(), required=False, help_text="Creation only: the open stage it starts at."
    )
    opened_on = serializers.DateField(required=False)
    expected_close_on = serializers.DateField(required=False, allow_null=True)
    owner = id_field(required=False, help_text="Managers and admins: who owns it (default: you).")


class DealMoveInput(serializers.Serializer):
    stage = serializers.ChoiceField(choices=Stage.open_stages())


class DealWonInput(serializers.Serializer):
    amount = amount_field()
    closed_on = serializers.DateField()


class DealLostInput(serializers.Serializer):
    reason_code = serializers.SlugField(
        max_length=40,
        required=False,
        help_text="The managed lost reason: price, timing, competitor, no_decision, product_fit, other "
        "(or any code an admin added).",
    )
    reason = text(
        200,
        required=False,
        allow_blank=True,
        help_text="An optional note. Without reason_code, a reason's code or name here names it, and any "
        'other text is kept as the note of the reason "other".',
    )
    closed_on = serializers.DateField()

    def validate(self, attrs):
        code, text_ = attrs.get("reason_code"), (attrs.get("reason") or "").strip()
        if code:
            reason = LostReason.objects.active().filter(code=code).first()
            if reason is None:
                raise serializers.ValidationError({"reason_code": [_("Unknown lost reason.")]})
            note = text_
        else:
            reason, note = LostReason.resolve(text_)
            if reason is None:
                raise serializers.ValidationError({"reason_code": [_("Say why the deal was lost.")]})
        attrs["lost_reason"], attrs["note"] = reason, note
        return attrs


class DealReopenInput(serializers.Serializer):
    stage = serializers.ChoiceField(choices=Stage.open_stages(), default=Stage.NEGOTIATION)


# ---------------------------------------------------------------- activities


class ActivitySerializer(ReadSerializer):
    class Meta:
        model = Activity
        fields = [
            "id", "external_ref", "kind", "occurred_on", "subject", "notes", "owner", "team", "prospect",
            "deal", "customer", "done", "created_at",
        ]  # fmt: skip


class ActivityInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Activity.Kind.choices)
    occurred_on = serializers.DateField()
    subject = text(200)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=10_000)
    prospect = id_field(required=False, allow_null=True)
    deal = id_field(required=False, allow_null=True)
    customer = id_field(required=False, allow_null=True)
    done = serializers.BooleanField(required=False, default=True, help_text="false for a planned activity.")


# ---------------------------------------------------------------- campaigns and costs


class CampaignSerializer(ReadSerializer):
    class Meta:
        model = Campaign
        fields = ["id", "name", "channel", "team", "starts_on", "ends_on"]


class CampaignInput(serializers.Serializer):
    name = text(200)
    channel = serializers.ChoiceField(choices=Campaign.Channel.choices)
    team = id_field(required=False, allow_null=True, help_text="Empty: company-wide (admins only).")
    starts_on = serializers.DateField()
    ends_on = serializers.DateField(required=False, allow_null=True)


class SpendLineSerializer(ReadSerializer):
    class Meta:
        model = CampaignSpend
        fields = ["id", "campaign", "spent_on", "amount", "note"]


class SpendLineInput(serializers.Serializer):
    campaign = id_field()
    spent_on = serializers.DateField()
    amount = amount_field()
    note = text(200, required=False, allow_blank=True)


class SalesCostSerializer(ReadSerializer):
    class Meta:
        model = SalesCost
        fields = ["id", "team", "spent_on", "category", "amount", "note", "created_at"]


class SalesCostInput(serializers.Serializer):
    team = id_field(required=False, allow_null=True, help_text="Empty: a company-wide cost (admins only).")
    spent_on = serializers.DateField(help_text="A day of the month the cost belongs to.")
    category = serializers.ChoiceField(choices=SalesCost.Category.choices)
    amount = amount_field()
    note = text(200, required=False, allow_blank=True)


class TargetSerializer(ReadSerializer):
    class Meta:
        model = Target
        fields = ["id", "user", "team", "month", "amount"]


class TargetInput(serializers.Serializer):
    user = id_field(required=False, allow_null=True, help_text="A salesperson's target…")
    team = id_field(required=False, allow_null=True, help_text="…or a team's: exactly one of the two.")
    month = serializers.DateField(help_text="Any day of the month; stored as its first day.")
    amount = amount_field()


class TargetAmountInput(serializers.Serializer):
    amount = amount_field()


# ---------------------------------------------------------------- surveys


class InvitationSerializer(ReadSerializer):
    status = serializers.CharField(read_only=True)

    class Meta:
        model = Invitation
        # Never the token: it is the customer's private link.
        fields = [
            "id", "survey", "customer", "deal", "owner", "team", "email", "language", "status",
            "created_at", "send_after", "sent_at", "reminded_at", "bounced_at", "expires_at",
        ]  # fmt: skip


class AnswerSerializer(ReadSerializer):
    question_text = serializers.CharField(source="question.text", read_only=True)

    class Meta:
        model = Answer
        fields = ["question", "question_text", "scale_value", "text_value"]


class ResponseSerializer(ReadSerializer):
    customer = serializers.IntegerField(source="invitation.customer_id", read_only=True)
    deal = serializers.IntegerField(source="invitation.deal_id", read_only=True, allow_null=True)
    survey = serializers.IntegerField(source="invitation.survey_id", read_only=True)
    owner = serializers.IntegerField(source="invitation.owner_id", read_only=True, allow_null=True)
    team = serializers.IntegerField(source="invitation.team_id", read_only=True, allow_null=True)
    nps_category = serializers.CharField(read_only=True)
    answers = AnswerSerializer(many=True, read_only=True)

    class Meta:
        model = Response
        fields = [
            "id", "invitation", "survey", "customer", "deal", "owner", "team", "submitted_at",
            "nps_score", "nps_category", "csat_score", "comment", "answers",
        ]  # fmt: skip


# ---------------------------------------------------------------- KPIs


@extend_schema_field(OpenApiTypes.STR)
class NumberField(serializers.Field):
    """A decimal as an exact string without trailing zeros; null is n/a."""

    def to_representation(self, value):
        text_value = format(value.normalize(), "f")
        return "0" if text_value in ("-0", "") else text_value


class KpiSnapshotSerializer(serializers.Serializer):
    """The columns of `manage.py export_kpis`."""

    id = serializers.IntegerField()
    kpi = serializers.CharField()
    scope_type = serializers.CharField()
    scope_id = serializers.IntegerField()
    scope_name = serializers.SerializerMethodField()
    granularity = serializers.CharField()
    period_start = serializers.DateField()
    value = NumberField(allow_null=True)
    numerator = NumberField(allow_null=True)
    denominator = NumberField(allow_null=True)
    low_sample = serializers.BooleanField()
    maturing = serializers.BooleanField()
    formula_version = serializers.IntegerField()
    computed_at = serializers.DateTimeField()

    def get_scope_name(self, snapshot) -> str:
        return self.context.get("scope_names", {}).get((snapshot.scope_type, snapshot.scope_id), "")


class KpiDefinitionSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    unit = serializers.CharField()
    better = serializers.CharField(allow_null=True)
    scopes = serializers.ListField(child=serializers.CharField())
    description = serializers.CharField()
    formula_version = serializers.IntegerField()
    is_rate = serializers.BooleanField()
    is_cohort = serializers.BooleanField()
    point_in_time = serializers.BooleanField()
