"""Demo surveys for seed_demo: invitations after won deals, realistic answers.

Called by crm's seed_demo once the CRM demo data exists. Deterministic for a
given rng (tokens aside: they stay truly random, as they are keys) and
idempotent: it does nothing when any invitation exists.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from crm.models import Activity, Deal, Stage

from .models import PASSIVE_MIN, Invitation, Response, Survey, new_token

ANSWER_RATE = 0.40
BOUNCE_RATE = 0.03

COMMENTS = {
    "en": {
        "promoter": [
            "Great follow-up from our account manager, very responsive.",
            "The onboarding was smooth and the team knew our business.",
            "Exactly what we needed, delivered on time.",
            "",
            "",
        ],
        "passive": [
            "Good product, but the contract took a while to finalise.",
            "Fine overall; the invoices could be clearer.",
            "",
            "",
        ],
        "detractor": [
            "Delivery was late and nobody told us why.",
            "Too many people to talk to before getting an answer.",
            "The price went up compared with the first quote.",
            "",
        ],
    },
    "fr": {
        "promoter": [
            "Très bon suivi de notre interlocuteur, toujours disponible.",
            "Mise en route rapide, l’équipe connaissait notre métier.",
            "Exactement ce qu’il nous fallait, livré à temps.",
            "",
            "",
        ],
        "passive": [
            "Bon produit, mais le contrat a été long à finaliser.",
            "Correct dans l’ensemble ; les factures pourraient être plus claires.",
            "",
            "",
        ],
        "detractor": [
            "Livraison en retard et personne ne nous a prévenus.",
            "Trop d’interlocuteurs avant d’obtenir une réponse.",
            "Le prix a augmenté par rapport au premier devis.",
            "",
        ],
    },
}


def _scores(rng: random.Random) -> tuple[int, int]:
    """A correlated (NPS, CSAT) pair: one latent satisfaction drives both.

    Tuned to about 50 % promoters, 30 % passives and 20 %
    detractors (an NPS around +30 and a CSAT around 70 %, typical of B2B
    services).
    """
    mood = rng.gauss(0.72, 0.2)
    nps = max(0, min(10, round(mood * 10 + rng.gauss(1.3, 1.0))))
    csat = max(1, min(5, round(1 + mood * 4 + rng.gauss(0.2, 0.55))))
    return nps, csat


def _sent_at(day: dt.date, rng: random.Random) -> dt.datetime:
    # Morning mail in the company time zone, like the real beat job.
    local = dt.datetime.combine(day, dt.time(9, rng.randrange(0, 60, 15)))
    return timezone.make_aware(local)


def seed_surveys(
    rng: random.Random, today: dt.date, progress: Callable[[int, int], None] | None = None
) -> None:
    if Invitation.objects.exists():
        return
    surveys = {s.language: s for s in Survey.objects.filter(is_default=True)}
    if "en" not in surveys:
        surveys["en"] = Survey.objects.create(name="Customer satisfaction", is_default=True)
    now = timezone.make_aware(dt.datetime.combine(today, dt.time(18)))
    delay = dt.timedelta(days=settings.SURVEY_DELAY_DAYS)
    throttle = dt.timedelta(days=settings.SURVEY_THROTTLE_DAYS)
    reminder_after = dt.timedelta(days=settings.SURVEY_REMINDER_DAYS)
    expiry = dt.timedelta(days=settings.SURVEY_EXPIRY_DAYS)

    deals = list(
        Deal.objects.filter(stage=Stage.WON, customer__isnull=False)
        .exclude(customer__contact_email="")
        .select_related("customer")
        .order_by("closed_on", "pk")
    )
    total = len(deals)
    invitations: list[Invitation] = []
    plans: list[tuple[int, dt.datetime] | None] = []
    last_invited: dict[int, dt.datetime] = {}
    for done, deal in enumerate(deals, start=1):
        if progress and (done % 200 == 0 or done == total):
            progress(done, total)
        sent_at = _sent_at(deal.closed_on + delay + dt.timedelta(days=rng.randint(0, 2)), rng)
        if sent_at > now:
            continue
        previous = last_invited.get(deal.customer_id)
        if previous and sent_at - previous < throttle:
            continue  # the throttle the real job applies
        last_invited[deal.customer_id] = sent_at
        bounced = rng.random() < BOUNCE_RATE
        answered = not bounced and rng.random() < ANSWER_RATE
        answered_at = None
        reminded_at = None
        if answered:
            # Most answer within days; a third only after the reminder.
            if rng.random() < 0.67:
                answered_at = sent_at + dt.timedelta(hours=rng.randint(1, 24 * 5))
            else:
                reminded_at = sent_at + reminder_after
                answered_at = reminded_at + dt.timedelta(hours=rng.randint(1, 24 * 6))
            if answered_at > now:
                answered_at = None
                reminded_at = reminded_at if reminded_at and reminded_at <= now else None
        elif not bounced and sent_at + reminder_after <= now:
            reminded_at = sent_at + reminder_after
        customer = deal.customer
        invitations.append(
            Invitation(
                survey=surveys.get(customer.language, surveys["en"]),
                customer=customer,
                deal=deal,
                owner_id=deal.owner_id,
                team_id=deal.team_id,
                email=customer.contact_email,
                language=customer.language,
                token=new_token(),
                send_after=sent_at,
                sent_at=sent_at,
                reminded_at=reminded_at,
                bounced_at=sent_at + dt.timedelta(minutes=5) if bounced else None,
                expires_at=sent_at + expiry,
            )
        )
        plans.append((deal.owner_id, answered_at) if answered_at else None)

    with transaction.atomic():
        Invitation.objects.bulk_create(invitations, batch_size=500)
        # created_at is auto_now_add, so bulk_create stamped "now": back-date
        # it to the send time, or the throttle would block every demo customer.
        Invitation.objects.update(created_at=F("sent_at"))
        responses: list[Response] = []
        follow_ups: list[Activity] = []
        for invitation, plan in zip(invitations, plans, strict=True):
            if plan is None:
                continue
            owner_id, answered_at = plan
            nps, csat = _scores(rng)
            category = "promoter" if nps >= 9 else "passive" if nps >= PASSIVE_MIN else "detractor"
            comment = rng.choice(COMMENTS.get(invitation.language, COMMENTS["en"])[category])
            responses.append(
                Response(
                    invitation=invitation,
                    submitted_at=answered_at,
                    nps_score=nps,
                    csat_score=csat,
                    comment=comment,
                )
            )
            if category == "detractor":
                day = timezone.localdate(answered_at)
                follow_ups.append(
                    Activity(
                        kind=Activity.Kind.CALL,
                        occurred_on=day,
                        subject=f"Survey follow-up: {invitation.customer.name} scored {nps}/10"[:200],
                        notes=comment,
                        owner_id=owner_id,
                        team_id=invitation.team_id,
                        deal_id=invitation.deal_id,
                        customer_id=invitation.customer_id,
                        # Old follow-ups were made; the last fortnight's are still to do.
                        done=day < today - dt.timedelta(days=14),
                    )
                )
        Response.objects.bulk_create(responses, batch_size=500)
        Activity.objects.bulk_create(follow_ups, batch_size=500)
