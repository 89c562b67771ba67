"""Demo data for organisations and safeguards: registration details, a suspension on record,
insurance, an agreement, recruitment, membership requests, complaints and a warning.

Built through the real services where the rule matters (sanctions, cases, policies). One case
has a fixed follow-up code, printed in docs/safeguards.md, so the public follow-up page can be
tried at once: DEMO-CASE-CODE-2026.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

from zhiyuan.accounts.models import RoleGrant
from zhiyuan.accounts.roles import Role
from zhiyuan.demo.builder import DemoContext
from zhiyuan.organizations.models import (
    Membership,
    MembershipRequest,
    Organization,
    OrganizationKind,
    OrganizationStatus,
    RecruitmentCall,
    RequestKind,
    ServiceField,
)
from zhiyuan.safeguards import services
from zhiyuan.safeguards.models import (
    Case,
    CaseCategory,
    CaseOutcome,
    CoverBasis,
    IncidentSeverity,
    SanctionKind,
    SubjectKind,
)
from zhiyuan.safeguards.selectors import follow_code_hash

ORDER = 200
DEMO_FOLLOW_CODE = "DEMO-CASE-CODE-2026"

FIELDS_BY_KIND = {
    OrganizationKind.SOCIAL_GROUP: [ServiceField.COMMUNITY, ServiceField.EMERGENCY],
    OrganizationKind.SOCIAL_SERVICE: [ServiceField.ELDER_CARE, ServiceField.DISABILITY],
    OrganizationKind.FOUNDATION: [ServiceField.EDUCATION, ServiceField.POVERTY],
    OrganizationKind.PUBLIC_INSTITUTION: [ServiceField.CULTURE, ServiceField.HEALTH],
    OrganizationKind.ENTERPRISE_TEAM: [ServiceField.ENVIRONMENT, ServiceField.COMMUNITY],
    OrganizationKind.SCHOOL_TEAM: [ServiceField.EDUCATION, ServiceField.CHILDREN],
    OrganizationKind.COMMUNITY_TEAM: [ServiceField.ELDER_CARE, ServiceField.COMMUNITY],
}


def _registration_details(ctx: DemoContext) -> None:
    orgs = ctx.organizations
    communities = [c for c in ctx.communities]
    for org in orgs:
        org.legal_representative = ctx.fake.name()
        org.contact_name = ctx.fake.name()
        org.contact_phone = "139" + f"{ctx.rng.randrange(10**8):08d}"
        org.service_fields = [f.value for f in FIELDS_BY_KIND.get(OrganizationKind(org.kind), [])]
        org.status_changed_at = timezone.now() - timedelta(days=ctx.rng.randint(30, 400))
        if org.kind == OrganizationKind.COMMUNITY_TEAM and not org.credit_code:
            # A grassroots team is vouched for by its own community.
            org.sponsor_region = (
                org.region if org.region.level == 5 else ctx.rng.choice(communities)
            )
    pending = [o for o in orgs if o.status == OrganizationStatus.PENDING]
    if pending:
        pending[0].registered_by = ctx.accounts[Role.RESIDENT]
    Organization.objects.bulk_update(
        orgs,
        [
            "legal_representative",
            "contact_name",
            "contact_phone",
            "service_fields",
            "status_changed_at",
            "sponsor_region",
            "registered_by",
        ],
        batch_size=200,
    )


def populate(ctx: DemoContext) -> None:
    region_admin = ctx.accounts[Role.REGION_ADMIN]
    org_admin = ctx.accounts[Role.ORG_ADMIN]
    volunteer = ctx.accounts[Role.VOLUNTEER]
    home = RoleGrant.objects.get(user=org_admin, role=Role.ORG_ADMIN).organization
    assert home is not None
    _registration_details(ctx)
    now = timezone.now()
    today = timezone.localdate()

    # The demo's suspended organisation gets the sanction that explains it.
    for org in ctx.organizations:
        if org.status == OrganizationStatus.SUSPENDED:
            services.sanction_impose(
                party=org,
                kind=SanctionKind.SUSPENSION,
                reason="向服务对象收取“服务费”，已责令退还",
                starts_at=now - timedelta(days=10),
                ends_at=now + timedelta(days=80),
                actor=region_admin,
            )

    # Insurance: the whole organisation for the year, plus a named emergency policy.
    year = services.insurance_policy_create(
        organization=home,
        insurer="中国人寿财产保险股份有限公司北京市分公司",
        policy_number=f"PEAC{today.year}110101{ctx.rng.randrange(10**6):06d}",
        starts_on=date(today.year, 1, 1),
        ends_on=date(today.year, 12, 31),
        cover_death=Decimal("500000"),
        cover_disability=Decimal("500000"),
        cover_medical=Decimal("50000"),
        basis=CoverBasis.MEMBERS,
        actor=org_admin,
    )
    rescue = services.insurance_policy_create(
        organization=home,
        insurer="中国平安财产保险股份有限公司",
        policy_number=f"PA-RESCUE-{ctx.rng.randrange(10**6):06d}",
        starts_on=today - timedelta(days=60),
        ends_on=today + timedelta(days=20),
        cover_death=Decimal("800000"),
        cover_disability=Decimal("800000"),
        cover_medical=Decimal("100000"),
        basis=CoverBasis.NAMED,
        activity_types=["emergency"],
        actor=org_admin,
    )
    services.insured_person_add(policy=rescue, user=volunteer, actor=org_admin)
    incident = services.incident_record(
        policy=year,
        occurred_at=now - timedelta(days=12),
        activity_type="elder_care",
        severity=IncidentSeverity.INJURY,
        description="上门助老时在楼梯上扭伤脚踝，已到社区卫生服务中心就诊。",
        volunteer=volunteer,
        activity_key="助老上门服务",
        actor=org_admin,
    )
    services.claim_submit(incident=incident, amount_claimed=Decimal("860.50"), actor=org_admin)

    # An agreement in its second version, accepted by the demo volunteer.
    template = services.agreement_template_create(
        organization=home,
        title="志愿服务协议",
        body="一、服务内容与时间……\n二、安全与保险……\n三、个人信息保护……",
        actor=org_admin,
    )
    second = services.agreement_version_publish(
        template=template,
        body="一、服务内容与时间……\n二、安全与保险（含意外伤害保险）……\n三、个人信息保护……\n"
        "四、志愿服务无偿，不得向服务对象收取任何费用。",
        actor=org_admin,
    )
    services.agreement_accept(version=second, user=volunteer, subject="")

    # Recruitment and membership requests.
    RecruitmentCall.objects.create(
        organization=home,
        title="周末助老志愿者招募",
        body="陪伴社区独居老人聊天、读报，协助购买生活用品。每次约2小时。",
        risks="上下楼梯需注意安全；已为全体成员购买意外伤害保险。",
        closes_on=today + timedelta(days=30),
        published_by=org_admin,
    )
    members = set(
        Membership.objects.filter(organization=home, left_at__isnull=True).values_list(
            "user_id", flat=True
        )
    )
    applicants = [p.user for p in ctx.volunteers if p.user_id not in members][:3]
    for user in applicants:
        MembershipRequest.objects.create(
            organization=home,
            user=user,
            kind=RequestKind.APPLICATION,
            message="想利用周末时间参加助老服务。",
            created_by=user,
        )
    other = next(
        (
            o
            for o in ctx.organizations
            if o.status == OrganizationStatus.VERIFIED and o.pk != home.pk
        ),
        None,
    )
    if (
        other is not None
        and not Membership.objects.filter(
            organization=other, user=volunteer, left_at__isnull=True
        ).exists()
    ):
        MembershipRequest.objects.create(
            organization=other,
            user=volunteer,
            kind=RequestKind.INVITATION,
            message="欢迎加入我们的应急救护队。",
            created_by=org_admin,
        )

    # Complaints: one new, one overdue, one decided with a warning.
    targets = [o for o in ctx.organizations if o.status == OrganizationStatus.VERIFIED]
    first = services.case_submit(
        category=CaseCategory.CHARGING,
        subject_kind=SubjectKind.ORGANIZATION,
        organization=ctx.rng.choice(targets),
        description="上门理发服务时，每位老人收取10元“材料费”。",
        amount_charged=Decimal("10"),
        reporter_contact="13600001111",
    ).case
    Case.objects.filter(pk=first.pk).update(follow_code_hash=follow_code_hash(DEMO_FOLLOW_CODE))
    late = services.case_submit(
        category=CaseCategory.FALSE_RECORDS,
        subject_kind=SubjectKind.ORGANIZATION,
        organization=ctx.rng.choice(targets),
        description="活动只进行了1小时，却给每人记录了4小时服务时长。",
    ).case
    Case.objects.filter(pk=late.pk).update(
        created_at=now - timedelta(days=20), due_at=now - timedelta(days=5)
    )
    decided_org = ctx.rng.choice(targets)
    decided = services.case_submit(
        category=CaseCategory.PRIVACY,
        subject_kind=SubjectKind.ORGANIZATION,
        organization=decided_org,
        description="志愿者在微信群里转发了服务对象的身份证照片。",
    ).case
    decided = services.case_decide(
        case=decided,
        expected_version=decided.version,
        outcome=CaseOutcome.SUBSTANTIATED,
        public_summary="经核实情况属实，已责令该组织删除相关信息并加强培训。",
        actor=region_admin,
    )
    services.sanction_impose(
        party=decided_org,
        kind=SanctionKind.WARNING,
        reason="在工作群中泄露服务对象个人信息",
        ends_at=now + timedelta(days=365),
        case=decided,
        actor=region_admin,
    )
