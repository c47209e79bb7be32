"""Export the records a user may see as the generic import's CSV files.

One file per entity, in exactly the columns `crm.importing` reads
(GENERIC_COLUMNS), so an export imports back unchanged: into the same
Boussole it changes nothing, into another it recreates the same records.
References between files use the import's natural keys (names, usernames,
external references). A manager's export holds what their own import may
write: their team's rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from pathlib import Path

from django.db.models import Q, QuerySet
from django.utils import timezone

from crm.importing import ENTITIES, GENERIC_COLUMNS
from crm.models import (
    Activity,
    Campaign,
    CampaignSpend,
    Customer,
    Deal,
    LostReason,
    Product,
    Prospect,
    Role,
    SalesCost,
    Target,
    Team,
    User,
)
from crm.views_common import safe_cell
from surveys.models import Response


def columns(entity: str) -> list[str]:
    required, optional = GENERIC_COLUMNS[entity]
    return [*required, *optional]


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).isoformat()
    if isinstance(value, dt.date | Decimal | int):
        return str(value)
    # Text a spreadsheet would run as a formula gets a leading quote, which
    # the import takes off again (crm.importing.Row.get).
    return safe_cell(str(value))


def _name(obj) -> str:
    return obj.name if obj is not None else ""


def _username(obj) -> str:
    return obj.username if obj is not None else ""


def _ref(obj) -> str:
    return (obj.external_ref or "") if obj is not None else ""


class Exporter:
    """The rows of each entity that `user` may export (None: everything, as
    on the command line)."""

    def __init__(self, user: User | None = None):
        self.user = user
        self.team_id = user.team_id if user is not None and not user.is_admin_role else None

    def _scoped(self, qs: QuerySet, team: str = "team_id", owner: str | None = "owner_id") -> QuerySet:
        """A manager's team's rows (and their own): what their import may write."""
        if self.user is None or self.user.is_admin_role:
            return qs
        if self.team_id is None:
            return qs.none()
        scope = Q(**{team: self.team_id})
        if owner:
            scope |= Q(**{owner: self.user.pk})
        return qs.filter(scope)

    def rows(self, entity: str) -> Iterator[list]:
        return getattr(self, entity)()

    def teams(self):
        for team in self._scoped(Team.objects.order_by("name"), team="pk", owner=None):
            yield [team.name, team.region]

    def users(self):
        # Admins are left out: an import never creates or changes them.
        people = User.objects.exclude(role=Role.ADMIN).exclude(is_superuser=True).select_related("team")
        for u in self._scoped(people.order_by("username"), owner="pk"):
            yield [u.username, u.first_name, u.last_name, u.email, u.role, _name(u.team)]

    def products(self):
        for p in Product.objects.order_by("name"):
            yield [p.name, p.list_price, p.is_active]

    def campaigns(self):
        qs = Campaign.objects.select_related("team").order_by("starts_on", "name")
        for c in self._scoped(qs, owner=None):
            yield [c.name, c.channel, c.starts_on, _name(c.team), c.ends_on]

    def customers(self):
        qs = Customer.objects.select_related("owner", "source_campaign").order_by("name", "pk")
        for c in self._scoped(qs):
            yield [
                c.name, c.owner.username, c.sector, c.country, c.employees, c.contact_name,
                c.contact_email, c.language, _name(c.source_campaign),
            ]  # fmt: skip

    def prospects(self):
        qs = Prospect.objects.select_related("owner", "source_campaign", "customer").order_by(
            "created_on", "pk"
        )
        for p in self._scoped(qs):
            yield [
                p.external_ref, p.name, p.owner.username, p.company, p.email, p.phone, p.status,
                p.created_on, _name(p.source_campaign), _name(p.customer), p.converted_on, p.lost_reason,
            ]  # fmt: skip

    def deals(self):
        qs = Deal.objects.select_related("owner", "customer", "prospect", "product").order_by(
            "opened_on", "pk"
        )
        reasons = dict(LostReason.objects.values_list("pk", "code"))
        for d in self._scoped(qs):
            yield [
                d.external_ref, d.owner.username, d.stage, d.title, _name(d.customer), _ref(d.prospect),
                _name(d.product), d.amount, d.opened_on, d.expected_close_on, d.closed_on,
                reasons.get(d.lost_reason_id, ""), d.lost_note,
            ]  # fmt: skip

    def activities(self):
        qs = Activity.objects.select_related("owner", "prospect", "deal", "customer").order_by(
            "occurred_on", "pk"
        )
        for a in self._scoped(qs):
            yield [
                a.external_ref, a.kind, a.owner.username, a.occurred_on, a.subject, a.notes, a.done,
                _ref(a.prospect), _ref(a.deal), _name(a.customer),
            ]  # fmt: skip

    def campaign_spend(self):
        qs = CampaignSpend.objects.select_related("campaign").order_by("spent_on", "pk")
        for line in self._scoped(qs, team="campaign__team_id", owner=None):
            yield [line.campaign.name, line.spent_on, line.amount, line.note]

    def sales_costs(self):
        qs = SalesCost.objects.select_related("team").order_by("spent_on", "pk")
        for line in self._scoped(qs, owner=None):
            yield [f"{line.spent_on:%Y-%m}", line.category, line.amount, _name(line.team), line.note]

    def targets(self):
        qs = Target.objects.select_related("user", "team").order_by("month", "pk")
        if self.team_id is not None:
            qs = qs.filter(Q(team_id=self.team_id) | Q(user__team_id=self.team_id))
        elif self.user is not None and not self.user.is_admin_role:
            qs = qs.none()
        for t in qs:
            yield [t.month, t.amount, _username(t.user), _name(t.team)]

    def survey_responses(self):
        qs = Response.objects.select_related(
            "invitation__customer", "invitation__deal", "invitation__survey"
        ).order_by("submitted_at", "pk")
        if self.user is not None and not self.user.is_admin_role:
            qs = qs.filter(invitation__customer__in=self._scoped(Customer.objects.all()))
        for r in qs:
            i = r.invitation
            yield [
                i.customer.name, r.submitted_at, _ref(i.deal), i.survey.name, r.nps_score, r.csat_score,
                r.comment, i.email, i.language,
            ]  # fmt: skip


def write_csv(handle, entity: str, rows: Iterable[list]) -> int:
    writer = csv.writer(handle)
    writer.writerow(columns(entity))
    count = 0
    for row in rows:
        writer.writerow([_cell(value) for value in row])
        count += 1
    return count


def export_directory(
    directory: Path,
    user: User | None = None,
    entities: Iterable[str] = ENTITIES,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Write `<entity>.csv` files into directory; rows written per entity."""
    exporter = Exporter(user)
    counts = {}
    for entity in entities:
        with open(directory / f"{entity}.csv", "w", encoding="utf-8", newline="") as handle:
            counts[entity] = write_csv(handle, entity, exporter.rows(entity))
        if progress:
            progress(entity, counts[entity])
    return counts


def export_zip(target, user: User | None = None, entities: Iterable[str] = ENTITIES) -> dict[str, int]:
    """The same files in one zip (a path or a writable binary file)."""
    exporter = Exporter(user)
    counts = {}
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for entity in entities:
            text = io.StringIO()
            counts[entity] = write_csv(text, entity, exporter.rows(entity))
            archive.writestr(f"{entity}.csv", text.getvalue())
    return counts
