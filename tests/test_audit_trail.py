"""Issue 19: an audit trail of edits to deals, prospects, customers, targets,
spend and users (django-auditlog): who, when, old → new, on each record's
page and in the admin."""

import datetime as dt

import pytest
from auditlog.models import LogEntry
from django.urls import reverse

from crm.models import Target
from tests.factories import CampaignSpendFactory, CustomerFactory, DealFactory, ProspectFactory

pytestmark = pytest.mark.django_db


def test_a_deal_edit_is_on_its_page_with_who_and_old_to_new(world, login):
    deal = DealFactory(owner=world.ann, title="Old title")
    client = login(world.ann)
    response = client.post(reverse("deal_move", args=[deal.pk]), {"stage": "proposal"})
    assert response.status_code == 302
    entry = LogEntry.objects.get_for_object(deal).order_by("-timestamp").first()
    assert entry.actor == world.ann and "stage" in entry.changes_dict
    html = client.get(reverse("deal_detail", args=[deal.pk])).content.decode()
    assert "Change history" in html and "Prospecting → Proposal" in html and str(world.ann) in html


@pytest.mark.parametrize("kind", ["prospect", "customer"])
def test_prospect_and_customer_pages_show_their_history(world, login, kind):
    record = ProspectFactory(owner=world.ann) if kind == "prospect" else CustomerFactory(owner=world.ann)
    record.name = "Renamed Co"
    record.save()
    html = login(world.nina).get(record.get_absolute_url()).content.decode()
    assert "Change history" in html and "Renamed Co" in html


def test_targets_spend_and_users_are_audited_for_the_admin(world, login):
    Target.objects.create(user=world.ann, month=dt.date(2026, 1, 1), amount=1000)
    CampaignSpendFactory()
    world.bob.first_name = "Robert"
    world.bob.set_password("s3cret-Passw0rd")
    world.bob.save()
    models = set(LogEntry.objects.values_list("content_type__model", flat=True))
    assert {"target", "campaignspend", "user"} <= models
    user_changes = LogEntry.objects.get_for_object(world.bob).latest("timestamp").changes_dict
    assert "first_name" in user_changes and "password" not in user_changes
    world.admin.is_staff = world.admin.is_superuser = True
    world.admin.save()
    assert login(world.admin).get(reverse("admin:auditlog_logentry_changelist")).status_code == 200


def test_the_history_costs_the_same_queries_however_long(world, login, django_assert_max_num_queries):
    deal = DealFactory(owner=world.ann)
    client = login(world.ann)
    client.get(reverse("deal_detail", args=[deal.pk]))
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get(reverse("deal_detail", args=[deal.pk]))
    for amount in range(1, 15):
        deal.amount = amount
        deal.save()
    with CaptureQueriesContext(connection) as many:
        client.get(reverse("deal_detail", args=[deal.pk]))
    assert len(many) == len(few)
