from django.conf import settings

from ui.formatting import currency_symbol


def ui(request) -> dict:
    return {
        "COMPANY_NAME": settings.COMPANY_NAME,
        "COMPANY_LOGO_URL": settings.COMPANY_LOGO_URL,
        "CURRENCY_SYMBOL": currency_symbol(),
    }
