"""Safeguards API: insurance, agreements, complaints (public submit and follow), sanctions
(with the public list) and risk signals.

Two endpoints need no log-in: ``POST /cases`` (anyone may report, Art. 26) with
``POST /cases/follow``, and ``GET /sanctions/public``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema, Status

from zhiyuan.accounts.models import User
from zhiyuan.core.api import ApiError, ErrorOut
from zhiyuan.core.permissions import region_scopes, require
from zhiyuan.organizations.models import Organization
from zhiyuan.organizations.services import organization_require
from zhiyuan.people.models import VolunteerProfile
from zhiyuan.regions.models import Region
from zhiyuan.safeguards import selectors, services
from zhiyuan.safeguards.models import (
    AgreementTemplate,
    AgreementVersion,
    Case,
    Claim,
    Incident,
    InsurancePolicy,
    Sanction,
)
from zhiyuan.safeguards.rules import agreement_required

router = Router(tags=["safeguards"])


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _volunteer(number: str) -> User:
    profile = (
        VolunteerProfile.objects.select_related("user").filter(volunteer_number=number).first()
    )
    if profile is None:
        raise ApiError(422, "unknown_volunteer", _("No volunteer has this number."))
    return profile.user


# --- insurance --------------------------------------------------------------------------------


class PolicyIn(Schema):
    insurer: str
    policy_number: str
    starts_on: date
    ends_on: date
    cover_death: Decimal
    cover_disability: Decimal
    cover_medical: Decimal
    basis: str
    activity_types: list[str] = []


class PolicyOut(Schema):
    id: int
    organization: int
    insurer: str
    policy_number: str
    starts_on: date
    ends_on: date
    cover_death: Decimal
    cover_disability: Decimal
    cover_medical: Decimal
    basis: str
    activity_types: list[str]
    cancelled: bool


def _policy_out(p: InsurancePolicy) -> PolicyOut:
    return PolicyOut(
        id=p.pk,
        organization=p.organization_id,
        insurer=p.insurer,
        policy_number=p.policy_number,
        starts_on=p.starts_on,
        ends_on=p.ends_on,
        cover_death=p.cover_death,
        cover_disability=p.cover_disability,
        cover_medical=p.cover_medical,
        basis=p.basis,
        activity_types=list(p.activity_types or []),
        cancelled=p.cancelled_at is not None,
    )


def _org_for(request: HttpRequest, org_id: int, ability: str) -> Organization:
    org = get_object_or_404(Organization, pk=org_id)
    organization_require(request.user, ability, org, request=request)
    return org


@router.get(
    "/organizations/{org_id}/policies",
    response={200: list[PolicyOut], 403: ErrorOut, 404: ErrorOut},
)
def policy_list(request: HttpRequest, org_id: int) -> list[PolicyOut]:
    org = _org_for(request, org_id, "insurance.manage")
    return [_policy_out(p) for p in InsurancePolicy.objects.filter(organization=org)]


@router.post(
    "/organizations/{org_id}/policies",
    response={201: PolicyOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def policy_create(request: HttpRequest, org_id: int, payload: PolicyIn) -> Status[PolicyOut]:
    org = get_object_or_404(Organization, pk=org_id)
    policy = services.insurance_policy_create(
        organization=org, actor=_user(request), request=request, **payload.dict()
    )
    return Status(201, _policy_out(policy))


class VolunteerIn(Schema):
    volunteer_number: str


@router.post(
    "/policies/{policy_id}/insured",
    response={201: PolicyOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def policy_name(request: HttpRequest, policy_id: int, payload: VolunteerIn) -> Status[PolicyOut]:
    policy = get_object_or_404(InsurancePolicy, pk=policy_id)
    organization_require(request.user, "insurance.manage", policy.organization, request=request)
    services.insured_person_add(
        policy=policy,
        user=_volunteer(payload.volunteer_number),
        actor=_user(request),
        request=request,
    )
    return Status(201, _policy_out(policy))


class IncidentIn(Schema):
    occurred_at: datetime
    activity_type: str
    severity: str
    description: str
    volunteer_number: str | None = None
    activity_key: str = ""


class IncidentOut(Schema):
    id: int
    policy: int
    occurred_at: datetime
    activity_type: str
    severity: str


@router.post(
    "/policies/{policy_id}/incidents",
    response={201: IncidentOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def incident_create(
    request: HttpRequest, policy_id: int, payload: IncidentIn
) -> Status[IncidentOut]:
    policy = get_object_or_404(InsurancePolicy, pk=policy_id)
    organization_require(request.user, "insurance.manage", policy.organization, request=request)
    incident = services.incident_record(
        policy=policy,
        occurred_at=payload.occurred_at,
        activity_type=payload.activity_type,
        severity=payload.severity,
        description=payload.description,
        volunteer=_volunteer(payload.volunteer_number) if payload.volunteer_number else None,
        activity_key=payload.activity_key,
        actor=_user(request),
        request=request,
    )
    return Status(
        201,
        IncidentOut(
            id=incident.pk,
            policy=policy.pk,
            occurred_at=incident.occurred_at,
            activity_type=incident.activity_type,
            severity=incident.severity,
        ),
    )


class ClaimIn(Schema):
    amount_claimed: Decimal
    insurer_reference: str = ""


class ClaimDecisionIn(Schema):
    status: str
    amount_paid: Decimal | None = None


class ClaimOut(Schema):
    id: int
    incident: int
    amount_claimed: Decimal
    status: str
    amount_paid: Decimal | None


def _claim_out(c: Claim) -> ClaimOut:
    return ClaimOut(
        id=c.pk,
        incident=c.incident_id,
        amount_claimed=c.amount_claimed,
        status=c.status,
        amount_paid=c.amount_paid,
    )


@router.post(
    "/incidents/{incident_id}/claims",
    response={201: ClaimOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def claim_create(request: HttpRequest, incident_id: int, payload: ClaimIn) -> Status[ClaimOut]:
    incident = get_object_or_404(Incident.objects.select_related("policy"), pk=incident_id)
    claim = services.claim_submit(
        incident=incident, actor=_user(request), request=request, **payload.dict()
    )
    return Status(201, _claim_out(claim))


@router.post(
    "/claims/{claim_id}/decide",
    response={200: ClaimOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def claim_decide(request: HttpRequest, claim_id: int, payload: ClaimDecisionIn) -> ClaimOut:
    claim = get_object_or_404(Claim.objects.select_related("incident__policy"), pk=claim_id)
    return _claim_out(
        services.claim_decide(claim=claim, actor=_user(request), request=request, **payload.dict())
    )


class CoverQuery(Schema):
    user: int
    organization: int
    activity_type: str
    start: datetime
    end: datetime


class CoverOut(Schema):
    covered: bool
    policy: int | None
    reason: str | None
    message: str | None


def _cover_out(answer: selectors.Cover | selectors.NotCovered) -> CoverOut:
    if isinstance(answer, selectors.Cover):
        return CoverOut(covered=True, policy=answer.policy.pk, reason=None, message=None)
    return CoverOut(
        covered=False,
        policy=answer.policy.pk if answer.policy else None,
        reason=answer.reason,
        message=answer.message,
    )


@router.get("/cover", response={200: CoverOut, 403: ErrorOut, 404: ErrorOut})
def cover(request: HttpRequest, query: Query[CoverQuery]) -> CoverOut:
    """Is this volunteer insured for an activity of this type run by this organisation at these
    times? Asked by the organisation's admins, or by the volunteer about themself."""
    org = get_object_or_404(Organization, pk=query.organization)
    person = get_object_or_404(User, pk=query.user)
    if person.pk != request.user.pk:
        organization_require(request.user, "insurance.manage", org, request=request)
    return _cover_out(
        selectors.insurance_cover_for(person, org, query.activity_type, query.start, query.end)
    )


class ActivityIn(Schema):
    key: str
    organization: int
    activity_type: str
    start: datetime
    end: datetime
    participants: list[int]


class UncoveredPersonOut(Schema):
    user: int
    name: str
    reason: str
    message: str


class ActivityReportOut(Schema):
    key: str
    covered: int
    uncovered: list[UncoveredPersonOut]


@router.post(
    "/insurance/uncovered",
    response={200: list[ActivityReportOut], 403: ErrorOut, 404: ErrorOut},
)
def insurance_uncovered(request: HttpRequest, payload: list[ActivityIn]) -> list[ActivityReportOut]:
    """For each upcoming activity given, who taking part is not covered and why. The caller
    must manage insurance for every organisation named."""
    orgs = {o.pk: o for o in Organization.objects.filter(pk__in={a.organization for a in payload})}
    for a in payload:
        if a.organization not in orgs:
            raise ApiError(404, "not_found", _("There is nothing here, or it is not yours to see."))
    for org in orgs.values():
        organization_require(request.user, "insurance.manage", org, request=request)
    users = {
        u.pk: u for u in User.objects.filter(pk__in={p for a in payload for p in a.participants})
    }
    reports = selectors.insurance_uncovered(
        [
            selectors.UpcomingActivity(
                key=a.key,
                organization=orgs[a.organization],
                activity_type=a.activity_type,
                start=a.start,
                end=a.end,
                participants=[users[p] for p in a.participants if p in users],
            )
            for a in payload
        ]
    )
    return [
        ActivityReportOut(
            key=r.activity.key,
            covered=r.covered,
            uncovered=[
                UncoveredPersonOut(user=u.pk, name=u.name, reason=why.reason, message=why.message)
                for u, why in r.uncovered
            ],
        )
        for r in reports
    ]


# --- agreements -------------------------------------------------------------------------------


class AgreementIn(Schema):
    title: str
    body: str


class VersionOut(Schema):
    id: int
    number: int
    body: str
    published_at: datetime


class AgreementOut(Schema):
    id: int
    organization: int
    title: str
    current: VersionOut | None


def _version_out(v: AgreementVersion | None) -> VersionOut | None:
    if v is None:
        return None
    return VersionOut(id=v.pk, number=v.number, body=v.body, published_at=v.published_at)


def _agreement_out(t: AgreementTemplate) -> AgreementOut:
    return AgreementOut(
        id=t.pk,
        organization=t.organization_id,
        title=t.title,
        current=_version_out(selectors.agreement_current_version(t)),
    )


@router.get(
    "/organizations/{org_id}/agreements",
    response={200: list[AgreementOut], 403: ErrorOut, 404: ErrorOut},
)
def agreement_list(request: HttpRequest, org_id: int) -> list[AgreementOut]:
    org = _org_for(request, org_id, "agreement.manage")
    return [_agreement_out(t) for t in AgreementTemplate.objects.filter(organization=org)]


@router.post(
    "/organizations/{org_id}/agreements",
    response={201: AgreementOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def agreement_create(
    request: HttpRequest, org_id: int, payload: AgreementIn
) -> Status[AgreementOut]:
    org = get_object_or_404(Organization, pk=org_id)
    template = services.agreement_template_create(
        organization=org, actor=_user(request), request=request, **payload.dict()
    )
    return Status(201, _agreement_out(template))


class BodyIn(Schema):
    body: str


@router.post(
    "/agreements/{template_id}/versions",
    response={201: VersionOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def agreement_version(
    request: HttpRequest, template_id: int, payload: BodyIn
) -> Status[VersionOut]:
    template = get_object_or_404(AgreementTemplate, pk=template_id)
    version = services.agreement_version_publish(
        template=template, body=payload.body, actor=_user(request), request=request
    )
    return Status(201, cast(VersionOut, _version_out(version)))


class AcceptIn(Schema):
    subject: str = ""


class AcceptanceOut(Schema):
    id: int
    version: int
    number: int
    subject: str
    accepted_at: datetime


@router.post(
    "/agreement-versions/{version_id}/accept",
    response={200: AcceptanceOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def agreement_accept(request: HttpRequest, version_id: int, payload: AcceptIn) -> AcceptanceOut:
    version = get_object_or_404(AgreementVersion.objects.select_related("template"), pk=version_id)
    acceptance = services.agreement_accept(
        version=version, user=_user(request), subject=payload.subject, request=request
    )
    return AcceptanceOut(
        id=acceptance.pk,
        version=version.pk,
        number=version.number,
        subject=acceptance.subject,
        accepted_at=acceptance.accepted_at,
    )


class NeedIn(Schema):
    organiser_marked: bool = False
    requested_by_party: bool = False
    high_risk: bool = False
    start: date | None = None
    end: date | None = None
    large_scale: bool = False
    outside_city: bool = False
    foreign_participants: bool = False


class NeedOut(Schema):
    required: bool
    reasons: list[str]


@router.post("/agreements/required", response={200: NeedOut, 401: ErrorOut})
def agreement_needed(request: HttpRequest, payload: NeedIn) -> NeedOut:
    """Does an activity with these properties need a signed agreement (Art. 14, Beijing
    Art. 18), and why? Any logged-in caller may ask."""
    need = agreement_required(**payload.dict())
    return NeedOut(required=need.required, reasons=list(need.reasons))


# --- complaints -------------------------------------------------------------------------------


class CaseIn(Schema):
    category: str
    subject_kind: str
    description: str
    organization: int | None = None
    subject_detail: str = ""
    region: str | None = None
    amount_charged: Decimal | None = None
    reporter_name: str = ""
    reporter_contact: str = ""


class CaseCreatedOut(Schema):
    reference: str
    follow_code: str
    due_at: datetime


@router.post("/cases", auth=None, response={201: CaseCreatedOut, 422: ErrorOut})
def case_create(request: HttpRequest, payload: CaseIn) -> Status[CaseCreatedOut]:
    """Report an organisation, an activity or a person; no log-in needed. The follow-up code
    is returned once (only its hash is kept). Evidence files go through the web form."""
    org = (
        Organization.objects.filter(pk=payload.organization).first()
        if payload.organization
        else None
    )
    region = Region.objects.filter(code=payload.region).first() if payload.region else None
    user = request.user if getattr(request.user, "is_authenticated", False) else None
    submitted = services.case_submit(
        category=payload.category,
        subject_kind=payload.subject_kind,
        description=payload.description,
        organization=org,
        subject_detail=payload.subject_detail,
        region=region,
        amount_charged=payload.amount_charged,
        reporter=cast(User | None, user),
        reporter_name=payload.reporter_name,
        reporter_contact=payload.reporter_contact,
        request=request,
    )
    return Status(
        201,
        CaseCreatedOut(
            reference=submitted.case.reference or "",
            follow_code=submitted.follow_code,
            due_at=submitted.case.due_at,
        ),
    )


class FollowIn(Schema):
    code: str


class PublicLogOut(Schema):
    at: datetime
    note: str


class CasePublicOut(Schema):
    reference: str
    category: str
    status: str
    created_at: datetime
    due_at: datetime
    outcome: str
    public_summary: str
    log: list[PublicLogOut]


@router.post("/cases/follow", auth=None, response={200: CasePublicOut, 404: ErrorOut})
def case_follow(request: HttpRequest, payload: FollowIn) -> CasePublicOut:
    """What the reporter may see of their case, by its code. Names nobody."""
    case = selectors.case_find_by_code(payload.code)
    if case is None:
        raise ApiError(404, "not_found", _("No case has this code. Check it and try again."))
    return CasePublicOut(
        reference=case.reference or "",
        category=case.category,
        status=case.status,
        created_at=case.created_at,
        due_at=case.due_at,
        outcome=case.outcome,
        public_summary=case.public_summary,
        log=[
            PublicLogOut(at=a.at, note=a.public_note)
            for a in case.actions.filter(visible_to_reporter=True).order_by("at", "pk")
        ],
    )


class CaseOut(Schema):
    id: int
    reference: str
    category: str
    subject_kind: str
    organization: int | None
    region: str
    status: str
    outcome: str
    assignee: int | None
    due_at: datetime
    version: int


def _case_out(c: Case) -> CaseOut:
    return CaseOut(
        id=c.pk,
        reference=c.reference or "",
        category=c.category,
        subject_kind=c.subject_kind,
        organization=c.organization_id,
        region=c.region_id,
        status=c.status,
        outcome=c.outcome,
        assignee=c.assignee_id,
        due_at=c.due_at,
        version=c.version,
    )


@router.get("/cases", response={200: list[CaseOut], 403: ErrorOut})
def case_list(request: HttpRequest, status: str = "open") -> list[CaseOut]:
    require(request.user, "case.handle", request=request)
    cases = selectors.case_list_for_admin(region_scopes(request.user, "case.handle"), status)
    return [_case_out(c) for c in cases[:500]]


def _case(request: HttpRequest, case_id: int) -> Case:
    case = get_object_or_404(Case, pk=case_id)
    require(request.user, "case.handle", case, request=request)
    return case


@router.get("/cases/{case_id}", response={200: CaseOut, 403: ErrorOut, 404: ErrorOut})
def case_detail(request: HttpRequest, case_id: int) -> CaseOut:
    return _case_out(_case(request, case_id))


class VersionIn(Schema):
    version: int


class DecideIn(VersionIn):
    outcome: str
    public_summary: str
    note: str = ""


def _conflict(exc: ValidationError) -> ApiError:
    return ApiError(409, "conflict", " ".join(exc.messages))


@router.post(
    "/cases/{case_id}/investigate",
    response={200: CaseOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
)
def case_investigate(request: HttpRequest, case_id: int, payload: VersionIn) -> CaseOut:
    case = _case(request, case_id)
    try:
        case = services.case_start_investigation(
            case=case, expected_version=payload.version, actor=_user(request), request=request
        )
    except services.CaseConflict as exc:
        raise _conflict(exc) from exc
    return _case_out(case)


@router.post(
    "/cases/{case_id}/decide",
    response={200: CaseOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
)
def case_decide(request: HttpRequest, case_id: int, payload: DecideIn) -> CaseOut:
    """Decide with the version read; if someone else decided first: 409 ``conflict``."""
    case = _case(request, case_id)
    try:
        case = services.case_decide(
            case=case,
            expected_version=payload.version,
            outcome=payload.outcome,
            public_summary=payload.public_summary,
            note=payload.note,
            actor=_user(request),
            request=request,
        )
    except services.CaseConflict as exc:
        raise _conflict(exc) from exc
    return _case_out(case)


class NoteIn(Schema):
    note: str = ""
    public_note: str = ""


@router.post(
    "/cases/{case_id}/notes",
    response={201: CaseOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def case_note(request: HttpRequest, case_id: int, payload: NoteIn) -> Status[CaseOut]:
    case = _case(request, case_id)
    services.case_note_add(case=case, actor=_user(request), request=request, **payload.dict())
    return Status(201, _case_out(case))


# --- sanctions --------------------------------------------------------------------------------


class SanctionPublicOut(Schema):
    id: int
    organization: int
    organization_name: str
    kind: str
    reason: str
    starts_at: datetime
    ends_at: datetime | None


@router.get("/sanctions/public", auth=None, response=list[SanctionPublicOut])
def sanction_public_list(request: HttpRequest) -> list[SanctionPublicOut]:
    """Sanctions against organisations in force now (public, no personal data)."""
    return [
        SanctionPublicOut(
            id=s.pk,
            organization=s.organization_id or 0,
            organization_name=s.organization.name if s.organization else "",
            kind=s.kind,
            reason=s.reason,
            starts_at=s.starts_at,
            ends_at=s.ends_at,
        )
        for s in selectors.sanction_list_public()[:500]
    ]


class SanctionIn(Schema):
    kind: str
    reason: str
    organization: int | None = None
    volunteer_number: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    case: int | None = None


class SanctionOut(Schema):
    id: int
    party_kind: str
    organization: int | None
    user: int | None
    kind: str
    reason: str
    case: int | None
    starts_at: datetime
    ends_at: datetime | None
    lifted_at: datetime | None


def _sanction_out(s: Sanction) -> SanctionOut:
    return SanctionOut(
        id=s.pk,
        party_kind=s.party_kind,
        organization=s.organization_id,
        user=s.user_id,
        kind=s.kind,
        reason=s.reason,
        case=s.case_id,
        starts_at=s.starts_at,
        ends_at=s.ends_at,
        lifted_at=s.lifted_at,
    )


@router.post("/sanctions", response={201: SanctionOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut})
def sanction_create(request: HttpRequest, payload: SanctionIn) -> Status[SanctionOut]:
    """Sanction an organisation (``organization``) or a volunteer (``volunteer_number``)."""
    party: Any
    if payload.organization is not None:
        party = get_object_or_404(Organization, pk=payload.organization)
    elif payload.volunteer_number:
        party = _volunteer(payload.volunteer_number)
    else:
        raise ApiError(422, "invalid", _("Name the organisation or the volunteer."))
    case = get_object_or_404(Case, pk=payload.case) if payload.case else None
    sanction = services.sanction_impose(
        party=party,
        kind=payload.kind,
        reason=payload.reason,
        starts_at=payload.starts_at,
        ends_at=payload.ends_at,
        case=case,
        actor=_user(request),
        request=request,
    )
    return Status(201, _sanction_out(sanction))


class LiftIn(Schema):
    reason: str


@router.post(
    "/sanctions/{sanction_id}/lift",
    response={200: SanctionOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def sanction_lift(request: HttpRequest, sanction_id: int, payload: LiftIn) -> SanctionOut:
    sanction = get_object_or_404(Sanction, pk=sanction_id)
    return _sanction_out(
        services.sanction_lift(
            sanction=sanction, reason=payload.reason, actor=_user(request), request=request
        )
    )


# --- risk -------------------------------------------------------------------------------------


class RiskOut(Schema):
    organization: int
    name: str
    score: float
    parts: dict[str, float]


@router.get("/risk", response={200: list[RiskOut], 403: ErrorOut})
def risk_list(request: HttpRequest) -> list[RiskOut]:
    require(request.user, "risk.view", request=request)
    return [
        RiskOut(
            organization=row.organization.pk,
            name=row.organization.name,
            score=row.score,
            parts=dict(row.parts),
        )
        for row in selectors.risk_ranking(region_scopes(request.user, "risk.view"))[:200]
    ]
