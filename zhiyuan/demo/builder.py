"""The demo district: Dongcheng, Beijing, with made-up people and organisations.

The streets are the district's real statistical codes (regions/data/110101-dongcheng.csv); the
communities under them, and everyone in them, are invented. Everything is drawn from seeded
generators, so two builds with the same seed produce the same district (volunteer numbers and
ciphertexts aside, which are random by design).

Each app adds its own objects in a module ``zhiyuan/<app>/demo.py`` with
``populate(ctx: DemoContext)`` (and an optional ``ORDER``, default 100, lower runs first); the
builder finds and runs them after the base district, so every role sees a living system on its
first log-in.
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.apps import apps
from django.contrib.auth.hashers import make_password
from django.db import transaction
from faker import Faker
from stdnum.cn import uscc

from zhiyuan.accounts.models import User, phone_index
from zhiyuan.accounts.roles import Role
from zhiyuan.accounts.services import role_grant, user_create
from zhiyuan.organizations.models import (
    MemberRole,
    Membership,
    Organization,
    OrganizationKind,
    OrganizationStatus,
)
from zhiyuan.people.models import SLOTS_PER_WEEK, Skill, VolunteerProfile
from zhiyuan.people.numbers import new_volunteer_number
from zhiyuan.regions.models import Region
from zhiyuan.regions.services import region_import_csv

DISTRICT = "110101000000"
REGION_FILE = Path(__file__).resolve().parent.parent / "regions" / "data" / "110101-dongcheng.csv"
DEMO_PASSWORD = "Zhiyuan-demo-2026"  # noqa: S105 — printed on purpose: it is the demo's log-in
# Dongcheng lies roughly within these WGS-84 bounds.
LAT_RANGE = (39.865, 39.965)
LNG_RANGE = (116.385, 116.445)

SKILLS = [
    ("elder-care", "助老服务", "Elder care"),
    ("first-aid", "应急救护", "First aid"),
    ("medical", "医疗健康", "Medical care"),
    ("nursing", "护理", "Nursing"),
    ("legal", "法律咨询", "Legal advice"),
    ("psych", "心理疏导", "Emotional support"),
    ("tutoring", "课业辅导", "Tutoring"),
    ("it-help", "电脑手机教学", "Phone and computer help"),
    ("repair", "家电维修", "Household repairs"),
    ("cleaning", "清洁整理", "Cleaning"),
    ("cooking", "助餐送餐", "Meals"),
    ("driving", "驾驶接送", "Driving"),
    ("sign-language", "手语", "Sign language"),
    ("english", "英语翻译", "English interpreting"),
    ("culture", "文艺表演", "Culture and arts"),
    ("environment", "环境保护", "Environment"),
]
# Popularity of each skill among volunteers (share who have it).
SKILL_SHARE = [
    0.35,
    0.15,
    0.05,
    0.05,
    0.04,
    0.06,
    0.2,
    0.25,
    0.1,
    0.3,
    0.2,
    0.1,
    0.02,
    0.08,
    0.12,
    0.25,
]

COMMUNITY_STEMS = [
    "东厂",
    "智德",
    "南池子",
    "灯市口",
    "韶九",
    "王府井",
    "大取灯",
    "北河沿",
    "织染局",
    "黄化门",
    "府学",
    "鼓楼苑",
    "国子监",
    "北锣鼓巷",
    "香饵",
    "分司厅",
    "宝钞",
    "青龙",
    "花园",
    "钟楼湾",
    "民安",
    "北官厅",
    "九道湾",
    "东四",
    "礼士",
    "朝西",
    "演乐",
    "竹竿",
    "金宝街",
    "赵家楼",
    "新中街",
    "东环",
    "北小街",
    "青年湖",
    "地坛",
    "和平里",
    "草厂",
    "西打磨厂",
    "鲜鱼口",
    "崇文",
    "新怡家园",
    "花市",
    "广渠门",
    "幸福",
    "左安门",
    "法华寺",
    "天坛",
    "永外",
    "光明",
    "东晓市",
]

ORG_NAMES = [
    ("东城区志愿服务联合会", OrganizationKind.SOCIAL_GROUP),
    ("东城区红十字志愿服务队", OrganizationKind.SOCIAL_GROUP),
    ("东城区助老服务中心", OrganizationKind.SOCIAL_SERVICE),
    ("东城区阳光社会工作服务中心", OrganizationKind.SOCIAL_SERVICE),
    ("东城区爱心助学基金会", OrganizationKind.FOUNDATION),
    ("东城区图书馆志愿服务队", OrganizationKind.PUBLIC_INSTITUTION),
    ("东城区社区卫生服务中心志愿队", OrganizationKind.PUBLIC_INSTITUTION),
    ("北京银行东城支行志愿者协会", OrganizationKind.ENTERPRISE_TEAM),
    ("王府井商圈企业志愿服务队", OrganizationKind.ENTERPRISE_TEAM),
    ("北京市第二中学青年志愿者", OrganizationKind.SCHOOL_TEAM),
    ("北京工商大学东城校区志愿者协会", OrganizationKind.SCHOOL_TEAM),
]
CIVIL_AFFAIRS_PREFIX = {
    OrganizationKind.SOCIAL_GROUP: "51",
    OrganizationKind.SOCIAL_SERVICE: "52",
    OrganizationKind.FOUNDATION: "53",
    OrganizationKind.PUBLIC_INSTITUTION: "12",
    OrganizationKind.ENTERPRISE_TEAM: "91",
}


@dataclass(frozen=True)
class DemoLogin:
    role: Role
    phone: str
    name: str


DEMO_ACCOUNTS = [
    (Role.RESIDENT, "13900000001", "王秀兰"),
    (Role.VOLUNTEER, "13900000002", "李志强"),
    (Role.ORG_ADMIN, "13900000003", "张丽"),
    (Role.DISPATCHER, "13900000004", "刘洋"),
    (Role.REGION_ADMIN, "13900000005", "陈静"),
    (Role.SYSTEM_ADMIN, "13900000006", "杨帆"),
    (Role.SECURITY_ADMIN, "13900000007", "赵敏"),
    (Role.AUDIT_ADMIN, "13900000008", "周伟"),
    # The merchant's role is granted by the store's demo (for its own shop organisation).
    (Role.MERCHANT, "13900000009", "孙掌柜"),
]
MOBILE_PREFIXES = [
    "130",
    "131",
    "132",
    "135",
    "136",
    "137",
    "138",
    "150",
    "151",
    "152",
    "155",
    "158",
    "186",
    "187",
    "188",
    "189",
]


@dataclass
class DemoContext:
    """What the base district built, handed to each app's ``demo.populate``."""

    rng: random.Random
    fake: Faker
    district: Region
    communities: list[Region]
    skills: list[Skill]
    organizations: list[Organization]
    volunteers: list[VolunteerProfile]
    accounts: dict[Role, User] = field(default_factory=dict)


def app_demo_steps() -> list[tuple[int, str, Callable[[DemoContext], None]]]:
    """Every installed Zhiyuan app's ``demo.populate``, in ORDER then app order."""
    steps = []
    for config in apps.get_app_configs():
        if not config.name.startswith("zhiyuan.") or config.name == "zhiyuan.demo":
            continue
        try:
            module = importlib.import_module(f"{config.name}.demo")
        except ModuleNotFoundError as exc:
            if exc.name == f"{config.name}.demo":
                continue
            raise
        steps.append((getattr(module, "ORDER", 100), config.name, module.populate))
    return sorted(steps, key=lambda step: (step[0], step[1]))


def demo_logins() -> list[DemoLogin]:
    return [DemoLogin(role, phone, name) for role, phone, name in DEMO_ACCOUNTS]


def demo_exists() -> bool:
    return User.objects.filter(phone_index=phone_index(DEMO_ACCOUNTS[0][1])).exists()


class DemoBuilder:
    def __init__(self, seed: int = 2026, volunteers: int = 2000) -> None:
        self.rng = random.Random(seed)
        self.fake = Faker("zh_CN")
        self.fake.seed_instance(seed)
        self.volunteer_count = volunteers

    @transaction.atomic
    def build(self) -> list[DemoLogin]:
        region_import_csv(text=REGION_FILE.read_text(encoding="utf-8"))
        communities = self._communities()
        skills = self._skills()
        organizations = self._organizations(communities)
        volunteers = self._volunteers(communities, skills)
        self._memberships(organizations, volunteers)
        accounts = self._role_accounts(communities, organizations, skills)
        context = DemoContext(
            rng=self.rng,
            fake=self.fake,
            district=Region.objects.get(code=DISTRICT),
            communities=communities,
            skills=skills,
            organizations=organizations,
            volunteers=volunteers,
            accounts=accounts,
        )
        for _, _, populate in app_demo_steps():
            populate(context)
        return demo_logins()

    def _communities(self) -> list[Region]:
        streets = list(Region.objects.filter(parent_id=DISTRICT).order_by("code"))
        names = [
            f"{stem}{side}社区"
            for side in ("", "北", "南", "东里", "西里")
            for stem in COMMUNITY_STEMS
        ]
        self.rng.shuffle(names)
        rows: list[Region] = []
        for street in streets:
            for n in range(1, self.rng.randint(3, 6) + 1):
                rows.append(
                    Region(
                        code=f"{street.code[:9]}{n:03d}",
                        name=names[len(rows)],
                        level=5,
                        parent=street,
                    )
                )
        return Region.objects.bulk_create(rows)

    def _skills(self) -> list[Skill]:
        return Skill.objects.bulk_create(
            [Skill(code=code, name_zh=zh, name_en=en) for code, zh, en in SKILLS]
        )

    def _credit_code(self, kind: str) -> str | None:
        prefix = CIVIL_AFFAIRS_PREFIX.get(OrganizationKind(kind))
        if prefix is None:
            return None
        alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
        org_code = "".join(self.rng.choice(alphabet) for _ in range(9))
        body = f"{prefix}110101{org_code}"
        return body + uscc.calc_check_digit(body)

    def _organizations(self, communities: list[Region]) -> list[Organization]:
        orgs: list[Organization] = []
        for name, kind in ORG_NAMES:
            orgs.append(Organization(name=name, kind=kind, region_id=DISTRICT))
        for community in self.rng.sample(communities, 30 - len(ORG_NAMES)):
            orgs.append(
                Organization(
                    name=f"{community.name}志愿服务队",
                    kind=OrganizationKind.COMMUNITY_TEAM,
                    region=community,
                )
            )
        for index, org in enumerate(orgs):
            org.credit_code = self._credit_code(org.kind)
            # Most are verified; a few wait for the region admin, one was suspended.
            org.status = (
                OrganizationStatus.PENDING
                if index % 9 == 4
                else OrganizationStatus.SUSPENDED
                if index == 7
                else OrganizationStatus.VERIFIED
            )
        return Organization.objects.bulk_create(orgs)

    def _phone(self, used: set[str]) -> str:
        while True:
            phone = self.rng.choice(MOBILE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"
            if phone not in used:
                used.add(phone)
                return phone

    def _volunteers(self, communities: list[Region], skills: list[Skill]) -> list[VolunteerProfile]:
        used = {phone for _, phone, _ in DEMO_ACCOUNTS}
        users: list[User] = []
        unusable = make_password(None)
        for _ in range(self.volunteer_count):
            phone = self._phone(used)
            users.append(
                User(
                    phone=phone,
                    phone_index=phone_index(phone),
                    name=self.fake.name(),
                    password=unusable,
                )
            )
        users = User.objects.bulk_create(users, batch_size=500)
        profiles = [self._profile(user, communities) for user in users]
        profiles = VolunteerProfile.objects.bulk_create(profiles, batch_size=500)
        through = VolunteerProfile.skills.through
        links = []
        for profile in profiles:
            for skill, share in zip(skills, SKILL_SHARE, strict=True):
                if self.rng.random() < share:
                    links.append(through(volunteerprofile_id=profile.pk, skill_id=skill.pk))
        through.objects.bulk_create(links, batch_size=2000)
        return profiles

    def _profile(self, user: User, communities: list[Region]) -> VolunteerProfile:
        # About 6 of the 21 weekly slots free, as the matching benchmark assumes.
        slots = self.rng.sample(range(SLOTS_PER_WEEK), self.rng.randint(3, 9))
        return VolunteerProfile(
            user=user,
            volunteer_number=new_volunteer_number(self.rng),
            region=self.rng.choice(communities),
            availability=sum(1 << s for s in slots),
            home_lat=round(self.rng.uniform(*LAT_RANGE), 4),
            home_lng=round(self.rng.uniform(*LNG_RANGE), 4),
            max_travel_km=self.rng.choice([2, 3, 5, 5, 8, 10]),
            emergency_ok=self.rng.random() < 0.3,
        )

    def _memberships(self, orgs: list[Organization], volunteers: list[VolunteerProfile]) -> None:
        rows = []
        for profile in volunteers:
            for org in self.rng.sample(orgs, self.rng.choice([0, 1, 1, 1, 2])):
                rows.append(Membership(organization=org, user_id=profile.user_id))
        Membership.objects.bulk_create(rows, batch_size=2000)

    def _role_accounts(
        self, communities: list[Region], orgs: list[Organization], skills: list[Skill]
    ) -> dict[Role, User]:
        district = Region.objects.get(code=DISTRICT)
        home = communities[0]
        verified = next(o for o in orgs if o.status == OrganizationStatus.VERIFIED)
        accounts: dict[Role, User] = {}
        for role, phone, name in DEMO_ACCOUNTS:
            user = user_create(phone=phone, password=DEMO_PASSWORD, name=name)
            accounts[role] = user
            if role in (Role.RESIDENT, Role.VOLUNTEER):
                role_grant(user=user, role=role, region=home)
            elif role == Role.ORG_ADMIN:
                role_grant(user=user, role=role, organization=verified)
                Membership.objects.create(organization=verified, user=user, role=MemberRole.ADMIN)
            elif role in (Role.DISPATCHER, Role.REGION_ADMIN):
                role_grant(user=user, role=role, region=district)
            elif role == Role.MERCHANT:
                pass  # zhiyuan/ledger/demo.py makes the shop and grants the role over it
            else:
                role_grant(user=user, role=role)
            if role == Role.VOLUNTEER:
                profile = VolunteerProfile.objects.create(
                    user=user,
                    volunteer_number=new_volunteer_number(self.rng),
                    region=home,
                    availability=0b101_000_101_000_011_000_110,
                    home_lat=39.925,
                    home_lng=116.417,
                    max_travel_km=5,
                    emergency_ok=True,
                )
                profile.skills.set(
                    [s for s in skills if s.code in {"elder-care", "it-help", "first-aid"}]
                )
                Membership.objects.create(organization=verified, user=user)
        return accounts
