"""Keyset pagination ("after this row") and capped counts for the list pages.

A page is asked for as "the rows after (or before) this one" in the list's
order, not as "page 40": the database then starts reading its index at that
row, so a deep page costs what the first one costs, where OFFSET would read
and throw away every row before it (1M deals: seconds). The position travels
in the URL as the last (or first) row's sort key and primary key,
`?after=2025-03-14_81234`, beside the filters and the sort, so links work
without JavaScript and can be bookmarked.

Every ordering walks its key and then the primary key in the same
direction, so one index on (key, id) — or (owner, key, id), (team, key, id)
for a rep's or a team's rows — serves it both ways (Next and Previous).
Nullable keys are walked through COALESCE(key, a sentinel) so that rows
without a value sort last and the cursor never holds a NULL; their indexes
are on the same expression.

Counts stop at COUNT_CAP: a list never counts (or sums) a million rows to
say how many there are. Past the cap it says "10,000+" (docs/workspace.md).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.db.models import Count, Expression, F, Q, QuerySet, Sum
from django.http import HttpRequest, QueryDict
from django.utils import timezone

PAGE_SIZE = 25
COUNT_CAP = 10_000
# Cursor parameters; the filter forms drop them from their query strings so
# that changing a filter or the sort starts again from the first page.
CURSOR_PARAMS = ("after", "before", "page")
_SORT_ALIAS = "sort_key"
_MAX_KEY_LENGTH = 300


@dataclass(frozen=True)
class Ordering:
    """One sort a list offers: a key walked with the primary key as tie-break.

    `key` is a field name; `expression` replaces it when the key is computed
    (COALESCE of a nullable date). `kind` parses the cursor's key back.
    """

    key: str
    descending: bool
    kind: type
    expression: Expression | None = None

    def annotate(self, qs: QuerySet) -> QuerySet:
        # Selected (not just aliased): the page's last row gives the next cursor.
        if self.expression is None or _SORT_ALIAS in qs.query.annotations:
            return qs
        return qs.annotate(**{_SORT_ALIAS: self.expression})

    @property
    def ref(self) -> str:
        return _SORT_ALIAS if self.expression is not None else self.key

    def apply(self, qs: QuerySet, reverse: bool = False) -> QuerySet:
        descending = self.descending != reverse
        key = F(self.ref).desc() if descending else F(self.ref).asc()
        return self.annotate(qs).order_by(key, "-pk" if descending else "pk")

    def key_of(self, row) -> object:
        if self.expression is not None:
            return getattr(row, _SORT_ALIAS)
        return getattr(row, self.key)

    def seek(self, qs: QuerySet, cursor: tuple, forwards: bool) -> QuerySet:
        """Rows strictly past `cursor` in the walking direction.

        Written `key <= c AND (key < c OR pk < p)` (mirrored ascending): the
        first half is a range on the index, the second drops the few rows
        that tie with the cursor's key; a plain OR would make PostgreSQL
        read the index from its start.
        """
        value, pk = cursor
        ref = self.ref
        if self.descending == forwards:
            return qs.filter(Q(**{f"{ref}__lte": value}) & (Q(**{f"{ref}__lt": value}) | Q(pk__lt=pk)))
        return qs.filter(Q(**{f"{ref}__gte": value}) & (Q(**{f"{ref}__gt": value}) | Q(pk__gt=pk)))

    # -- the cursor in the URL: "<key>_<pk>" --

    def encode(self, row) -> str:
        value = self.key_of(row)
        text = value.isoformat() if isinstance(value, dt.date | dt.datetime) else str(value)
        return f"{text}_{row.pk}"

    def decode(self, raw: str | None) -> tuple | None:
        """(key, pk) from the URL, or None for a missing or tampered cursor."""
        if not raw or len(raw) > _MAX_KEY_LENGTH + 30 or "_" not in raw:
            return None
        text, _, pk = raw.rpartition("_")
        if not (pk.isascii() and pk.isdigit()) or len(pk) > 18:
            return None
        try:
            if self.kind is dt.datetime:
                value = dt.datetime.fromisoformat(text)
                if timezone.is_naive(value):
                    value = timezone.make_aware(value, dt.UTC)
            elif self.kind is dt.date:
                value = dt.date.fromisoformat(text)
            elif self.kind is Decimal:
                value = Decimal(text)
                if not value.is_finite():
                    return None
            elif self.kind is int:
                value = int(text)
            else:
                value = text
        except (ValueError, InvalidOperation):
            return None
        return value, int(pk)


@dataclass
class KeysetPage:
    """One page of rows and the links around it (crm/_pagination.html)."""

    rows: list
    has_next: bool
    has_previous: bool
    next_url: str = ""
    previous_url: str = ""
    first_url: str = ""
    extra: dict = field(default_factory=dict)

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index):
        return self.rows[index]

    @property
    def object_list(self) -> list:
        return self.rows


def _url(params: QueryDict, **cursor: str) -> str:
    query = params.copy()
    for name in CURSOR_PARAMS:
        query.pop(name, None)
    query.pop("format", None)
    for name, value in cursor.items():
        query[name] = value
    encoded = query.urlencode()
    return f"?{encoded}" if encoded else "?"


def keyset_page(
    request: HttpRequest,
    qs: QuerySet,
    ordering: Ordering,
    size: int = PAGE_SIZE,
    params: QueryDict | None = None,
) -> KeysetPage:
    """The page of `qs` that request's ?after= or ?before= asks for (the first without).

    `params` are the query parameters the links carry (the filters and the
    sort as the list understood them); request.GET by default.
    """
    params = request.GET if params is None else params
    after = ordering.decode(request.GET.get("after"))
    before = None if after else ordering.decode(request.GET.get("before"))
    base = ordering.annotate(qs)
    if before:
        # Walk backwards from the cursor, then put the rows back in order.
        rows = list(ordering.apply(ordering.seek(base, before, forwards=False), reverse=True)[: size + 1])
        has_previous = len(rows) > size
        rows = rows[:size][::-1]
        has_next = True
    else:
        walk = ordering.seek(base, after, forwards=True) if after else base
        rows = list(ordering.apply(walk)[: size + 1])
        has_next = len(rows) > size
        rows = rows[:size]
        has_previous = after is not None
    page = KeysetPage(rows=rows, has_next=has_next and bool(rows), has_previous=has_previous)
    if rows:
        page.next_url = _url(params, after=ordering.encode(rows[-1]))
        page.previous_url = _url(params, before=ordering.encode(rows[0]))
    page.first_url = _url(params)
    if has_previous and not rows:
        # Past the end (rows deleted since the link was made): back to the start.
        page.has_previous = True
    return page


@dataclass(frozen=True)
class Totals:
    count: int
    capped: bool
    amount: Decimal | None = None
    cap: int = COUNT_CAP


def capped_totals(qs: QuerySet, amount_field: str | None = None, cap: int = COUNT_CAP) -> Totals:
    """How many rows match, counted up to `cap`; with a sum of `amount_field` under it.

    One query over at most cap + 1 rows: `SELECT COUNT(*), SUM(…) FROM
    (SELECT … LIMIT cap + 1)`. Past the cap no sum is given: a sum of an
    arbitrary 10,001 rows would be a wrong number.
    """
    fields = ["pk", amount_field] if amount_field else ["pk"]
    aggregates = {"n": Count("pk")}
    if amount_field:
        aggregates["amount"] = Sum(amount_field)
    result = qs.order_by().values(*fields)[: cap + 1].aggregate(**aggregates)
    capped = result["n"] > cap
    amount = None if capped or not amount_field else (result["amount"] or Decimal("0"))
    return Totals(count=min(result["n"], cap), capped=capped, amount=amount, cap=cap)
