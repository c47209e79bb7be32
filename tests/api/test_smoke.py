import pytest

from tests.factories import DealFactory


@pytest.mark.django_db
def test_smoke(world, api_as):
    deal = DealFactory(owner=world.ann)
    client = api_as(world.ann)
    r = client.get("/api/v1/deals/")
    assert r.status_code == 200, r.content
    assert [d["id"] for d in r.json()["results"]] == [deal.pk]
    r = client.post(
        f"/api/v1/deals/{deal.pk}/won/", {"amount": "500", "closed_on": "2025-02-01"}, format="json"
    )
    assert r.status_code == 200, r.content
    r = client.post("/api/v1/deals/", {"title": "New", "customer": deal.customer_id}, format="json")
    assert r.status_code == 201, r.content
    r = client.get("/api/v1/me/")
    assert r.json()["team"]["name"] == "North"
    assert api_as(world.sam).get(f"/api/v1/deals/{deal.pk}/").status_code == 404
