"""Webhook events from the models' own writes, so a deal moved on the board,
through the API or by a verb in a shell fires the same events. Imports write
history in bulk (no signals), so they fire none."""

from __future__ import annotations

from django.db.models.signals import post_save
from django.dispatch import receiver

from api.models import Event
from api.webhooks import emit, subscribers_of
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
