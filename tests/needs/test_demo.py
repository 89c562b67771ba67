"""The demo district has needs in every state, some overdue, for each demo role to see."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from zhiyuan.accounts.roles import Role
from zhiyuan.demo.builder import DemoBuilder
from zhiyuan.needs import selectors
from zhiyuan.needs.models import Need, NeedRating, ProxyRelation
from zhiyuan.needs.states import NeedState
from zhiyuan.notifications.models import Notification

pytestmark = pytest.mark.django_db


def test_a_living_queue_for_each_role() -> None:
    DemoBuilder(seed=5, volunteers=80).build()
    from zhiyuan.accounts.models import RoleGrant

    def account(role: Role):
        return (
            RoleGrant.objects.filter(role=role, user__phone_index__isnull=False)
            .order_by("pk")
            .first()
            .user
        )

    assert set(Need.objects.values_list("state", flat=True)) == set(NeedState)
    dispatcher = account(Role.DISPATCHER)
    resident = account(Role.RESIDENT)
    volunteer = account(Role.VOLUNTEER)
    now = timezone.now()
    overdue = selectors.need_queue(None, selectors.QueueFilters(state="active", overdue=True), now)
    assert overdue.count() >= 3
    assert Need.objects.filter(
        proxy_relation=ProxyRelation.COMMUNITY_WORKER, beneficiary__isnull=True
    ).exists()
    assert NeedRating.objects.filter(follow_up=True).exists()
    mine = selectors.need_list_posted_by(resident)
    assert {
        NeedState.SUBMITTED,
        NeedState.DISPATCHED,
        NeedState.ACCEPTED,
        NeedState.COMPLETED,
        NeedState.RATED,
        NeedState.REJECTED,
    } <= set(mine.values_list("state", flat=True))
    offers = selectors.need_offers_for(volunteer)
    assert offers["offered"] and offers["holding"]
    assert Notification.objects.filter(user=dispatcher, read_at__isnull=True).exists()
    board = selectors.need_dashboard(None, since=now - dt.timedelta(days=90), until=now)
    assert board.to_dispatch.median_hours > 0 and board.to_complete.p95_hours > 0
    assert 0 < board.satisfaction <= 1
    # The district names its civilisation-practice centre: no directly dispatched part waits
    # for a certifying organisation, and the centre's admin (13900000020) has records to confirm.
    from zhiyuan.accounts.models import User, phone_index
    from zhiyuan.needs.models import NeedAssignment, NeedTimeBank, RecordStatus
    from zhiyuan.records.models import ServiceRecord
    from zhiyuan.records.services import record_may_confirm

    centre = selectors.record_organization_of(dispatcher.grants.first().region_id)
    assert centre is not None and centre.name == "东城区新时代文明实践中心"
    assert not NeedAssignment.objects.filter(record_status=RecordStatus.WAITING).exists()
    centre_admin = User.objects.get(phone_index=phone_index("13900000020"))
    pending = ServiceRecord.objects.filter(organization=centre, status="pending")
    assert pending.exists() and record_may_confirm(centre_admin, pending.first())
    # Time-bank needs: the demo volunteer spent credit for his registered mother.
    spent = {row.status for row in NeedTimeBank.objects.filter(member=volunteer)}
    assert spent == {"held", "spent"}
    assert ServiceRecord.objects.filter(time_bank=True, need_id__isnull=False).exists()
    client = Client()
    for user, url, text in [
        (resident, "/home/resident/", "我的需求"),
        (dispatcher, "/home/dispatcher/", "超时"),
        (volunteer, "/needs/offers/", "待答复的派单"),
        (dispatcher, "/needs/queue/", "审核已超时"),
        (dispatcher, "/needs/dashboard/", "<svg"),
    ]:
        client.force_login(user)
        response = client.get(url)
        assert response.status_code == 200 and text in response.content.decode(), url
