"""A small hand-checked history for the forecast tests.

Every closed deal stood in Proposal at an age of 0–30 days:

    rep A (team North): 6 deals, 3 won  → A's own rate 3/6 = 0.5
    rep B (team North): 2 deals, 2 won  → below KPI_MIN_SAMPLE (5): North's 5/8
    rep C (team South): 4 deals, 0 won  → South has 4 (< 5): the company's 5/12
"""

import datetime as dt
from decimal import Decimal

from crm.models import DealStageChange, Stage
from tests.factories import DealFactory, TeamFactory, UserFactory

AS_OF = dt.date(2025, 6, 10)


def at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(10, 0), tzinfo=dt.UTC)


def closed_deal(
    owner, won: bool, opened: dt.date, path: list[tuple[str, int]], closed_after: int, amount="1000"
):
    """A closed deal whose stage history is `path`: (stage, days after opening)."""
    closed_on = opened + dt.timedelta(days=closed_after)
    deal = DealFactory(
        owner=owner,
        amount=Decimal(amount),
        stage=Stage.WON if won else Stage.LOST,
        opened_on=opened,
        closed_on=closed_on,
    )
    deal.stage_changes.all().delete()
    previous = ""
    for stage, after in [*path, (deal.stage, closed_after)]:
        day = opened + dt.timedelta(days=after)
        DealStageChange.objects.create(deal=deal, from_stage=previous, to_stage=stage, changed_at=at(day))
        previous = stage
    return deal


def history():
    north, south = TeamFactory(name="North"), TeamFactory(name="South")
    a = UserFactory(username="a", team=north)
    b = UserFactory(username="b", team=north)
    c = UserFactory(username="c", team=south)
    opened = dt.date(2025, 1, 6)
    path = [(Stage.PROSPECTING, 0), (Stage.PROPOSAL, 5)]
    for i in range(6):
        closed_deal(a, i < 3, opened, path, 20)
    for _ in range(2):
        closed_deal(b, True, opened, path, 20)
    for _ in range(4):
        closed_deal(c, False, opened, path, 20)
    return {"north": north, "south": south, "a": a, "b": b, "c": c}
