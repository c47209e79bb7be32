"""Money and numbers as the active language writes them.

English puts the symbol first ("€12,278.62"), French after, with narrow
spaces for thousands ("12 278,62 €"). Cards show large amounts without cents
(`money(x, short=True)`, whole amounts too); tables and exports keep full precision.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.utils import formats, translation

SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "CHF": "CHF", "CAD": "$CA", "AUD": "$AU"}
NBSP = "\u00a0"
# Amounts from this size on are shown without cents where space is short.
SHORT_FROM = Decimal(1000)


def number(value: Decimal | float | int, places: int) -> str:
    """A number in the active language's separators, rounded half up."""
    rounded = Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    text = f"{rounded:,.{places}f}"
    decimal_sep = formats.get_format("DECIMAL_SEPARATOR")
    thousand_sep = formats.get_format("THOUSAND_SEPARATOR")
    if (decimal_sep, thousand_sep) != (".", ","):
        text = text.replace(",", "\x00").replace(".", decimal_sep).replace("\x00", thousand_sep)
    return text


def currency_symbol(code: str | None = None) -> str:
    code = code or settings.CURRENCY
    return SYMBOLS.get(code, code)


def money(value: Decimal | float | int | None, *, short: bool = False, currency: str | None = None) -> str:
    """An amount with its currency symbol placed as the language does."""
    if value is None:
        return ""
    value = Decimal(value)
    places = 0 if short and (abs(value) >= SHORT_FROM or value == value.to_integral_value()) else 2
    digits = number(abs(value), places)
    symbol = currency_symbol(currency)
    sign = "-" if value < 0 else ""
    if (translation.get_language() or "en").startswith("en"):
        return f"{sign}{symbol}{digits}" if len(symbol) == 1 else f"{sign}{symbol}{NBSP}{digits}"
    return f"{sign}{digits}{NBSP}{symbol}"
