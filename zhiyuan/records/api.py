"""Records API: my hours, records, star level and certificates; the organiser's confirmation
queue and correction requests; flag rates for the region; the public certificate check."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status

from zhiyuan.accounts.models import User
from zhiyuan.core.api import ApiError, ErrorOut
from zhiyuan.core.masking import mask_name
from zhiyuan.core.permissions import organization_scopes, region_scopes, require
from zhiyuan.organizations.models import Organization
from zhiyuan.organizations.selectors import organization_descendant_ids
from zhiyuan.records import selectors, services
from zhiyuan.records.models import Certificate, CorrectionRequest, ServiceRecord
from zhiyuan.regions.models import Region

router = Router(tags=["records"])


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _refusal(exc: services.RecordRefused) -> ApiError:
    return ApiError(422, exc.code or "refused", " ".join(exc.messages))


class RecordOut(Schema):
    id: int
    series: int
    version: int
    kind: str
    status: str
    organization: str
    content: str
    started_at: dt.datetime
    ended_at: dt.datetime
    minutes: int
    credited_minutes: int | None
    flags: list[str]
    flag_notes: dict[str, str]
    due_at: dt.datetime
    confirmed_at: dt.datetime | None
    points: int | None


def _record_out(r: ServiceRecord) -> RecordOut:
    return RecordOut(
        id=r.pk,
        series=r.series_id,
        version=r.version,
        kind=r.kind,
        status=r.status,
        organization=r.organization.name,
        content=r.content,
        started_at=r.started_at,
        ended_at=r.ended_at,
        minutes=r.minutes,
        credited_minutes=r.credited_minutes,
        flags=list(r.flags or []),
        flag_notes=dict(r.flag_notes or {}),
        due_at=r.due_at,
        confirmed_at=r.confirmed_at,
        points=r.points,
    )


@router.get("/mine", response={200: list[RecordOut], 403: ErrorOut})
def records_mine(request: HttpRequest) -> list[RecordOut]:
    """Every version of my records, newest service first."""
    require(request.user, "record.own", request=request)
    return [_record_out(r) for r in selectors.records_of(request.user)[:500]]


class StarOut(Schema):
    level: int
    reached_at: dt.datetime
    hours: float


class SummaryOut(Schema):
    confirmed_hours: float
    pending_hours: float
    confirmed_records: int
    star_level: int
    next_level: int
    hours_to_next: float
    thresholds: list[int]
    min_months: list[int]
    months_of_service: int
    rule_region: str
    history: list[StarOut]


@router.get("/summary", response={200: SummaryOut, 403: ErrorOut})
def records_summary(request: HttpRequest) -> SummaryOut:
    """My confirmed hours, star level and the history of levels reached."""
    require(request.user, "record.own", request=request)
    hours = selectors.hours_summary(request.user)
    stars = services.star_status(_user(request))
    return SummaryOut(
        confirmed_hours=hours.confirmed_hours,
        pending_hours=hours.pending_hours,
        confirmed_records=hours.confirmed_count,
        star_level=stars.level,
        next_level=stars.next_level,
        hours_to_next=stars.hours_missing,
        thresholds=list(stars.thresholds),
        min_months=list(stars.min_months),
        months_of_service=services.months_of_service(stars.first_service),
        rule_region=stars.rule_region,
        history=[
            StarOut(level=a.level, reached_at=a.reached_at, hours=float(a.hours))
            for a in stars.awards
        ],
    )


# --- the organiser ----------------------------------------------------------------------------


def _organised_org_ids(request: HttpRequest) -> list[int]:
    ids: list[int] = []
    for pk in organization_scopes(request.user, "activity.manage"):
        org = Organization.objects.filter(pk=pk).first()
        if org is not None:
            ids += [pk, *organization_descendant_ids(org)]
    return ids


class QueueOut(RecordOut):
    volunteer: str  # masked
    volunteer_id: int
    first_confirmed_by: int | None
    overdue: bool


@router.get("/queue", response={200: list[QueueOut], 403: ErrorOut})
def records_queue(request: HttpRequest) -> list[QueueOut]:
    """Records of my organisations waiting for confirmation (flags shown; a flagged record
    confirmed once waits for a second confirmer)."""
    require(request.user, "activity.manage", request=request)
    rows = selectors.confirmation_queue(_organised_org_ids(request))[:500]
    return [
        QueueOut(
            **_record_out(r).dict(),
            volunteer=mask_name(r.volunteer.name),
            volunteer_id=r.volunteer_id,
            first_confirmed_by=r.first_confirmed_by_id,
            overdue=r.overdue_at is not None,
        )
        for r in rows
    ]


def _record_for_confirmer(request: HttpRequest, record_id: int) -> ServiceRecord:
    record = get_object_or_404(ServiceRecord.objects.select_related("organization"), pk=record_id)
    if not services.record_may_confirm(request.user, record, second=True):
        require(request.user, "record.confirm", record, request=request)
        raise Http404
    return record


@router.post(
    "/{int:record_id}/confirm",
    response={200: RecordOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def record_confirm(request: HttpRequest, record_id: int) -> RecordOut:
    record = _record_for_confirmer(request, record_id)
    try:
        done = services.record_confirm(record=record, actor=_user(request), request=request)
    except services.RecordRefused as exc:
        raise _refusal(exc) from exc
    return _record_out(done)


class ReasonIn(Schema):
    reason: str


@router.post(
    "/{int:record_id}/reject",
    response={200: RecordOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def record_reject(request: HttpRequest, record_id: int, data: ReasonIn) -> RecordOut:
    record = _record_for_confirmer(request, record_id)
    try:
        done = services.record_reject(
            record=record, actor=_user(request), reason=data.reason, request=request
        )
    except services.RecordRefused as exc:
        raise _refusal(exc) from exc
    return _record_out(done)


class ManualIn(Schema):
    activity: int
    shift: int | None = None
    volunteer: int
    started_at: dt.datetime
    ended_at: dt.datetime
    content: str
    key: str | None = None


@router.post("/manual", response={201: RecordOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut})
def record_manual(request: HttpRequest, data: ManualIn) -> Status:
    """Enter service by hand (a marked kind, never longer than the activity's duration)."""
    from zhiyuan.activities.models import Activity
    from zhiyuan.organizations.services import organization_require

    activity = get_object_or_404(Activity, pk=data.activity)
    organization_require(request.user, "activity.manage", activity.organization, request=request)
    shift = get_object_or_404(activity.shifts, pk=data.shift) if data.shift else None
    person = get_object_or_404(User, pk=data.volunteer)
    try:
        record = services.record_manual_create(
            activity=activity,
            shift=shift,
            volunteer=person,
            started_at=data.started_at,
            ended_at=data.ended_at,
            content=data.content,
            actor=_user(request),
            key=data.key,
            request=request,
        )
    except services.RecordRefused as exc:
        raise _refusal(exc) from exc
    return Status(201, _record_out(record))


# --- corrections ------------------------------------------------------------------------------


class CorrectionIn(Schema):
    reason: str
    started_at: dt.datetime
    ended_at: dt.datetime
    content: str = ""


class CorrectionOut(Schema):
    id: int
    record: int
    status: str
    reason: str
    started_at: dt.datetime
    ended_at: dt.datetime
    decision_note: str
    new_record: int | None


def _correction_out(c: CorrectionRequest) -> CorrectionOut:
    return CorrectionOut(
        id=c.pk,
        record=c.record_id,
        status=c.status,
        reason=c.reason,
        started_at=c.started_at,
        ended_at=c.ended_at,
        decision_note=c.decision_note,
        new_record=c.new_record_id,
    )


@router.post(
    "/{int:record_id}/corrections",
    response={201: CorrectionOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def correction_request(request: HttpRequest, record_id: int, data: CorrectionIn) -> Status:
    """Ask for my confirmed record to be corrected, saying why."""
    record = get_object_or_404(ServiceRecord, pk=record_id, volunteer=request.user)
    try:
        correction = services.correction_request(
            record=record, actor=_user(request), request=request, **data.dict()
        )
    except services.RecordRefused as exc:
        raise _refusal(exc) from exc
    return Status(201, _correction_out(correction))


@router.get("/corrections", response={200: list[CorrectionOut], 403: ErrorOut})
def corrections_pending(request: HttpRequest) -> list[CorrectionOut]:
    require(request.user, "activity.manage", request=request)
    return [_correction_out(c) for c in selectors.corrections_pending(_organised_org_ids(request))]


def _correction_for_organiser(request: HttpRequest, correction_id: int) -> CorrectionRequest:
    correction = get_object_or_404(
        CorrectionRequest.objects.select_related("record__organization"), pk=correction_id
    )
    if not services.is_organiser(request.user, correction.record.organization):
        require(request.user, "record.confirm", correction.record.organization, request=request)
        raise Http404
    return correction


class NoteIn(Schema):
    note: str = ""


@router.post(
    "/corrections/{int:correction_id}/approve",
    response={200: RecordOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def correction_approve(request: HttpRequest, correction_id: int, data: NoteIn) -> RecordOut:
    correction = _correction_for_organiser(request, correction_id)
    try:
        record = services.correction_approve(
            correction=correction, actor=_user(request), note=data.note, request=request
        )
    except services.RecordRefused as exc:
        raise _refusal(exc) from exc
    return _record_out(record)


@router.post(
    "/corrections/{int:correction_id}/reject",
    response={200: CorrectionOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def correction_reject(request: HttpRequest, correction_id: int, data: NoteIn) -> CorrectionOut:
    correction = _correction_for_organiser(request, correction_id)
    try:
        done = services.correction_reject(
            correction=correction, actor=_user(request), note=data.note, request=request
        )
    except services.RecordRefused as exc:
        raise _refusal(exc) from exc
    return _correction_out(done)


# --- certificates -----------------------------------------------------------------------------


class CertificateIn(Schema):
    organization: int
    period_start: dt.date
    period_end: dt.date


class CertificateOut(Schema):
    id: int
    number: str
    short_code: str
    organization: str
    period_start: dt.date
    period_end: dt.date
    hours: float
    records: int
    issued_at: dt.datetime
    stands: bool
    standing: str
    revoked_at: dt.datetime | None
    revoke_note: str  # the issuer's own note (shown to the volunteer, never publicly)
    pdf: str
    verify: str


def _certificate_out(c: Certificate) -> CertificateOut:
    standing = services.certificate_standing(c)
    return CertificateOut(
        id=c.pk,
        number=c.number,
        short_code=c.short_code,
        organization=c.organization_name,
        period_start=c.period_start,
        period_end=c.period_end,
        hours=c.hours,
        records=c.record_count,
        issued_at=c.issued_at,
        stands=standing.stands,
        standing=standing.reason,
        revoked_at=c.revoked_at,
        revoke_note=c.revoke_reason,
        pdf=f"/api/v1/records/certificates/{c.pk}/pdf",
        verify=f"/records/verify/{c.short_code}/",
    )


@router.get("/certificates", response={200: list[CertificateOut], 403: ErrorOut})
def certificates_mine(request: HttpRequest) -> list[CertificateOut]:
    require(request.user, "record.own", request=request)
    return [_certificate_out(c) for c in selectors.certificates_of(request.user)]


@router.post(
    "/certificates", response={201: CertificateOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
)
def certificate_issue(request: HttpRequest, data: CertificateIn) -> Status:
    """Issue, free, a certificate of my confirmed service with one organisation."""
    org = get_object_or_404(Organization, pk=data.organization)
    try:
        certificate = services.certificate_issue(
            volunteer=_user(request),
            organization=org,
            period_start=data.period_start,
            period_end=data.period_end,
            actor=_user(request),
            request=request,
        )
    except services.RecordRefused as exc:
        raise _refusal(exc) from exc
    return Status(201, _certificate_out(certificate))


@router.get("/certificates/{int:certificate_id}/pdf", response={403: ErrorOut, 404: ErrorOut})
def certificate_pdf(request: HttpRequest, certificate_id: int) -> HttpResponse:
    require(request.user, "record.own", request=request)
    certificate = get_object_or_404(Certificate, pk=certificate_id, volunteer=request.user)
    from zhiyuan.records.pdf import certificate_response

    return certificate_response(request, certificate)


class VerifyOut(Schema):
    number: str
    volunteer: str  # masked
    volunteer_number: str
    document: str  # masked
    organization: str
    period_start: dt.date
    period_end: dt.date
    hours: float
    issued_at: dt.datetime
    stands: bool
    standing: str


@router.get("/verify/{code}", auth=None, response={200: VerifyOut, 404: ErrorOut})
def certificate_verify(request: HttpRequest, code: str) -> VerifyOut:
    """Public: is this certificate genuine, and does it still stand (if not, why, in plain
    words)? Opened by the verification code only; masked data only."""
    certificate = selectors.certificate_by_code(code)  # never by the (consecutive) number
    if certificate is None:
        raise Http404
    standing = services.certificate_standing(certificate)
    return VerifyOut(
        number=certificate.number,
        volunteer=mask_name(certificate.volunteer_name),
        volunteer_number=certificate.volunteer_number,
        document=certificate.masked_document,
        organization=certificate.organization_name,
        period_start=certificate.period_start,
        period_end=certificate.period_end,
        hours=certificate.hours,
        issued_at=certificate.issued_at,
        stands=standing.stands,
        standing=standing.reason,
    )


# --- the region -------------------------------------------------------------------------------


class FlagRateOut(Schema):
    organization: int
    name: str
    records: int
    flagged: int
    overdue: int
    rate: float


@router.get("/flag-rates", response={200: list[FlagRateOut], 403: ErrorOut})
def flag_rates(request: HttpRequest, days: int = 90) -> list[FlagRateOut]:
    """Per organisation of my region: how many records the anomaly checks flagged."""
    from django.utils import timezone

    require(request.user, "record.flags", request=request)
    since = timezone.now() - dt.timedelta(days=max(1, min(days, 3650)))
    return [
        FlagRateOut(
            organization=r.organization.pk,
            name=r.organization.name,
            records=r.records,
            flagged=r.flagged,
            overdue=r.overdue,
            rate=r.rate,
        )
        for r in selectors.record_flag_rates(region_scopes(request.user, "record.flags"), since)
    ]


class RuleIn(Schema):
    """Fields left out keep the value that applies now."""

    rounding_unit: int | None = None
    rounding_mode: str | None = None
    daily_cap_minutes: int | None = None
    confirm_days: int | None = None
    auto_confirm_clean: bool | None = None
    checkout_grace_minutes: int | None = None
    star_hours: list[int] | None = None
    star_min_months: list[int] | None = None
    far_checkin_m: int | None = None
    burst_seconds: int | None = None
    burst_count: int | None = None
    note: str = ""


class RuleValuesOut(Schema):
    rounding_unit: int
    rounding_mode: str
    daily_cap_minutes: int
    confirm_days: int
    auto_confirm_clean: bool
    checkout_grace_minutes: int
    star_hours: list[int]
    star_min_months: list[int]
    far_checkin_m: int
    burst_seconds: int
    burst_count: int


class RuleOut(Schema):
    region: str
    applies_from: str  # the region whose rules apply ("" : the national defaults)
    version: int  # of the region's own rules (0: none of its own)
    values: RuleValuesOut


class RuleVersionOut(Schema):
    version: int
    values: dict[str, Any]
    changes: dict[str, list[Any]]
    note: str
    changed_at: dt.datetime
    changed_by: int | None


def _rule_region(request: HttpRequest, region_code: str) -> Region:
    region = get_object_or_404(Region, pk=region_code)
    require(request.user, "record.rules", region, request=request)
    return region


def _rule_out(region: Region) -> RuleOut:
    from zhiyuan.records.models import RecordRule

    applied = services.record_rules_for(region)
    own = RecordRule.objects.filter(region=region).values_list("version", flat=True).first()
    return RuleOut(
        region=region.pk,
        applies_from=applied.region_code,
        version=own or 0,
        values=RuleValuesOut(**services.rule_values(applied)),
    )


@router.get("/rules/{region_code}", response={200: RuleOut, 403: ErrorOut, 404: ErrorOut})
def rules_get(request: HttpRequest, region_code: str) -> RuleOut:
    """The recording rules that apply in a region, and where they come from."""
    return _rule_out(_rule_region(request, region_code))


@router.put(
    "/rules/{region_code}", response={200: RuleOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
)
def rules_set(request: HttpRequest, region_code: str, data: RuleIn) -> RuleOut:
    """Set a region's recording rules (rounding, daily cap, deadline, forgotten check-out,
    star thresholds and months, anomaly thresholds): a new version, audited."""
    region = _rule_region(request, region_code)
    values = data.dict()
    note = values.pop("note")
    services.record_rule_set(
        region=region, actor=_user(request), note=note, request=request, **values
    )
    return _rule_out(region)


@router.get(
    "/rules/{region_code}/versions",
    response={200: list[RuleVersionOut], 403: ErrorOut, 404: ErrorOut},
)
def rules_versions(request: HttpRequest, region_code: str) -> list[RuleVersionOut]:
    """Every version of the region's own rules, newest first: values, changes, who and why."""
    region = _rule_region(request, region_code)
    return [
        RuleVersionOut(
            version=v.version,
            values=v.values,
            changes=v.changes,
            note=v.note,
            changed_at=v.changed_at,
            changed_by=v.changed_by_id,
        )
        for v in selectors.rule_versions(region.pk)
    ]


# --- certificates, for their issuers ----------------------------------------------------------


class IssuedOut(Schema):
    id: int
    number: str
    organization: int
    volunteer: str  # masked
    period_start: dt.date
    period_end: dt.date
    hours: float
    issued_at: dt.datetime
    stands: bool
    standing: str
    revoked_at: dt.datetime | None
    revoke_category: str
    revoke_note: str


def _issued_out(c: Certificate) -> IssuedOut:
    standing = services.certificate_standing(c)
    return IssuedOut(
        id=c.pk,
        number=c.number,
        organization=c.organization_id,
        volunteer=mask_name(c.volunteer_name),
        period_start=c.period_start,
        period_end=c.period_end,
        hours=c.hours,
        issued_at=c.issued_at,
        stands=standing.stands,
        standing=standing.reason,
        revoked_at=c.revoked_at,
        revoke_category=c.revoke_category,
        revoke_note=c.revoke_reason,
    )


@router.get("/certificates/issued", response={200: list[IssuedOut], 403: ErrorOut})
def certificates_issued(request: HttpRequest, q: str = "") -> list[IssuedOut]:
    """Certificates my organisations issued (region admins: every issuer of their region)."""
    org_ids = _organised_org_ids(request)
    codes = region_scopes(request.user, "certificate.revoke")
    if not org_ids and codes == []:
        require(request.user, "certificate.revoke", request=request)
    return [_issued_out(c) for c in selectors.certificates_issued(org_ids, codes, q[:40])[:200]]


class RevokeIn(Schema):
    category: str
    note: str = ""


@router.post(
    "/certificates/{int:certificate_id}/revoke",
    response={200: IssuedOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def certificate_revoke(request: HttpRequest, certificate_id: int, data: RevokeIn) -> IssuedOut:
    """Revoke a certificate with a reason (``RevokeReason``: shown publicly in plain words)
    and a note (not public). Issuing organisation's admins or the region's."""
    certificate = get_object_or_404(
        Certificate.objects.select_related("organization"), pk=certificate_id
    )
    if not services.certificate_may_revoke(request.user, certificate):
        # Certificate ids are consecutive: outsiders get the answer of one that does not exist.
        raise Http404
    try:
        done = services.certificate_revoke(
            certificate=certificate,
            actor=_user(request),
            category=data.category,
            note=data.note,
            request=request,
        )
    except services.RecordRefused as exc:
        raise _refusal(exc) from exc
    return _issued_out(done)
