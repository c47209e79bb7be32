"""Lost reasons are data: a managed list, chosen by every path that loses a deal."""

import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import translation

from crm.models import Deal, LostReason, Stage
from tests.factories import DealFactory, lost_reason

pytestmark = pytest.mark.django_db


def test_the_migration_seeds_the_six_reasons_in_order_with_french_names():
    reasons = list(LostReason.objects.values_list("code", "name", "name_fr"))
    assert [r[0] for r in reasons] == ["price", "timing", "competitor", "no_decision", "product_fit", "other"]
    with translation.override("fr"):
        assert LostReason.objects.get(code="no_decision").label == "Pas de décision"
    with translation.override("en"):
        assert LostReason.objects.get(code="no_decision").label == "No decision"


def test_the_database_refuses_a_lost_deal_without_a_reason(world):
    deal = DealFactory(owner=world.ann, stage=Stage.LOST, closed_on=dt.date(2025, 2, 1))
    with pytest.raises(IntegrityError), transaction.atomic():
        Deal.objects.filter(pk=deal.pk).update(lost_reason=None)


def test_a_reason_in_use_cannot_be_deleted(world):
    from django.db.models import ProtectedError

    DealFactory(owner=world.ann, stage=Stage.LOST, closed_on=dt.date(2025, 2, 1))
    with pytest.raises(ProtectedError):
        lost_reason("price").delete()


def test_admin_edits_the_list_and_a_deal_lost_in_the_admin_needs_a_reason(world, login):
    client = login(world.admin)
    assert client.get(reverse("admin:crm_lostreason_changelist")).status_code == 200
    add = client.post(
        reverse("admin:crm_lostreason_add"),
        {
            "code": "legal",
            "name": "Legal review",
            "name_fr": "Revue juridique",
            "position": 70,
            "is_active": "on",
        },
    )
    assert add.status_code == 302 and LostReason.objects.filter(code="legal").exists()
    deal = DealFactory(owner=world.ann, opened_on=dt.date(2025, 1, 1))
    url = reverse("admin:crm_deal_change", args=[deal.pk])
    form = client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k not in ("lost_reason",)}
    data.update(
        {
            "owner": deal.owner_id,
            "customer": deal.customer_id,
            "stage": "lost",
            "closed_on": "2025-02-01",
            "opened_on": "2025-01-01",
            "stage_changes-TOTAL_FORMS": "1",
            "stage_changes-INITIAL_FORMS": "1",
            "stage_changes-MIN_NUM_FORMS": "0",
            "stage_changes-MAX_NUM_FORMS": "1000",
            "stage_changes-0-id": deal.stage_changes.get().pk,
            "stage_changes-0-deal": deal.pk,
        }
    )
    data = {k: ("" if v is None else v) for k, v in data.items()}
    refused = client.post(url, data)
    assert refused.status_code == 200 and "lost_reason" in refused.context["adminform"].form.errors
    data["lost_reason"] = LostReason.objects.get(code="legal").pk
    assert client.post(url, data).status_code == 302
    deal.refresh_from_db()
    assert (deal.stage, deal.lost_reason.code) == (Stage.LOST, "legal")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_migration_keeps_free_text_reasons_as_notes_of_other():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("crm", "0010_closed_list_indexes_index_only")], [("crm", "0011_lost_reasons")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    Team, User, Deal = (old.get_model("crm", name) for name in ("Team", "User", "Deal"))
    owner = User.objects.create(username="old", team=Team.objects.create(name="Old team"))
    common = {"owner": owner, "opened_on": dt.date(2024, 1, 1), "amount": 0}
    lost = Deal.objects.create(
        title="L", stage="lost", closed_on=dt.date(2024, 2, 1), lost_reason="Too dear", **common
    )
    open_ = Deal.objects.create(title="O", stage="proposal", **common)
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    new = executor.loader.project_state(after).apps.get_model("crm", "Deal")
    got = {d.pk: (d.lost_reason.code if d.lost_reason else None, d.lost_note) for d in new.objects.all()}
    assert got == {lost.pk: ("other", "Too dear"), open_.pk: (None, "")}
    # 0011 is the latest: today's schema again, with the triggers a full
    # migrate installs (post_migrate).
    from kpis import triggers

    triggers.install(connection)
