"""Helpers that build won, lost and open deals the way the app does."""

import datetime as dt
from decimal import Decimal

from crm.models import Stage
from tests.factories import DealFactory


def won(owner, amount, opened_on, closed_on, **kwargs):
    return DealFactory(
        owner=owner,
        amount=Decimal(amount),
        stage=Stage.WON,
        opened_on=opened_on,
        closed_on=closed_on,
        **kwargs,
    )


def lost(owner, opened_on, closed_on, **kwargs):
    return DealFactory(owner=owner, stage=Stage.LOST, opened_on=opened_on, closed_on=closed_on, **kwargs)


def open_deal(owner, amount, stage=Stage.PROPOSAL, opened_on=dt.date(2025, 1, 1), **kwargs):
    return DealFactory(owner=owner, amount=Decimal(amount), stage=stage, opened_on=opened_on, **kwargs)
