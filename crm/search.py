"""Search-as-you-type choices for records a user may have hundreds of.

A customer, prospect or deal is picked by typing: the field is a plain text
input the server resolves ("Acme SARL" when that name is unique among what
the user sees, or "Acme SARL (#12)" as a suggestion fills it in). With
JavaScript, htmx fills the input's <datalist> with at most SEARCH_LIMIT
matches as the user types: the browser's own combobox, keyboard and
screen-reader friendly. No select lists every record.
"""

from __future__ import annotations

import re

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from crm.models import Customer, Deal, Prospect, User

SEARCH_LIMIT = 20
# A choice with more options than this becomes a search (owners: a big company's staff).
SELECT_LIMIT = 50
_REF = re.compile(r"\(#([0-9]{1,18})\)\s*$")

# kind → (model, the field people know it by)
SEARCHABLE = {
    "customer": (Customer, "name"),
    "prospect": (Prospect, "name"),
    "deal": (Deal, "title"),
    "owner": (User, "username"),
}


def label_for(obj) -> str:
    if isinstance(obj, User):
        return f"{obj.get_full_name() or obj.username} (#{obj.pk})"
    return f"{getattr(obj, SEARCHABLE_FIELD[type(obj)])} (#{obj.pk})"


SEARCHABLE_FIELD = {model: field for model, field in SEARCHABLE.values()}


def _matching(qs, kind: str, text: str):
    if kind == "owner":
        words = text.split()
        for word in words:
            qs = qs.filter(
                Q(username__icontains=word) | Q(first_name__icontains=word) | Q(last_name__icontains=word)
            )
        return qs
    return qs.filter(**{f"{SEARCHABLE[kind][1]}__icontains": text})


class SearchInput(forms.TextInput):
    def __init__(self, kind: str, attrs=None):
        super().__init__(attrs)
        self.kind = kind

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        widget_attrs = context["widget"]["attrs"]
        options_id = f"{widget_attrs.get('id', name)}-options"
        widget_attrs.update(
            {
                "list": options_id,
                "autocomplete": "off",
                "hx-get": reverse("record_search", args=[self.kind]),
                "hx-trigger": "input changed delay:250ms, focus once",
                "hx-target": f"#{options_id}",
                "hx-swap": "innerHTML",
                "hx-sync": "this:replace",
                # Inside a list's filter bar: not the bar's history entry.
                "hx-push-url": "false",
                "data-search": self.kind,
            }
        )
        return context

    def render(self, name, value, attrs=None, renderer=None):
        html = super().render(name, value, attrs, renderer)
        options_id = f"{(attrs or {}).get('id', name)}-options"
        return html + format_html('<datalist id="{}"></datalist>', options_id)


class SearchChoiceField(forms.ModelChoiceField):
    """A ModelChoiceField typed as text; the queryset still decides what is allowed."""

    default_error_messages = {
        "invalid_choice": gettext_lazy(
            "Nothing you can see matches “%(value)s”. Type a few letters and pick a suggestion."
        ),
        "ambiguous": gettext_lazy("Several records match “%(value)s”: pick one of the suggestions."),
    }

    def __init__(self, kind: str, **kwargs):
        self.kind = kind
        kwargs.setdefault("widget", SearchInput(kind))
        super().__init__(**kwargs)

    def prepare_value(self, value):
        # What was typed stays as typed; an id (a link's ?deal=12) shows its label.
        if isinstance(value, str) and not (value.isascii() and value.isdigit() and len(value) < 19):
            return value
        obj = value if isinstance(value, SEARCHABLE[self.kind][0]) else None
        if obj is None and value not in (None, ""):
            obj = self.queryset.filter(pk=value).first()
        return label_for(obj) if obj is not None else ""

    def to_python(self, value):
        value = str(value if value is not None else "").strip()
        if not value:
            return None
        # ASCII digits only: "²" is a digit to Python but no id (int() fails).
        if value.isascii() and value.isdigit() and len(value) < 19:
            # A bare number is a record's id: what a select used to post.
            obj = self.queryset.filter(pk=int(value)).first()
            if obj is not None:
                return obj
        ref = _REF.search(value)
        if ref:
            obj = self.queryset.filter(pk=int(ref.group(1))).first()
            if obj is None:
                raise self._invalid(value)
            return obj
        field = SEARCHABLE[self.kind][1]
        matches = list(self.queryset.filter(**{f"{field}__iexact": value})[:2])
        if not matches:
            raise self._invalid(value)
        if len(matches) > 1:
            raise ValidationError(self.error_messages["ambiguous"], code="ambiguous", params={"value": value})
        return matches[0]

    def _invalid(self, value: str) -> ValidationError:
        message = self.error_messages["invalid_choice"]
        return ValidationError(message, code="invalid_choice", params={"value": value})

    def validate(self, value):
        forms.Field.validate(self, value)

    def has_changed(self, initial, data):
        return self.prepare_value(initial) != (data or "").strip()


def searchable_if_long(form: forms.BaseForm, name: str, kind: str) -> None:
    """A select while it is short (one count query), a search past SELECT_LIMIT options."""
    if form.fields[name].queryset.count() > SELECT_LIMIT:
        make_searchable(form, name, kind)


def make_searchable(form: forms.BaseForm, name: str, kind: str) -> None:
    """Swap a form's ModelChoiceField for a SearchChoiceField with the same rules."""
    old = form.fields[name]
    form.fields[name] = SearchChoiceField(
        kind,
        queryset=old.queryset,
        required=old.required,
        label=old.label,
        help_text=old.help_text,
        initial=old.initial,
        disabled=old.disabled,
    )


class SearchForm(forms.Form):
    q = forms.CharField(max_length=100, required=False, strip=True)


@login_required
@require_GET
def record_search(request: HttpRequest, kind: str) -> HttpResponse:
    """Up to SEARCH_LIMIT <option>s of what the user may see, for a <datalist>."""
    if kind not in SEARCHABLE:
        raise Http404
    model, field = SEARCHABLE[kind]
    form = SearchForm({"q": request.GET.get(kind, request.GET.get("q", ""))})
    q = form.cleaned_data["q"] if form.is_valid() else ""
    if kind == "owner":
        from crm.forms import assignable_owners  # crm.forms imports this module

        if request.user.is_salesperson:
            raise Http404
        qs = assignable_owners(request.user).distinct()
    else:
        qs = model.objects.visible_to(request.user)
    if q:
        qs = _matching(qs, kind, _REF.sub("", q).strip())
    rows = [(obj.pk, label_for(obj).rsplit(" (#", 1)[0]) for obj in qs.order_by(field, "pk")[:SEARCH_LIMIT]]
    return render(request, "crm/_search_options.html", {"rows": rows})
