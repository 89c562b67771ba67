"""Demo data of the ledger and the rewards store.

Until the records issue confirms real service, volunteers' points come from an honest *opening
balance import*: a distinct, audited kind of booking from the district's issuer standing for
points earned before Zhiyuan (docs/ledger.md). The district gets earning rules, two partner
merchants with rewards, and a merchant who logs in with 13900000009.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from zhiyuan.accounts.models import User, phone_index
from zhiyuan.accounts.roles import Role
from zhiyuan.accounts.services import role_grant, user_create
from zhiyuan.demo.builder import DEMO_PASSWORD, DemoContext
from zhiyuan.ledger import services
from zhiyuan.ledger.models import ElderReason, Relation
from zhiyuan.store.models import RewardKind
from zhiyuan.store.services import reward_save, store_partner_add

ORDER = 60
MERCHANT_PHONE = "13900000009"
MERCHANT_NAME = "孙掌柜"

RULES = {
    "coefficients": {
        "elder-care": 12,
        "first-aid": 15,
        "medical": 15,
        "nursing": 15,
        "psych": 12,
        "tutoring": 10,
        "cleaning": 8,
        "environment": 8,
    },
    "default_coefficient": 10,
    "urgent_bonus_pct": 20,
    "emergency_bonus_pct": 50,
    "cap_per_activity": 100,
    "cap_per_day": 80,
    "no_show_penalty": 10,
}

SHOPS = {
    "东四爱心超市": [
        ("大米 5 公斤", RewardKind.GOODS, 80, 40),
        ("食用油 1.8 升", RewardKind.GOODS, 60, 30),
        ("洗衣液", RewardKind.GOODS, 40, 50),
        ("毛巾两条", RewardKind.GOODS, 20, 80),
    ],
    "胡同便民理发店": [
        ("理发一次", RewardKind.SERVICE, 30, 25),
        ("老人上门理发", RewardKind.SERVICE, 50, 10),
        ("染发九折", RewardKind.DISCOUNT, 15, 100),
    ],
}


def populate(ctx: DemoContext) -> None:
    admin = ctx.accounts[Role.REGION_ADMIN]
    district = ctx.district
    services.earning_rules_publish(
        region=district,
        params=RULES,
        effective_from=timezone.now() - dt.timedelta(days=365),
        note="演示规则",
        actor=admin,
    )
    shops = []
    for name, rewards in SHOPS.items():
        shop = store_partner_add(name=name, region=district, actor=admin)
        shops.append(shop)
        for title, kind, price, stock in rewards:
            reward_save(
                organization=shop,
                name=title,
                kind=kind,
                price_points=price,
                stock=stock,
                actor=admin,
            )
    # The merchant's log-in; reused if the base district already made the account.
    merchant = User.objects.filter(phone_index=phone_index(MERCHANT_PHONE)).first() or user_create(
        phone=MERCHANT_PHONE, password=DEMO_PASSWORD, name=MERCHANT_NAME
    )
    role_grant(user=merchant, role=Role.MERCHANT, organization=shops[0])

    # Points and hours earned before Zhiyuan, imported from the paper ledgers (a distinct,
    # audited kind of booking), for about two volunteers in five.
    for profile in ctx.volunteers:
        if ctx.rng.random() < 0.4:
            _import(profile.user, district, ctx.rng.randint(10, 400), ctx.rng.randint(0, 40) * 30)
    volunteer = ctx.accounts[Role.VOLUNTEER]
    _import(volunteer, district, 260, 1800)

    # The demo volunteer's mother (aged 70) is registered, with the resident's account as hers.
    resident = ctx.accounts[Role.RESIDENT]
    community = ctx.communities[0]
    mother = services.relative_register(
        member=volunteer,
        relation=Relation.PARENT,
        name=resident.name,
        birth_date=dt.date(1956, 4, 12),
        region=community,
        registered_by=admin,
        account_user=resident,
    )
    # A request the community arranges itself, waiting on the region admin's list
    # (/ledger/admin/withdrawals/: mark served once done, or cancel and return the credit).
    services.timebank_withdraw(
        member=volunteer,
        region=community,
        minutes=60,
        note="每月上门理发（社区服务站已约好理发师）",
        key="demo-withdrawal-haircut",
        relative=mother,
    )
    elder_user = user_create(phone="13900000060", password=None, name="赵桂芳")
    role_grant(user=elder_user, role=Role.RESIDENT, region=community)
    services.elder_register(
        user=elder_user,
        region=community,
        birth_date=dt.date(1938, 9, 3),
        reason=ElderReason.ALONE,
        registered_by=admin,
    )


def _import(user: User, district: object, points: int, minutes: int) -> None:
    services.ledger_import_opening_balance(
        user=user,
        region=district,  # type: ignore[arg-type]
        points=points,
        minutes=minutes,
        reference=f"paper-2025-{user.pk}",
    )
