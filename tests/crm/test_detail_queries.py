"""Detail pages run a bounded number of queries however long their history."""

import pytest
from django.urls import reverse

from crm.models import Stage
from tests.factories import (
    ActivityFactory,
    CustomerFactory,
    DealFactory,
    InvitationFactory,
    ProspectFactory,
    ResponseFactory,
)


@pytest.mark.parametrize("rows", [1, 50])
def test_detail_pages_queries_are_bounded(world, login, django_assert_max_num_queries, rows):
    customer = CustomerFactory(owner=world.ann)
    prospect = ProspectFactory(owner=world.ann)
    deal = DealFactory(owner=world.ann, customer=customer, prospect=prospect)
    for i in range(rows):
        deal.move_to(Stage.PROPOSAL if i % 2 == 0 else Stage.NEGOTIATION, by=world.ann)
        ActivityFactory(owner=world.ann, deal=deal, customer=customer, prospect=prospect)
        DealFactory(owner=world.ann, customer=customer)
        ResponseFactory(invitation=InvitationFactory(customer=customer, deal=deal))
    client = login(world.nina)
    # session, user, header team, deal (joined), stage changes (with who),
    # activities (with owner), survey responses (with survey), the survey
    # send button's throttle check; the change history (issue 19).
    with django_assert_max_num_queries(9):
        assert client.get(deal.get_absolute_url()).status_code == 200
    # session, user, header team, customer, revenue facts, deals, responses,
    # recent activities, the survey send button's throttle check, the change history.
    with django_assert_max_num_queries(10):
        assert client.get(customer.get_absolute_url()).status_code == 200
    # session, user, header team, prospect, the convert form's customer and
    # product choices, its deals, its activities, the change history.
    with django_assert_max_num_queries(9):
        assert client.get(reverse("prospect_detail", args=[prospect.pk])).status_code == 200
