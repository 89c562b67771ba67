"""The demo district shows a time-bank activity priced by a service item (issue 6, item 3)."""

from __future__ import annotations

import pytest

from zhiyuan.activities.models import Activity
from zhiyuan.activities.timebank import activity_timebank_price
from zhiyuan.demo.builder import DemoBuilder

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen_clock() -> None:
    """The demo is built at the real time (the shared fixture freezes the clock: not here)."""


def test_demo_visits_deposit_the_price_of_companionship() -> None:
    DemoBuilder(seed=5, volunteers=120).build()
    visits = Activity.objects.get(title="独居老人每周探访（新一期）")
    assert visits.time_bank and visits.timebank_item == "chat"
    price = activity_timebank_price(visits)
    assert price is not None and price.item is not None
    assert (price.item.name, price.minutes) == ("陪伴聊天（一小时）", 60)
