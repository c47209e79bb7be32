from django import template

from kpis.models import RecomputeRun

register = template.Library()


@register.inclusion_tag("kpis/includes/recompute_button.html", takes_context=True)
def recompute_button(context) -> dict:
    """The Recompute now button with the latest run's state (one query)."""
    user = context["user"]
    run = None
    if user.is_manager or user.is_admin_role:
        run = RecomputeRun.objects.first()
    return {"user": user, "run": run, "csrf_token": context.get("csrf_token")}
