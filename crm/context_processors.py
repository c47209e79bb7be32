from django.conf import settings


def boussole(request) -> dict:
    return {"CURRENCY": settings.CURRENCY}
