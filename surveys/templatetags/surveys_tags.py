from __future__ import annotations

from django import template
from django.conf import settings
from django.urls import NoReverseMatch
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.models import Stage
from surveys.models import Invitation

register = template.Library()


@register.simple_tag
def survey_send_state(deal=None, customer=None) -> dict:
    """Whether "send survey now" can work, and why not, for the send button.

    One query (the customer's latest throttling invitation); the views check
    the same rules again when the button is pressed.
    """
    # A missing template variable arrives as "", so test truthiness, not None.
    if deal and not customer:
        customer = deal.customer
        if deal.stage != Stage.WON:
            return {"can_send": False, "reason": _("A survey can be sent once the deal is won.")}
    if not customer:
        return {"can_send": False, "reason": _("This deal has no customer to survey.")}
    if not customer.contact_email:
        return {"can_send": False, "reason": _("This customer has no contact email.")}
    last = (
        Invitation.objects.filter(customer=customer)
        .throttling(timezone.now())
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    if last:
        return {
            "can_send": False,
            "reason": _("Invited on %(date)s; a customer is invited at most once every %(days)d days.")
            % {
                "date": timezone.localdate(last).isoformat(),
                "days": settings.SURVEY_THROTTLE_DAYS,
            },
        }
    return {"can_send": True, "email": customer.contact_email}


@register.filter
def detail_url(obj) -> str:
    """The object's page, or "" while no page is routed for it."""
    try:
        return obj.get_absolute_url()
    except NoReverseMatch:
        return ""
