"""Time-bank needs (issue 6 item 3 through issue 5's flow): a member spends credit to ask for
service for themselves or a registered relative; the credit is withdrawn at posting, refunded
by reversal if the need ends before service, spent from the first start; the serving
volunteer earns credit in turn. Refusals name the reason and change nothing."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.utils import translation

from tests.factories import make_user
from tests.needs.conftest import minutes_of
from tests.needs.helpers import snapshot
from zhiyuan.accounts.roles import Role
from zhiyuan.ledger.models import Transaction, TransactionKind, Withdrawal, WithdrawalStatus
from zhiyuan.ledger.services import timebank_withdrawal_cancel
from zhiyuan.needs import services
from zhiyuan.needs.models import NeedTimeBank, ProxyRelation, TimeBankStatus
from zhiyuan.needs.states import IllegalTransition, NeedState
from zhiyuan.needs.timebank import TimeBankRefused
from zhiyuan.notifications.models import Notification

pytestmark = pytest.mark.django_db
START = "2026-03-02 09:00 +0800"
JSON = "application/json"


def ledger_state() -> dict:
    return {
        "transactions": Transaction.objects.count(),
        "withdrawals": list(Withdrawal.objects.values("pk", "status")),
        "time_bank": list(NeedTimeBank.objects.values()),
    }


def for_mother(world, bank, minutes=120, **kw):
    return world.need(
        poster=bank.member, timebank_minutes=minutes, timebank_relative=bank.mother.pk, **kw
    )


def test_credit_for_a_parent_is_spent_at_start_and_the_volunteer_earns_it(
    world, bank, centre
) -> None:
    from zhiyuan.records.models import ServiceRecord
    from zhiyuan.records.services import record_confirm

    volunteer = world.volunteers[0]  # a member of no organisation: the centre records
    with time_machine.travel(START, tick=False) as clock:
        need = for_mother(world, bank)
        # Posted as a relative's need: she has an account and follows it too.
        assert (need.beneficiary, need.proxy_relation) == (world.resident, ProxyRelation.RELATIVE)
        assert need.beneficiary_name == "王秀兰"
        held = NeedTimeBank.objects.get(need=need)
        assert (held.status, held.minutes, held.relative) == ("held", 120, bank.mother)
        assert minutes_of(bank.member) == 480  # withdrawn at posting, not double-spendable
        assert held.withdrawal.transaction.kind == TransactionKind.WITHDRAWAL
        services.need_dispatch(need=need, actor=world.dispatcher, volunteers=[volunteer])
        services.need_accept(need=need, volunteer=volunteer)
        services.need_start(need=need, volunteer=volunteer)
        held.refresh_from_db()
        assert held.status == TimeBankStatus.SPENT
        # Served: the ledger's own "cancel" refuses (a need's credit never comes back that way).
        from zhiyuan.ledger.errors import WithdrawalHeldByNeed

        with pytest.raises(WithdrawalHeldByNeed):
            timebank_withdrawal_cancel(withdrawal=held.withdrawal, actor=bank.member)
        assert minutes_of(bank.member) == 480
        with pytest.raises(IllegalTransition):
            services.need_cancel(need=need, actor=bank.member)
        clock.shift(dt.timedelta(minutes=90))
        services.need_complete(need=need, volunteer=volunteer, note="陪老人去医院复查")
    record = ServiceRecord.objects.get(source=f"need:{need.pk}:{volunteer.pk}")
    assert record.time_bank and record.organization == centre.organization
    assert minutes_of(volunteer) == 0
    record_confirm(record=record, actor=centre.admin)
    assert minutes_of(volunteer) == 90  # the serving volunteer earns credit in turn
    assert minutes_of(bank.member) == 480
    need.refresh_from_db()
    assert need.state == NeedState.COMPLETED


@pytest.mark.parametrize("ending", ["cancel", "dispatcher_cancel", "reject", "expire"])
def test_credit_comes_back_by_reversal_when_the_need_ends_before_service(
    world, bank, ending
) -> None:
    with time_machine.travel(START, tick=False) as clock:
        need = for_mother(world, bank, minutes=90)
        assert minutes_of(bank.member) == 510
        if ending == "reject":
            services.need_reject(need=need, actor=world.dispatcher, reason="请联系社区医生")
        else:
            services.need_dispatch(
                need=need, actor=world.dispatcher, volunteers=[world.volunteers[0]]
            )
            services.need_accept(need=need, volunteer=world.volunteers[0])
        if ending == "cancel":
            services.need_cancel(need=need, actor=bank.member, reason="家里人有空了")
        elif ending == "dispatcher_cancel":
            services.need_cancel(need=need, actor=world.dispatcher, reason="老人已住院")
        elif ending == "expire":
            services.need_withdraw(need=need, volunteer=world.volunteers[0], reason="临时有事")
            clock.shift(dt.timedelta(days=8))
            services.need_deadlines_enforce()
    need.refresh_from_db()
    assert need.state in (NeedState.CANCELLED, NeedState.REJECTED, NeedState.EXPIRED)
    held = NeedTimeBank.objects.get(need=need)
    assert held.status == TimeBankStatus.REFUNDED
    assert minutes_of(bank.member) == 600
    original = held.withdrawal.transaction
    assert Transaction.objects.filter(reverses=original, kind=TransactionKind.REVERSAL).count() == 1
    assert Withdrawal.objects.get(pk=held.withdrawal_id).status == WithdrawalStatus.CANCELLED
    assert Notification.objects.filter(user=bank.member, kind="need.timebank_refunded").exists()


def test_a_returned_need_keeps_the_credit_held(world, bank) -> None:
    need = for_mother(world, bank, minutes=60)
    services.need_dispatch(need=need, actor=world.dispatcher, volunteers=[world.volunteers[0]])
    services.need_return(need=need, actor=world.dispatcher, reason="志愿者不合适")
    assert NeedTimeBank.objects.get(need=need).status == TimeBankStatus.HELD
    assert minutes_of(bank.member) == 540


def test_for_oneself_with_the_age_right(world, bank) -> None:
    from zhiyuan.ledger.services import elder_register

    elder_register(
        user=bank.member,
        region=world.community,
        birth_date=dt.date(1950, 1, 1),
        reason="alone",
        registered_by=bank.admin,
    )
    need = world.need(poster=bank.member, timebank_minutes=60)
    assert need.beneficiary == bank.member and need.proxy_relation == ProxyRelation.SELF
    assert NeedTimeBank.objects.get(need=need).relative is None
    assert minutes_of(bank.member) == 540


REFUSALS = [
    # (what is asked, code, HTTP status, English message)
    (
        {"timebank_minutes": 900, "mother": True},
        "insufficient_balance",
        409,
        "Not enough on the account: 600 available, 900 needed.",
    ),
    (
        {"timebank_minutes": 60, "cousin": True},
        "withdrawal_age",
        403,
        "Time-bank credit can be spent for people aged 60 or over.",
    ),
    (
        {"timebank_minutes": 60},  # for himself: no birth date on record
        "birth_date_unknown",
        422,
        "Your birth date is not on record yet, so your right to spend credit cannot be "
        "checked: complete your real-name identity first.",
    ),
    (
        {"timebank_minutes": 60, "stranger": True},
        "not_a_relative",
        403,
        "Time-bank credit can be spent only for yourself or for a relative registered with "
        "your community.",
    ),
    (
        {
            "timebank_minutes": 60,
            "for_someone_else": True,
            "beneficiary_name": "张三",
            "proxy_relation": "neighbour",
        },
        "not_a_relative",
        403,
        "Time-bank credit can be spent only for yourself or for a relative registered with "
        "your community.",
    ),
    (
        {"timebank_minutes": 10},
        "invalid_amount",
        422,
        "Spend between 30 and 1440 minutes of credit.",
    ),
]


def _asked(bank, asked: dict) -> dict:
    data = dict(asked)
    if data.pop("mother", False):
        data["timebank_relative"] = bank.mother.pk
    if data.pop("cousin", False):
        data["timebank_relative"] = bank.cousin.pk
    if data.pop("stranger", False):
        from zhiyuan.ledger.models import Relation
        from zhiyuan.ledger.services import relative_register

        other = make_user(Role.VOLUNTEER, region=bank.mother.region)
        someone = relative_register(
            member=other,
            relation=Relation.PARENT,
            name="赵六",
            birth_date=dt.date(1940, 1, 1),
            region=bank.mother.region,
            registered_by=bank.admin,
        )
        data["timebank_relative"] = someone.pk
    return data


@pytest.mark.parametrize(("asked", "code", "status", "message"), REFUSALS)
def test_refusals_name_the_reason_and_change_nothing(
    world, bank, asked, code, status, message
) -> None:
    data = _asked(bank, asked)
    before, money = snapshot(), ledger_state()
    with translation.override("en"), pytest.raises(TimeBankRefused) as caught:
        world.need(poster=bank.member, **data)
    assert (caught.value.refusal_code, caught.value.status, caught.value.text) == (
        code,
        status,
        message,
    )
    assert snapshot() == before and ledger_state() == money
    assert minutes_of(bank.member) == 600
    # Through the API: the same refusal, in the person's language.
    api = Client(HTTP_ACCEPT_LANGUAGE="en")
    api.force_login(bank.member)
    response = api.post("/api/v1/needs", _api_posting(world, data), content_type=JSON)
    assert response.status_code == status
    assert response.json() == {"code": code, "message": message}
    zh = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    zh.force_login(bank.member)
    chinese = zh.post("/api/v1/needs", _api_posting(world, data), content_type=JSON).json()
    assert chinese["code"] == code and chinese["message"] != message
    assert any("\u4e00" <= c <= "\u9fff" for c in chinese["message"])
    assert snapshot() == before and ledger_state() == money


def _api_posting(world, data: dict) -> dict:
    return {
        "community": world.community.code,
        "category": world.category.pk,
        "description": "陪同去医院",
        "address": "东城区某街道1号楼2单元301",
        **data,
    }


def test_only_members_spend_credit(world, bank) -> None:
    before = snapshot()
    with pytest.raises(PermissionDenied):
        world.need(poster=world.dispatcher, timebank_minutes=60, timebank_relative=bank.mother.pk)
    assert snapshot() == before


def test_the_api_posts_a_time_bank_need_and_shows_what_was_spent(world, bank) -> None:
    member = Client(HTTP_ACCEPT_LANGUAGE="en")
    member.force_login(bank.member)
    posted = member.post(
        "/api/v1/needs",
        _api_posting(world, {"timebank_minutes": 120, "timebank_relative": bank.mother.pk}),
        content_type=JSON,
    )
    assert posted.status_code == 201, posted.content
    body = posted.json()
    assert body["earns_time_credit"] and body["time_bank"] == {
        "minutes": 120,
        "status": "held",
        "status_label": "Credit held for this need",
        "for_relative": True,
    }
    nid = body["id"]
    # The mother (the account helped) follows it; a volunteer offered it sees only that it earns.
    mother = Client(HTTP_ACCEPT_LANGUAGE="en")
    mother.force_login(world.resident)
    assert mother.get(f"/api/v1/needs/{nid}").json()["time_bank"]["minutes"] == 120
    services.need_dispatch(
        need=NeedTimeBank.objects.get(need_id=nid).need,
        actor=world.dispatcher,
        volunteers=[world.volunteers[0]],
    )
    volunteer = Client(HTTP_ACCEPT_LANGUAGE="en")
    volunteer.force_login(world.volunteers[0])
    seen = volunteer.get(f"/api/v1/needs/{nid}").json()
    assert seen["earns_time_credit"] and seen["time_bank"] is None
    outsider = Client()
    outsider.force_login(world.outsider)
    assert outsider.get(f"/api/v1/needs/{nid}").status_code == 404
    cancelled = member.post(f"/api/v1/needs/{nid}/cancel", {"reason": ""}, content_type=JSON)
    assert cancelled.json()["time_bank"]["status"] == "refunded"
    assert minutes_of(bank.member) == 600


def test_the_phone_page_spends_credit_and_keeps_what_was_typed_on_refusal(world, bank) -> None:
    client = Client()
    client.force_login(bank.member)  # a volunteer: ordinary posting is not theirs
    assert client.get("/needs/new/").status_code == 403
    form = client.get("/needs/timebank/new/").content.decode()
    assert "600" in form and "王秀兰" in form and "李四" in form
    data = {
        "community": world.community.code,
        "category": world.category.pk,
        "description": "想请人陪妈妈去医院复查",
        "urgency": "routine",
        "address": "东城区某街道1号楼2单元301",
        "use_my_phone": "on",
        "people_needed": 1,
        "timebank_minutes": 60,
        "timebank_for": str(bank.cousin.pk),
    }
    refused = client.post("/needs/timebank/new/", data)
    text = refused.content.decode()
    assert refused.status_code == 200 and "60 周岁" in text
    # Shown beside "for whom", the choice that caused it, not beside the minutes.
    errors = refused.context["form"].errors
    assert "60 周岁" in " ".join(errors["timebank_for"]) and "timebank_minutes" not in errors
    assert "想请人陪妈妈去医院复查" in text  # what was typed is kept
    assert not NeedTimeBank.objects.exists() and minutes_of(bank.member) == 600
    done = client.post(
        "/needs/timebank/new/", {**data, "timebank_for": str(bank.mother.pk)}, follow=True
    )
    assert done.status_code == 200
    held = NeedTimeBank.objects.get()
    assert held.relative == bank.mother and minutes_of(bank.member) == 540
    assert 'id="need-timebank"' in done.content.decode()
    # Outsiders: a dispatcher has no credit to spend; anonymous people log in first.
    dispatcher = Client()
    dispatcher.force_login(world.dispatcher)
    assert dispatcher.get("/needs/timebank/new/").status_code == 403
    assert Client().get("/needs/timebank/new/").status_code == 302


def test_the_time_bank_form_asks_for_time_never_money(world, bank) -> None:
    from zhiyuan.ledger.selectors import timebank_beneficiaries
    from zhiyuan.needs.forms import NeedForm

    form = NeedForm(tree=(), beneficiaries=timebank_beneficiaries(bank.member, None))
    assert {"timebank_minutes", "timebank_for"} <= set(form.fields)
    assert not any(
        word in name for name in form.fields for word in ("price", "fee", "amount", "pay")
    )
    client = Client()
    client.force_login(bank.member)
    text = client.get("/needs/timebank/new/").content.decode()
    money = ("¥", "￥", "人民币", "费用", "价格")
    assert "分钟" in text and not any(sign in text for sign in money)


def test_credit_held_for_a_need_comes_back_only_by_cancelling_the_need(world, bank) -> None:
    from django.utils import translation

    volunteer = world.volunteers[0]
    need = for_mother(world, bank, minutes=60)
    held = NeedTimeBank.objects.get(need=need)
    client = Client()
    client.force_login(bank.member)
    with translation.override("en"):
        page = client.get("/ledger/timebank/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f"/ledger/timebank/withdrawals/{held.withdrawal_id}/cancel" not in page
    assert 'id="minutes-held">60<' in page  # shown as held, not only as a lower balance
    refused = client.post(f"/api/v1/ledger/timebank/withdrawals/{held.withdrawal_id}/cancel")
    assert refused.status_code == 409 and refused.json()["code"] == "withdrawal_held_by_need"
    client.post(f"/ledger/timebank/withdrawals/{held.withdrawal_id}/cancel/")
    held.refresh_from_db()
    assert held.status == TimeBankStatus.HELD and minutes_of(bank.member) == 540
    # Served: the member's credit is spent and the volunteer's record earns credit in turn.
    services.need_dispatch(need=need, actor=world.dispatcher, volunteers=[volunteer])
    services.need_accept(need=need, volunteer=volunteer)
    services.need_start(need=need, volunteer=volunteer)
    held.refresh_from_db()
    assert held.status == TimeBankStatus.SPENT and minutes_of(bank.member) == 540


def test_a_relative_registered_for_a_whole_district_does_not_open_its_communities(
    world, bank
) -> None:
    """Only the very community that registered a relative widens the member's reach."""
    import datetime as dt

    from zhiyuan.core.permissions import Refused
    from zhiyuan.ledger.models import Relation
    from zhiyuan.ledger.services import relative_register

    uncle = relative_register(
        member=bank.member,
        relation=Relation.PARENT,
        name="李建国",
        birth_date=dt.date(1950, 3, 3),
        region=world.district,
        registered_by=bank.admin,
    )
    with pytest.raises(Refused):
        world.need(
            poster=bank.member,
            region=world.other_community.code,
            timebank_minutes=60,
            timebank_relative=uncle.pk,
        )
    assert minutes_of(bank.member) == 600
    assert not NeedTimeBank.objects.exists()


def test_credit_held_for_a_need_is_announced_as_a_need_not_as_a_time_bank_request(
    world, bank
) -> None:
    """A free-standing request tells the region's administrators (tests/ledger); a need paid
    with credit goes to the dispatchers through the needs flow, and only there."""
    admin = make_user(Role.REGION_ADMIN, region=world.district)
    with time_machine.travel(START, tick=False):
        for_mother(world, bank)
    assert not Notification.objects.filter(kind="ledger.withdrawal_requested").exists()
    assert not Notification.objects.filter(user=admin).exists()
