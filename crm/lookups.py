"""Search-as-you-type choices: customers, prospects, deals and people.

A <select> of every customer a manager may pick is thousands of options in
every form; here the field is a text input. With JavaScript, typing asks
`lookup` (htmx) for at most LIMIT suggestions, which fill the input's
<datalist> (the browser's own combobox: keyboard and screen readers work as
for any input). Without JavaScript it is a plain text input: the server takes
a suggestion ("Acme (#12)"), a bare id, or a name that matches exactly one
record the user may choose, and says which otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Model, Q, QuerySet
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from crm.models import Customer, Deal, Prospect, User

LIMIT = 20
# "Name (#12)": what a suggestion holds, so two homonyms stay apart.
LABEL_ID = re.compile(r"\s*\(#(\d{1,18})\)\s*$")


def label(obj: Model) -> str:
    return f"{obj} (#{obj.pk})"


def _people(user) -> QuerySet:
    return User.objects.visible_to(user).sales_staff()


@dataclass(frozen=True)
class Lookup:
    choices: Callable[[User], QuerySet]  # what `user` may be offered
    search: tuple[str, ...]  # fields matched by "contains"
    name: str  # the field a typed name must equal (case aside)
    order: tuple[str, ...]

    def suggest(self, user, text: str) -> list[Model]:
        text = LABEL_ID.sub("", text).strip()
        qs = self.choices(user)
        if text:
            words = Q()
            for field in self.search:
                words |= Q(**{f"{field}__icontains": text})
            qs = qs.filter(words)
        return list(qs.order_by(*self.order)[:LIMIT])


LOOKUPS = {
    "customer": Lookup(lambda u: Customer.objects.visible_to(u), ("name",), "name", ("name", "pk")),
    "prospect": Lookup(lambda u: Prospect.objects.visible_to(u), ("name", "company"), "name", ("name", "pk")),
    "deal": Lookup(lambda u: Deal.objects.visible_to(u), ("title",), "title", ("title", "pk")),
    "owner": Lookup(
        _people, ("first_name", "last_name", "username"), "username", ("first_name", "last_name", "pk")
    ),
}


class SearchInput(forms.TextInput):
    """A text input with a <datalist> that htmx fills as the user types."""

    template_name = "crm/widgets/search_input.html"

    def __init__(self, kind: str, attrs=None):
        super().__init__(attrs)
        self.kind = kind

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        widget_attrs = context["widget"]["attrs"]
        list_id = f"{widget_attrs.get('id') or 'id_' + name}-options"
        widget_attrs.update(
            {
                "list": list_id,
                "autocomplete": "off",
                "placeholder": _("Type to search…"),
                "hx-get": f"{reverse('lookup', args=[self.kind])}?field={name}",
                "hx-trigger": "input changed delay:250ms, focus once",
                "hx-target": f"#{list_id}",
                "hx-swap": "innerHTML",
                # Inside a filter bar, not the bar's target, history or swap.
                "hx-push-url": "false",
                "hx-sync": "this:replace",
            }
        )
        context["widget"]["list_id"] = list_id
        return context


class SearchChoiceField(forms.ModelChoiceField):
    """A ModelChoiceField whose widget never lists its choices."""

    def __init__(self, *args, kind: str, **kwargs):
        kwargs.setdefault("widget", SearchInput(kind))
        super().__init__(*args, **kwargs)
        self.kind = kind

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, self.queryset.model):
            value = value.pk
        text = str(value).strip()
        match = LABEL_ID.search(text)
        pk = (
            match.group(1)
            if match
            else (text if text.isascii() and text.isdigit() and len(text) < 19 else None)
        )
        if pk is not None:
            found = self.queryset.filter(pk=int(pk)).first()
            if found is None:
                raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
            return found
        name = LOOKUPS[self.kind].name
        found = list(self.queryset.filter(**{f"{name}__iexact": text})[:2])
        if len(found) == 1:
            return found[0]
        if not found:
            raise ValidationError(
                _(
                    "Nothing you may choose is called “%(value)s”: "
                    "type part of the name and pick a suggestion."
                ),
                code="invalid_choice",
                params={"value": text},
            )
        raise ValidationError(
            _(
                "Several records are called “%(value)s”: "
                "pick one from the suggestions (each ends with its number)."
            ),
            code="ambiguous",
            params={"value": text},
        )

    def prepare_value(self, value):
        """The text the input shows: the chosen record's label."""
        if isinstance(value, Model):
            return label(value)
        if value in self.empty_values:
            return ""
        text = str(value)
        if text.isascii() and text.isdigit() and len(text) < 19:
            found = self.queryset.model._default_manager.filter(pk=int(text)).first()
            return label(found) if found else text
        return text

    def has_changed(self, initial, data):
        if self.disabled:
            return False
        return str(self.prepare_value(initial)) != str(self.prepare_value(data))


@login_required
def lookup(request, kind: str):
    """At most LIMIT <option>s for what was typed, among what the user may choose."""
    spec = LOOKUPS.get(kind)
    if spec is None:
        raise Http404
    field = request.GET.get("field", "q")
    text = request.GET.get(field, "")[:100]
    return render(
        request, "crm/_lookup_options.html", {"options": [label(o) for o in spec.suggest(request.user, text)]}
    )
