"""Deterministic, realistic demo data for `manage.py seed_demo`.

Three teams, twelve salespeople and three managers selling over the 24
months before `today`: campaigns with monthly spend, a few thousand
prospects, deals in every stage with per-rep win rates and realistic cycles,
activities, monthly targets, churned customers. Everything comes from one
seeded random generator and `today`, so the same inputs give the same rows.
Rows are written with bulk_create: the whole load takes seconds on SQLite.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.hashers import make_password
from django.db import transaction

from surveys.demo import seed_surveys
from surveys.models import Invitation, Response
from team.demo import reset_team_demo, seed_team

from .models import (
    Activity,
    Campaign,
    CampaignSpend,
    Customer,
    Deal,
    DealStageChange,
    Language,
    LostReason,
    Product,
    Prospect,
    Role,
    Stage,
    Target,
    Team,
    User,
)
from .progress import Progress

DEMO_PASSWORD = "boussole"
DEMO_REF_PREFIX = "DEMO-"
MONTHS = 24

TEAMS = [("Paris", "Île-de-France"), ("Lyon", "Auvergne-Rhône-Alpes"), ("Bordeaux", "Nouvelle-Aquitaine")]
MANAGERS = [("claire", "Claire", "Martin"), ("julien", "Julien", "Bernard"), ("sophie", "Sophie", "Dubois")]
REPS = [
    [
        ("alice", "Alice", "Moreau"),
        ("hugo", "Hugo", "Laurent"),
        ("lea", "Léa", "Simon"),
        ("louis", "Louis", "Michel"),
    ],
    [
        ("emma", "Emma", "Lefebvre"),
        ("nathan", "Nathan", "Leroy"),
        ("chloe", "Chloé", "Roux"),
        ("theo", "Théo", "David"),
    ],
    [
        ("ines", "Inès", "Bertrand"),
        ("lucas", "Lucas", "Morel"),
        ("manon", "Manon", "Fournier"),
        ("jules", "Jules", "Girard"),
    ],
]
PRODUCTS = [
    ("Compass Starter", "1200.00"),
    ("Compass Team", "4800.00"),
    ("Compass Enterprise", "18000.00"),
    ("Onboarding pack", "2500.00"),
    ("Training day", "1500.00"),
    ("Premium support", "6000.00"),
]
CAMPAIGNS = [
    # name, channel, team index or None, month offset it starts, months it runs, monthly spend
    ("Salon VivaTech", Campaign.Channel.EVENTS, 0, 2, 2, 9000),
    ("Google Ads — CRM", Campaign.Channel.PAID_SEARCH, None, 0, 24, 2500),
    ("LinkedIn Lyon", Campaign.Channel.SOCIAL, 1, 4, 12, 1500),
    ("Newsletter clients", Campaign.Channel.EMAIL, None, 0, 24, 400),
    ("Webinar pilotage commercial", Campaign.Channel.CONTENT, None, 8, 6, 1200),
    ("Partenaires intégrateurs", Campaign.Channel.PARTNER, 2, 6, 18, 1800),
    ("Parrainage clients", Campaign.Channel.REFERRAL, None, 10, 14, 600),
    ("Salon Bordeaux Business", Campaign.Channel.EVENTS, 2, 14, 1, 7000),
    ("Livre blanc KPI", Campaign.Channel.CONTENT, 0, 16, 8, 900),
]
COMPANY_WORDS = [
    "Atelier",
    "Groupe",
    "Maison",
    "Solutions",
    "Conseil",
    "Industries",
    "Services",
    "Logistique",
    "Numérique",
    "Énergie",
    "Santé",
    "Bâtiment",
    "Transports",
    "Distribution",
    "Finance",
    "Agro",
]
COMPANY_NAMES = [
    "Alpine",
    "Azur",
    "Boréal",
    "Cèdre",
    "Delta",
    "Émeraude",
    "Faubourg",
    "Garonne",
    "Horizon",
    "Iris",
    "Jade",
    "Kernel",
    "Loire",
    "Mistral",
    "Nacre",
    "Opale",
    "Pyrène",
    "Quartz",
    "Rhône",
    "Saphir",
    "Tilleul",
    "Ulysse",
    "Vauban",
    "Wagram",
    "Yser",
    "Zénith",
]
FIRST_NAMES = [
    "Marie",
    "Pierre",
    "Camille",
    "Nicolas",
    "Julie",
    "Antoine",
    "Sarah",
    "Thomas",
    "Laura",
    "Maxime",
    "Pauline",
    "Romain",
    "Élise",
    "Olivier",
    "Anaïs",
    "Vincent",
    "Mathilde",
    "Paul",
]
LAST_NAMES = [
    "Petit",
    "Durand",
    "Lefèvre",
    "Mercier",
    "Blanc",
    "Guerin",
    "Boyer",
    "Garnier",
    "Chevalier",
    "François",
    "Legrand",
    "Gauthier",
    "Perrin",
    "Robin",
    "Clément",
    "Morin",
    "Nicolas",
    "Henry",
]
SECTORS = ["Industrie", "Santé", "Retail", "Finance", "Logistique", "Services", "Éducation", "Énergie"]
# (lost reason code, note): price and competitors lose most deals.
LOST_REASONS = [
    ("price", ""),
    ("price", "No budget this year"),
    ("competitor", "Chose a competitor"),
    ("competitor", ""),
    ("no_decision", ""),
    ("timing", "Maybe next quarter"),
    ("product_fit", "Needed an integration we lack"),
    ("other", "Company was acquired"),
]
# How long deals usually sit in each stage, relative to one another.
STAGE_WEIGHT = {"prospecting": 0.6, "qualification": 1.0, "proposal": 1.8, "negotiation": 1.3}
PROSPECT_LOST_REASONS = ["Not a fit", "No budget", "Unreachable", "Already equipped"]


@dataclass
class Rep:
    user: User
    team: Team
    win_rate: float  # each rep sells differently: leaderboards have a story
    pace: float  # prospects per working day


def month_start(day: dt.date, offset: int = 0) -> dt.date:
    index = day.year * 12 + day.month - 1 + offset
    return dt.date(index // 12, index % 12 + 1, 1)


def demo_loaded() -> bool:
    return Deal.objects.filter(external_ref__startswith=DEMO_REF_PREFIX).exists()


@transaction.atomic
def reset_demo() -> None:
    """Remove what seed_demo wrote (demo users' records and the demo users)."""
    usernames = ["admin"] + [m[0] for m in MANAGERS] + [r[0] for team in REPS for r in team]
    users = User.objects.filter(username__in=usernames)
    reset_team_demo(users)
    Activity.objects.filter(owner__in=users).delete()
    demo_deals = Deal.objects.filter(owner__in=users)
    DealStageChange.objects.filter(deal__in=demo_deals).delete()
    Customer.objects.filter(owner__in=users).update(first_deal=None)
    Prospect.objects.filter(owner__in=users).update(customer=None, status=Prospect.Status.NEW)
    demo_deals.delete()
    Prospect.objects.filter(owner__in=users).delete()
    Customer.objects.filter(owner__in=users).delete()
    Target.objects.filter(user__in=users).delete()
    Target.objects.filter(team__name__in=[t[0] for t in TEAMS]).delete()
    CampaignSpend.objects.filter(campaign__name__in=[c[0] for c in CAMPAIGNS]).delete()
    Campaign.objects.filter(name__in=[c[0] for c in CAMPAIGNS]).delete()
    users.delete()
    Team.objects.filter(name__in=[t[0] for t in TEAMS]).delete()
    Product.objects.filter(name__in=[p[0] for p in PRODUCTS]).delete()


class DemoBuilder:
    def __init__(self, today: dt.date, seed: int, progress: Progress | None = None):
        self.today = today
        self.rng = random.Random(seed)
        self.progress = progress or (lambda done, total: None)
        self.start = month_start(today, -(MONTHS - 1))
        LostReason.resolve(LostReason.OTHER)  # "other" exists even in a flushed database
        self.lost_reasons = {r.code: r for r in LostReason.objects.all()}
        for code, _note in LOST_REASONS:
            if code not in self.lost_reasons:
                name = code.replace("_", " ").capitalize()
                reason, _created = LostReason.objects.get_or_create(code=code, defaults={"name": name})
                self.lost_reasons[code] = reason

    # People, products, campaigns --------------------------------------------

    def people(self) -> tuple[list[Team], list[User], list[Rep]]:
        password = make_password(DEMO_PASSWORD, salt="boussoledemo")
        teams = [
            Team.objects.get_or_create(name=name, defaults={"region": region})[0] for name, region in TEAMS
        ]
        User.objects.get_or_create(
            username="admin",
            defaults=dict(
                first_name="Ada",
                last_name="Admin",
                email="admin@boussole.example",
                role=Role.ADMIN,
                is_staff=True,
                is_superuser=True,
                password=password,
            ),
        )
        managers = []
        reps = []
        for team, (username, first, last), rep_rows in zip(teams, MANAGERS, REPS, strict=True):
            manager, _ = User.objects.get_or_create(
                username=username,
                defaults=dict(
                    first_name=first,
                    last_name=last,
                    email=f"{username}@boussole.example",
                    role=Role.MANAGER,
                    team=team,
                    password=password,
                ),
            )
            managers.append(manager)
            for r_username, r_first, r_last in rep_rows:
                user, _ = User.objects.get_or_create(
                    username=r_username,
                    defaults=dict(
                        first_name=r_first,
                        last_name=r_last,
                        email=f"{r_username}@boussole.example",
                        role=Role.SALESPERSON,
                        team=team,
                        password=password,
                    ),
                )
                reps.append(Rep(user, team, self.rng.uniform(0.28, 0.58), self.rng.uniform(0.6, 1.1)))
        return teams, managers, reps

    def products(self) -> list[Product]:
        return [
            Product.objects.get_or_create(name=name, defaults={"list_price": Decimal(price)})[0]
            for name, price in PRODUCTS
        ]

    def campaigns(self, teams: list[Team]) -> list[tuple[Campaign, dt.date, dt.date]]:
        result = []
        spend = []
        for name, channel, team_index, offset, months, monthly in CAMPAIGNS:
            starts = month_start(self.start, offset)
            ends = min(month_start(starts, months) - dt.timedelta(days=1), self.today)
            campaign = Campaign.objects.create(
                name=name,
                channel=channel,
                team=teams[team_index] if team_index is not None else None,
                starts_on=starts,
                ends_on=ends if months < MONTHS else None,
            )
            result.append((campaign, starts, ends))
            for m in range(months):
                spent_on = month_start(starts, m) + dt.timedelta(days=14)
                if spent_on > self.today:
                    break
                amount = Decimal(round(monthly * self.rng.uniform(0.8, 1.2), 2)).quantize(Decimal("0.01"))
                spend.append(
                    CampaignSpend(campaign=campaign, spent_on=spent_on, amount=amount, note="Monthly spend")
                )
        CampaignSpend.objects.bulk_create(spend)
        return result

    # Pipeline ----------------------------------------------------------------

    def company_name(self, index: int) -> str:
        rng = self.rng
        return f"{rng.choice(COMPANY_NAMES)} {rng.choice(COMPANY_WORDS)} {index:04d}"

    def person_name(self) -> str:
        return f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}"

    def pipeline(self, reps: list[Rep], products: list[Product], campaigns) -> dict[str, int]:
        rng, today = self.rng, self.today
        days = (today - self.start).days + 1
        prospects: list[Prospect] = []
        plans: list[dict] = []  # what happens to each prospect, applied after ids exist

        # 1. Prospects: each rep works a steady flow of new leads on weekdays.
        for day_index in range(days):
            day = self.start + dt.timedelta(days=day_index)
            if day.weekday() >= 5:
                continue
            for rep in reps:
                n = int(rep.pace) + (1 if rng.random() < rep.pace % 1 else 0)
                for _ in range(n):
                    active = [
                        c for c, s, e in campaigns if s <= day <= e and (c.team_id in (None, rep.team.pk))
                    ]
                    source = rng.choice(active) if active and rng.random() < 0.7 else None
                    age = (today - day).days
                    prospects.append(
                        Prospect(
                            name=self.person_name(),
                            company=self.company_name(len(prospects) + 1),
                            email=f"contact{len(prospects) + 1}@prospect.example",
                            phone=f"+33 1 {rng.randint(10, 99)} "
                            f"{rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
                            owner=rep.user,
                            team=rep.team,
                            source_campaign=source,
                            created_on=day,
                        )
                    )
                    plans.append({"rep": rep, "age": age, "source": source})
        self.progress(1, 6)

        # 2. Decide each prospect's fate: a share qualifies and converts into a
        # customer with a first deal; the rest stay new/contacted or are lost.
        customers: list[Customer] = []
        deals: list[Deal] = []
        for prospect, plan in zip(prospects, plans, strict=True):
            age, rep = plan["age"], plan["rep"]
            roll = rng.random()
            convert_after = rng.randint(5, 40)
            if roll < 0.3 and age > convert_after:
                converted_on = prospect.created_on + dt.timedelta(days=convert_after)
                customer = Customer(
                    name=prospect.company,
                    contact_name=prospect.name,
                    contact_email=prospect.email,
                    language=Language.FR if rng.random() < 0.7 else Language.EN,
                    sector=rng.choice(SECTORS),
                    country="France",
                    employees=rng.choice([12, 40, 85, 150, 400, 1200]),
                    owner=rep.user,
                    team=rep.team,
                    source_campaign=plan["source"],
                )
                prospect.status = Prospect.Status.CONVERTED
                prospect.converted_on = converted_on
                plan["customer"] = customer
                customers.append(customer)
                deals.append(self.deal(rep, products, converted_on, customer, prospect))
            elif roll < 0.55 and age > 20:
                prospect.status = Prospect.Status.LOST
                prospect.lost_reason = rng.choice(PROSPECT_LOST_REASONS)
            elif age < 30:
                prospect.status = rng.choice([Prospect.Status.NEW, Prospect.Status.CONTACTED])
            else:
                # Older leads that never closed either way sit in the funnel.
                prospect.status = rng.choice([Prospect.Status.CONTACTED, Prospect.Status.QUALIFIED])

        Customer.objects.bulk_create(customers, batch_size=500)
        for prospect, plan in zip(prospects, plans, strict=True):
            if "customer" in plan:
                prospect.customer = plan["customer"]
        Prospect.objects.bulk_create(prospects, batch_size=500)
        self.progress(2, 6)

        # 3. Repeat business: some customers buy again months later.
        for customer in customers:
            rep = next(r for r in reps if r.user.pk == customer.owner_id)
            first = next(d for d in deals if d.customer is customer)
            if first.stage != Stage.WON:
                continue
            when = first.closed_on
            while rng.random() < 0.45:
                when = when + dt.timedelta(days=rng.randint(60, 240))
                if when >= today:
                    break
                deals.append(self.deal(rep, products, when, customer, None, repeat=True))
        for index, deal in enumerate(deals, start=1):
            deal.external_ref = f"{DEMO_REF_PREFIX}{index:06d}"
            deal.customer_id = deal.customer.pk
            if deal.prospect is not None:
                deal.prospect_id = deal.prospect.pk
        Deal.objects.bulk_create(deals, batch_size=500)
        self.progress(3, 6)

        # 4. Stage history and activities along each deal's life.
        changes: list[DealStageChange] = []
        activities: list[Activity] = []
        for deal in deals:
            path = self.stage_path(deal)
            span = max(((deal.closed_on or today) - deal.opened_on).days, 1)
            entries = self.entry_days(deal, path, span)
            for day, before, after in zip(entries, [""] + path[:-1], path, strict=True):
                changes.append(
                    DealStageChange(
                        deal=deal,
                        from_stage=before,
                        to_stage=after,
                        changed_at=dt.datetime.combine(day, dt.time(10, 0), tzinfo=dt.UTC),
                        changed_by=deal.owner,
                    )
                )
            for _ in range(rng.randint(2, 7)):
                day = deal.opened_on + dt.timedelta(days=rng.randint(0, span))
                kind = rng.choices(list(Activity.Kind), weights=[5, 2, 4, 1])[0]
                activities.append(
                    Activity(
                        kind=kind,
                        occurred_on=min(day, today),
                        owner=deal.owner,
                        team=deal.team,
                        deal=deal,
                        customer_id=deal.customer_id,
                        subject=self.activity_subject(kind, deal.title),
                    )
                )
        for prospect in prospects:
            if (
                prospect.status in (Prospect.Status.CONTACTED, Prospect.Status.QUALIFIED)
                or rng.random() < 0.3
            ):
                kind = rng.choice([Activity.Kind.CALL, Activity.Kind.EMAIL])
                # Each rep answers leads at their own pace (lead response).
                wait = rng.randint(0, 2 + (prospect.owner_id % 4) * 3)
                day = min(prospect.created_on + dt.timedelta(days=wait), today)
                activities.append(
                    Activity(
                        kind=kind,
                        occurred_on=day,
                        owner=prospect.owner,
                        team=prospect.team,
                        prospect=prospect,
                        subject=self.activity_subject(kind, prospect.company),
                    )
                )
        DealStageChange.objects.bulk_create(changes, batch_size=1000)
        self.progress(4, 6)
        Activity.objects.bulk_create(activities, batch_size=1000)
        self.progress(5, 6)

        # 5. Acquisition dates from each customer's first won deal, then a few
        # customers marked lost by their account owner.
        first_won: dict[int, Deal] = {}
        for deal in sorted(deals, key=lambda d: (d.closed_on or dt.date.max, d.pk)):
            if deal.stage == Stage.WON and deal.customer_id not in first_won:
                first_won[deal.customer_id] = deal
        for customer in customers:
            first = first_won.get(customer.pk)
            if first:
                customer.acquired_on = first.closed_on
                customer.first_deal = first
                customer.team_id = first.team_id
                if rng.random() < 0.08:
                    churn_on = customer.acquired_on + dt.timedelta(days=rng.randint(90, 400))
                    if churn_on < today:
                        customer.churned_on = churn_on
                        customer.churn_reason = rng.choice(
                            ["Switched provider", "Closed down", "Budget cuts"]
                        )
        Customer.objects.bulk_update(
            customers, ["acquired_on", "first_deal", "team", "churned_on", "churn_reason"], batch_size=500
        )
        self.progress(6, 6)
        return {
            "prospects": len(prospects),
            "customers": len(customers),
            "deals": len(deals),
            "activities": len(activities),
            "stage changes": len(changes),
        }

    def deal(
        self,
        rep: Rep,
        products: list[Product],
        opened_on: dt.date,
        customer: Customer,
        prospect: Prospect | None,
        repeat: bool = False,
    ) -> Deal:
        rng, today = self.rng, self.today
        product = rng.choices(products, weights=[5, 4, 1, 3, 3, 2])[0]
        quantity = rng.choices([1, 2, 3, 5], weights=[6, 3, 2, 1])[0]
        amount = (product.list_price * quantity * Decimal(str(round(rng.uniform(0.8, 1.0), 2)))).quantize(
            Decimal("10")
        )
        cycle = max(7, int(rng.gauss(70 if not repeat else 40, 30)))
        closes_on = opened_on + dt.timedelta(days=cycle)
        win = rng.random() < (rep.win_rate + (0.2 if repeat else 0))
        deal = Deal(
            title=f"{customer.name} — {product.name}",
            customer=customer,
            prospect=prospect,
            owner=rep.user,
            team=rep.team,
            product=product,
            amount=amount,
            opened_on=opened_on,
            expected_close_on=closes_on,
        )
        if closes_on < today:
            deal.stage = Stage.WON if win else Stage.LOST
            deal.closed_on = closes_on
            deal.expected_close_on = None
            if not win:
                code, deal.lost_note = rng.choice(LOST_REASONS)
                deal.lost_reason = self.lost_reasons[code]
        else:
            progress = (today - opened_on).days / cycle
            open_stages = Stage.open_stages()
            deal.stage = open_stages[min(int(progress * len(open_stages)), len(open_stages) - 1)]
        return deal

    def stage_path(self, deal: Deal) -> list[str]:
        """The stages a deal went through: most in order, some skipping
        Qualification (a warm lead) or Negotiation (signed as proposed), a
        few sent back from Proposal to Qualification (the Process page's
        funnel and conversion have something to show)."""
        rng = self.rng
        open_stages = [s.value for s in Stage.open_stages()]
        if deal.stage in open_stages:
            path = open_stages[: open_stages.index(deal.stage) + 1]
        elif deal.stage == Stage.WON:
            path = open_stages + [Stage.WON.value]
        else:
            path = open_stages[: rng.randint(1, len(open_stages))] + [Stage.LOST.value]
        if "qualification" in path[:-1] and rng.random() < 0.15:
            path.remove("qualification")
        if deal.stage == Stage.WON and rng.random() < 0.12:
            path.remove("negotiation")
        if "proposal" in path[:-1] and "qualification" in path and rng.random() < 0.07:
            at = path.index("proposal") + 1
            path[at:at] = ["qualification", "proposal"]
        return path

    def entry_days(self, deal: Deal, path: list[str], span: int) -> list[dt.date]:
        """The day the deal entered each stage of its path: proposals and
        negotiations take longest, each rep has a pace, and about a fifth of
        the open deals have sat in their stage far longer than usual (stalled)."""
        rng, today = self.rng, self.today
        pace = 0.7 + (deal.owner_id % 5) * 0.15
        weights = [STAGE_WEIGHT.get(s, 1.0) * pace * rng.uniform(0.5, 1.6) for s in path[:-1]]
        if deal.closed_on is None:
            stalled = rng.random() < 0.2
            weights.append(rng.uniform(3.0, 6.0) if stalled else rng.uniform(0.2, 1.0))
        total = sum(weights) or 1.0
        days, elapsed = [deal.opened_on], 0.0
        for weight in weights[: len(path) - 1]:
            elapsed += weight
            days.append(deal.opened_on + dt.timedelta(days=int(span * elapsed / total)))
        if deal.closed_on:
            days[-1] = deal.closed_on
        return [min(day, today) for day in days]

    def activity_subject(self, kind: str, about: str) -> str:
        verbs = {
            Activity.Kind.CALL: "Call with",
            Activity.Kind.MEETING: "Meeting at",
            Activity.Kind.EMAIL: "Email to",
            Activity.Kind.NOTE: "Note on",
        }
        return f"{verbs[kind]} {about}"[:200]

    def targets(self, teams: list[Team], reps: list[Rep]) -> int:
        """Monthly targets a little above what each rep usually sells."""
        rows = []
        team_totals: dict[tuple[int, dt.date], Decimal] = {}
        for rep in reps:
            base = Decimal(int(18000 * rep.win_rate / 0.45 * rep.pace / 0.55 / 500) * 500)
            for m in range(MONTHS + 1):
                month = month_start(self.start, m)
                amount = base + Decimal(500 * (m // 6))
                rows.append(Target(user=rep.user, month=month, amount=amount))
                key = (rep.team.pk, month)
                team_totals[key] = team_totals.get(key, Decimal(0)) + amount
        for (team_id, month), amount in sorted(team_totals.items()):
            rows.append(Target(team_id=team_id, month=month, amount=amount))
        Target.objects.bulk_create(rows, batch_size=500)
        return len(rows)


@transaction.atomic
def seed(today: dt.date, seed: int = 2024, progress: Progress | None = None) -> dict[str, int]:
    builder = DemoBuilder(today, seed, progress)
    teams, managers, reps = builder.people()
    products = builder.products()
    campaigns = builder.campaigns(teams)
    counts = builder.pipeline(reps, products, campaigns)
    counts["targets"] = builder.targets(teams, reps)
    # Surveys answered by the customers of won deals.
    seed_surveys(builder.rng, today, progress)
    counts["survey invitations"] = Invitation.objects.count()
    counts["survey responses"] = Response.objects.count()
    # The team: trainings, certifications, three months of pulse answers.
    counts |= seed_team(builder.rng, today, managers, reps)
    counts["users"] = len(managers) + len(reps) + 1
    counts["campaigns"] = len(campaigns)
    return counts


def demo_logins() -> list[tuple[str, str, str]]:
    """(username, role, team) of every demo login, for the README and banner."""
    rows = [("admin", "admin", "—")]
    for (team, _), (manager, _, _), reps in zip(TEAMS, MANAGERS, REPS, strict=True):
        rows.append((manager, "manager", team))
        rows += [(r[0], "salesperson", team) for r in reps]
    return rows
