from __future__ import annotations

import datetime as dt

from django import forms
from django.core.exceptions import ValidationError
from django.forms import inlineformset_factory
from django.utils.translation import gettext_lazy as _

from crm.models import Team, User, check_date_in_range

from .models import Survey, SurveyQuestion

NPS_CHOICES = [(str(n), str(n)) for n in range(11)]
CSAT_CHOICES = [(str(n), str(n)) for n in range(1, 6)]


class SurveyForm(forms.ModelForm):
    class Meta:
        model = Survey
        fields = [
            "name",
            "language",
            "nps_question",
            "csat_question",
            "ask_comment",
            "is_default",
            "is_active",
        ]
        help_texts = {
            "is_default": _("Invitations to customers who speak this language use the default survey."),
        }

    def _get_validation_exclusions(self):
        # Making this survey the default replaces the old default on save
        # (Survey.make_default), so the one-default-per-language constraint
        # is not an error for the form to raise.
        exclusions = super()._get_validation_exclusions()
        exclusions.add("is_default")
        return exclusions

    def clean(self):
        data = super().clean()
        if data.get("is_default") and not data.get("is_active"):
            self.add_error("is_active", _("The default survey must be active."))
        return data


QuestionFormSet = inlineformset_factory(
    Survey,
    SurveyQuestion,
    fields=["text", "kind", "required", "position"],
    extra=2,
    can_delete=True,
)


class AnswerForm(forms.Form):
    """The customer's answer; its fields follow the survey's questions."""

    def __init__(self, *args, survey: Survey, questions: list[SurveyQuestion] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.survey = survey
        self.fields["nps_score"] = forms.TypedChoiceField(
            label=survey.nps_question,
            choices=NPS_CHOICES,
            coerce=int,
            widget=forms.RadioSelect,
            error_messages={"required": _("Please choose a number from 0 to 10.")},
        )
        self.fields["csat_score"] = forms.TypedChoiceField(
            label=survey.csat_question,
            choices=CSAT_CHOICES,
            coerce=int,
            widget=forms.RadioSelect,
            error_messages={"required": _("Please choose a number from 1 to 5.")},
        )
        if survey.ask_comment:
            self.fields["comment"] = forms.CharField(
                label=_("Anything you would like to add? (optional)"),
                required=False,
                max_length=4000,
                widget=forms.Textarea(attrs={"rows": 4}),
            )
        self.extra_questions: list[tuple[str, SurveyQuestion]] = []
        # The public page passes the questions read with the invitation
        # (Invitation.extra_questions()): no query of its own for them.
        for question in survey.questions.all() if questions is None else questions:
            name = f"q{question.pk}"
            if question.kind == SurveyQuestion.Kind.SCALE:
                field = forms.TypedChoiceField(
                    choices=CSAT_CHOICES,
                    coerce=int,
                    empty_value=None,
                    widget=forms.RadioSelect,
                    error_messages={"required": _("Please choose a number from 1 to 5.")},
                )
            else:
                field = forms.CharField(max_length=4000, widget=forms.Textarea(attrs={"rows": 3}))
            field.label = question.text
            field.required = question.required
            self.fields[name] = field
            self.extra_questions.append((name, question))

    def answers(self) -> dict[SurveyQuestion, int | str]:
        return {question: self.cleaned_data.get(name) for name, question in self.extra_questions}

    def extra_fields(self) -> list[tuple[forms.BoundField, SurveyQuestion]]:
        return [(self[name], question) for name, question in self.extra_questions]


class ResultsFilterForm(forms.Form):
    team = forms.ModelChoiceField(queryset=Team.objects.none(), required=False, label=_("Team"))
    rep = forms.ModelChoiceField(queryset=User.objects.none(), required=False, label=_("Salesperson"))
    from_ = forms.DateField(
        required=False,
        label=_("From"),
        validators=[check_date_in_range],
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    to = forms.DateField(
        required=False,
        label=_("To"),
        validators=[check_date_in_range],
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        # The form uses "from" in the query string; Python cannot name a field that.
        self.fields["from"] = self.fields.pop("from_")
        self.order_fields(["team", "rep", "from", "to"])
        if user.is_admin_role:
            self.fields["team"].queryset = Team.objects.all()
        else:
            self.fields["team"].queryset = Team.objects.filter(pk=user.team_id)
        self.fields["rep"].queryset = User.objects.visible_to(user).sales_staff()

    def clean(self):
        data = super().clean()
        start: dt.date | None = data.get("from")
        end: dt.date | None = data.get("to")
        if start and end and end < start:
            raise ValidationError({"to": _("The end date is before the start date.")})
        return data


class InvitationFilterForm(forms.Form):
    STATUS_CHOICES = [
        ("", _("All")),
        ("pending", _("Waiting to be sent")),
        ("open", _("Sent, not answered")),
        ("answered", _("Answered")),
        ("bounced", _("Bounced")),
    ]
    status = forms.ChoiceField(choices=STATUS_CHOICES, required=False, label=_("Status"))
    q = forms.CharField(required=False, max_length=200, label=_("Customer"))


class SendSurveyForm(forms.Form):
    next = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)
