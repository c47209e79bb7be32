"""Stored totals kept by database triggers: Customer.revenue and deal_count, Campaign.prospect_count."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection

from crm.models import Customer, Deal, Prospect, Stage
from tests.factories import CampaignFactory, CustomerFactory, DealFactory, ProspectFactory

pytestmark = pytest.mark.django_db


def _figures(customer: Customer) -> tuple[Decimal, int]:
    customer.refresh_from_db(fields=["revenue", "deal_count"])
    return customer.revenue, customer.deal_count


def test_every_write_path_keeps_the_totals(world):
    acme, other = CustomerFactory(owner=world.ann), CustomerFactory(owner=world.ann)
    assert _figures(acme) == (Decimal("0"), 0)
    deal = DealFactory(owner=world.ann, customer=acme, amount=Decimal("100.10"))
    assert _figures(acme) == (Decimal("0"), 1)  # open: a deal, no revenue
    deal.mark_won(Decimal("250.25"), dt.date(2025, 3, 1))
    assert _figures(acme) == (Decimal("250.25"), 1)
    Deal.objects.filter(pk=deal.pk).update(amount=Decimal("300"))  # SQL, no save()
    assert _figures(acme) == (Decimal("300.00"), 1)
    deal.refresh_from_db()
    deal.reopen()
    assert _figures(acme) == (Decimal("0"), 1)
    deal.mark_won(Decimal("40"), dt.date(2025, 4, 1))
    deal.customer = other
    deal.save()
    assert _figures(acme) == (Decimal("0"), 0)
    assert _figures(other) == (Decimal("40.00"), 1)
    Deal.objects.bulk_create(
        [Deal(title=f"B{i}", owner=world.ann, customer=acme, amount=Decimal("5"), stage=Stage.WON,
              closed_on=dt.date(2025, 5, 1), opened_on=dt.date(2025, 5, 1)) for i in range(3)]
    )  # fmt: skip
    assert _figures(acme) == (Decimal("15.00"), 3)
    deal.delete()
    Deal.objects.filter(customer=acme, title="B0").delete()
    assert _figures(other) == (Decimal("0"), 0)
    assert _figures(acme) == (Decimal("10.00"), 2)


def test_totals_equal_a_fresh_aggregate_after_many_changes(world):
    customers = [CustomerFactory(owner=world.ann) for _ in range(3)]
    for i in range(12):
        deal = DealFactory(owner=world.ann, customer=customers[i % 3], amount=Decimal(10 + i))
        if i % 3 == 0:
            deal.mark_won(Decimal(20 + i), dt.date(2025, 2, 1))
        elif i % 3 == 1:
            deal.mark_lost("Price", dt.date(2025, 2, 1))
    Deal.objects.filter(stage=Stage.LOST).update(stage=Stage.WON)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.id, c.revenue, c.deal_count, "
            "COALESCE((SELECT SUM(amount) FROM crm_deal d WHERE d.customer_id = c.id AND stage = 'won'), 0), "
            "(SELECT COUNT(*) FROM crm_deal d WHERE d.customer_id = c.id) FROM crm_customer c"
        )
        for _pk, revenue, count, fresh_revenue, fresh_count in cursor.fetchall():
            assert (Decimal(revenue), count) == (Decimal(fresh_revenue), fresh_count)


def test_campaign_prospect_count_follows_its_prospects(world):
    fair, web = CampaignFactory(), CampaignFactory()
    prospects = [ProspectFactory(owner=world.ann, source_campaign=fair) for _ in range(3)]
    Prospect.objects.bulk_create([Prospect(name="B", owner=world.ann, source_campaign=web)])
    fair.refresh_from_db()
    web.refresh_from_db()
    assert (fair.prospect_count, web.prospect_count) == (3, 1)
    Prospect.objects.filter(pk=prospects[0].pk).update(source_campaign=web)
    prospects[1].delete()
    prospects[2].source_campaign = None
    prospects[2].save()
    fair.refresh_from_db()
    web.refresh_from_db()
    assert (fair.prospect_count, web.prospect_count) == (0, 2)


def test_a_migrate_repairs_drifted_totals_and_marks_no_month(world):
    """The trigger install after every `migrate` recomputes the totals once,
    writing only the rows that drifted (raw SQL with the triggers off, a
    table rebuilt); a total is no KPI fact, so no month is marked."""
    from kpis import triggers
    from kpis.models import DirtyMonth

    kept, drifted = CustomerFactory(owner=world.ann), CustomerFactory(owner=world.ann)
    for customer in (kept, drifted):
        DealFactory(owner=world.ann, customer=customer, amount=Decimal("10")).mark_won(
            Decimal("40"), dt.date(2025, 2, 1)
        )
    fair = CampaignFactory()
    ProspectFactory(owner=world.ann, source_campaign=fair)
    Customer.objects.filter(pk=drifted.pk).update(revenue=Decimal("1"), deal_count=7)
    type(fair).objects.filter(pk=fair.pk).update(prospect_count=9)
    DirtyMonth.objects.all().delete()
    triggers.install()
    assert _figures(kept) == (Decimal("40"), 1)
    assert _figures(drifted) == (Decimal("40"), 1)
    fair.refresh_from_db()
    assert fair.prospect_count == 1
    assert not DirtyMonth.objects.exists()
