"""Bulk actions on the deal list: a confirmation first, then the change."""

import csv
import io
from decimal import Decimal

from django.urls import reverse

from crm.models import Stage
from tests.factories import DealFactory, lost_reason

URL = reverse("deal_bulk")


def test_reassign_asks_to_confirm_then_moves_open_deals_only(world, login):
    a = DealFactory(owner=world.ann, title="A")
    b = DealFactory(owner=world.ann, title="B", stage=Stage.WON, closed_on=a.opened_on)
    client = login(world.nina)
    data = {"action": "reassign", "deals": [a.pk, b.pk], "owner": world.bob.pk}
    response = client.post(URL, data)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Reassign 1 deal to Bob Rep?" in html and "1 closed deal is left as it is" in html
    a.refresh_from_db()
    assert a.owner == world.ann  # nothing changed yet
    response = client.post(URL, {**data, "confirm": "on"})
    assert response.status_code == 302
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.owner, a.team) == (world.bob, world.north)
    assert b.owner == world.ann  # a closed deal's credit never moves


def test_mark_lost_needs_a_reason_and_a_confirmation(world, login):
    deal = DealFactory(owner=world.ann)
    client = login(world.ann)
    assert client.post(URL, {"action": "lost", "deals": [deal.pk]}).status_code == 400
    data = {"action": "lost", "deals": [deal.pk], "reason": lost_reason("price").pk, "note": "Budget cut"}
    client.post(URL, data)
    deal.refresh_from_db()
    assert deal.stage == Stage.PROSPECTING
    client.post(URL, {**data, "confirm": "on"})
    deal.refresh_from_db()
    assert (deal.stage, deal.lost_reason.code, deal.lost_note) == (Stage.LOST, "price", "Budget cut")


def test_export_selected_returns_only_those_rows(world, login):
    a = DealFactory(owner=world.ann, title="Keep", amount=Decimal("12.50"))
    DealFactory(owner=world.ann, title="Skip")
    response = login(world.ann).post(URL, {"action": "export", "deals": [a.pk]})
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert [r[1] for r in rows[1:]] == ["Keep"]


def test_a_rep_cannot_reassign_or_touch_another_reps_deal(world, login):
    mine = DealFactory(owner=world.ann)
    theirs = DealFactory(owner=world.bob)
    client = login(world.ann)
    assert (
        client.post(URL, {"action": "reassign", "deals": [mine.pk], "owner": world.bob.pk}).status_code == 400
    )
    response = client.post(
        URL, {"action": "lost", "deals": [theirs.pk], "reason": lost_reason("other").pk, "confirm": "on"}
    )
    assert response.status_code == 400
    theirs.refresh_from_db()
    assert theirs.stage == Stage.PROSPECTING


def test_bulk_is_post_only(world, login):
    assert login(world.ann).get(URL).status_code == 405


def test_the_deal_list_offers_bulk_actions(world, login):
    DealFactory(owner=world.ann, title="Pick me")
    html = login(world.nina).get(reverse("deal_list")).content.decode()
    assert 'action="/deals/bulk/"' in html and 'name="deals"' in html and "Reassign owner" in html
    rep_html = login(world.ann).get(reverse("deal_list")).content.decode()
    assert "Reassign owner" not in rep_html
