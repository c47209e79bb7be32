"""The team's KPIs in the engine (kpi-spec "The team"), called by kpis.compute.

- `training_hours`: a sum over a period, read as monthly `sales` facts — the
  hours of each confirmed session held in the month, once per attendee
  (person-hours), credited to the attendee and the team recorded on the
  attendance.
- `active_selling_days`: per rep, the distinct working days (Monday–Friday)
  of the month with at least one done call, meeting or email — additive over
  months, so also a `sales` fact; the denominator is the working days of the
  span the rep was on the staff (from the day they joined, up to today for
  the period under way). A team or the company is Σ numerators ÷ Σ
  denominators over its active salespeople (no team history is kept for
  people, so a team is its members of today).
- `certified_share`: a state at the span's end (today for the period under
  way): active salespeople holding a confirmed certification valid that day
  ÷ active salespeople who had joined by then. Not additive over months: it
  is computed per span from the certifications and people, each read once per
  run (a few rows per person), and is a running KPI (CUMULATIVE_KPIS) so a
  certification marks every later period.
- `enps`: monthly `sales` facts from the anonymous pulse answers (company and
  team; never a rep). The engine blanks any scope with fewer than
  `ENPS_MIN_ANSWERS` answers (kpis.compute `_snapshot`).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Count, Q, Sum

from crm.models import Activity, Role, User
from kpis.definitions import COMPANY, KPIS, QUARTER, REP, TEAM, YEAR
from team.models import Certification, PulseAnswer, TrainingAttendance

ZERO = Decimal(0)
HUNDRED = Decimal(100)
# Django's week_day: 1 is Sunday, 7 Saturday.
WEEKDAYS = [2, 3, 4, 5, 6]


def working_days(first: dt.date, last: dt.date) -> int:
    """Monday–Friday days from first to last, inclusive (0 when last < first)."""
    if last < first:
        return 0
    days = (last - first).days + 1
    weeks, extra = divmod(days, 7)
    count = weeks * 5
    start = first.weekday()
    count += sum(1 for i in range(extra) if (start + i) % 7 < 5)
    return count


def read_sales(reader) -> None:
    """Add the team's monthly facts to a kpis.compute._Reader's `sales` sums."""
    rows = (
        TrainingAttendance.objects.filter(
            reader.q("session__date"), session__confirmed_at__isnull=False, session__date__lte=reader.today
        )
        .order_by()
        .values("user_id", "team_id", **reader.period("session__date"))
        .annotate(training_hours=Sum("session__hours"))
    )
    reader.add(reader.sales, rows, ["training_hours"], {REP: "user_id", TEAM: "team_id"})

    # Distinct working days with a done call, meeting or email, per rep (a
    # team's figure is the sum over its members, made in `kpis` below).
    rows = (
        Activity.objects.filter(
            reader.q("occurred_on"),
            kind__in=Activity.COUNTED_KINDS,
            done=True,
            occurred_on__week_day__in=WEEKDAYS,
        )
        .order_by()
        .values("owner_id", **reader.period("occurred_on"))
        .annotate(selling_days=Count("occurred_on", distinct=True))
    )
    reader.add(reader.sales, rows, ["selling_days"], {REP: "owner_id"}, company=False)

    rows = (
        PulseAnswer.objects.filter(reader.q("submitted_on"))
        .order_by()
        .values("team_id", **reader.period("submitted_on"))
        .annotate(
            pulse_promoters=Count("pk", filter=Q(score__gte=9)),
            pulse_passives=Count("pk", filter=Q(score__in=[7, 8])),
            pulse_detractors=Count("pk", filter=Q(score__lte=6)),
        )
    )
    reader.add(
        reader.sales, rows, ["pulse_promoters", "pulse_passives", "pulse_detractors"], {TEAM: "team_id"}
    )


class People:
    """The salespeople and confirmed certifications, read once per run."""

    def __init__(self) -> None:
        self.people = list(
            User.objects.filter(is_active=True, role=Role.SALESPERSON).values_list(
                "pk", "team_id", "date_joined"
            )
        )
        self.joined = {pk: _local_date(joined) for pk, _team, joined in self.people}
        self.certs: dict[int, list[tuple[dt.date, dt.date | None]]] = {}
        for user_id, obtained, expires in Certification.objects.confirmed().values_list(
            "user_id", "obtained_on", "expires_on"
        ):
            self.certs.setdefault(user_id, []).append((obtained, expires))

    def members(self, st: str, sid: int) -> list[int]:
        if st == COMPANY:
            return [pk for pk, _team, _joined in self.people]
        if st == TEAM:
            return [pk for pk, team, _joined in self.people if team == sid]
        return []

    def certified(self, user_id: int, day: dt.date) -> bool:
        return any(o <= day and (e is None or e >= day) for o, e in self.certs.get(user_id, ()))


def _local_date(value) -> dt.date:
    from django.utils import timezone

    return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()


def _ratio(numerator, denominator, scale=HUNDRED):
    if denominator in (None, 0) or numerator is None:
        return None
    return Decimal(numerator) * scale / Decimal(denominator)


def kpis(engine, st: str, sid: int, span, get):
    """(kpi, value, numerator, denominator, details) rows for a scope and span."""
    hours = get("training_hours", ZERO)
    yield "training_hours", hours, hours, None, None

    people: People = getattr(engine, "_team_people", None) or People()
    engine._team_people = people
    last = min(span.last_day, engine.today)

    # Active selling days: a rep's own; a team's and the company's Σ ÷ Σ over members.
    def rep_days(user_id: int, joined: dt.date | None) -> tuple[Decimal, int]:
        first = max(span.start, joined) if joined else span.start
        if st == REP:
            days = get("selling_days", ZERO)
        else:
            days = engine._sales_fact((REP, user_id), span, "selling_days")
        return days, working_days(first, last)

    if st == REP:
        days, workdays = rep_days(sid, people.joined.get(sid))
    else:
        days, workdays = ZERO, 0
        for user_id in people.members(st, sid):
            d, w = rep_days(user_id, people.joined.get(user_id))
            days += d
            workdays += w
    yield "active_selling_days", _ratio(days, workdays), days, Decimal(workdays), None

    if st in (COMPANY, TEAM):
        on_staff = [u for u in people.members(st, sid) if people.joined.get(u, last) <= last]
        certified = sum(1 for u in on_staff if people.certified(u, last))
        yield (
            "certified_share",
            _ratio(certified, len(on_staff)),
            Decimal(certified),
            Decimal(len(on_staff)),
            None,
        )

        promoters, passives, detractors = (
            get("pulse_promoters", ZERO),
            get("pulse_passives", ZERO),
            get("pulse_detractors", ZERO),
        )
        answers = promoters + passives + detractors
        counts = {"promoters": int(promoters), "passives": int(passives), "detractors": int(detractors)}
        yield "enps", _ratio(promoters - detractors, answers), promoters - detractors, answers, counts


PULSE_FACTS = ("pulse_promoters", "pulse_passives", "pulse_detractors")


def _answers(engine, scope, months) -> int:
    return int(sum(engine.store.get("sales", scope, m).get(f, ZERO) for m in months for f in PULSE_FACTS))


def suppress_across_periods(engine) -> bool:
    """Withhold a quarter's or year's eNPS when its total minus the months (or,
    for a year, the quarters) shown within it would leave 1–4 answers.

    A month or quarter is counted as shown when it has at least the minimum
    of answers, whether or not another rule withheld it: a withheld one only
    adds 5 or more to the true remainder, so the check stays on the safe
    side, and it depends on the facts alone (a nightly run that writes some
    periods decides as a recompute from scratch does).
    Returns whether any row changed."""
    from kpis.compute import withhold  # noqa: PLC0415 (kpis.compute imports this module)
    from kpis.periods import month_starts, period_end

    minimum = KPIS["enps"].anonymous_below
    changed = False
    for g in (QUARTER, YEAR):
        for (kpi, st, sid, gg, start), row in list(engine.rows.items()):
            if kpi != "enps" or gg != g or row.denominator is None:
                continue
            scope = (st, sid)
            total = int(row.denominator)
            months = month_starts(start, period_end(start, g))
            shown_months = sum(n for n in (_answers(engine, scope, [m]) for m in months) if n >= minimum)
            remainders = [total - shown_months]
            if g == YEAR:
                shown_quarters = 0
                for q in range(4):
                    q_start = dt.date(start.year, 1 + 3 * q, 1)
                    n = _answers(engine, scope, month_starts(q_start, period_end(q_start, QUARTER)))
                    if n >= minimum:
                        shown_quarters += n
                remainders.append(total - shown_quarters)
            if any(0 < r < minimum for r in remainders):
                withhold(row)
                changed = True
    return changed
