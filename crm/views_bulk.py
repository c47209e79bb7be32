"""Bulk actions on the deal list: reassign, mark lost, export the selection.

A POST with the chosen deals shows what will happen and asks to confirm;
only the confirming POST changes anything. Closed deals are skipped by
reassign and mark lost (a closed deal's credit never moves, kpi-spec), and
the confirmation says so.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from crm.filters import QuickSelect
from crm.forms import assignable_owners
from crm.models import Deal, LostReason, Stage, User
from crm.views_deals import deal_csv

# One screen of the list at most: the selection is this page's rows.
BULK_LIMIT = 100


class BulkDealForm(forms.Form):
    ACTIONS = [
        ("export", gettext_lazy("Export selected to CSV")),
        ("reassign", gettext_lazy("Reassign owner")),
        ("lost", gettext_lazy("Mark lost")),
    ]
    action = forms.ChoiceField(
        label=gettext_lazy("With the selected deals"), choices=ACTIONS, widget=QuickSelect
    )
    deals = forms.ModelMultipleChoiceField(queryset=Deal.objects.none())
    owner = forms.ModelChoiceField(
        label=gettext_lazy("New owner"), queryset=User.objects.none(), required=False, widget=QuickSelect
    )
    reason = forms.ModelChoiceField(
        label=gettext_lazy("Why were they lost?"),
        queryset=LostReason.objects.active(),
        required=False,
        widget=QuickSelect,
    )
    note = forms.CharField(label=gettext_lazy("Note"), max_length=200, required=False, strip=True)
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["deals"].queryset = Deal.objects.visible_to(user).with_related()
        self.fields["reason"].label_from_instance = lambda reason: reason.label
        self.fields["deals"].error_messages["required"] = _("Select at least one deal.")
        if user.is_salesperson:
            # A rep keeps their own deals: nobody to hand them to.
            self.fields["action"].choices = [c for c in self.ACTIONS if c[0] != "reassign"]
            del self.fields["owner"]
        else:
            owners = assignable_owners(user).distinct()
            self.fields["owner"].queryset = owners
            # Every salesperson an admin may pick, on every page of the list.
            field = self.fields["owner"]
            field.widget.choices = [("", field.empty_label), *owners.name_choices()]

    def clean_deals(self):
        deals = self.cleaned_data["deals"]
        if len(deals) > BULK_LIMIT:
            raise ValidationError(_("Select at most %(n)s deals at a time.") % {"n": BULK_LIMIT})
        return deals

    def clean(self):
        data = super().clean()
        if data.get("action") == "reassign" and not data.get("owner"):
            self.add_error("owner", _("Choose who gets the deals."))
        if data.get("action") == "lost" and not data.get("reason"):
            self.add_error("reason", _("Say why they were lost."))
        return data


@login_required
@require_POST
def deal_bulk(request: HttpRequest) -> HttpResponse:
    form = BulkDealForm(request.POST, user=request.user)
    if not form.is_valid():
        return render(request, "crm/deal_bulk.html", {"form": form}, status=400)
    data = form.cleaned_data
    deals = list(data["deals"])
    if data["action"] == "export":
        return deal_csv(data["deals"].order_by("pk"))
    open_deals = [d for d in deals if d.stage in Stage.open_stages()]
    if not data["confirm"]:
        skipped = len(deals) - len(open_deals)
        context = {"form": form, "deals": deals, "open_deals": open_deals, "skipped": skipped}
        return render(request, "crm/deal_bulk.html", context)
    with transaction.atomic():
        for deal in open_deals:
            if data["action"] == "reassign":
                deal.owner = data["owner"]
                deal.team_id = data["owner"].team_id
                deal.save(by=request.user)
            else:
                deal.mark_lost(data["reason"], by=request.user, note=data["note"])
    n = len(open_deals)
    if data["action"] == "reassign":
        text = ngettext("%(n)s deal reassigned to %(owner)s.", "%(n)s deals reassigned to %(owner)s.", n)
        messages.success(request, text % {"n": n, "owner": data["owner"]})
    else:
        text = ngettext("%(n)s deal marked lost.", "%(n)s deals marked lost.", n)
        messages.success(request, text % {"n": n})
    return redirect("deal_list")
