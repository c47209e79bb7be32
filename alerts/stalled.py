"""Deals stalled past their stage threshold, as the alerts and the digest
list them.

The thresholds are the ones the KPI engine used for `stalled_deals` in the
same nightly run (the company's snapshot of the month under way keeps them
in `details["thresholds"]`: {team id or "0" for the company: {stage: days}},
docs/process.md). A deal is stalled when the days since it entered its
current stage (the company-zone day of its latest stage change, else the day
it opened) exceed its team's threshold for that stage, else the company's —
the engine's own reading, so a list agrees with the KPI's count.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_FLOOR, Decimal

from django.db.models import DateTimeField, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.expressions import Window
from django.db.models.functions import Coalesce, RowNumber, TruncDate
from django.utils import timezone

from crm.models import Deal, DealStageChange, Stage

KPI = "stalled_deals"
OPEN_STAGES = [s.value for s in Stage.open_stages()]


def thresholds_from(details: dict | None) -> dict[str, dict[str, Decimal]]:
    """{team id as text, "0" for the company: {stage: days}} from a snapshot's details."""
    raw = (details or {}).get("thresholds") or {}
    return {
        str(team): {stage: Decimal(str(days)) for stage, days in by.items() if days is not None}
        for team, by in raw.items()
    }


def _cutoff(today: dt.date, limit: Decimal) -> dt.date:
    """Past `limit` days in a stage: entered before today − ⌊limit⌋."""
    return today - dt.timedelta(days=int(limit.to_integral_value(rounding=ROUND_FLOOR)))


def _past(stage: str, limit: Decimal, today: dt.date) -> Q:
    cut = _cutoff(today, limit)
    midnight = timezone.make_aware(dt.datetime.combine(cut, dt.time.min))
    entered = Q(entered_at__lt=midnight) | Q(entered_at__isnull=True, opened_on__lt=cut)
    return Q(stage=stage) & entered


def stalled_deals(thresholds: dict[str, dict[str, Decimal]], today: dt.date) -> QuerySet:
    """The open deals past their stage's threshold today, each annotated with
    `since` (the day it entered its stage); none without thresholds."""
    last_change = Subquery(
        DealStageChange.objects.filter(deal=OuterRef("pk"))
        .order_by("-changed_at", "-pk")
        .values("changed_at")[:1],
        output_field=DateTimeField(),
    )
    qs = Deal.objects.open().annotate(
        entered_at=last_change,
        since=Coalesce(TruncDate("entered_at", tzinfo=timezone.get_default_timezone()), F("opened_on")),
    )
    company = thresholds.get("0", {})
    teams = {int(t) for t in thresholds if t != "0"}
    cond = Q()
    for stage in OPEN_STAGES:
        for team_id in teams:
            limit = thresholds[str(team_id)].get(stage)
            if limit is not None:
                cond |= Q(team_id=team_id) & _past(stage, limit, today)
        if company.get(stage) is not None:
            cond |= _past(stage, company[stage], today) & ~Q(team_id__in=teams)
    if not cond:
        return qs.none()
    return qs.filter(cond)


def oldest_per_owner_and_team(
    thresholds: dict[str, dict[str, Decimal]], today: dt.date, n: int
) -> list[dict]:
    """The `n` longest-stalled deals of every (owner, team) pair, in one
    query: enough to give any salesperson's and any team's oldest `n`
    (each is among the oldest `n` of its own pair), however many deals are
    stalled."""
    ranked = (
        stalled_deals(thresholds, today)
        .annotate(
            rank=Window(
                RowNumber(), partition_by=[F("owner_id"), F("team_id")], order_by=[F("since"), F("pk")]
            )
        )
        .filter(rank__lte=n)
        .values("pk", "title", "stage", "owner_id", "team_id", "since")
    )
    return [{**row, "days": (today - row["since"]).days} for row in ranked]


def limit_for(thresholds: dict[str, dict[str, Decimal]], team_id: int | None, stage: str) -> Decimal | None:
    """The threshold a deal of this team and stage is held to."""
    by_team = thresholds.get(str(team_id)) if team_id is not None else None
    return (by_team or thresholds.get("0") or {}).get(stage)
