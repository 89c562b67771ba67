"""Demo data of the shops' own reward pages and the time bank's price list.

Runs after the ledger's demo (which lists the partner shops' rewards): the partner merchant
has counted the rice, described the oil and taken the washing liquid off sale; the demo
organisation lists a reward of its own; and the demo residents' street prices time-bank
service items instead of counting minutes, as some cities do (issue 6, item 3).
"""

from __future__ import annotations

from zhiyuan.accounts.roles import Role
from zhiyuan.demo.builder import DemoContext
from zhiyuan.ledger.services import timebank_item_save, timebank_policy_set
from zhiyuan.store.models import Reward, RewardKind
from zhiyuan.store.services import reward_save, reward_stock_set, reward_withdraw

ORDER = 65

#: The street's price list: code, name, minutes of credit for one unit of service.
PRICE_LIST = [
    ("haircut-home", "上门理发", 60),
    ("bath-help", "助浴", 90),
    ("hospital-escort", "陪同就医", 120),
    ("shopping", "代购送餐", 30),
    ("chat", "陪伴聊天（一小时）", 60),
]


def populate(ctx: DemoContext) -> None:
    merchant = ctx.accounts[Role.MERCHANT]
    shop_rewards = {r.name: r for r in Reward.objects.filter(organization__name="东四爱心超市")}
    if shop_rewards:
        reward_stock_set(reward=shop_rewards["大米 5 公斤"], on_hand=36, actor=merchant)
        oil = shop_rewards["食用油 1.8 升"]
        reward_save(
            reward=oil,
            name=oil.name,
            description="周末到店领取，每人每月限一桶",
            kind=oil.kind,
            price_points=oil.price_points,
            valid_days=oil.valid_days,
            actor=merchant,
        )
        reward_withdraw(reward=shop_rewards["洗衣液"], actor=merchant)

    org_admin = ctx.accounts[Role.ORG_ADMIN]
    organization = org_admin.grants.filter(organization__isnull=False).first()
    if organization is not None:
        reward_save(
            organization=organization.organization,
            name="志愿服务纪念徽章",
            description="服务满 50 小时的志愿者可兑换",
            kind=RewardKind.GOODS,
            price_points=25,
            stock=50,
            actor=org_admin,
        )

    admin = ctx.accounts[Role.REGION_ADMIN]
    street = ctx.communities[0].parent
    if street is not None:
        timebank_policy_set(
            region=street,
            cap_minutes=1500 * 60,
            min_withdraw_age=60,
            priced_items=True,
            actor=admin,
        )
        for code, name, minutes in PRICE_LIST:
            timebank_item_save(region=street, code=code, name=name, minutes=minutes, actor=admin)
