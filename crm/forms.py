"""Forms for the salesperson workspace.

Forms validate; views assign and save. Who may own a record is decided here
from the user's role (a rep owns their own records only, a manager assigns
within their team, an admin to anyone), and a record's team is always taken
from its owner server-side, never from the form.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.translation import gettext_lazy as _

from crm.models import (
    Activity,
    Campaign,
    CampaignSpend,
    Customer,
    Deal,
    LostReason,
    Product,
    Prospect,
    SalesCost,
    Stage,
    Team,
    User,
    today,
)
from crm.search import make_searchable, searchable_if_long

# No single deal, spend line or monthly target in this business comes near a
# billion: anything above is a typo (an extra zero or two), not a number.
AMOUNT_MAX = Decimal("999999999.99")
AMOUNT_VALIDATORS = [
    MinValueValidator(Decimal("0"), message=_("The amount cannot be negative.")),
    MaxValueValidator(AMOUNT_MAX, message=_("This amount is not plausible; check the digits.")),
]
# Dates further than this from today are typos too (2205 for 2025).
DATE_SLACK = dt.timedelta(days=366 * 10)

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def amount_field(label, *, required=True, **kwargs) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=required,
        max_digits=14,
        decimal_places=2,
        validators=AMOUNT_VALIDATORS,
        widget=forms.NumberInput(attrs={"min": "0", "step": "0.01", "inputmode": "decimal"}),
        **kwargs,
    )


def check_plausible_date(value: dt.date | None) -> None:
    if value and abs(value - today()) > DATE_SLACK:
        raise ValidationError(_("This date is not plausible; check the year."))


def assignable_owners(user):
    """The people `user` may give a record to (never called for reps)."""
    staff = User.objects.sales_staff()
    if user.is_admin_role:
        return staff
    if not user.team_id:
        # A manager without a team has nobody to hand records to; filtering
        # on team_id=None would match every teamless rep instead.
        return User.objects.filter(pk=user.pk)
    return staff.filter(team_id=user.team_id) | User.objects.filter(pk=user.pk)


def apply_validation_error(form: forms.Form, error: ValidationError) -> None:
    """Show a model ValidationError on the form's fields, or above it."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


class SubmitOnceMixin(forms.Form):
    """A hidden token so a double click or a resubmitted page saves once.

    The view remembers used tokens in the session (see crm.views_common).
    """

    submit_token = forms.UUIDField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["submit_token"].initial = uuid.uuid4()


class OwnerMixin:
    """Adds an owner choice by role; reps get no field and own the record."""

    def setup_owner(self, user, instance_owner=None) -> None:
        self.user = user
        if user.is_salesperson:
            del self.fields["owner"]
            return
        self.fields["owner"].queryset = assignable_owners(user).distinct()
        self.fields["owner"].required = True
        if instance_owner is None:
            self.fields["owner"].initial = user.pk
        searchable_if_long(self, "owner", "owner")

    def chosen_owner(self, current=None):
        if "owner" in self.fields:
            return self.cleaned_data["owner"]
        return current or self.user


class DealForm(OwnerMixin, SubmitOnceMixin, forms.ModelForm):
    owner = forms.ModelChoiceField(label=_("Owner"), queryset=User.objects.none())
    amount = amount_field(_("Amount"), initial=Decimal("0"))

    class Meta:
        model = Deal
        fields = [
            "title",
            "customer",
            "prospect",
            "product",
            "amount",
            "stage",
            "opened_on",
            "expected_close_on",
        ]
        widgets = {"opened_on": DATE_INPUT, "expected_close_on": DATE_INPUT}

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        creating = self.instance.pk is None
        self.setup_owner(user, None if creating else self.instance.owner)
        if not creating:
            # Stages move through the domain verbs (board, won, lost, reopen).
            del self.fields["stage"]
            if "owner" in self.fields:
                self.fields["owner"].initial = self.instance.owner_id
                if self.instance.credit_is_locked:
                    # kpi-spec: a closed deal's credit never moves.
                    self.fields["owner"].disabled = True
                    self.fields["owner"].help_text = _(
                        "A closed deal stays credited to the owner it closed with. "
                        "Reopen it to change its owner."
                    )
        else:
            self.fields["stage"].choices = [(s.value, s.label) for s in Stage.open_stages()]
        # Choices: what the user may see, plus whatever the deal already has
        # (a colleague's customer, a retired product), so saving an edit
        # never fails on a link the user did not touch.
        inst = self.instance
        self.fields["customer"].queryset = Customer.objects.visible_to(user) | Customer.objects.filter(
            pk=inst.customer_id
        )
        self.fields["prospect"].queryset = Prospect.objects.visible_to(user).exclude(
            status=Prospect.Status.LOST
        ) | Prospect.objects.filter(pk=inst.prospect_id)
        self.fields["product"].queryset = Product.objects.filter(is_active=True) | Product.objects.filter(
            pk=inst.product_id
        )
        self.fields["customer"].help_text = _("A deal is for a customer, a prospect, or both.")
        self.fields["product"].empty_label = "—"
        make_searchable(self, "customer", "customer")
        make_searchable(self, "prospect", "prospect")

    def clean_opened_on(self):
        value = self.cleaned_data["opened_on"]
        check_plausible_date(value)
        return value

    def clean_expected_close_on(self):
        value = self.cleaned_data.get("expected_close_on")
        check_plausible_date(value)
        return value

    def clean(self):
        data = super().clean()
        if not data.get("customer") and not data.get("prospect"):
            if "customer" not in self.errors and "prospect" not in self.errors:
                self.add_error("customer", _("Choose a customer or a prospect."))
        opened, expected = data.get("opened_on"), data.get("expected_close_on")
        if opened and expected and expected < opened:
            self.add_error("expected_close_on", _("The expected close is before the opening date."))
        if self.instance.closed_on and opened and opened > self.instance.closed_on:
            self.add_error("opened_on", _("The deal closed before this date."))
        return data

    def save(self, commit=True, by=None):
        deal = super().save(commit=False)
        owner = self.chosen_owner(deal.owner if deal.owner_id else None)
        if deal.owner_id != owner.pk:
            deal.owner = owner
            # Team recorded from the owner, server-side (kpi-spec: scopes); an
            # open deal handed to someone else joins their team (a closed
            # deal's owner cannot change: see __init__).
            deal.team_id = owner.team_id
        if commit:
            deal.save(by=by)
        return deal


class _CloseDealForm(forms.Form):
    """What winning and losing share: a close date between opening and today,
    on a deal not already in the target stage."""

    closed_on = forms.DateField(label=_("Close date"), widget=DATE_INPUT)
    target_stage: str
    future_error: str
    already_error: str

    def __init__(self, *args, deal: Deal, **kwargs):
        super().__init__(*args, **kwargs)
        self.deal = deal
        self.fields["closed_on"].initial = today()

    def clean_closed_on(self):
        value = self.cleaned_data["closed_on"]
        if value < self.deal.opened_on:
            raise ValidationError(
                _("A deal cannot close before it opened (%(date)s)."), params={"date": self.deal.opened_on}
            )
        if value > today():
            raise ValidationError(self.future_error)
        return value

    def clean(self):
        if self.deal.stage == self.target_stage:
            raise ValidationError(self.already_error)
        return super().clean()


class DealWonForm(_CloseDealForm):
    amount = amount_field(_("Amount won"))
    target_stage = Stage.WON
    future_error = _("A deal cannot be won in the future.")
    already_error = _("This deal is already won.")
    field_order = ["amount", "closed_on"]

    def __init__(self, *args, deal: Deal, **kwargs):
        super().__init__(*args, deal=deal, **kwargs)
        self.fields["amount"].initial = deal.amount


class DealLostForm(_CloseDealForm):
    """Losing a deal: a reason from the managed list (kpi-spec lost_reasons),
    an optional note, and the close date."""

    reason = forms.ModelChoiceField(
        label=_("Why was it lost?"),
        queryset=LostReason.objects.active(),
        error_messages={"required": _("Say why the deal was lost.")},
    )
    note = forms.CharField(label=_("Note"), max_length=200, required=False, strip=True)
    target_stage = Stage.LOST
    future_error = _("A deal cannot be lost in the future.")
    already_error = _("This deal is already lost.")
    field_order = ["reason", "note", "closed_on"]

    def __init__(self, *args, deal: Deal, **kwargs):
        super().__init__(*args, deal=deal, **kwargs)
        self.fields["reason"].label_from_instance = lambda reason: reason.label


def open_stage_choices():
    return [(s.value, s.label) for s in Stage.open_stages()]


class DealReopenForm(forms.Form):
    stage = forms.ChoiceField(label=_("Reopen at stage"), choices=open_stage_choices)

    def __init__(self, *args, deal: Deal, **kwargs):
        super().__init__(*args, **kwargs)
        self.deal = deal
        self.fields["stage"].initial = Stage.NEGOTIATION

    def clean(self):
        if self.deal.is_open:
            raise ValidationError(_("This deal is already open."))
        return super().clean()


class DealMoveForm(forms.Form):
    """The board's move control: open stages only (won/lost ask for more)."""

    stage = forms.ChoiceField(label=_("Move to stage"), choices=open_stage_choices)
    # Where a plain (no-JavaScript) submission returns to.
    back_to = forms.ChoiceField(
        choices=[("board", "board"), ("deal", "deal")], required=False, widget=forms.HiddenInput
    )

    def __init__(self, *args, deal: Deal, **kwargs):
        super().__init__(*args, **kwargs)
        self.deal = deal

    def clean(self):
        if not self.deal.is_open:
            raise ValidationError(_("This deal is closed; reopen it from its page."))
        return super().clean()


class ProspectForm(OwnerMixin, SubmitOnceMixin, forms.ModelForm):
    owner = forms.ModelChoiceField(label=_("Owner"), queryset=User.objects.none())

    class Meta:
        model = Prospect
        fields = ["name", "company", "email", "phone", "source_campaign"]

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        creating = self.instance.pk is None
        self.setup_owner(user, None if creating else self.instance.owner)
        if not creating and "owner" in self.fields:
            self.fields["owner"].initial = self.instance.owner_id

    def save(self, commit=True):
        prospect = super().save(commit=False)
        owner = self.chosen_owner(prospect.owner if prospect.owner_id else None)
        if prospect.owner_id != owner.pk:
            prospect.owner = owner
            prospect.team_id = owner.team_id
        if commit:
            prospect.save()
        return prospect


class ProspectStatusForm(forms.Form):
    """Moves an open prospect along new → contacted → qualified."""

    status = forms.ChoiceField(
        label=_("Status"),
        choices=[
            (s.value, s.label)
            for s in (Prospect.Status.NEW, Prospect.Status.CONTACTED, Prospect.Status.QUALIFIED)
        ],
    )

    def __init__(self, *args, prospect: Prospect, **kwargs):
        super().__init__(*args, **kwargs)
        self.prospect = prospect

    def clean(self):
        if self.prospect.is_closed:
            raise ValidationError(_("This prospect is already converted or lost."))
        return super().clean()


class ProspectLostForm(forms.Form):
    reason = forms.CharField(label=_("Why was it lost?"), max_length=200)

    def __init__(self, *args, prospect: Prospect, **kwargs):
        super().__init__(*args, **kwargs)
        self.prospect = prospect

    def clean_reason(self):
        value = self.cleaned_data["reason"].strip()
        if not value:
            raise ValidationError(_("Say why the prospect was lost."))
        return value

    def clean(self):
        if self.prospect.is_closed:
            raise ValidationError(_("This prospect is already converted or lost."))
        return super().clean()


class ConvertForm(SubmitOnceMixin, forms.Form):
    """Prospect → customer (new or existing) + a new deal, in one step."""

    NEW, EXISTING = "new", "existing"
    mode = forms.ChoiceField(
        label=_("Customer"),
        choices=[(NEW, _("Create a new customer")), (EXISTING, _("Link an existing customer"))],
        widget=forms.RadioSelect,
        initial=NEW,
    )
    customer_name = forms.CharField(label=_("New customer's name"), max_length=200, required=False)
    customer = forms.ModelChoiceField(
        label=_("Existing customer"), queryset=Customer.objects.none(), required=False
    )
    deal_title = forms.CharField(label=_("Deal title"), max_length=200)
    amount = amount_field(_("Deal amount"), initial=Decimal("0"))
    product = forms.ModelChoiceField(
        label=_("Product"), queryset=Product.objects.filter(is_active=True), required=False
    )
    expected_close_on = forms.DateField(label=_("Expected close"), required=False, widget=DATE_INPUT)

    def __init__(self, *args, prospect: Prospect, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.prospect = prospect
        self.fields["customer"].queryset = Customer.objects.visible_to(user)
        make_searchable(self, "customer", "customer")
        self.fields["customer_name"].initial = prospect.company or prospect.name
        self.fields["deal_title"].initial = prospect.company or prospect.name

    def clean_expected_close_on(self):
        value = self.cleaned_data.get("expected_close_on")
        check_plausible_date(value)
        if value and value < today():
            raise ValidationError(_("The expected close is in the past."))
        return value

    def clean(self):
        data = super().clean()
        if self.prospect.is_closed:
            raise ValidationError(_("This prospect is already converted or lost."))
        if data.get("mode") == self.EXISTING and not data.get("customer"):
            if "customer" not in self.errors:
                self.add_error("customer", _("Choose the customer to link."))
        if data.get("mode") == self.NEW and not (data.get("customer_name") or "").strip():
            self.add_error("customer_name", _("Give the new customer a name."))
        return data


class CustomerForm(OwnerMixin, SubmitOnceMixin, forms.ModelForm):
    owner = forms.ModelChoiceField(label=_("Account owner"), queryset=User.objects.none())

    class Meta:
        model = Customer
        fields = [
            "name",
            "contact_name",
            "contact_email",
            "language",
            "sector",
            "country",
            "employees",
            "source_campaign",
        ]

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        creating = self.instance.pk is None
        self.setup_owner(user, None if creating else self.instance.owner)
        if not creating and "owner" in self.fields:
            self.fields["owner"].initial = self.instance.owner_id
        self.fields["employees"].validators.append(
            MaxValueValidator(10_000_000, message=_("This number is not plausible."))
        )

    def clean_contact_email(self):
        """Self-grading guard (issue 19): a salesperson cannot change the
        contact email of a customer they own or sell to, nor of one surveyed
        in the last CONTACT_EMAIL_LOCK_DAYS: a manager does it."""
        value = self.cleaned_data["contact_email"]
        old = self.instance.contact_email if self.instance.pk else ""
        if not self.instance.pk or value.casefold() == old.casefold():
            return value
        if self.user.is_manager or self.user.is_admin_role:
            return value
        if email_change_needs_manager(self.instance, self.user):
            raise ValidationError(
                _(
                    "Ask your manager to change this contact email: surveys go to it, "
                    "so its changes are a manager's."
                )
            )
        return value

    def save(self, commit=True):
        customer = super().save(commit=False)
        owner = self.chosen_owner(customer.owner if customer.owner_id else None)
        if customer.owner_id != owner.pk:
            customer.owner = owner
            if not customer.acquired_on:
                # Once acquired, the credited team is the first won deal's.
                customer.team_id = owner.team_id
        if commit:
            customer.save()
        return customer


def email_change_needs_manager(customer: Customer, user) -> bool:
    """A customer's contact email receives its satisfaction surveys: a change
    by the person credited with them (its owner, or a deal's owner), or one
    within CONTACT_EMAIL_LOCK_DAYS of a survey sent to it, needs a manager."""
    from django.conf import settings
    from django.utils import timezone

    if customer.owner_id == user.pk or customer.deals.filter(owner=user).exists():
        return True
    since = timezone.now() - dt.timedelta(days=settings.CONTACT_EMAIL_LOCK_DAYS)
    return customer.invitations.filter(sent_at__gte=since).exists()


class ChurnForm(forms.Form):
    churned_on = forms.DateField(label=_("Churned on"), widget=DATE_INPUT)
    reason = forms.CharField(label=_("Reason"), max_length=200)

    def __init__(self, *args, customer: Customer, **kwargs):
        super().__init__(*args, **kwargs)
        self.customer = customer
        self.fields["churned_on"].initial = today()

    def clean_churned_on(self):
        value = self.cleaned_data["churned_on"]
        if value > today():
            raise ValidationError(_("A churn date cannot be in the future."))
        if not self.customer.acquired_on:
            raise ValidationError(_("This customer has no won deal yet, so it cannot churn."))
        if value < self.customer.acquired_on:
            raise ValidationError(
                _("A customer cannot churn before it was acquired (%(date)s)."),
                params={"date": self.customer.acquired_on},
            )
        return value

    def clean(self):
        if self.customer.churned_on:
            raise ValidationError(_("This customer is already marked churned."))
        return super().clean()


class ActivityForm(SubmitOnceMixin, forms.ModelForm):
    class Meta:
        model = Activity
        fields = ["kind", "occurred_on", "subject", "notes", "prospect", "deal", "customer", "done"]
        widgets = {"occurred_on": DATE_INPUT, "notes": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["prospect"].queryset = Prospect.objects.visible_to(user)
        self.fields["deal"].queryset = Deal.objects.visible_to(user)
        self.fields["customer"].queryset = Customer.objects.visible_to(user)
        for name in ("prospect", "deal", "customer"):
            make_searchable(self, name, name)
        self.fields["done"].help_text = _("Untick for a planned activity.")

    def clean_occurred_on(self):
        value = self.cleaned_data["occurred_on"]
        check_plausible_date(value)
        return value

    def clean(self):
        data = super().clean()
        if not (data.get("prospect") or data.get("deal") or data.get("customer")):
            if not any(f in self.errors for f in ("prospect", "deal", "customer")):
                raise ValidationError(_("Link the activity to a prospect, a deal or a customer."))
        return data


def limit_team_choice(field: forms.ModelChoiceField, user) -> None:
    """Admins choose any team or none (company-wide); a manager their own team."""
    if user.is_admin_role:
        field.queryset = Team.objects.all()
    else:
        field.queryset = Team.objects.filter(pk=user.team_id)
        field.required = True
        field.empty_label = None
        field.help_text = ""


class CampaignForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = ["name", "channel", "team", "starts_on", "ends_on"]
        widgets = {"starts_on": DATE_INPUT, "ends_on": DATE_INPUT}

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        # A manager runs campaigns for their own team only.
        limit_team_choice(self.fields["team"], user)

    def clean_starts_on(self):
        value = self.cleaned_data["starts_on"]
        check_plausible_date(value)
        return value

    def clean_ends_on(self):
        value = self.cleaned_data["ends_on"]
        check_plausible_date(value)
        return value


class SpendForm(SubmitOnceMixin, forms.ModelForm):
    amount = amount_field(_("Amount"))

    class Meta:
        model = CampaignSpend
        fields = ["spent_on", "amount", "note"]
        widgets = {"spent_on": DATE_INPUT}

    def clean_spent_on(self):
        value = self.cleaned_data["spent_on"]
        check_plausible_date(value)
        return value


class TargetCellForm(forms.Form):
    """One cell of the targets grid: empty clears the target."""

    amount = amount_field(_("Target"), required=False)


MONTH_INPUT = forms.DateInput(attrs={"type": "month"}, format="%Y-%m")


class SalesCostForm(SubmitOnceMixin, forms.ModelForm):
    """A month's cost line: a manager's for their team, an admin's for any
    team or the whole company."""

    spent_on = forms.DateField(
        label=_("Month"), input_formats=["%Y-%m", "%Y-%m-%d"], widget=MONTH_INPUT,
        help_text=_("YYYY-MM"),
    )  # fmt: skip
    amount = amount_field(_("Amount"))

    class Meta:
        model = SalesCost
        fields = ["spent_on", "team", "category", "amount", "note"]

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        limit_team_choice(self.fields["team"], user)
        if user.is_admin_role:
            self.fields["team"].empty_label = _("The whole company")

    def clean_spent_on(self):
        value = self.cleaned_data["spent_on"]
        check_plausible_date(value)
        return value.replace(day=1)


class SalesCostImportForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_("Columns: month, team, category, amount, note. At most 2 MB."),
    )

    MAX_BYTES = 2 * 1024 * 1024

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > self.MAX_BYTES:
            raise ValidationError(_("The file is larger than 2 MB: split it."))
        raw = upload.read()
        for encoding in ("utf-8-sig", "cp1252"):
            try:
                return raw.decode(encoding)
            except UnicodeDecodeError:
                continue
        raise ValidationError(_("The file is neither UTF-8 nor Windows-1252 text."))


class SalesCostConfirmForm(forms.Form):
    # The previewed file's text, checked again in full when confirmed.
    content = forms.CharField(widget=forms.HiddenInput, max_length=SalesCostImportForm.MAX_BYTES)
