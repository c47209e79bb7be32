"""A hand-computed world for the internal-process KPIs (tests/kpis/test_process.py,
the Process page's tests).

Stage histories are written as they would be recorded: one entry per move,
at noon company time on the day given. Every number the tests expect is
worked out in the comments here.
"""

import datetime as dt
import zoneinfo
from decimal import Decimal

from django.conf import settings

from crm.models import Activity, Deal, DealStageChange, Stage
from tests.factories import ActivityFactory, DealFactory, ProspectFactory, lost_reason

TODAY = dt.date(2025, 6, 15)
MAR, JUN, Q1 = dt.date(2025, 3, 1), dt.date(2025, 6, 1), dt.date(2025, 1, 1)


def noon(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), tzinfo=zoneinfo.ZoneInfo(settings.TIME_ZONE))


def deal_with_history(owner, moves: list[tuple[str, dt.date]], opened_on=None, **kwargs) -> Deal:
    """A deal whose stage history is exactly `moves` (the first is its
    creation entry), in the stage and with the close date the last one gives."""
    stage, last_day = moves[-1]
    closed = stage in Stage.closed_stages()
    deal = DealFactory(
        owner=owner,
        stage=stage,
        opened_on=opened_on or moves[0][1],
        closed_on=last_day if closed else None,
        **kwargs,
    )
    DealStageChange.objects.filter(deal=deal).delete()
    previous = ""
    for to_stage, day in moves:
        DealStageChange.objects.create(
            deal=deal, from_stage=previous, to_stage=to_stage, changed_at=noon(day)
        )
        previous = to_stage
    return deal


def d(day: int, month: int = 3) -> dt.date:
    return dt.date(2025, month, day)


def build(world):
    """ann and bob (North), sam (South). Stays left in March (all North):

    | deal | history | stays (days, moved on?) |
    |---|---|---|
    | D1 ann | P 3/1 → Q 3/4 → Pr 3/10 → N 3/20 → won 3/25 | P 3 y, Q 6 y, Pr 10 y, N 5 y |
    | D2 ann | P 3/1 → Pr 3/3 → won 3/9 (skips Q and N) | P 2 y, Pr 6 y |
    | D3 ann | P 3/1 → Pr 3/5 → Q 3/12 (backwards) → lost 3/20 | P 4 y, Pr 7 n, Q 8 n |
    | D4 ann | P 3/1 → lost 3/2 → N 3/10 (reopened) → won 3/30 | P 1 n, N 20 y |
    | D5 ann | imported: one entry, won 3/15 | none |
    | D6 bob | P 2/20 → Q 3/2, open | P 10 y |
    | D7 bob | imported: one entry, lost 3/25 (price) | none |

    North, March: Prospecting [1, 2, 3, 4, 10] median 3, P75 4, 4/5 moved on;
    Qualification [6, 8] median 7, P75 7.5, 1/2; Proposal [6, 7, 10] median 7,
    P75 8.5, 2/3; Negotiation [5, 20] median 12.5, P75 16.25, 2/2. Time in
    stage 3 + 7 + 7 + 12.5 = 29.5; conversion 100 × 0.8 × 0.5 × 2/3 × 1 =
    26.666667. ann alone: Prospecting [1, 2, 3, 4] median 2.5, P75 3.25.
    """
    ann, bob, sam = world.ann, world.bob, world.sam
    deals = {
        "D1": deal_with_history(
            ann,
            [
                ("prospecting", d(1)),
                ("qualification", d(4)),
                ("proposal", d(10)),
                ("negotiation", d(20)),
                ("won", d(25)),
            ],
        ),  # fmt: skip
        "D2": deal_with_history(ann, [("prospecting", d(1)), ("proposal", d(3)), ("won", d(9))]),
        "D3": deal_with_history(
            ann,
            [("prospecting", d(1)), ("proposal", d(5)), ("qualification", d(12)), ("lost", d(20))],
            lost_reason=lost_reason("competitor"),
        ),
        "D4": deal_with_history(
            ann, [("prospecting", d(1)), ("lost", d(2)), ("negotiation", d(10)), ("won", d(30))]
        ),  # fmt: skip
        "D5": deal_with_history(ann, [("won", d(15))], opened_on=d(1, 2)),
        "D6": deal_with_history(bob, [("prospecting", d(20, 2)), ("qualification", d(2))]),
        "D7": deal_with_history(bob, [("lost", d(25))], opened_on=d(1, 2), lost_reason=lost_reason("price")),
        # South, June: D8 in Proposal for 5 days (under its threshold), D9 in
        # Prospecting for 14 days (over it).
        "D8": deal_with_history(sam, [("prospecting", d(1, 6)), ("proposal", d(10, 6))]),
        "D9": deal_with_history(sam, [("prospecting", d(1, 6))]),
    }
    # Activities on ann's deals won in March (D1, D2, D4, D5): 2 calls done on
    # D1, an email done on D4; a planned call and a done note on D2 do not
    # count. 3 ÷ 4 = 0.75.
    ActivityFactory(owner=ann, deal=deals["D1"], occurred_on=d(5))
    ActivityFactory(owner=ann, deal=deals["D1"], occurred_on=d(6))
    ActivityFactory(owner=ann, deal=deals["D4"], kind=Activity.Kind.EMAIL, occurred_on=d(12))
    ActivityFactory(owner=ann, deal=deals["D2"], occurred_on=d(4), done=False)
    ActivityFactory(owner=ann, deal=deals["D2"], kind=Activity.Kind.NOTE, occurred_on=d(4))
    # ann's prospects created in March: touched after 48 h (P1), 0 h (P3),
    # 24 h (P5); P2 only has a planned call, P4 only a note: never touched.
    # Median 24, P75 36; 2 of 5 never touched (40 %).
    prospects = {}
    for name, created, touches in [
        ("P1", d(1), [(d(3), Activity.Kind.CALL, True), (d(10), Activity.Kind.EMAIL, True)]),
        ("P2", d(5), [(d(6), Activity.Kind.CALL, False)]),
        ("P3", d(10), [(d(10), Activity.Kind.MEETING, True)]),
        ("P4", d(20), [(d(21), Activity.Kind.NOTE, True)]),
        ("P5", d(12), [(d(13), Activity.Kind.CALL, True)]),
    ]:
        prospect = ProspectFactory(owner=ann, name=name, created_on=created)
        prospects[name] = prospect
        for day, kind, done in touches:
            ActivityFactory(owner=ann, deal=None, prospect=prospect, kind=kind, occurred_on=day, done=done)
    return deals


# Stalled on 15 June. Won deals' stays per stage (North only; below 5 stays,
# so every team uses the company's): Prospecting [1, 2, 3] P75 2.5,
# Qualification [6] 6, Proposal [6, 10] 9, Negotiation [5, 20] 16.25.
# D6 has sat in Qualification since 2 March (105 days > 6): stalled; D9 in
# Prospecting 14 days > 2.5: stalled; D8 in Proposal 5 days < 9: not.
THRESHOLDS = {"prospecting": Decimal("2.5"), "qualification": Decimal("6"), "proposal": Decimal("9"),
              "negotiation": Decimal("16.25")}  # fmt: skip
