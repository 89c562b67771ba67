"""Demo needs: every state of the loop, some overdue, so that the resident (13900000001), the
dispatcher (13900000004) and the volunteer (13900000002) each find a living queue on their first
log-in, and a newcomer can run the whole loop (post → dispatch → accept → serve → rate).

Everything goes through the real services; afterwards some needs are moved back in time (all
their timestamps together) so that time limits have passed. Deterministic: ctx.rng only.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.db.models import F
from django.utils import timezone

from zhiyuan.accounts.models import RoleGrant, User
from zhiyuan.accounts.roles import Role
from zhiyuan.accounts.services import role_grant, user_create
from zhiyuan.needs import services
from zhiyuan.needs.models import (
    Need,
    NeedAssignment,
    NeedCategory,
    NeedEvent,
    NeedPolicy,
    NeedRating,
    ProxyRelation,
    Urgency,
)
from zhiyuan.notifications.models import Notification
from zhiyuan.organizations.models import (
    MemberRole,
    Membership,
    Organization,
    OrganizationKind,
    OrganizationStatus,
)

if TYPE_CHECKING:
    from zhiyuan.demo.builder import DemoContext
    from zhiyuan.regions.models import Region

ORDER = 70
HOME_POINT = (39.925, 116.417)  # near the demo volunteer's home
# The district's civilisation-practice centre records directly dispatched service; its admin.
CENTRE_NAME = "东城区新时代文明实践中心"
CENTRE_ADMIN = ("13900000020", "吴敏")

ASKS: dict[str, list[str]] = {
    "daily_living.meals": [
        "腿脚不便，想请人每天中午送一份午饭",
        "老伴住院了，这几天需要有人帮忙送饭",
    ],
    "daily_living.shopping": ["帮忙买米面油送上楼（六楼无电梯）", "想请人代买降压药和日用品"],
    "daily_living.repairs": ["厨房水龙头漏水，想请懂维修的志愿者看看", "电视没有信号了，不会调"],
    "daily_living.cleaning": ["独居老人，家里需要大扫除", "换季整理衣柜，搬不动箱子"],
    "elder_disability.visit": ["老人独居，希望每周有人来聊聊天", "想请人陪老人下楼晒太阳"],
    "elder_disability.escort": [
        "下周三上午要去医院复查，需要人陪同挂号取药",
        "需要陪同去社区卫生服务中心打疫苗",
    ],
    "elder_disability.digital": ["教我用手机挂号和视频通话", "不会用手机付款，想请人教一教"],
    "health.medicine": ["行动不便，请人去医院代取药"],
    "education.homework": ["孩子三年级数学跟不上，想找人辅导", "孩子初二英语需要辅导"],
    "legal.advice": ["房屋租赁合同有纠纷，想咨询律师"],
    "emotional.talk": ["老伴去世后心情很差，想找人说说话"],
    "environment.cleanup": ["楼道堆放杂物，想组织邻居一起清理"],
    "emergency.hazard": ["家里燃气有异味，已报修，需要人帮忙照看老人"],
}
ADDRESSES = ["东四北大街", "南锣鼓巷", "王府井大街", "交道口南大街", "北新桥三条", "东直门南小街"]


def _point(ctx: DemoContext, near_home: bool) -> tuple[float, float]:
    if near_home:
        return (
            round(HOME_POINT[0] + ctx.rng.uniform(-0.004, 0.004), 5),
            round(HOME_POINT[1] + ctx.rng.uniform(-0.004, 0.004), 5),
        )
    return round(ctx.rng.uniform(39.87, 39.96), 5), round(ctx.rng.uniform(116.39, 116.44), 5)


def _post(ctx: DemoContext, poster: User, community: Region, code: str, **kw: Any) -> Need:
    category = NeedCategory.objects.get(code=code)
    lat, lng = _point(ctx, community == ctx.communities[0])
    posting = services.Posting(
        region=community.code,
        category=category.pk,
        description=ctx.rng.choice(ASKS[code]),
        address=(
            f"{ctx.rng.choice(ADDRESSES)}{ctx.rng.randint(1, 120)}号"
            f"{ctx.rng.randint(1, 6)}单元{ctx.rng.randint(101, 602)}"
        ),
        lat=lat,
        lng=lng,
        **kw,
    )
    return services.need_submit(poster=poster, posting=posting)


def _serve(need: Need, volunteer: User, minutes: int, note: str) -> None:
    """Start and finish the service, the start placed ``minutes`` before the finish."""
    services.need_start(need=need, volunteer=volunteer, lat=need.lat, lng=need.lng)
    NeedAssignment.objects.filter(need=need, volunteer=volunteer).update(
        started_at=timezone.now() - timedelta(minutes=minutes)
    )
    services.need_complete(need=need, volunteer=volunteer, note=note, lat=need.lat, lng=need.lng)


def _age(need: Need, delta: timedelta) -> None:
    """Move a need and everything about it back in time by ``delta``."""
    fields = [
        "submitted_at",
        "state_changed_at",
        "dispatched_at",
        "accepted_at",
        "started_at",
        "completed_at",
        "closed_at",
        "review_due_at",
        "accept_due_at",
        "start_due_at",
    ]
    need.refresh_from_db()
    Need.objects.filter(pk=need.pk).update(
        **{f: F(f) - delta for f in fields if getattr(need, f) is not None}
    )
    NeedEvent.objects.filter(need=need).update(at=F("at") - delta)
    for f in ("offered_at", "answered_at", "started_at", "finished_at"):
        NeedAssignment.objects.filter(need=need, **{f"{f}__isnull": False}).update(
            **{f: F(f) - delta}
        )
    NeedRating.objects.filter(need=need).update(rated_at=F("rated_at") - delta)
    Notification.objects.filter(url=need.get_absolute_url()).update(
        created_at=F("created_at") - delta
    )


def _spread(ctx: DemoContext, need: Need, served_minutes: int) -> None:
    """Give a need served in one instant a believable past: minutes to dispatch, to accept and
    the service itself, by moving its earlier steps back (the last step stays where it is)."""
    to_dispatch = timedelta(minutes=ctx.rng.randint(8, 240))
    to_accept = timedelta(minutes=ctx.rng.randint(3, 90))
    serving = timedelta(minutes=served_minutes + ctx.rng.randint(10, 40))
    steps = {
        "submit": to_dispatch + to_accept + serving,
        "dispatch": to_accept + serving,
        "accept": serving,
        "start": timedelta(minutes=served_minutes),
    }
    need.refresh_from_db()
    Need.objects.filter(pk=need.pk).update(
        submitted_at=F("submitted_at") - steps["submit"],
        dispatched_at=F("dispatched_at") - steps["dispatch"],
        accepted_at=F("accepted_at") - steps["accept"],
        started_at=F("started_at") - steps["start"],
    )
    for action, back in steps.items():
        NeedEvent.objects.filter(need=need, action=action).update(at=F("at") - back)


def _centre(ctx: DemoContext) -> Organization:
    """The district's civilisation-practice centre, as a verified organisation (made as the base
    district makes its organisations) with its own admin, named as the organisation that
    records and certifies the service of needs sent straight to volunteers."""
    from zhiyuan.demo.builder import DEMO_PASSWORD

    centre = Organization.objects.create(
        name=CENTRE_NAME,
        kind=OrganizationKind.PUBLIC_INSTITUTION,
        region=ctx.district,
        status=OrganizationStatus.VERIFIED,
        status_changed_at=timezone.now(),
        description="统筹全区新时代文明实践志愿服务，受理群众点单并派单。",
        # Safeguards: every organisation gives a contact number (invented, seeded).
        contact_phone="139" + f"{ctx.rng.randrange(10**8):08d}",
    )
    phone, name = CENTRE_ADMIN
    admin = user_create(phone=phone, password=DEMO_PASSWORD, name=name)
    role_grant(user=admin, role=Role.ORG_ADMIN, organization=centre)
    Membership.objects.create(organization=centre, user=admin, role=MemberRole.ADMIN)
    services.need_record_organization_set(
        region=ctx.district, organization=centre, actor=ctx.accounts[Role.REGION_ADMIN]
    )
    return centre


def _time_bank(ctx: DemoContext, helpers: list[User]) -> None:
    """The demo volunteer spends time credit on needs for his registered mother (the demo
    resident, 70): one waiting to be served (credit held), one served and rated (credit spent;
    its record, when the centre confirms it, earns the helper time credit)."""
    from zhiyuan.ledger.models import Relative

    volunteer = ctx.accounts[Role.VOLUNTEER]
    mother = Relative.objects.filter(member=volunteer, removed_at__isnull=True).first()
    if mother is None:
        return
    home = ctx.communities[0]
    held = _post(
        ctx,
        volunteer,
        home,
        "elder_disability.escort",
        timebank_minutes=120,
        timebank_relative=mother.pk,
        window_start=timezone.now() + timedelta(days=2, hours=1),
        window_end=timezone.now() + timedelta(days=2, hours=4),
    )
    dispatcher = ctx.accounts[Role.DISPATCHER]
    services.need_dispatch(need=held, actor=dispatcher, volunteers=[helpers[2], helpers[3]])
    served = _post(
        ctx,
        volunteer,
        home,
        "daily_living.cleaning",
        timebank_minutes=90,
        timebank_relative=mother.pk,
    )
    services.need_dispatch(need=served, actor=dispatcher, volunteers=[helpers[0]])
    services.need_accept(need=served, volunteer=helpers[0])
    _serve(served, helpers[0], 80, "帮阿姨做了大扫除，擦了窗户。")
    services.need_rate(
        need=served, actor=ctx.accounts[Role.RESIDENT], score=5, tags=["kind", "solved"]
    )
    _spread(ctx, served, 80)
    _age(served, timedelta(days=3))


def populate(ctx: DemoContext) -> None:
    services.category_seed()
    resident = ctx.accounts[Role.RESIDENT]
    dispatcher = ctx.accounts[Role.DISPATCHER]
    volunteer = ctx.accounts[Role.VOLUNTEER]
    home = ctx.communities[0]
    NeedPolicy.objects.update_or_create(region=ctx.district, defaults={"teams_may_grab": True})
    _centre(ctx)

    # The base district registers volunteers without the role that lets them accept needs.
    profiles = ctx.volunteers
    RoleGrant.objects.bulk_create(
        [
            RoleGrant(user_id=p.user_id, role=Role.VOLUNTEER, region_id=p.region_id)
            for p in profiles
        ],
        batch_size=1000,
        ignore_conflicts=True,
    )

    # Six volunteers living nearest the demo resident's community serve the demo's needs.
    def away(p: Any) -> tuple[float, int]:
        return abs(p.home_lat - HOME_POINT[0]) + abs(p.home_lng - HOME_POINT[1]), p.pk

    placed = sorted(
        (p for p in profiles if p.home_lat is not None and p.home_lng is not None), key=away
    )
    nearest = [p.user for p in placed[:6]] or [volunteer]
    helpers = [nearest[i % len(nearest)] for i in range(6)]
    team = (
        Membership.objects.filter(user=volunteer, left_at__isnull=True)
        .select_related("organization")
        .first()
    )

    neighbours = []
    for i in range(6):
        community = ctx.communities[(i * 3) % len(ctx.communities)]
        user = user_create(phone=f"1390001{i:04d}", password=None, name=ctx.fake.name())
        role_grant(user=user, role=Role.RESIDENT, region=community)
        neighbours.append((user, community))

    def mine(code: str, **kw: Any) -> Need:
        return _post(ctx, resident, home, code, **kw)

    # --- the resident's own needs, one in each interesting state
    mine("daily_living.shopping")  # just posted, waiting for review
    offered = mine("elder_disability.digital", urgency=Urgency.URGENT)
    services.need_review(need=offered, actor=dispatcher)
    services.need_dispatch(need=offered, actor=dispatcher, volunteers=[volunteer, helpers[0]])
    accepted = mine(
        "elder_disability.escort",
        window_start=timezone.now() + timedelta(days=1, hours=2),
        window_end=timezone.now() + timedelta(days=1, hours=5),
    )
    services.need_dispatch(need=accepted, actor=dispatcher, volunteers=[volunteer])
    services.need_accept(need=accepted, volunteer=volunteer)
    done = mine("daily_living.repairs", photos_allowed=True)
    services.need_dispatch(need=done, actor=dispatcher, volunteers=[volunteer])
    services.need_accept(need=done, volunteer=volunteer)
    _serve(done, volunteer, 75, "已更换水龙头阀芯，不再漏水。")
    _spread(ctx, done, 75)
    _age(done, timedelta(hours=5))
    rated = mine("daily_living.meals")
    services.need_dispatch(need=rated, actor=dispatcher, volunteers=[helpers[1]])
    services.need_accept(need=rated, volunteer=helpers[1])
    _serve(rated, helpers[1], 40, "午饭已送到，老人吃得很好。")
    services.need_rate(
        need=rated,
        actor=resident,
        score=5,
        tags=["on_time", "kind"],
        comment="小伙子很热心，谢谢！",
    )
    _spread(ctx, rated, 40)
    _age(rated, timedelta(days=6))
    rejected = mine("legal.advice")
    services.need_reject(
        need=rejected,
        actor=dispatcher,
        reason="这属于专业法律服务，已为您转介到街道公共法律服务站，电话 010-64000000。",
    )
    _age(rejected, timedelta(days=2))

    # --- the volunteer's phone: a second direct offer, and a need sent to their team
    other_offer = _post(ctx, neighbours[0][0], home, "elder_disability.visit")
    services.need_dispatch(need=other_offer, actor=dispatcher, volunteers=[volunteer, helpers[2]])
    if team is not None:
        teamed = _post(ctx, neighbours[0][0], home, "environment.cleanup", people_needed=3)
        services.need_dispatch(need=teamed, actor=dispatcher, organization=team.organization)

    # --- the dispatcher's queue: overdue reviews, a return, an expired need, a low rating,
    # a need posted for an offline elder (代点单), one open to teams
    for n, (user, community) in enumerate(neighbours):
        code = ctx.rng.choice(sorted(ASKS))
        need = _post(
            ctx,
            user,
            community,
            code,
            urgency=ctx.rng.choice([Urgency.ROUTINE, Urgency.ROUTINE, Urgency.URGENT]),
        )
        if n % 2 == 0:
            _age(need, timedelta(hours=30))  # waits for review beyond its time limit
        elif n == 1:
            services.need_review(need=need, actor=dispatcher)
    offline = services.need_submit(
        poster=dispatcher,
        posting=services.Posting(
            region=ctx.communities[1].code,
            category=NeedCategory.objects.get(code="daily_living.meals").pk,
            description="独居高龄老人，没有智能手机，需要每周两次送餐",
            urgency=Urgency.URGENT,
            address="北新桥三条8号院2号楼1单元102",
            use_my_phone=False,
            for_someone_else=True,
            beneficiary_name="赵桂芬",
            beneficiary_phone="010-64012345",
            proxy_relation=ProxyRelation.COMMUNITY_WORKER,
        ),
    )
    _age(offline, timedelta(hours=3))  # urgent: its review is overdue
    returned = _post(ctx, neighbours[2][0], neighbours[2][1], "daily_living.cleaning")
    services.need_dispatch(need=returned, actor=dispatcher, volunteers=[helpers[3]])
    _age(returned, timedelta(hours=26))
    services.need_deadlines_enforce()  # nobody accepted in time: back in the queue
    expired = _post(ctx, neighbours[3][0], neighbours[3][1], "education.homework")
    _age(expired, timedelta(days=8))
    services.need_deadlines_enforce()  # as soon as possible, and a week passed: expired
    pool = _post(ctx, neighbours[4][0], neighbours[4][1], "environment.cleanup", people_needed=2)
    services.need_dispatch(need=pool, actor=dispatcher, open_to_teams=True)
    low = _post(ctx, neighbours[5][0], neighbours[5][1], "daily_living.repairs")
    services.need_dispatch(need=low, actor=dispatcher, volunteers=[helpers[4]])
    services.need_accept(need=low, volunteer=helpers[4])
    _serve(low, helpers[4], 30, "检查了线路，需要专业电工。")
    services.need_rate(
        need=low, actor=neighbours[5][0], score=2, tags=["unsolved"], comment="没修好，还要再找人"
    )
    _spread(ctx, low, 30)
    _age(low, timedelta(days=1))
    cancelled = _post(ctx, neighbours[0][0], neighbours[0][1], "daily_living.shopping")
    services.need_cancel(need=cancelled, actor=neighbours[0][0], reason="家人已经帮忙买了")
    in_service = _post(ctx, neighbours[1][0], neighbours[1][1], "elder_disability.visit")
    services.need_dispatch(need=in_service, actor=dispatcher, volunteers=[helpers[5]])
    services.need_accept(need=in_service, volunteer=helpers[5])
    services.need_start(need=in_service, volunteer=helpers[5])

    _time_bank(ctx, helpers)

    # --- a history for the dashboard: served and rated needs over the last weeks
    for week in range(1, 9):
        for k in range(ctx.rng.randint(2, 4)):
            user, community = neighbours[(week + k) % len(neighbours)]
            code = ctx.rng.choice(sorted(ASKS))
            need = _post(ctx, user, community, code)
            helper = helpers[(week + k) % len(helpers)]
            services.need_dispatch(need=need, actor=dispatcher, volunteers=[helper])
            services.need_accept(need=need, volunteer=helper)
            minutes = ctx.rng.choice([30, 45, 60, 90])
            _serve(need, helper, minutes, "已完成。")
            services.need_rate(
                need=need, actor=user, score=ctx.rng.choice([5, 5, 5, 4, 4, 3]), tags=["on_time"]
            )
            _spread(ctx, need, minutes)
            _age(
                need, timedelta(days=7 * week + ctx.rng.randint(0, 5), hours=ctx.rng.randint(0, 20))
            )
