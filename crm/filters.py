"""Filter forms for the list pages (the URL/filter contract in the brief).

Each form reads request.GET, offers only choices the user may see, and turns
its cleaned data into queryset filters. An invalid value (a tampered id, a
malformed date) shows as a field error and that filter is ignored: a list
never fails on a bad query string.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from html import escape as _escape

from django import forms
from django.db.models import DateField, DecimalField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.forms.utils import flatatt
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from crm.models import (
    NO_DATE,
    Activity,
    Campaign,
    Product,
    Prospect,
    Stage,
    Team,
    User,
    check_date_in_range,
    owned_scope,
)
from crm.pagination import CURSOR_PARAMS, Ordering
from crm.search import SELECT_LIMIT, make_searchable

# Nullable sort keys sort through COALESCE(key, NO_DATE): rows without a
# date come last (newest first) and a cursor never holds a NULL. The
# indexes behind these orderings are on the same expression (crm/models.py).


def sort_key(field: str) -> Coalesce:
    return Coalesce(field, Value(NO_DATE), output_field=DateField())


def nullable_date_range(qs: QuerySet, field: str, start: dt.date | None, end: dt.date | None) -> QuerySet:
    """Rows whose nullable date lies in [start, end], written on COALESCE(date,
    NO_DATE) so that the list's (scope, COALESCE(date), id) indexes serve the
    range (no index is on the bare column). NULL maps to NO_DATE: excluded."""
    if not (start or end):
        return qs
    alias = f"{field}_key"
    qs = qs.alias(**{alias: sort_key(field)}).filter(**{f"{alias}__gt": NO_DATE})
    if start:
        qs = qs.filter(**{f"{alias}__gte": start})
    if end:
        qs = qs.filter(**{f"{alias}__lte": end})
    return qs


def _newest(field: str, nullable: bool = False) -> Ordering:
    expression = sort_key(field) if nullable else None
    return Ordering(field, True, dt.date, expression)


class QuickSelect(forms.Select):
    """A <select> written in Python, not one template render per <option>.

    A filter bar lists every salesperson an admin may pick (hundreds) on
    every page of every list; Django's option templates made that half of a
    list page's time (docs/benchmarks.md). Same markup and attributes.
    """

    def render(self, name, value, attrs=None, renderer=None):
        attrs = self.build_attrs(self.attrs, attrs)
        selected = set(self.format_value(value))
        options = []
        # html.escape and % per option: format_html's lazy-string and
        # SafeString machinery cost more than the option itself (220 owners).
        for option_value, label in self.choices:
            key = "" if option_value is None else str(getattr(option_value, "value", option_value))
            mark = " selected" if key in selected else ""
            text = label.__html__() if hasattr(label, "__html__") else _escape(str(label))
            options.append(f'<option value="{_escape(key)}"{mark}>{text}</option>')
        return format_html(
            '<select name="{}"{}>{}</select>', name, flatatt(attrs), mark_safe("".join(options))
        )


def _staff_choices(user):
    # Only what a label needs: an admin's filter bar lists every salesperson.
    names = ("id", "username", "first_name", "last_name")
    return User.objects.visible_to(user).sales_staff().select_related(None).only(*names)


def _team_choices(user):
    if user.is_admin_role:
        return Team.objects.all()
    return Team.objects.filter(pk=user.team_id)


class ListFilterForm(forms.Form):
    """Shared: free text, owner, team, sort. Subclasses list their fields."""

    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    owner = forms.ModelChoiceField(
        label=_("Owner"), queryset=User.objects.none(), required=False, widget=QuickSelect
    )
    team = forms.ModelChoiceField(
        label=_("Team"), queryset=Team.objects.none(), required=False, widget=QuickSelect
    )

    search_fields: tuple[str, ...] = ()
    sort_choices: list[tuple[str, str]] = []
    # Each sort choice's Ordering; every one has its indexes (crm/models.py).
    orderings: dict[str, Ordering] = {}
    default_sort = ""
    date_filters: dict[str, str] = {}  # form field -> lookup

    def __init__(self, data, *, user):
        super().__init__(data)
        self.user = user
        self.fields["owner"].queryset = _staff_choices(user)
        self.fields["team"].queryset = _team_choices(user)
        if user.is_salesperson:
            # A rep only ever sees their own rows: these filters mean nothing.
            del self.fields["owner"]
            del self.fields["team"]
        if self.sort_choices:
            self.fields["sort"] = forms.ChoiceField(
                label=_("Sort by"), choices=self.sort_choices, required=False, widget=QuickSelect
            )
        for field in self.fields.values():
            if isinstance(field, forms.ModelChoiceField):
                # A filter left empty means every value, not "---------".
                field.empty_label = _("All")
            if type(field.widget) is forms.Select:
                field.widget = QuickSelect(attrs=field.widget.attrs, choices=field.widget.choices)
        if "owner" in self.fields:
            self._owner_select_or_search()

    def _owner_select_or_search(self) -> None:
        """An admin of a big company picks among hundreds of people: past
        SELECT_LIMIT the owner filter is a search. The one read that decides
        also fills the select's options, so rendering them costs no query."""
        field = self.fields["owner"]
        staff = field.queryset.name_choices(limit=SELECT_LIMIT + 1)
        if len(staff) > SELECT_LIMIT:
            make_searchable(self, "owner", "owner")
        else:
            field.widget.choices = [("", field.empty_label), *staff]

    def value(self, name: str):
        """The cleaned value of a filter, None when absent or invalid."""
        if not self.is_bound or name not in self.fields:
            return None
        self.is_valid()
        return self.cleaned_data.get(name)

    def filter(self, qs: QuerySet) -> QuerySet:
        self.is_valid()  # fills cleaned_data with the valid fields only
        data = self.cleaned_data
        if data.get("q") and self.search_fields:
            cond = Q()
            for field in self.search_fields:
                cond |= Q(**{f"{field}__icontains": data["q"]})
            qs = qs.filter(cond)
        if data.get("owner"):
            qs = qs.filter(owner=data["owner"])
        if data.get("team"):
            qs = qs.filter(team=data["team"])
        for field, lookup in self.date_filters.items():
            if data.get(field):
                qs = qs.filter(**{lookup: data[field]})
        qs = self.filter_more(qs, data)
        return self.ordering().apply(qs)

    def ordering(self) -> Ordering:
        self.is_valid()
        return self.orderings[self.cleaned_data.get("sort") or self.default_sort]

    def filter_more(self, qs: QuerySet, data: dict) -> QuerySet:
        return qs

    def querystring(self, **overrides) -> str:
        """The current filters as a query string, without page and format."""
        params = self.data.copy() if self.is_bound else {}
        for key in (*CURSOR_PARAMS, "format"):
            params.pop(key, None)
        for key, value in overrides.items():
            params[key] = value
        return params.urlencode() if hasattr(params, "urlencode") else ""


def _date(label):
    return forms.DateField(
        label=label,
        required=False,
        validators=[check_date_in_range],
        widget=forms.DateInput(attrs={"type": "date"}),
    )


class DealFilterForm(ListFilterForm):
    stage = forms.ChoiceField(
        label=_("Stage"),
        required=False,
        choices=[("", _("Any stage")), ("open", _("Open (any open stage)")), *Stage.choices],
    )
    product = forms.ModelChoiceField(label=_("Product"), queryset=Product.objects.all(), required=False)
    opened_from = _date(_("Opened from"))
    opened_to = _date(_("Opened to"))
    closed_from = _date(_("Closed from"))
    closed_to = _date(_("Closed to"))

    search_fields = ("title", "customer__name", "prospect__name", "prospect__company")
    date_filters = {"opened_from": "opened_on__gte", "opened_to": "opened_on__lte"}
    sort_choices = [
        ("-opened_on", _("Newest first")),
        ("opened_on", _("Oldest first")),
        ("-amount", _("Largest amount")),
        ("amount", _("Smallest amount")),
        ("-closed_on", _("Recently closed")),
        ("title", _("Title")),
    ]
    orderings = {
        "-opened_on": Ordering("opened_on", True, dt.date),
        "opened_on": Ordering("opened_on", False, dt.date),
        "-amount": Ordering("amount", True, Decimal),
        "amount": Ordering("amount", False, Decimal),
        "-closed_on": _newest("closed_on", nullable=True),
        "title": Ordering("title", False, str),
    }
    default_sort = "-opened_on"

    def filter_more(self, qs, data):
        qs = nullable_date_range(qs, "closed_on", data.get("closed_from"), data.get("closed_to"))
        if data.get("closed_to") and self.ordering().key == "opened_on":
            # Implied (a deal closes on or after it opens: a constraint), and
            # it starts the walk of the opened_on index at the period's end
            # instead of today.
            qs = qs.filter(opened_on__lte=data["closed_to"])
        if data.get("stage") == "open":
            qs = qs.open()
        elif data.get("stage"):
            qs = qs.filter(stage=data["stage"])
        if data.get("product"):
            qs = qs.filter(product=data["product"])
        return qs


class ProspectFilterForm(ListFilterForm):
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("Any status")), *Prospect.Status.choices]
    )
    campaign = forms.ModelChoiceField(label=_("Campaign"), queryset=Campaign.objects.all(), required=False)
    created_from = _date(_("Created from"))
    created_to = _date(_("Created to"))

    search_fields = ("name", "company", "email")
    date_filters = {"created_from": "created_on__gte", "created_to": "created_on__lte"}
    sort_choices = [
        ("-created_on", _("Newest first")),
        ("created_on", _("Oldest first")),
        ("name", _("Name")),
        ("company", _("Company")),
        ("status", _("Status")),
    ]
    orderings = {
        "-created_on": Ordering("created_on", True, dt.date),
        "created_on": Ordering("created_on", False, dt.date),
        "name": Ordering("name", False, str),
        "company": Ordering("company", False, str),
        "status": Ordering("status", False, str),
    }
    default_sort = "-created_on"

    def filter_more(self, qs, data):
        if data.get("status"):
            qs = qs.filter(status=data["status"])
        if data.get("campaign"):
            qs = qs.filter(source_campaign=data["campaign"])
        return qs


class CustomerFilterForm(ListFilterForm):
    acquired_from = _date(_("Acquired from"))
    acquired_to = _date(_("Acquired to"))
    churned = forms.ChoiceField(
        label=_("Churned"),
        required=False,
        choices=[("", _("All")), ("yes", _("Churned")), ("no", _("Not churned"))],
    )

    search_fields = ("name", "contact_name", "contact_email", "sector", "country")
    sort_choices = [
        ("name", _("Name")),
        ("-acquired_on", _("Recently acquired")),
        ("-revenue", _("Revenue")),
    ]
    orderings = {
        "name": Ordering("name", False, str),
        "-acquired_on": _newest("acquired_on", nullable=True),
        # The stored lifetime revenue (Customer.revenue), kept by a trigger.
        "-revenue": Ordering("revenue", True, Decimal),
    }
    default_sort = "name"

    def ordering(self) -> Ordering:
        ordering = super().ordering()
        if ordering.key != "revenue" or self.user.is_admin_role:
            return ordering
        # Anyone but an admin sorts by the revenue of the deals they may see
        # (as the list shows it), summed over their own or their team's deals:
        # bounded by their scope, never the whole table.
        won = Q(deals__stage=Stage.WON) & owned_scope(self.user, "deals__owner", "deals__team")
        money = DecimalField(max_digits=16, decimal_places=2)
        visible = Coalesce(Sum("deals__amount", filter=won), Value(Decimal("0")), output_field=money)
        return Ordering("revenue", True, Decimal, visible)

    def filter_more(self, qs, data):
        qs = nullable_date_range(qs, "acquired_on", data.get("acquired_from"), data.get("acquired_to"))
        if data.get("churned") == "yes":
            qs = qs.filter(churned_on__isnull=False)
        elif data.get("churned") == "no":
            qs = qs.filter(churned_on__isnull=True)
        return qs


def week_bounds(day: dt.date) -> tuple[dt.date, dt.date]:
    monday = day - dt.timedelta(days=day.weekday())
    return monday, monday + dt.timedelta(days=6)


class ActivityFilterForm(ListFilterForm):
    kind = forms.ChoiceField(
        label=_("Kind"), required=False, choices=[("", _("Any kind")), *Activity.Kind.choices]
    )
    from_ = _date(_("From"))
    to = _date(_("To"))

    search_fields = ("subject", "notes")
    # A week reads in the order it happened.
    orderings = {"": Ordering("occurred_on", False, dt.date)}

    def __init__(self, data, *, user):
        super().__init__(data, user=user)
        # "from" is a Python keyword: the field is stored under from_ and
        # read from the "from" query parameter the contract names.
        fields = self.fields
        self.fields = {("from" if k == "from_" else k): v for k, v in fields.items()}

    def filter_more(self, qs, data):
        if data.get("kind"):
            qs = qs.filter(kind=data["kind"])
        if data.get("from"):
            qs = qs.filter(occurred_on__gte=data["from"])
        if data.get("to"):
            qs = qs.filter(occurred_on__lte=data["to"])
        return qs
