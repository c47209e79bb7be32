"""Webhook events from the models' own writes, so a deal moved on the board,
through the API or by a verb in a shell fires the same events. Imports write
history in bulk (no signals), so they fire none."""

from __future__ import annotations

from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver

from api.models import Event
from api.webhooks import emit, emit_many, subscribers, subscribers_of
from crm.models import DealStageChange, Stage
from surveys.models import Response


@receiver(post_save, sender=DealStageChange, dispatch_uid="api_deal_stage_changed")
def deal_stage_changed(sender, instance: DealStageChange, created: bool, raw: bool = False, **kwargs) -> None:
    if not created or raw or not instance.from_stage:
        return  # a new deal's first entry is its creation, not a move
    from api.serializers import DealSerializer

    events = [Event.DEAL_STAGE_CHANGED]
    if instance.to_stage == Stage.WON:
        events.append(Event.DEAL_WON)
    elif instance.to_stage == Stage.LOST:
        events.append(Event.DEAL_LOST)
    webhooks = subscribers_of(events)  # 1 query, whatever the events
    if not webhooks:
        return
    data = {
        "deal": DealSerializer(instance.deal).data,
        "from_stage": instance.from_stage,
        "to_stage": instance.to_stage,
        "changed_by": instance.changed_by_id,
    }
    for event in events:
        wanted = [w for w in webhooks if event in w.events]
        if wanted:
            emit(event, data, webhooks=wanted)


@receiver(post_save, sender=Response, dispatch_uid="api_survey_response_received")
def survey_response_received(sender, instance: Response, created: bool, raw: bool = False, **kwargs) -> None:
    if not created or raw:
        return
    from api.serializers import ResponseSerializer

    emit(Event.SURVEY_RESPONSE_RECEIVED, {"response": ResponseSerializer(instance).data})


def prospect_converted(prospect, deal) -> None:
    """Called by the conversion itself (crm.views_prospects.convert)."""
    from api.serializers import ProspectSerializer

    emit(
        Event.PROSPECT_CONVERTED,
        {"prospect": ProspectSerializer(prospect).data, "customer": prospect.customer_id, "deal": deal.pk},
    )


def alert_payload(alert) -> dict:
    """alert.raised's `data`: the alert as /api/v1/alerts/ shows it, its
    sentences in the site's language, and where to open it in Boussole."""
    from django.utils import translation

    from api.views_alerts import AlertSerializer

    with translation.override(settings.LANGUAGE_CODE):
        data = AlertSerializer(alert).data
    return {"alert": data, "url": settings.SITE_URL + data["link"]}


def alerts_raised(alerts) -> None:
    """Called by alerts.rules.raise_alerts, in its transaction, with the alerts
    it has just created (refreshed ones are not new): one alert.raised each,
    sent once the run commits."""
    webhooks = subscribers(Event.ALERT_RAISED)  # 1 query
    if webhooks and alerts:
        emit_many(Event.ALERT_RAISED, [alert_payload(a) for a in alerts], webhooks=webhooks)
