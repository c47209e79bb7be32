"""The CRM's data: people, teams, campaigns, prospects, customers, deals.

Integrity rules live in the database (named constraints) and are repeated in
`clean()` so forms show the same rule as a friendly field error. Row-level
access is decided in one place per model: its queryset's `visible_to(user)`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

MONEY = {"max_digits": 14, "decimal_places": 2}


# Dates from outside (filters, links, imported files) must fall in this
# range: further out, date arithmetic (a period's end, a week's start)
# overflows, and no sales history lives there.
EARLIEST_DATE = dt.date(1900, 1, 1)
LATEST_DATE = dt.date(2100, 12, 31)
# Lists sort a nullable date through COALESCE(date, NO_DATE): rows without
# one come last, newest first (crm/filters.py, list_indexes()).
NO_DATE = dt.date(1, 1, 1)


def check_date_in_range(value: dt.date | None) -> None:
    if value and not (EARLIEST_DATE <= value <= LATEST_DATE):
        raise ValidationError(
            _("Dates run from %(first)s to %(last)s."), params={"first": EARLIEST_DATE, "last": LATEST_DATE}
        )


def today() -> dt.date:
    """Today's date in the company time zone (TIME_ZONE)."""
    return timezone.localdate()


def new_external_ref() -> str:
    """A reference for a record born in Boussole, so every deal, prospect and
    activity has a key that an export carries and an import matches on, in
    this Boussole or another (docs/import.md)."""
    return "bsl-" + uuid.uuid4().hex[:20]


def external_ref_field(help_text) -> models.CharField:
    # NULL, not "", for "no reference": the unique constraint must allow many.
    return models.CharField(  # noqa: DJ001
        _("external reference"),
        max_length=100,
        null=True,
        blank=True,
        default=new_external_ref,
        help_text=help_text,
    )


class Team(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    region = models.CharField(_("region"), max_length=100, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("team")
        verbose_name_plural = _("teams")

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    SALESPERSON = "salesperson", _("Salesperson")
    MANAGER = "manager", _("Manager")
    ADMIN = "admin", _("Admin")


class UserQuerySet(models.QuerySet):
    def visible_to(self, user):
        if user.is_admin_role:
            return self
        if user.is_manager and user.team_id:
            return self.filter(Q(team_id=user.team_id) | Q(pk=user.pk))
        return self.filter(pk=user.pk)

    def sales_staff(self):
        return self.filter(is_active=True, role__in=[Role.SALESPERSON, Role.MANAGER])

    def name_choices(self, limit: int | None = None) -> list[tuple[int, str]]:
        """(pk, str(user)) by name (Meta.ordering), from one narrow read: a
        select of hundreds of people builds no User instance each."""
        rows = self.values_list("pk", "first_name", "last_name", "username")
        if limit is not None:
            rows = rows[:limit]
        return [(pk, f"{first} {last}".strip() or username) for pk, first, last, username in rows]


class BoussoleUserManager(UserManager.from_queryset(UserQuerySet)):
    pass


class User(AbstractUser):
    Role = Role

    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.SALESPERSON)
    team = models.ForeignKey(
        Team,
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="members",
    )

    objects = BoussoleUserManager()

    class Meta:
        ordering = ["first_name", "last_name", "username"]
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.get_full_name() or self.username

    @property
    def is_salesperson(self) -> bool:
        return self.role == Role.SALESPERSON

    @property
    def is_manager(self) -> bool:
        return self.role == Role.MANAGER

    @property
    def is_admin_role(self) -> bool:
        # Django superusers are admins whatever their role field says.
        return self.role == Role.ADMIN or self.is_superuser

    def save(self, *args, **kwargs) -> None:
        if self.is_superuser:
            self.role = Role.ADMIN
        super().save(*args, **kwargs)


def owned_scope(user, owner_field: str = "owner", team_field: str = "team") -> Q | None:
    """The row filter for records owned by a rep and recorded on a team.

    Salespeople see their own rows, managers their team's, admins everything
    (None means no filter). A user without a team or role sees nothing but
    their own rows. This is the single rule behind every `visible_to`.
    """
    if user.is_admin_role:
        return None
    if user.is_manager and user.team_id:
        return Q(**{f"{team_field}_id": user.team_id}) | Q(**{f"{owner_field}_id": user.pk})
    return Q(**{f"{owner_field}_id": user.pk})


class VisibleQuerySet(models.QuerySet):
    owner_field = "owner"
    team_field = "team"

    def visible_to(self, user):
        if not user.is_authenticated:
            return self.none()
        scope = owned_scope(user, self.owner_field, self.team_field)
        return self if scope is None else self.filter(scope)

    def visible_to_indexed(self, user):
        """The rows of visible_to(user), written so that one index serves a list.

        A manager sees their team's rows or their own: an OR of two columns,
        which no (team, sort key) index serves, so PostgreSQL would fetch and
        sort the whole team to show 25 rows. A manager's own rows are nearly
        always their team's; one indexed EXISTS checks that none is elsewhere,
        and then the team alone is the same set. Otherwise the OR stays.
        """
        if user.is_authenticated and user.is_manager and user.team_id and not user.is_admin_role:
            elsewhere = (
                self.model._default_manager.filter(**{f"{self.owner_field}_id": user.pk})
                .exclude(**{f"{self.team_field}_id": user.team_id})
                .exists()
            )
            if not elsewhere:
                return self.filter(**{f"{self.team_field}_id": user.team_id})
        return self.visible_to(user)


def list_indexes(table: str, *keys: str, scoped: bool = True, include: tuple = ()) -> list[models.Index]:
    """Indexes for a list's orderings (keyset pagination, crm/pagination.py).

    Per sort key: (key, id) for everyone's rows (admins) and, when scoped,
    (owner, key, id) for a rep's and (team, key, id) for a team's. A btree is
    read both ways, so one index serves a key's ascending and descending
    sorts. A key "coalesce:<field>" indexes COALESCE(field, NO_DATE), the
    expression the list sorts a nullable date by. `include` adds columns
    (PostgreSQL) so the list's capped count and total read the index alone.
    """
    indexes = []
    for key in keys:
        field = key.removeprefix("coalesce:")
        short = field.removesuffix("_on").removesuffix("_at")
        covering = tuple(column for column in include if column != field)
        if covering and key.startswith("coalesce:"):
            # PostgreSQL reads an expression index alone only if the bare
            # column is in it too.
            covering += (field,)
        for scope in ("", "owner", "team") if scoped else ("",):
            name = f"{table}_{scope + '_' if scope else ''}{short}_list"
            if key.startswith("coalesce:"):
                key_expression = Coalesce(field, Value(NO_DATE), output_field=models.DateField())
                columns = [F(scope)] if scope else []
                indexes.append(models.Index(*columns, key_expression, F("id"), name=name, include=covering))
            else:
                fields = [*([scope] if scope else []), field, "id"]
                indexes.append(models.Index(fields=fields, name=name, include=covering))
    return indexes


class CampaignQuerySet(models.QuerySet):
    def visible_to(self, user):
        # Campaigns are marketing facts everyone may read (they explain where
        # prospects came from); who may *edit* them is a view-level rule.
        return self if user.is_authenticated else self.none()


class Campaign(models.Model):
    class Channel(models.TextChoices):
        EMAIL = "email", _("Email")
        EVENTS = "events", _("Events")
        PAID_SEARCH = "paid_search", _("Paid search")
        SOCIAL = "social", _("Social media")
        CONTENT = "content", _("Content")
        REFERRAL = "referral", _("Referral")
        PARTNER = "partner", _("Partner")
        OTHER = "other", _("Other")

    name = models.CharField(_("name"), max_length=200, unique=True)
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    team = models.ForeignKey(
        Team,
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="campaigns",
        help_text=_("Leave empty for a company-wide campaign."),
    )
    starts_on = models.DateField(_("starts on"), validators=[check_date_in_range])
    ends_on = models.DateField(_("ends on"), null=True, blank=True, validators=[check_date_in_range])
    # How many prospects name this campaign as their source, kept by database
    # triggers on crm_prospect (migration 0004): the campaign list shows it
    # without counting a million prospects per page.
    prospect_count = models.PositiveIntegerField(
        _("prospects brought"), default=0, db_default=0, editable=False
    )

    objects = CampaignQuerySet.as_manager()

    class Meta:
        ordering = ["-starts_on", "name"]
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__isnull=True) | Q(ends_on__gte=F("starts_on")),
                name="campaign_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.ends_on and self.starts_on and self.ends_on < self.starts_on:
            raise ValidationError({"ends_on": _("A campaign cannot end before it starts.")})


class CampaignSpend(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="spend_lines")
    spent_on = models.DateField(_("spent on"), validators=[check_date_in_range])
    amount = models.DecimalField(_("amount"), **MONEY)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        ordering = ["-spent_on"]
        verbose_name = _("spend line")
        verbose_name_plural = _("spend lines")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="spend_amount_not_negative"),
        ]
        indexes = [
            # marketing_spend / cac: Σ amount grouped by period of spent_on.
            models.Index(fields=["spent_on"], name="spend_spent_on_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign} {self.spent_on}: {self.amount}"


class SalesCostQuerySet(models.QuerySet):
    def visible_to(self, user):
        # Salaries and commissions are sensitive: a manager sees their own
        # team's lines, an admin every line (company-wide ones included), a
        # salesperson none.
        if not user.is_authenticated:
            return self.none()
        if user.is_admin_role:
            return self
        if user.is_manager and user.team_id:
            return self.filter(team_id=user.team_id)
        return self.none()


class SalesCost(models.Model):
    """What running the sales organisation costs in a month, per team or
    company-wide (kpi-spec: sales_cost, and the blended cac)."""

    class Category(models.TextChoices):
        SALARIES = "salaries", _("Salaries")
        COMMISSIONS = "commissions", _("Commissions")
        TOOLS = "tools", _("Tools")
        TRAVEL = "travel", _("Travel")
        OTHER = "other", _("Other")

    team = models.ForeignKey(
        Team,
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sales_costs",
        help_text=_("Leave empty for a company-wide cost."),
    )
    spent_on = models.DateField(_("month"), validators=[check_date_in_range])
    category = models.CharField(_("category"), max_length=20, choices=Category.choices)
    amount = models.DecimalField(_("amount"), **MONEY)
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SalesCostQuerySet.as_manager()

    class Meta:
        ordering = ["-spent_on", "team__name", "category", "pk"]
        verbose_name = _("sales cost line")
        verbose_name_plural = _("sales cost lines")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="salescost_amount_not_negative"),
        ]
        indexes = [
            # sales_cost / cac: Σ amount grouped by period of spent_on, per team.
            models.Index(fields=["spent_on", "team"], name="salescost_spent_team_idx"),
        ]

    def __str__(self) -> str:
        who = self.team or _("Company")
        return f"{who} {self.spent_on:%Y-%m} {self.get_category_display()}: {self.amount}"

    def clean(self) -> None:
        if self.amount is not None and self.amount < 0:
            raise ValidationError({"amount": _("A cost cannot be negative.")})


class Product(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    list_price = models.DecimalField(_("list price"), **MONEY)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("product")
        verbose_name_plural = _("products")
        constraints = [
            models.CheckConstraint(condition=Q(list_price__gte=0), name="product_price_not_negative"),
        ]

    def __str__(self) -> str:
        return self.name


class Language(models.TextChoices):
    EN = "en", "English"
    FR = "fr", "Français"


class CustomerQuerySet(VisibleQuerySet):
    def with_owner(self):
        return self.select_related("owner", "team")

    def active_on(self, day: dt.date):
        return self.filter(acquired_on__lte=day).filter(Q(churned_on__isnull=True) | Q(churned_on__gt=day))


class Customer(models.Model):
    name = models.CharField(_("name"), max_length=200)
    contact_name = models.CharField(_("contact name"), max_length=200, blank=True)
    contact_email = models.EmailField(_("contact email"), blank=True)
    language = models.CharField(_("language"), max_length=2, choices=Language.choices, default=Language.EN)
    sector = models.CharField(_("sector"), max_length=100, blank=True)
    country = models.CharField(_("country"), max_length=100, blank=True)
    employees = models.PositiveIntegerField(_("employees"), null=True, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("account owner"),
        on_delete=models.PROTECT,
        related_name="customers",
    )
    # The team credited with the customer: the team recorded on its first
    # won deal (kept when people move), else the owner's team at creation.
    team = models.ForeignKey(
        Team,
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="customers",
    )
    source_campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("source campaign"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="customers",
    )
    # Derived from the won deals by the database (kpis.triggers), whatever
    # path changed a deal (a page, the admin, an import, a queryset update()):
    # the day of the first won deal (kpi-spec: new_customers), that deal, and
    # the day of the second one (repeat_purchase_rate).
    acquired_on = models.DateField(_("acquired on"), null=True, blank=True, editable=False)
    first_deal = models.ForeignKey(
        "Deal",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    repeat_on = models.DateField(_("second won deal on"), null=True, blank=True, editable=False)
    # The day of the latest won deal: the churn rule reads it (a customer
    # lapses KPI_CHURN_INACTIVITY_DAYS after it) instead of grouping every
    # won deal each night.
    last_won_on = models.DateField(_("last won deal on"), null=True, blank=True, editable=False)
    churned_on = models.DateField(_("churned on"), null=True, blank=True, validators=[check_date_in_range])
    churn_reason = models.CharField(_("churn reason"), max_length=200, blank=True)
    # Churned by KPI_CHURN_INACTIVITY_DAYS rather than by a person: every
    # recompute re-derives these as of its own day (kpis.compute.apply_churn_rule).
    churned_by_rule = models.BooleanField(
        _("churned for inactivity"), default=False, db_default=False, editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Lifetime figures of the account, whoever sold: Σ amount of its won
    # deals and how many deals it has. Kept by database triggers on crm_deal
    # (migration 0003), so every write path (forms, imports, the admin, SQL)
    # keeps them right; the customers list shows and sorts by them without
    # aggregating deals per row.
    # db_default too: rows written by SQL (the benchmark's generator) start at 0.
    revenue = models.DecimalField(
        _("revenue"), **MONEY, default=Decimal("0"), db_default=Decimal("0"), editable=False
    )
    deal_count = models.PositiveIntegerField(_("deals"), default=0, db_default=0, editable=False)

    objects = CustomerQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        constraints = [
            models.CheckConstraint(
                condition=Q(churned_on__isnull=True)
                | Q(acquired_on__isnull=False, churned_on__gte=F("acquired_on")),
                name="customer_churn_after_acquisition",
            ),
        ]
        indexes = [
            # new_customers / churn / retention: customers by acquisition date.
            models.Index(fields=["acquired_on"], name="customer_acquired_idx"),
            # churn_rate: customers by churn date.
            models.Index(fields=["churned_on"], name="customer_churned_idx"),
            # Customer list (/customers/), sorted by name, by "recently acquired"
            # and by revenue: everyone's, a rep's and a team's customers.
            *list_indexes("customer", "name", "coalesce:acquired_on", "revenue"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        # Until its first won deal names one, a customer's team is its owner's
        # team when it was created.
        if self._state.adding and self.team_id is None and self.owner_id:
            self.team_id = User.objects.filter(pk=self.owner_id).values_list("team_id", flat=True).first()
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("customer_detail", args=[self.pk])

    def clean(self) -> None:
        if self.churned_on and (not self.acquired_on or self.churned_on < self.acquired_on):
            raise ValidationError({"churned_on": _("A customer cannot churn before it was acquired.")})

    DERIVED_FIELDS = ("acquired_on", "first_deal", "repeat_on", "last_won_on", "team", "churned_on",
                      "churn_reason", "churned_by_rule")  # fmt: skip

    def refresh_acquisition(self) -> None:
        """Reload what the database derived from the won deals (the triggers of
        kpis.triggers keep it right; this only refreshes the instance)."""
        self.refresh_from_db(fields=self.DERIVED_FIELDS)

    def mark_churned(self, on: dt.date, reason: str = "") -> None:
        self.churned_on = on
        self.churn_reason = reason
        self.churned_by_rule = False
        self.full_clean(exclude=["owner", "team", "source_campaign"])
        self.save(update_fields=["churned_on", "churn_reason", "churned_by_rule"])


class Prospect(models.Model):
    class Status(models.TextChoices):
        NEW = "new", _("New")
        CONTACTED = "contacted", _("Contacted")
        QUALIFIED = "qualified", _("Qualified")
        CONVERTED = "converted", _("Converted")
        LOST = "lost", _("Lost")

    name = models.CharField(_("name"), max_length=200)
    company = models.CharField(_("company"), max_length=200, blank=True)
    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(_("phone"), max_length=50, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.PROTECT,
        related_name="prospects",
    )
    # Recorded from the owner's team when the prospect is created, and kept.
    team = models.ForeignKey(
        Team,
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="prospects",
    )
    source_campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("source campaign"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="prospects",
    )
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.NEW)
    created_on = models.DateField(_("created on"), default=today, validators=[check_date_in_range])
    customer = models.ForeignKey(
        Customer,
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="prospects",
    )
    converted_on = models.DateField(
        _("converted on"), null=True, blank=True, validators=[check_date_in_range]
    )
    lost_reason = models.CharField(_("lost reason"), max_length=200, blank=True)
    external_ref = external_ref_field(_("The prospect's key in the system it was imported from."))

    objects = VisibleQuerySet.as_manager()

    class Meta:
        ordering = ["-created_on", "-pk"]
        verbose_name = _("prospect")
        verbose_name_plural = _("prospects")
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="converted") | Q(customer__isnull=False),
                name="prospect_converted_has_customer",
            ),
            models.CheckConstraint(
                condition=~Q(status="lost") | ~Q(lost_reason=""),
                name="prospect_lost_has_reason",
            ),
            models.UniqueConstraint(fields=["external_ref"], name="prospect_external_ref_unique"),
        ]
        indexes = [
            # lead_conversion_rate: prospect cohorts by created_on, per scope.
            models.Index(fields=["created_on", "owner"], name="prospect_created_owner_idx"),
            models.Index(fields=["created_on", "team"], name="prospect_created_team_idx"),
            # Prospect list (/prospects/) in each of its sorts: everyone's, a
            # rep's and a team's prospects.
            *list_indexes("prospect", "created_on", "name", "company", "status"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.company})" if self.company else self.name

    def get_absolute_url(self) -> str:
        return reverse("prospect_detail", args=[self.pk])

    def clean(self) -> None:
        if self.status == self.Status.LOST and not self.lost_reason.strip():
            raise ValidationError({"lost_reason": _("Say why the prospect was lost.")})
        if self.status == self.Status.CONVERTED and not self.customer_id:
            raise ValidationError({"status": _("Convert the prospect to set this status.")})

    @property
    def is_closed(self) -> bool:
        return self.status in (self.Status.CONVERTED, self.Status.LOST)


class LostReasonQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True)


class LostReason(models.Model):
    """A managed reason a deal was lost (kpi-spec: lost_reasons).

    Seeded by migration with price, timing, competitor, no decision, product
    fit and other; admins edit the list (and its French labels) in the admin.
    A reason in use cannot be deleted, only retired (`is_active`).
    """

    OTHER = "other"

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    name_fr = models.CharField(_("name in French"), max_length=100, blank=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    objects = LostReasonQuerySet.as_manager()

    class Meta:
        ordering = ["position", "code"]
        verbose_name = _("lost reason")
        verbose_name_plural = _("lost reasons")

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        """The name in the user's language (French when one is set)."""
        if self.name_fr and (translation.get_language() or "").startswith("fr"):
            return self.name_fr
        return self.name

    @staticmethod
    def _key(text: str) -> str:
        return " ".join(text.replace("_", " ").replace("-", " ").split()).casefold()

    @classmethod
    def resolve(cls, text: str, reasons: list[LostReason] | None = None) -> tuple[LostReason | None, str]:
        """A free-text reason → (managed reason, note).

        A code or a name (English or French, any case) names its reason with
        no note; any other text is "other" with the text kept as the note
        (imports, the API's old `reason` field, callers of `mark_lost` with
        text). Blank text gives (None, "").
        """
        text = (text or "").strip()
        if not text:
            return None, ""
        if reasons is None:
            reasons = list(cls.objects.all())
        key = cls._key(text)
        for reason in reasons:
            if key in {cls._key(reason.code), cls._key(reason.name), cls._key(reason.name_fr or reason.name)}:
                return reason, ""
        other = next((r for r in reasons if r.code == cls.OTHER), None)
        if other is None:
            # "other" is the catch-all every path relies on (seeded by
            # migration 0011; a flushed test database may have lost it).
            other = cls.objects.get_or_create(code=cls.OTHER, defaults={"name": "Other", "name_fr": "Autre",
                                                                         "position": 50})[0]  # fmt: skip
        return other, text[:200]


class Stage(models.TextChoices):
    PROSPECTING = "prospecting", _("Prospecting")
    QUALIFICATION = "qualification", _("Qualification")
    PROPOSAL = "proposal", _("Proposal")
    NEGOTIATION = "negotiation", _("Negotiation")
    WON = "won", _("Won")
    LOST = "lost", _("Lost")

    @classmethod
    def open_stages(cls) -> list[Stage]:
        return [cls.PROSPECTING, cls.QUALIFICATION, cls.PROPOSAL, cls.NEGOTIATION]

    @classmethod
    def closed_stages(cls) -> list[Stage]:
        return [cls.WON, cls.LOST]

    @property
    def probability(self) -> Decimal:
        return STAGE_PROBABILITY[self]


# The win probability of each stage, for weighted_pipeline_value.
STAGE_PROBABILITY: dict[str, Decimal] = {
    Stage.PROSPECTING: Decimal("0.10"),
    Stage.QUALIFICATION: Decimal("0.25"),
    Stage.PROPOSAL: Decimal("0.50"),
    Stage.NEGOTIATION: Decimal("0.75"),
    Stage.WON: Decimal("1.00"),
    Stage.LOST: Decimal("0.00"),
}


class DealQuerySet(VisibleQuerySet):
    def open(self):
        return self.filter(stage__in=Stage.open_stages())

    def won(self):
        return self.filter(stage=Stage.WON)

    def lost(self):
        return self.filter(stage=Stage.LOST)

    def with_related(self):
        return self.select_related("owner", "team", "customer", "prospect", "product")

    def bulk_create(self, objs, *args, **kwargs):
        # kpi-spec: a deal's team is its owner's team when it is created, by
        # every path; imports and the demo create deals in bulk.
        objs = list(objs)
        owners = {d.owner_id for d in objs if d.pk is None}
        teams = dict(User.objects.filter(pk__in=owners).values_list("pk", "team_id")) if owners else {}
        for deal in objs:
            if deal.pk is None and deal.owner_id in teams:
                deal.team_id = teams[deal.owner_id]
        return super().bulk_create(objs, *args, **kwargs)


class Deal(models.Model):
    Stage = Stage

    title = models.CharField(_("title"), max_length=200)
    customer = models.ForeignKey(
        Customer,
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="deals",
    )
    prospect = models.ForeignKey(
        Prospect,
        verbose_name=_("prospect"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deals",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.PROTECT,
        related_name="deals",
    )
    # The team credited with the deal: set from the owner's team when the
    # deal is created and kept when the owner moves (kpi-spec: scopes).
    team = models.ForeignKey(
        Team,
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="deals",
    )
    product = models.ForeignKey(
        Product,
        verbose_name=_("product"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="deals",
    )
    amount = models.DecimalField(_("amount"), **MONEY, default=Decimal("0"))
    stage = models.CharField(_("stage"), max_length=20, choices=Stage.choices, default=Stage.PROSPECTING)
    opened_on = models.DateField(_("opened on"), default=today, validators=[check_date_in_range])
    expected_close_on = models.DateField(
        _("expected close"), null=True, blank=True, validators=[check_date_in_range]
    )
    closed_on = models.DateField(_("closed on"), null=True, blank=True, validators=[check_date_in_range])
    # kpi-spec lost_reasons: why a lost deal was lost, from the managed list,
    # with an optional note (the free text of earlier versions lives there).
    lost_reason = models.ForeignKey(
        LostReason,
        verbose_name=_("lost reason"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="deals",
    )
    lost_note = models.CharField(_("lost note"), max_length=200, blank=True)
    external_ref = external_ref_field(_("The deal's key in the system it was imported from."))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DealQuerySet.as_manager()

    class Meta:
        ordering = ["-opened_on", "-pk"]
        verbose_name = _("deal")
        verbose_name_plural = _("deals")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="deal_amount_not_negative"),
            models.CheckConstraint(
                condition=(
                    Q(stage__in=["won", "lost"], closed_on__isnull=False)
                    | (~Q(stage__in=["won", "lost"]) & Q(closed_on__isnull=True))
                ),
                name="deal_closed_iff_won_or_lost",
            ),
            models.CheckConstraint(
                condition=Q(closed_on__isnull=True) | Q(closed_on__gte=F("opened_on")),
                name="deal_closes_after_opening",
            ),
            models.CheckConstraint(
                condition=Q(stage__in=[s.value for s in Stage]),
                name="deal_stage_known",
            ),
            models.UniqueConstraint(fields=["external_ref"], name="deal_external_ref_unique"),
            models.CheckConstraint(
                condition=~Q(stage="lost") | Q(lost_reason__isnull=False),
                name="deal_lost_has_reason",
            ),
        ]
        indexes = [
            # revenue, deals_won, win_rate, avg_deal_size, sales_cycle_days:
            # closed deals grouped by period of closed_on, per stage.
            models.Index(fields=["stage", "closed_on"], name="deal_stage_closed_idx"),
            # The KPI engine: deals closed in the months it reads (the open
            # pipeline's changes), and the span of the data (deals opened:
            # deal_opened_on_list below).
            models.Index(fields=["closed_on"], name="deal_closed_idx"),
            # Pipeline board and open_pipeline_value: open deals per owner.
            models.Index(fields=["owner", "stage"], name="deal_owner_stage_idx"),
            # Team scope of the same queries (managers' pages).
            models.Index(fields=["team", "stage"], name="deal_team_stage_idx"),
            # new_customers / repeat purchases: a customer's won deals.
            models.Index(fields=["customer", "stage", "closed_on"], name="deal_customer_stage_idx"),
            # The pipeline board: each column's largest open deals, in the
            # board's order, and every column's count and total (an
            # index-only scan of the open deals alone, with owner and team
            # for a rep's or a team's board).
            models.Index(
                fields=["stage", "-amount", "id"],
                name="deal_open_board_idx",
                include=["owner", "team"],
                condition=Q(stage__in=[s.value for s in Stage.open_stages()]),
            ),
            # Deal list (/deals/) in each of its sorts (opened, amount, recently
            # closed, title): everyone's, a rep's and a team's deals. With the
            # stage and amount, its count and total (by stage, in a period)
            # are index-only scans.
            *list_indexes(
                "deal", "opened_on", "amount", "coalesce:closed_on", "title", include=("stage", "amount")
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def save(self, *args, by=None, **kwargs) -> None:
        adding = self._state.adding
        if adding and self.owner_id:
            # kpi-spec: the team is the owner's team when the deal is created,
            # whatever the caller passed (a prospect's team, say).
            self.team_id = User.objects.filter(pk=self.owner_id).values_list("team_id", flat=True).first()
        with transaction.atomic():
            super().save(*args, **kwargs)
            if adding:
                # The first timeline entry: where the deal started (the
                # pipeline history reads stages from this log).
                DealStageChange.objects.create(deal=self, from_stage="", to_stage=self.stage, changed_by=by)
        self._loaded_credit = (self.stage, self.owner_id, self.team_id)

    def get_absolute_url(self) -> str:
        return reverse("deal_detail", args=[self.pk])

    @classmethod
    def from_db(cls, db, field_names, values):
        deal = super().from_db(db, field_names, values)
        # What the deal was credited to when loaded: clean() refuses to move
        # the credit of a closed deal.
        deal._loaded_credit = (deal.__dict__.get("stage"), deal.__dict__.get("owner_id"),
                               deal.__dict__.get("team_id"))  # fmt: skip
        return deal

    @property
    def credit_is_locked(self) -> bool:
        """A closed deal keeps the owner and team it was credited to (kpi-spec:
        history never moves); reopening it is the way to change them."""
        stage = getattr(self, "_loaded_credit", (None,))[0]
        return stage in Stage.closed_stages()

    @property
    def is_open(self) -> bool:
        return self.stage in Stage.open_stages()

    @property
    def probability(self) -> Decimal:
        return STAGE_PROBABILITY[self.stage]

    def clean(self) -> None:
        errors = {}
        if self.amount is not None and self.amount < 0:
            errors["amount"] = _("The amount cannot be negative.")
        if self.stage in Stage.closed_stages() and not self.closed_on:
            errors["closed_on"] = _("A won or lost deal needs a close date.")
        if self.stage not in Stage.closed_stages() and self.closed_on:
            errors["closed_on"] = _("An open deal has no close date.")
        if self.closed_on and self.opened_on and self.closed_on < self.opened_on:
            errors["closed_on"] = _("A deal cannot close before it opened.")
        if self.stage == Stage.LOST and not self.lost_reason_id:
            errors["lost_reason"] = _("Say why the deal was lost.")
        loaded = getattr(self, "_loaded_credit", None)
        if loaded and loaded[0] in Stage.closed_stages() and self.stage in Stage.closed_stages():
            if (self.owner_id, self.team_id) != loaded[1:]:
                errors["owner"] = _(
                    "A closed deal stays credited to the owner and team it closed with. "
                    "Reopen it to change its owner."
                )
        if errors:
            raise ValidationError(errors)

    # Domain verbs. Each writes the stage history and keeps the customer's
    # acquisition date in step, in one transaction.

    @transaction.atomic
    def move_to(self, stage: str, by=None, closed_on: dt.date | None = None) -> None:
        if stage not in Stage.values:
            raise ValidationError({"stage": _("Unknown stage.")})
        previous = self.stage
        if stage == previous:
            return
        self.stage = stage
        if stage in Stage.closed_stages():
            self.closed_on = closed_on or today()
        else:
            self.closed_on = None
            self.lost_reason = None
            self.lost_note = ""
        self.full_clean(
            exclude=["owner", "team", "customer", "prospect", "product", "external_ref", "lost_reason"]
        )
        self.save()
        DealStageChange.objects.create(deal=self, from_stage=previous, to_stage=stage, changed_by=by)
        if self.customer_id and Stage.WON in (previous, stage) and Deal.customer.is_cached(self):
            # The database re-derived the acquisition; refresh the instance.
            self.customer.refresh_acquisition()

    def mark_won(self, amount: Decimal, closed_on: dt.date, by=None) -> None:
        self.amount = amount
        self.move_to(Stage.WON, by=by, closed_on=closed_on)

    def mark_lost(
        self, reason: LostReason | str, closed_on: dt.date | None = None, by=None, note: str = ""
    ) -> None:
        """Lose the deal for a managed reason (a LostReason, or its code or
        name), with an optional note. Other text is "other" with the text as
        the note, so older callers passing free text keep working."""
        if isinstance(reason, str):
            reason, text = LostReason.resolve(reason)
            note = note or text
        self.lost_reason = reason
        self.lost_note = (note or "").strip()[:200]
        self.move_to(Stage.LOST, by=by, closed_on=closed_on)

    def reopen(self, by=None, stage: str = Stage.NEGOTIATION) -> None:
        # kpi-spec: reopening a closed deal clears its closed_on.
        self.move_to(stage, by=by)


class DealStageChange(models.Model):
    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="stage_changes")
    from_stage = models.CharField(max_length=20, choices=Stage.choices, blank=True)
    to_stage = models.CharField(max_length=20, choices=Stage.choices)
    changed_at = models.DateTimeField(default=timezone.now)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["changed_at", "pk"]
        verbose_name = _("stage change")
        verbose_name_plural = _("stage changes")
        indexes = [
            # Deal timeline: a deal's changes in order.
            models.Index(fields=["deal", "changed_at"], name="stagechange_deal_idx"),
            # The KPI engine and process reads: the changes between two
            # instants (a month read again, a like-for-like span's first
            # days, the funnel), with the deal and its stage, index-only.
            models.Index(fields=["changed_at", "deal"], name="stagechange_changed_idx", include=["to_stage"]),
        ]

    def __str__(self) -> str:
        return f"{self.deal}: {self.from_stage or '∅'} → {self.to_stage}"


class Activity(models.Model):
    class Kind(models.TextChoices):
        CALL = "call", _("Call")
        MEETING = "meeting", _("Meeting")
        EMAIL = "email", _("Email")
        NOTE = "note", _("Note")

    # kpi-spec `activities` counts these kinds; notes are not selling time.
    COUNTED_KINDS = (Kind.CALL, Kind.MEETING, Kind.EMAIL)

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    occurred_on = models.DateField(_("date"), default=today, validators=[check_date_in_range])
    subject = models.CharField(_("subject"), max_length=200)
    notes = models.TextField(_("notes"), blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.PROTECT,
        related_name="activities",
    )
    # The owner's team when the activity was logged (history never moves).
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    prospect = models.ForeignKey(
        Prospect,
        verbose_name=_("prospect"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="activities",
    )
    deal = models.ForeignKey(
        Deal,
        verbose_name=_("deal"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="activities",
    )
    customer = models.ForeignKey(
        Customer,
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="activities",
    )
    done = models.BooleanField(_("done"), default=True)
    external_ref = external_ref_field(_("The activity's key in the system it was imported from."))
    created_at = models.DateTimeField(auto_now_add=True)

    objects = VisibleQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_on", "-pk"]
        verbose_name = _("activity")
        verbose_name_plural = _("activities")
        constraints = [
            models.CheckConstraint(
                condition=Q(prospect__isnull=False) | Q(deal__isnull=False) | Q(customer__isnull=False),
                name="activity_linked_to_something",
            ),
            models.UniqueConstraint(fields=["external_ref"], name="activity_external_ref_unique"),
        ]
        indexes = [
            # activities KPI: a team's activities by date (a rep's: the list's).
            models.Index(fields=["occurred_on", "team"], name="activity_date_team_idx"),
            # Activity list (/activities/, "my week") in date order: everyone's,
            # a rep's and a team's activities.
            *list_indexes("activity", "occurred_on"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.subject}"

    def save(self, *args, **kwargs) -> None:
        if self._state.adding and self.team_id is None and self.owner_id:
            self.team_id = User.objects.filter(pk=self.owner_id).values_list("team_id", flat=True).first()
        super().save(*args, **kwargs)

    def clean(self) -> None:
        if not (self.prospect_id or self.deal_id or self.customer_id):
            raise ValidationError(_("Link the activity to a prospect, a deal or a customer."))


class TargetQuerySet(models.QuerySet):
    def visible_to(self, user):
        # Targets are private: a salesperson sees their own, a manager their
        # team's and its people's (the targets grid), an admin every one.
        if not user.is_authenticated:
            return self.none()
        if user.is_admin_role:
            return self
        if user.is_manager and user.team_id:
            people = User.objects.visible_to(user).values("pk")
            return self.filter(Q(team_id=user.team_id) | Q(user__in=people))
        return self.filter(user_id=user.pk)


class Target(models.Model):
    """A monthly revenue target for a rep or a team (quota_attainment)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("salesperson"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="targets",
    )
    team = models.ForeignKey(
        Team,
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="targets",
    )
    month = models.DateField(
        _("month"), help_text=_("The first day of the month."), validators=[check_date_in_range]
    )
    amount = models.DecimalField(_("amount"), **MONEY)

    objects = TargetQuerySet.as_manager()

    class Meta:
        ordering = ["-month"]
        verbose_name = _("target")
        verbose_name_plural = _("targets")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="target_amount_not_negative"),
            models.CheckConstraint(
                condition=Q(user__isnull=False, team__isnull=True) | Q(user__isnull=True, team__isnull=False),
                name="target_for_rep_or_team",
            ),
            models.CheckConstraint(condition=Q(month__day=1), name="target_month_first_day"),
            models.UniqueConstraint(
                fields=["user", "month"],
                condition=Q(user__isnull=False),
                name="target_unique_rep_month",
            ),
            models.UniqueConstraint(
                fields=["team", "month"],
                condition=Q(team__isnull=False),
                name="target_unique_team_month",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user or self.team} {self.month:%Y-%m}: {self.amount}"

    def clean(self) -> None:
        if bool(self.user_id) == bool(self.team_id):
            raise ValidationError(_("A target is for a salesperson or for a team, not both."))
        if self.month and self.month.day != 1:
            self.month = self.month.replace(day=1)
        if self.amount is not None and self.amount < 0:
            raise ValidationError({"amount": _("A target cannot be negative.")})
