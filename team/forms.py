"""Forms for training sessions and certifications.

Who a record may be for is decided here from the user's role: a salesperson
records their own only, a manager anyone on their team, an admin anyone.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.forms import DATE_INPUT, SubmitOnceMixin, assignable_owners, check_plausible_date
from crm.models import User
from team.models import Certification, TrainingSession


def people_for(user):
    """The people `user` may record a training or certification for."""
    if user.is_manager or user.is_admin_role:
        return assignable_owners(user).order_by("first_name", "last_name", "username")
    return User.objects.filter(pk=user.pk)


class TrainingForm(SubmitOnceMixin, forms.ModelForm):
    attendees = forms.ModelMultipleChoiceField(
        label=_("Attended by"), queryset=User.objects.none(), widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = TrainingSession
        fields = ["title", "kind", "date", "hours", "provider", "notes"]
        widgets = {"date": DATE_INPUT, "notes": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["attendees"].queryset = people_for(user)
        if not (user.is_manager or user.is_admin_role):
            # A salesperson records a training they attended themselves.
            self.fields["attendees"].initial = [user.pk]
            self.fields["attendees"].help_text = _("Your manager confirms it before it counts.")
        elif self.instance.pk:
            self.fields["attendees"].initial = [a.pk for a in self.instance.attendees.all()]

    def clean_date(self):
        value = self.cleaned_data["date"]
        check_plausible_date(value)
        return value

    def clean_hours(self):
        value = self.cleaned_data["hours"]
        if value is not None and not (0 < value <= 1000):
            raise forms.ValidationError(_("Hours run from more than 0 to 1000."))
        return value

    def clean_attendees(self):
        people = self.cleaned_data["attendees"]
        if not (self.user.is_manager or self.user.is_admin_role) and list(people) != [self.user]:
            raise forms.ValidationError(_("You can record only your own training."))
        return people


class CertificationForm(SubmitOnceMixin, forms.ModelForm):
    class Meta:
        model = Certification
        fields = ["user", "name", "obtained_on", "expires_on"]
        widgets = {"obtained_on": DATE_INPUT, "expires_on": DATE_INPUT}

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = people_for(user)
        self.fields["user"].label = _("Person")
        if not (user.is_manager or user.is_admin_role):
            self.fields["user"].initial = user.pk
            self.fields["user"].empty_label = None

    def clean_obtained_on(self):
        value = self.cleaned_data["obtained_on"]
        check_plausible_date(value)
        return value

    def clean(self):
        data = super().clean()
        obtained, expires = data.get("obtained_on"), data.get("expires_on")
        if obtained and expires and expires < obtained:
            self.add_error("expires_on", _("A certification cannot expire before it is obtained."))
        return data


class ExportForm(forms.Form):
    """The list's filter, shared by the page and its CSV export."""

    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("All")), ("confirmed", _("Confirmed")), ("pending", _("Waiting for confirmation"))],
    )

    def apply(self, qs):
        status = self.cleaned_data.get("status") if self.is_valid() else ""
        if status == "confirmed":
            return qs.filter(confirmed_at__isnull=False)
        if status == "pending":
            return qs.filter(confirmed_at__isnull=True)
        return qs


SCORE_CHOICES = [(i, str(i)) for i in range(11)]
ITEM_CHOICES = [(i, str(i)) for i in range(1, 6)]


class PulseForm(forms.Form):
    """The anonymous pulse: the 0–10 question, up to three 1–5 items, a comment."""

    score = forms.TypedChoiceField(
        label=_("How likely are you to recommend working here to a friend?"),
        choices=SCORE_CHOICES,
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={"required": _("Please choose a number from 0 to 10.")},
    )

    def __init__(self, *args, pulse, **kwargs):
        super().__init__(*args, **kwargs)
        items = [
            ("tools", pulse.ask_tools, _("I have the tools I need to do my job well.")),
            ("workload", pulse.ask_workload, _("My workload is manageable.")),
            ("support", pulse.ask_support, _("I get the support I need from my manager and colleagues.")),
        ]
        self.items = []
        for name, asked, label in items:
            if asked:
                self.fields[name] = forms.TypedChoiceField(
                    label=label,
                    choices=ITEM_CHOICES,
                    coerce=int,
                    empty_value=None,
                    required=False,
                    widget=forms.RadioSelect,
                )
                self.items.append(self[name])
        self.fields["comment"] = forms.CharField(
            label=_("Anything you would like to add? (optional)"),
            required=False,
            max_length=4000,
            widget=forms.Textarea(attrs={"rows": 4}),
        )


class PulseScheduleForm(forms.ModelForm):
    class Meta:
        from team.models import PulseSchedule

        model = PulseSchedule
        fields = ["is_active", "every_months", "day_of_month", "ask_tools", "ask_workload", "ask_support"]


class CoachingNoteForm(forms.ModelForm):
    class Meta:
        from team.models import CoachingNote

        model = CoachingNote
        fields = ["text"]
        widgets = {"text": forms.Textarea(attrs={"rows": 3})}


class CoachingActionForm(forms.ModelForm):
    class Meta:
        from team.models import CoachingAction

        model = CoachingAction
        fields = ["text", "due_on"]
        widgets = {"due_on": DATE_INPUT}

    def clean_due_on(self):
        value = self.cleaned_data["due_on"]
        check_plausible_date(value)
        return value
