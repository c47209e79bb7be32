"""Survey results for the managers' page: one bounded aggregate per table.

The headline figures follow kpi-spec (nps, csat, survey_response_rate) but
are computed here from the filtered rows, not read from KpiSnapshot: the
page filters by any date range and by rep or team at once, which snapshot
periods and scopes do not cover. Each figure is ONE aggregate query with a
`Count(filter=...)` per bucket, whatever the number of responses.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, FilteredRelation, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import PASSIVE_MIN, PROMOTER_MIN, Invitation, Response


def _day_start(day: dt.date) -> dt.datetime:
    # Periods are company-zone dates (kpi-spec); timestamps are compared in UTC.
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def filtered(user, filters: dict) -> tuple[QuerySet, QuerySet]:
    """The responses submitted and the invitations sent in the filtered period and scope."""
    responses = Response.objects.visible_to(user)
    invitations = Invitation.objects.visible_to(user)
    if filters.get("team"):
        responses = responses.filter(invitation__team=filters["team"])
        invitations = invitations.filter(team=filters["team"])
    if filters.get("rep"):
        responses = responses.filter(invitation__owner=filters["rep"])
        invitations = invitations.filter(owner=filters["rep"])
    if filters.get("from"):
        responses = responses.filter(submitted_at__gte=_day_start(filters["from"]))
        invitations = invitations.filter(sent_at__gte=_day_start(filters["from"]))
    if filters.get("to"):
        end = _day_start(filters["to"] + dt.timedelta(days=1))
        responses = responses.filter(submitted_at__lt=end)
        invitations = invitations.filter(sent_at__lt=end)
    return responses, invitations


def _rate(numerator: int, denominator: int) -> float | None:
    # kpi-spec: a zero denominator is n/a, never 0.
    return round(100 * numerator / denominator, 1) if denominator else None


def figures(responses: QuerySet, invitations: QuerySet, sent_from: dt.date | None = None) -> dict:
    """NPS buckets, CSAT distribution and response rate: two queries.

    `sent_from`, the start of the invitations' period, bounds the responses
    the rate joins: an answer comes after its invitation was sent, so only
    responses submitted since then can count (the join then reads a range
    of response_submitted_cover_idx, not every response ever).
    """
    buckets = {f"nps_{n}": Count("pk", filter=Q(nps_score=n)) for n in range(11)}
    buckets |= {f"csat_{n}": Count("pk", filter=Q(csat_score=n)) for n in range(1, 6)}
    counts = responses.order_by().aggregate(**buckets)
    nps_counts = [counts[f"nps_{n}"] for n in range(11)]
    csat_counts = [counts[f"csat_{n}"] for n in range(1, 6)]
    promoters = sum(nps_counts[PROMOTER_MIN:])
    passives = sum(nps_counts[PASSIVE_MIN:PROMOTER_MIN])
    detractors = sum(nps_counts[:PASSIVE_MIN])
    nps_total = promoters + passives + detractors
    csat_total = sum(csat_counts)
    answer = Q(answer__isnull=False)
    condition = Q(response__submitted_at__gte=_day_start(sent_from)) if sent_from else Q()
    rate = (
        invitations.counted()
        .order_by()
        .alias(answer=FilteredRelation("response", condition=condition))
        .aggregate(sent=Count("pk"), answered=Count("pk", filter=answer))
    )
    return {
        "nps": round(100 * (promoters - detractors) / nps_total, 1) if nps_total else None,
        "promoters": promoters,
        "passives": passives,
        "detractors": detractors,
        "nps_total": nps_total,
        "nps_counts": nps_counts,
        "csat": _rate(counts["csat_4"] + counts["csat_5"], csat_total),
        "csat_counts": csat_counts,
        "csat_total": csat_total,
        "response_rate": _rate(rate["answered"], rate["sent"]),
        "sent": rate["sent"],
        "answered": rate["answered"],
        "chart": {
            "label": _("Answers"),
            "nps": {"labels": [str(n) for n in range(11)], "counts": nps_counts},
            "csat": {"labels": [str(n) for n in range(1, 6)], "counts": csat_counts},
        },
    }
