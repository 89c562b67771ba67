"""On PostgreSQL, with real concurrent connections: a merchant counting the stock while
volunteers redeem and cancel never loses a promised item nor invents one."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connections

from tests.factories import make_user
from tests.ledger.conftest import give_points
from zhiyuan.accounts.roles import Role
from zhiyuan.store import services
from zhiyuan.store.models import Voucher, VoucherStatus

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

REDEEMERS = 10
ON_HAND = 12


def test_counting_stock_during_redemptions_keeps_on_hand_exact(
    district, community, reward, merchant
) -> None:
    people = [make_user(Role.VOLUNTEER, region=community) for _ in range(REDEEMERS + 1)]
    for person in people:
        give_points(person, district, 100)
    held = [
        services.store_redeem(volunteer=people[-1], reward=reward, key=f"early-{i:04d}")
        for i in range(2)
    ]
    start = threading.Barrier(REDEEMERS + 4)
    failures: list[BaseException] = []
    refused: list[str] = []

    def run(job: Any) -> None:
        try:
            start.wait()
            job()
        except services.OutOfStock:
            refused.append("out_of_stock")
        except BaseException as exc:  # a deadlock or a lost update would land here
            failures.append(exc)
        finally:
            connections.close_all()

    jobs: list[Any] = [
        (lambda p=p: services.store_redeem(volunteer=p, reward=reward, key=f"race-{p.pk:06d}"))
        for p in people[:REDEEMERS]
    ]
    jobs += [
        lambda: services.reward_stock_set(reward=reward, on_hand=ON_HAND, actor=merchant)
        for _ in range(3)
    ]
    jobs.append(lambda: services.store_voucher_return(voucher=held[0], actor=people[-1]))
    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    reward.refresh_from_db()
    issued = Voucher.objects.filter(reward=reward, status=VoucherStatus.ISSUED).count()
    # Whatever the order: what is left to sell plus what vouchers hold is what the shop counted.
    assert reward.stock + issued == ON_HAND
    assert reward.stock >= 0
    assert (
        issued + len(refused) == REDEEMERS + 1
    )  # every redemption either holds one or was refused
