"""Demo data for the team: trainings, certifications, three months of pulse
answers, and a few coaching notes (called by crm.demo.seed).

Deterministic for a seed; one team's middle month has only four answers, so
the demo shows a withheld result next to shown ones.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from django.db.models import Q
from django.utils import timezone

from team.models import (
    Certification,
    CoachingAction,
    CoachingNote,
    MemberSettings,
    PulseAnswer,
    PulseInvitation,
    PulseRound,
    TrainingAttendance,
    TrainingSession,
)

TRAININGS = [
    ("Consultative selling", "course", Decimal("7"), "Sales Academy"),
    ("Handling objections", "workshop", Decimal("3.5"), "In-house"),
    ("CRM best practices", "e-learning", Decimal("1.5"), "Boussole"),
    ("Negotiation masterclass", "course", Decimal("14"), "Negotia"),
    ("Discovery calls", "coaching", Decimal("2"), "In-house"),
    ("Account planning", "workshop", Decimal("4"), "Sales Academy"),
]
CERTIFICATIONS = ["Certified Sales Professional", "Product expert", "Solution selling"]
COMMENTS = [
    "The new CRM saves me time every day.",
    "Too many internal meetings this month.",
    "Great support from the team on the big tender.",
    "I would like more coaching on negotiation.",
    "Targets feel ambitious but fair.",
    "Lead quality from marketing has improved.",
]


def _month(day: dt.date, offset: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + offset
    return dt.date(index // 12, index % 12 + 1, 1)


def seed_team(rng: random.Random, today: dt.date, managers: list, reps: list) -> dict[str, int]:
    if TrainingSession.objects.filter(created_by__in=managers).exists():
        return {}
    by_team: dict[int, list] = {}
    for rep in reps:
        by_team.setdefault(rep.team.pk, []).append(rep.user)
    manager_of = {m.team_id: m for m in managers}
    now = timezone.now()
    # Every other person reads their pulse in French.
    languages = {u.pk: "fr" if i % 2 else "en" for i, u in enumerate([*managers, *(r.user for r in reps)])}
    MemberSettings.objects.bulk_create(
        MemberSettings(user_id=pk, language=lang) for pk, lang in languages.items()
    )

    # Trainings over the last twelve months, recorded by each team's manager.
    sessions = 0
    for team_id, people in by_team.items():
        manager = manager_of[team_id]
        for i, (title, kind, hours, provider) in enumerate(TRAININGS):
            day = _month(today, -11 + 2 * i) + dt.timedelta(days=rng.randint(2, 20))
            if day > today:
                continue
            session = TrainingSession.objects.create(
                title=title, kind=kind, date=day, hours=hours, provider=provider, created_by=manager,
                confirmed_by=manager, confirmed_at=now,
            )  # fmt: skip
            session.set_attendees(rng.sample(people, rng.randint(2, len(people))))
            sessions += 1
        # A rep's own e-learning, waiting for the manager.
        own = TrainingSession.objects.create(
            title="Industry webinar", kind="e-learning", date=today - dt.timedelta(days=5),
            hours=Decimal("1"), provider="Webinar", created_by=people[0],
        )  # fmt: skip
        own.set_attendees([people[0]])
        sessions += 1

    # Certifications: most reps hold one; a few expire within 60 days.
    certs = []
    for n, rep in enumerate(reps):
        if n % 4 == 3:
            continue  # not everyone is certified
        obtained = today - dt.timedelta(days=rng.randint(200, 700))
        expires = (
            today + dt.timedelta(days=30 + 10 * n) if n % 3 == 0 else obtained + dt.timedelta(days=3 * 365)
        )
        manager = manager_of[rep.team.pk]
        certs.append(Certification(user=rep.user, team=rep.team, name=CERTIFICATIONS[n % 3],
                                   obtained_on=obtained, expires_on=expires, created_by=manager,
                                   confirmed_by=manager, confirmed_at=now))  # fmt: skip
    first = reps[0].user
    certs.append(Certification(user=first, team=first.team, name="Negotiation level 2", obtained_on=today,
                               expires_on=None, created_by=first))  # fmt: skip
    Certification.objects.bulk_create(certs)

    # Three months of pulse answers: every person answers, except one person
    # of the second team in the middle month (4 answers: withheld).
    answers = 0
    staff = [*managers, *(r.user for r in reps)]
    for back in (2, 1, 0):
        opened = _month(today, -back)
        pulse = PulseRound.objects.create(opened_on=opened)
        sent = timezone.make_aware(dt.datetime.combine(opened, dt.time(9)))
        for person in staff:
            skip = (
                back == 1 and person.team_id == managers[1].team_id and person == by_team[person.team_id][-1]
            )
            current = back == 0 and rng.random() < 0.3  # this month's round is still open for some
            answered = not (skip or current)
            PulseInvitation.objects.create(
                round=pulse, user=person, team_id=person.team_id, language=languages[person.pk], sent_at=sent,
                expires_at=sent + dt.timedelta(days=30), answered=answered,
            )  # fmt: skip
            if answered:
                day = min(opened + dt.timedelta(days=rng.randint(0, 9)), today)
                PulseAnswer.objects.create(
                    round=pulse, team_id=person.team_id, submitted_on=day,
                    score=rng.choices(range(11), weights=[1, 1, 1, 1, 2, 3, 4, 8, 10, 9, 7])[0],
                    tools=rng.randint(2, 5), workload=rng.randint(1, 5), support=rng.randint(2, 5),
                    comment=rng.choice(COMMENTS) if rng.random() < 0.4 else "",
                )  # fmt: skip
                answers += 1

    for team_id, people in by_team.items():
        manager = manager_of[team_id]
        CoachingNote.objects.create(
            rep=people[0],
            author=manager,
            text="Strong discovery; proposals go out late. Try the proposal template.",
        )
        CoachingAction.objects.create(rep=people[0], author=manager, text="Send proposals within 48 hours",
                                      due_on=today + dt.timedelta(days=14))  # fmt: skip
    return {"training sessions": sessions, "certifications": len(certs), "pulse answers": answers}


def reset_team_demo(users) -> None:
    """Remove what seed_team wrote for these users (before they are deleted)."""
    CoachingNote.objects.filter(Q(rep__in=users) | Q(author__in=users)).delete()
    CoachingAction.objects.filter(Q(rep__in=users) | Q(author__in=users)).delete()
    TrainingAttendance.objects.filter(user__in=users).delete()
    TrainingSession.objects.filter(created_by__in=users).delete()
    Certification.objects.filter(Q(user__in=users) | Q(created_by__in=users)).delete()
    teams = users.values("team_id")
    PulseAnswer.objects.filter(team_id__in=teams).delete()
    PulseInvitation.objects.filter(user__in=users).delete()
    PulseRound.objects.filter(invitations__isnull=True, answers__isnull=True).delete()
    MemberSettings.objects.filter(user__in=users).delete()
