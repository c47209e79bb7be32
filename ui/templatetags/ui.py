from decimal import Decimal, InvalidOperation

from django import template

from ui import formatting

register = template.Library()


def _decimal(value) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return None


@register.filter
def money(value) -> str:
    """Full precision, for tables: {{ deal.amount|money }} → "12 278,62 €"."""
    amount = _decimal(value)
    return "" if amount is None else formatting.money(amount)


@register.filter
def money_short(value) -> str:
    """No cents from 1,000 on, for cards and totals: "12 279 €"."""
    amount = _decimal(value)
    return "" if amount is None else formatting.money(amount, short=True)


@register.simple_tag
def currency_symbol() -> str:
    return formatting.currency_symbol()


@register.filter
def initials(user) -> str:
    """Up to two letters for an avatar: "Alice Martin" → "AM"."""
    name = (user.get_full_name() if hasattr(user, "get_full_name") else str(user)) or str(user)
    letters = [part[0] for part in name.split() if part]
    return "".join(letters[:2]).upper() or "?"


# A filter bar shows this many fields; the rest wait under "More filters".
PRIMARY_FILTERS = 4


@register.filter
def split_filters(form, count=PRIMARY_FILTERS) -> dict:
    """A list's filter fields as {primary, more, more_active} for the filter bar."""
    fields = list(form.visible_fields())
    more = fields[count:]
    return {
        "primary": fields[:count],
        "more": more,
        "more_active": any(f.value() not in (None, "", []) for f in more if f.name != "sort"),
    }
