"""Activities API: finding and joining activities, the waitlist, rosters and check-in.

A refused sign-up answers 422 with ``code: "signup_refused"`` and every reason in
``reasons`` (each with its own code). A refused check-in answers 422 with the reason's code
(``expired``, ``forged``, ``other_shift``, ``too_far``…). Check-in and check-out are
idempotent: the first call answers 201, a retry or a doubled scan 200 with the same session.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, TypeVar, cast

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status
from ninja.errors import AuthenticationError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.responses import NinjaJSONEncoder
from pydantic import ValidationError as PydanticValidationError

from zhiyuan.accounts.models import User
from zhiyuan.activities import geo, qr, selectors, services
from zhiyuan.activities.models import Activity, ServiceSession, Shift, Signup
from zhiyuan.activities.team_results import member_reason, team_outcome
from zhiyuan.activities.timebank import activity_timebank_item_set, activity_timebank_price
from zhiyuan.core import quick_lane
from zhiyuan.core.api import AUTH, ApiError, ErrorOut
from zhiyuan.core.masking import mask_name
from zhiyuan.core.permissions import require
from zhiyuan.core.quick_lane import JSON_TYPE
from zhiyuan.organizations.models import Organization
from zhiyuan.organizations.services import OperationRefused, organization_require
from zhiyuan.people.models import Skill
from zhiyuan.regions.models import Region

router = Router(tags=["activities"])
SchemaT = TypeVar("SchemaT", bound=Schema)


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


class ReasonOut(Schema):
    code: str
    message: str


class RefusedOut(Schema):
    code: str
    message: str
    reasons: list[ReasonOut]


class ShiftOut(Schema):
    id: int
    role: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    capacity: int
    seats_left: int


class ActivityOut(Schema):
    id: int
    title: str
    organization: str
    organization_id: int
    activity_type: str
    place_name: str
    lat: float
    lng: float
    status: str
    emergency: bool
    time_bank: bool
    timebank_item: str = ""
    distance_km: float | None = None
    next_shift: ShiftOut | None = None
    seats_left: int = 0


class ActivityDetailOut(ActivityOut):
    description: str
    risks: str
    checkin_radius_m: int
    approval: str
    min_age: int | None
    skills: list[str]
    qualifications: list[str]
    insurance_required: bool
    agreement_reasons: list[str]
    shifts: list[ShiftOut]
    # Minutes of credit one confirmed record deposits when the region prices the activity's
    # service item; null: the minutes served (or not a time-bank activity).
    timebank_item_minutes: int | None = None


def _shift_out(shift: Shift) -> ShiftOut:
    return ShiftOut(
        id=shift.pk,
        role=shift.role,
        starts_at=shift.starts_at,
        ends_at=shift.ends_at,
        capacity=shift.capacity,
        seats_left=shift.seats_left,
    )


def _activity_out(activity: Activity, **extra: Any) -> dict[str, Any]:
    return {
        "id": activity.pk,
        "title": activity.title,
        "organization": activity.organization.name,
        "organization_id": activity.organization_id,
        "activity_type": activity.activity_type,
        "place_name": activity.place_name,
        "lat": activity.lat,
        "lng": activity.lng,
        "status": activity.status,
        "emergency": activity.emergency,
        "time_bank": activity.time_bank,
        "timebank_item": activity.timebank_item,
        **extra,
    }


@router.get("", response={200: list[ActivityOut]})
def activity_list(
    request: HttpRequest,
    lat: float | None = None,
    lng: float | None = None,
    km: float = 10,
    datum: str = geo.WGS84,
    mine: bool = False,
    day_from: dt.date | None = None,
    day_to: dt.date | None = None,
    skill: str = "",
    kind: str = "",
) -> list[ActivityOut]:
    """Open activities near a point (nearest first) and/or in my organisations."""
    near = None
    if lat is not None and lng is not None:
        if datum not in geo.DATUMS or not geo.valid_point(lat, lng):
            raise ApiError(422, "bad_position", "lat/lng/datum")
        near = geo.to_wgs84(lat, lng, datum)
    rows = selectors.activity_browse(
        near=near,
        max_km=km if near else None,
        organization_ids=selectors.member_organization_ids(request.user) if mine else None,
        day_from=day_from,
        day_to=day_to,
        skill=skill,
        kind=kind,
    )
    return [
        ActivityOut(
            **_activity_out(
                r.activity,
                distance_km=r.distance_km,
                next_shift=_shift_out(r.next_shift) if r.next_shift else None,
                seats_left=r.seats_left,
            )
        )
        for r in rows
    ]


def _visible_activity(request: HttpRequest, activity_id: int) -> Activity:
    activity = selectors.activity_detail(activity_id)
    if activity is None:
        raise Http404
    if activity.status == "draft" and not services.organiser_may(request.user, activity):
        raise Http404  # a draft is the organiser's alone
    return activity


@router.get("/{int:activity_id}", response={200: ActivityDetailOut, 404: ErrorOut})
def activity_get(request: HttpRequest, activity_id: int) -> ActivityDetailOut:
    activity = _visible_activity(request, activity_id)
    shifts = list(activity.shifts.all())
    price = activity_timebank_price(activity)
    return ActivityDetailOut(
        **_activity_out(activity),
        description=activity.description,
        risks=activity.risks,
        checkin_radius_m=activity.checkin_radius_m,
        approval=activity.approval,
        min_age=activity.effective_min_age,
        skills=[s.code for s in activity.skills.all()],
        qualifications=list(activity.qualifications or []),
        insurance_required=activity.insurance_required,
        agreement_reasons=list(activity.agreement_reasons or []),
        shifts=[_shift_out(s) for s in shifts],
        timebank_item_minutes=price.minutes if price is not None else None,
    )


class ShiftIn(Schema):
    starts_at: dt.datetime
    ends_at: dt.datetime
    capacity: int
    role: str = ""
    min_staff: int = 0


class ActivityIn(Schema):
    organization: int
    title: str
    region: str
    place_name: str
    lat: float
    lng: float
    datum: str = geo.WGS84
    shifts: list[ShiftIn]
    project: int | None = None
    description: str = ""
    risks: str = ""
    activity_type: str = "general"
    category: str = ""
    recurrence: str = "once"
    repeat_until: dt.date | None = None
    checkin_radius_m: int = 200
    allow_far_checkin: bool = False
    approval: str = "automatic"
    skills: list[str] = []
    qualifications: list[str] = []
    min_age: int | None = None
    no_minors: bool = False
    insurance_required: bool = True
    emergency: bool = False
    time_bank: bool = False
    timebank_item: str = ""  # a service item code priced for the region (or above)
    agreement_marked: bool = False
    high_risk: bool = False
    large_scale: bool = False
    outside_city: bool = False
    foreign_participants: bool = False


def _organisation(request: HttpRequest, org_id: int) -> Organization:
    org = Organization.objects.filter(pk=org_id).first()
    if org is None:
        raise Http404
    organization_require(request.user, "activity.manage", org, request=request)
    return org


@router.post("", response={201: ActivityDetailOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut})
def activity_create(request: HttpRequest, data: ActivityIn) -> Status:
    """A draft activity of one of my organisations (publish it next)."""
    org = _organisation(request, data.organization)
    region = get_object_or_404(Region, pk=data.region)
    project = None
    if data.project is not None:
        project = get_object_or_404(org.projects, pk=data.project)
    fields = data.dict(exclude={"organization", "region", "project", "shifts", "skills"})
    activity = services.activity_create(
        organization=org,
        actor=_user(request),
        region=region,
        project=project,
        shifts=[services.ShiftSpec(**s.dict()) for s in data.shifts],
        skills=list(Skill.objects.filter(code__in=data.skills)),
        request=request,
        **fields,
    )
    return Status(201, activity_get(request, activity.pk))


@router.post(
    "/{int:activity_id}/publish",
    response={200: ActivityDetailOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def activity_publish(request: HttpRequest, activity_id: int) -> ActivityDetailOut:
    activity = get_object_or_404(Activity, pk=activity_id)
    try:
        services.activity_publish(activity=activity, actor=_user(request), request=request)
    except OperationRefused as exc:
        raise ApiError(403, f"organization_{exc.refusal.code}", exc.refusal.message) from exc
    return activity_get(request, activity_id)


class TimeBankItemIn(Schema):
    timebank_item: str = ""  # a service item code priced for the region (or above); "": hours


@router.put(
    "/{int:activity_id}/timebank-item",
    response={200: ActivityDetailOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def activity_timebank_item(
    request: HttpRequest, activity_id: int, data: TimeBankItemIn
) -> ActivityDetailOut:
    """Name (or clear) the time-bank service item the activity provides."""
    activity = get_object_or_404(Activity.objects.select_related("organization"), pk=activity_id)
    activity_timebank_item_set(
        activity=activity, actor=_user(request), timebank_item=data.timebank_item, request=request
    )
    return activity_get(request, activity_id)


class ReasonIn(Schema):
    reason: str = ""


@router.post(
    "/{int:activity_id}/cancel",
    response={200: ActivityDetailOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def activity_cancel(request: HttpRequest, activity_id: int, data: ReasonIn) -> ActivityDetailOut:
    activity = get_object_or_404(Activity, pk=activity_id)
    services.activity_cancel(
        activity=activity, actor=_user(request), reason=data.reason, request=request
    )
    return activity_get(request, activity_id)


class ProjectIn(Schema):
    organization: int
    title: str
    goal: str
    starts_on: dt.date
    ends_on: dt.date
    beneficiaries: str
    targets: dict[str, int] = {}
    priority_tags: list[str] = []


class ProjectOut(Schema):
    id: int
    title: str
    organization_id: int
    starts_on: dt.date
    ends_on: dt.date
    targets: dict[str, int]
    priority_tags: list[str]


@router.post("/projects", response={201: ProjectOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut})
def project_create(request: HttpRequest, data: ProjectIn) -> Status:
    org = _organisation(request, data.organization)
    project = services.project_create(
        organization=org,
        actor=_user(request),
        request=request,
        **data.dict(exclude={"organization"}),
    )
    return Status(
        201,
        ProjectOut(
            id=project.pk,
            title=project.title,
            organization_id=org.pk,
            starts_on=project.starts_on,
            ends_on=project.ends_on,
            targets=project.targets,
            priority_tags=project.priority_tags,
        ),
    )


# --- sign-up ----------------------------------------------------------------------------------


def _open_shift(request: HttpRequest, shift_id: int) -> Shift:
    shift = Shift.objects.select_related("activity__organization").filter(pk=shift_id).first()
    if shift is None or (
        shift.activity.status == "draft"
        and not services.organiser_may(request.user, shift.activity)
    ):
        raise Http404
    return shift


@router.get("/shifts/{int:shift_id}/eligibility", response={200: list[ReasonOut], 404: ErrorOut})
def shift_eligibility(request: HttpRequest, shift_id: int) -> list[ReasonOut]:
    """Every reason I cannot take a seat now (empty: I can)."""
    require(request.user, "activity.join", request=request)
    shift = _open_shift(request, shift_id)
    reasons = services.signup_eligibility(shift=shift, volunteer=_user(request))
    return [ReasonOut(code=r.code, message=r.message) for r in reasons]


class SignupIn(Schema):
    waitlist: bool = True


class SignupOut(Schema):
    id: int
    shift: int
    activity: int
    activity_title: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    status: str
    offer_expires_at: dt.datetime | None
    late_cancel: bool


def _signup_out(s: Signup) -> SignupOut:
    return SignupOut(
        id=s.pk,
        shift=s.shift_id,
        activity=s.shift.activity_id,
        activity_title=s.shift.activity.title,
        starts_at=s.shift.starts_at,
        ends_at=s.shift.ends_at,
        status=s.status,
        offer_expires_at=s.offer_expires_at,
        late_cancel=s.late_cancel,
    )


def _refused(exc: services.SignupRefused) -> Status:
    return Status(
        422,
        RefusedOut(
            code="signup_refused",
            message=" ".join(r.message for r in exc.reasons),
            reasons=[ReasonOut(code=r.code, message=r.message) for r in exc.reasons],
        ),
    )


def _bearer(request: HttpRequest) -> str | None:
    # From META: ``request.headers`` would first copy every header of the request.
    scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _json_body(request: HttpRequest) -> dict[str, Any] | None:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _parse(schema: type[SchemaT], request: HttpRequest) -> SchemaT:
    """The body, as the router would have read it (same 422 ``invalid`` answer)."""
    try:
        return schema.model_validate_json(request.body or b"{}")
    except PydanticValidationError as exc:
        raise NinjaValidationError(
            [{**e, "loc": ["body", "data", *e["loc"]]} for e in exc.errors(include_url=False)]
        ) from exc


def _authenticate(request: HttpRequest) -> None:
    """What the router's authentication does, for an operation that runs it itself after
    its quick path (a bearer token, else the session with its CSRF check)."""
    for method in AUTH:
        if method(request):
            return
    raise AuthenticationError


def _fast_json(status: int, out: dict[str, Any]) -> HttpResponse:
    # Encoded as the router encodes its schemas (the same JSON encoder and content type).
    return JsonResponse(out, encoder=NinjaJSONEncoder, status=status, content_type=JSON_TYPE)


def _quick_openapi(schema: type[Schema]) -> dict[str, Any]:
    return {
        "requestBody": {
            "content": {"application/json": {"schema": schema.model_json_schema()}},
            "required": True,
        },
        "security": [{"TokenAuth": []}, {"SessionAuth": []}],
    }


@quick_lane.route(
    "POST", r"/api/v1/activities/shifts/(?P<shift_id>[0-9]+)/signups", statuses=(201,)
)
def quick_signup(request: HttpRequest, shift_id: int) -> quick_lane.Answer | None:
    """An app's sign-up by bearer token with nothing in the way, in two statements
    (``services.signup_create_by_token``); None when the full way must answer."""
    token, body = _bearer(request), _json_body(request)
    if not token or body is None or not isinstance(body.get("waitlist", True), bool):
        return None
    done = services.signup_create_by_token(
        token=token, shift_id=shift_id, waitlist=body.get("waitlist", True), request=request
    )
    if done is None:
        return None
    return 201, {
        "id": done.signup_id,
        "shift": done.shift_id,
        "activity": done.activity_id,
        "activity_title": done.activity_title,
        "starts_at": done.starts_at,
        "ends_at": done.ends_at,
        "status": done.status,
        "offer_expires_at": None,
        "late_cancel": False,
    }


@router.post(
    "/shifts/{int:shift_id}/signups",
    auth=None,
    response={201: SignupOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: RefusedOut},
    openapi_extra=_quick_openapi(SignupIn),
)
def signup_create(request: HttpRequest, shift_id: int) -> Any:
    """Take a seat, or a place on the waitlist when the shift is full (unless waitlist=false).

    An app's sign-up by bearer token with nothing in the way is made by the quick path
    (``services.signup_create_by_token``); everything else, every refusal included, the full
    way (so the operation authenticates and reads its body itself, after the quick path)."""
    quick = quick_signup(request, shift_id=shift_id)
    if quick is not None:
        return _fast_json(*quick)
    _authenticate(request)
    data = _parse(SignupIn, request)
    shift = _open_shift(request, shift_id)
    try:
        signup = services.signup_create(
            shift=shift, volunteer=_user(request), waitlist=data.waitlist, request=request
        )
    except services.SignupRefused as exc:
        return _refused(exc)
    return Status(201, _signup_out(signup))


class GroupIn(Schema):
    team: int
    volunteers: list[int]


class GroupResultOut(Schema):
    volunteer: int
    status: str | None
    # About the member, by name, for the team admin who signed them up (as the page says it).
    message: str
    reasons: list[ReasonOut]


@router.post(
    "/shifts/{int:shift_id}/group-signups",
    response={200: list[GroupResultOut], 403: ErrorOut, 404: ErrorOut},
)
def signup_group(request: HttpRequest, shift_id: int, data: GroupIn) -> list[GroupResultOut]:
    """A team admin signs team members up together; each one's reasons are reported."""
    shift = _open_shift(request, shift_id)
    team = get_object_or_404(Organization, pk=data.team)
    people = list(User.objects.filter(pk__in=data.volunteers))
    results = services.signup_group(
        shift=shift, team=team, volunteers=people, actor=_user(request), request=request
    )
    told = team_outcome(results, shift, team).members
    return [
        GroupResultOut(
            volunteer=r.volunteer.pk,
            status=r.signup.status if r.signup else None,
            message=member.headline,
            reasons=[
                ReasonOut(code=x.code, message=member_reason(x, r.volunteer, shift, team))
                for x in r.reasons
            ],
        )
        for r, member in zip(results, told, strict=True)
    ]


@router.get("/signups/mine", response={200: list[SignupOut], 403: ErrorOut})
def signups_mine(request: HttpRequest) -> list[SignupOut]:
    require(request.user, "activity.join", request=request)
    return [_signup_out(s) for s in selectors.signups_of(request.user)[:200]]


def _own_signup(request: HttpRequest, signup_id: int) -> Signup:
    # Someone else's sign-up does not exist as far as this person is concerned.
    return get_object_or_404(
        Signup.objects.select_related("shift__activity"), pk=signup_id, volunteer=request.user
    )


def _organised_signup(request: HttpRequest, signup_id: int) -> Signup:
    signup = get_object_or_404(Signup.objects.select_related("shift__activity"), pk=signup_id)
    organization_require(
        request.user, "activity.manage", signup.shift.activity.organization, request=request
    )
    return signup


@router.post(
    "/signups/{int:signup_id}/cancel",
    response={200: SignupOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def signup_cancel(request: HttpRequest, signup_id: int, data: ReasonIn) -> SignupOut:
    """Cancel my sign-up (or, as its organiser, someone's)."""
    signup = Signup.objects.filter(pk=signup_id, volunteer=_user(request)).first()
    if signup is None:
        signup = _organised_signup(request, signup_id)
    done = services.signup_cancel(
        signup=signup, actor=_user(request), reason=data.reason, request=request
    )
    return _signup_out(done)


@router.post(
    "/signups/{int:signup_id}/accept",
    response={200: SignupOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def signup_accept(request: HttpRequest, signup_id: int) -> SignupOut:
    """Take the seat offered to me from the waitlist."""
    signup = _own_signup(request, signup_id)
    return _signup_out(
        services.signup_offer_accept(signup=signup, actor=_user(request), request=request)
    )


@router.post(
    "/signups/{int:signup_id}/decline",
    response={200: SignupOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def signup_decline(request: HttpRequest, signup_id: int) -> SignupOut:
    signup = _own_signup(request, signup_id)
    return _signup_out(
        services.signup_offer_decline(signup=signup, actor=_user(request), request=request)
    )


@router.post(
    "/signups/{int:signup_id}/approve",
    response={200: SignupOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def signup_approve(request: HttpRequest, signup_id: int) -> SignupOut:
    signup = _organised_signup(request, signup_id)
    return _signup_out(
        services.signup_approve(signup=signup, actor=_user(request), request=request)
    )


@router.post(
    "/signups/{int:signup_id}/reject",
    response={200: SignupOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def signup_reject(request: HttpRequest, signup_id: int, data: ReasonIn) -> SignupOut:
    signup = _organised_signup(request, signup_id)
    return _signup_out(
        services.signup_reject(
            signup=signup, actor=_user(request), reason=data.reason, request=request
        )
    )


# --- the organiser's view ---------------------------------------------------------------------


class RosterPersonOut(Schema):
    signup: int
    volunteer: int
    name: str  # masked: the organiser sees the family name and the volunteer number
    volunteer_number: str
    status: str
    team: int | None
    checked_in_at: dt.datetime | None
    checked_out_at: dt.datetime | None
    method: str | None
    late_cancels: int
    no_shows: int


class RosterOut(Schema):
    shift: ShiftOut
    understaffed: bool
    checked_in: int
    coming: list[RosterPersonOut]
    pending: list[RosterPersonOut]
    offered: list[RosterPersonOut]
    waiting: list[RosterPersonOut]


def _organised_shift(request: HttpRequest, shift_id: int) -> Shift:
    shift = get_object_or_404(Shift.objects.select_related("activity__organization"), pk=shift_id)
    organization_require(
        request.user, "activity.manage", shift.activity.organization, request=request
    )
    return shift


@router.get(
    "/shifts/{int:shift_id}/roster", response={200: RosterOut, 403: ErrorOut, 404: ErrorOut}
)
def shift_roster(request: HttpRequest, shift_id: int) -> RosterOut:
    """Who is coming, who waits (in order), who is checked in; late cancels and no-shows."""
    shift = _organised_shift(request, shift_id)
    roster = selectors.shift_roster(shift)

    def person(s: Signup) -> RosterPersonOut:
        session = roster.sessions.get(s.volunteer_id)
        counts = roster.reliability[s.volunteer_id]
        profile = getattr(s.volunteer, "volunteer", None)
        return RosterPersonOut(
            signup=s.pk,
            volunteer=s.volunteer_id,
            name=mask_name(s.volunteer.name),
            volunteer_number=profile.volunteer_number if profile else "",
            status=s.status,
            team=s.team_id,
            checked_in_at=session.checked_in_at if session else None,
            checked_out_at=session.checked_out_at if session else None,
            method=session.checkin_method if session else None,
            late_cancels=counts.late_cancels,
            no_shows=counts.no_shows,
        )

    return RosterOut(
        shift=_shift_out(shift),
        understaffed=roster.understaffed,
        checked_in=roster.checked_in,
        coming=[person(s) for s in roster.coming],
        pending=[person(s) for s in roster.pending],
        offered=[person(s) for s in roster.offered],
        waiting=[person(s) for s in roster.waiting],
    )


class CodeOut(Schema):
    code: str
    seconds_left: int
    window_seconds: int


@router.get("/shifts/{int:shift_id}/code", response={200: CodeOut, 403: ErrorOut, 404: ErrorOut})
def shift_code(request: HttpRequest, shift_id: int) -> CodeOut:
    """The rotating check-in code, for the organiser's own app to show as a QR code."""
    from django.utils import timezone

    shift = _organised_shift(request, shift_id)
    now = timezone.now()
    return CodeOut(
        code=services.checkin_code(shift, now),
        seconds_left=qr.seconds_left(now.timestamp()),
        window_seconds=qr.WINDOW_SECONDS,
    )


# --- check-in and check-out -------------------------------------------------------------------


class CheckIn(Schema):
    """Either the scanned ``code``, or the ``shift`` with a position (``datum`` wgs84 or
    gcj02). ``client_at`` is the phone's own clock when it was offline; the server's rules."""

    code: str | None = None
    shift: int | None = None
    lat: float | None = None
    lng: float | None = None
    datum: str = geo.WGS84
    accuracy_m: float | None = None
    client_at: dt.datetime | None = None


class SessionOut(Schema):
    id: int
    shift: int | None
    checked_in_at: dt.datetime
    checked_out_at: dt.datetime | None
    checkin_method: str
    checkout_method: str
    flags: list[str]


def _session_out(session: ServiceSession) -> SessionOut:
    return SessionOut(
        id=session.pk,
        shift=session.shift_id,
        checked_in_at=session.checked_in_at,
        checked_out_at=session.checked_out_at,
        checkin_method=session.checkin_method,
        checkout_method=session.checkout_method,
        flags=list(session.flags or []),
    )


def _check(request: HttpRequest, data: CheckIn, *, out: bool) -> Status:
    user = _user(request)
    try:
        if data.code:
            scan = services.checkout_scan if out else services.checkin_scan
            result = scan(volunteer=user, code=data.code, client_at=data.client_at, request=request)
        elif data.shift is not None and data.lat is not None and data.lng is not None:
            shift = _open_shift(request, data.shift)
            located = services.checkout_geo if out else services.checkin_geo
            result = located(
                volunteer=user,
                shift=shift,
                lat=data.lat,
                lng=data.lng,
                datum=data.datum,
                accuracy_m=data.accuracy_m,
                client_at=data.client_at,
                request=request,
            )
        else:
            raise ApiError(422, "missing", "code, or shift with lat and lng")
    except services.CheckinRefused as exc:
        raise ApiError(422, exc.reason.code, exc.reason.message) from exc
    return Status(201 if result.created else 200, _session_out(result.session))


@quick_lane.route("POST", r"/api/v1/activities/checkins", statuses=(200, 201))
def quick_checkin(request: HttpRequest) -> quick_lane.Answer | None:
    """A phone app's scan of a code, checked in by one statement (``checkin_scan_by_token``);
    None when that did not check in, and the full path must answer."""
    token, body = _bearer(request), _json_body(request)
    if not token or body is None or not isinstance(body.get("code"), str) or not body["code"]:
        return None
    client_at = None
    if body.get("client_at") is not None:
        try:
            client_at = CheckIn(client_at=body["client_at"]).client_at
        except PydanticValidationError:
            return None
    done = services.checkin_scan_by_token(token=token, code=body["code"], client_at=client_at)
    if done is None:
        return None
    return 201 if done.created else 200, {
        "id": done.session_id,
        "shift": done.shift_id,
        "checked_in_at": done.checked_in_at,
        "checked_out_at": done.checked_out_at,
        "checkin_method": done.checkin_method,
        "checkout_method": done.checkout_method,
        "flags": done.flags,
    }


@router.post(
    "/checkins",
    auth=None,
    response={200: SessionOut, 201: SessionOut, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut},
    openapi_extra=_quick_openapi(CheckIn),
)
def checkin(request: HttpRequest) -> HttpResponse | Status:
    """Check in by the scanned code or by position. Idempotent (201 first, then 200).

    The busiest endpoint (thousands of people at one gate): an app's scan by bearer token is
    first tried in one statement; anything else, and every refusal, goes the full way (so the
    operation authenticates and reads its body itself, after the quick path)."""
    quick = quick_checkin(request)
    if quick is not None:
        return _fast_json(*quick)
    _authenticate(request)
    return _check(request, _parse(CheckIn, request), out=False)


@router.post(
    "/checkouts",
    response={200: SessionOut, 201: SessionOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def checkout(request: HttpRequest, data: CheckIn) -> Status:
    """Check out by the scanned code or by position; makes the service record. Idempotent."""
    return _check(request, data, out=True)


@router.post(
    "/shifts/{int:shift_id}/roster/{int:volunteer_id}/{action}",
    response={200: SessionOut, 201: SessionOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def roster_mark(request: HttpRequest, shift_id: int, volunteer_id: int, action: str) -> Status:
    """The organiser marks a person in or out (``action`` is checkin or checkout)."""
    shift = _organised_shift(request, shift_id)
    person = get_object_or_404(User, pk=volunteer_id)
    mark = {"checkin": services.checkin_roster, "checkout": services.checkout_roster}.get(action)
    if mark is None:
        raise Http404
    try:
        result = mark(shift=shift, volunteer=person, actor=_user(request), request=request)
    except services.CheckinRefused as exc:
        raise ApiError(422, exc.reason.code, exc.reason.message) from exc
    return Status(201 if result.created else 200, _session_out(result.session))


@router.get(
    "/shifts/{int:shift_id}/live", response={200: list[SessionOut], 403: ErrorOut, 404: ErrorOut}
)
def shift_live(request: HttpRequest, shift_id: int) -> list[SessionOut]:
    """The latest check-ins, newest first."""
    shift = _organised_shift(request, shift_id)
    return [_session_out(s) for s in selectors.shift_live(shift)]


# The busiest operations first among this router's URL patterns: Django's resolver tries them
# in order, about 2 µs each in a real request (measured on the check-in: from 20th to 1st of
# the API's patterns, some 40 µs of CPU less a request; zhiyuan/api.py adds this router first
# for the same reason). No other pattern of the router can match their paths.
_BUSIEST = ("/checkins", "/shifts/{int:shift_id}/signups")
router.path_operations = {
    path: router.path_operations[path] for path in _BUSIEST
} | router.path_operations
