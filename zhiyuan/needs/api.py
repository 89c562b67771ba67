"""Needs API (/api/v1/needs): the same loop as the pages, for app clients.

Outsiders get 404 for a need they may not see; a role that may not act gets 403; an action the
need's state or the person's part does not allow gets 409 with a message, and nothing changes;
bad input gets 422 naming the fields.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import File, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import LimitOffsetPagination, paginate

from zhiyuan.accounts.models import User
from zhiyuan.core.api import ApiError, ErrorOut
from zhiyuan.core.permissions import has_perm, record_refusal, region_scopes, require
from zhiyuan.needs import selectors, services
from zhiyuan.needs.models import Need, NeedPhoto, NeedRating, NeedTimeBank
from zhiyuan.needs.states import NEXT_STEP, IllegalTransition, NeedState, Party
from zhiyuan.needs.timebank import TimeBankRefused
from zhiyuan.organizations.models import Organization
from zhiyuan.organizations.services import OperationRefused
from zhiyuan.regions.models import Region

router = Router(tags=["needs"])


def _invalid(exc: ValidationError) -> ApiError:
    fields = (
        {k: [m for e in v for m in e.messages] for k, v in exc.error_dict.items()}
        if hasattr(exc, "error_dict")
        else {"__all__": exc.messages}
    )
    return ApiError(422, "invalid", " ".join(m for messages in fields.values() for m in messages))


def _run(call: Any) -> Any:
    """Run a service and turn its refusals into the API's errors."""
    try:
        return call()
    except TimeBankRefused as exc:
        # Not enough credit 409, not a registered relative or under the age right 403, …
        raise ApiError(exc.status, exc.refusal_code, exc.text) from exc
    except IllegalTransition as exc:
        raise ApiError(409, exc.code, exc.message) from exc
    except OperationRefused as exc:
        record_refusal(exc)
        party = "organization" if exc.refusal.organization_id else "volunteer"
        raise ApiError(403, f"{party}_{exc.refusal.code}", exc.refusal.message) from exc
    except ValidationError as exc:
        raise _invalid(exc) from exc


def _need(request: HttpRequest, need_id: int) -> Need:
    need = selectors.need_detail(need_id)
    if need is None or not selectors.need_can_view(request.user, need):
        raise Http404
    return need


# --- schemas -----------------------------------------------------------------------------------


class CategoryOut(Schema):
    id: int
    code: str
    name: str


class CategoryGroupOut(Schema):
    id: int
    code: str
    name: str
    items: list[CategoryOut]


class RegionOut(Schema):
    code: str
    name: str


class TimeBankOut(Schema):
    minutes: int
    status: str
    status_label: str
    for_relative: bool


class NeedOut(Schema):
    id: int
    state: str
    state_label: str
    next_step: str
    urgency: str
    category: CategoryOut
    description: str
    region: RegionOut
    asap: bool
    window_start: dt.datetime | None
    window_end: dt.datetime | None
    people_needed: int
    places_taken: int
    contact_visible: bool
    address: str
    phone: str
    lat: float | None
    lng: float | None
    health_details: str | None
    posted_for_someone_else: bool
    reason: str
    completion_note: str
    submitted_at: dt.datetime
    your_part: str | None
    rating: int | None
    # A time-bank request: its volunteers earn time credit. The credit spent (``time_bank``)
    # is shown to the member, the person helped and the dispatchers only.
    earns_time_credit: bool
    time_bank: TimeBankOut | None


def need_out(user: Any, need: Need) -> NeedOut:
    parties = selectors.need_parties(user, need)
    shown = selectors.need_contact_for(user, need, parties)
    contact = shown.visible
    mine = need.assignments.filter(volunteer=user).first() if user.is_authenticated else None
    state = NeedState(need.state)
    show_reason = Party.POSTER in parties or Party.DISPATCHER in parties
    rating = NeedRating.objects.filter(need=need).values_list("score", flat=True).first()
    spent = NeedTimeBank.objects.filter(need=need).first()
    return NeedOut(
        id=need.pk,
        state=state.value,
        state_label=str(state.label),
        next_step=str(NEXT_STEP[state]),
        urgency=need.urgency,
        category=CategoryOut(id=need.category.pk, code=need.category.code, name=str(need.category)),
        description=need.description,
        region=RegionOut(code=need.region_id, name=need.region.name),
        asap=need.asap,
        window_start=need.window_start,
        window_end=need.window_end,
        people_needed=need.people_needed,
        places_taken=selectors.holding_count(need),
        contact_visible=contact,
        address=shown.address,
        phone=shown.phone,
        lat=need.lat if contact else need.approx_lat,
        lng=need.lng if contact else need.approx_lng,
        health_details=shown.health if contact else None,
        posted_for_someone_else=need.is_proxy,
        reason=need.reason if show_reason else "",
        completion_note=need.completion_note
        if state in (NeedState.COMPLETED, NeedState.RATED)
        else "",
        submitted_at=need.submitted_at,
        your_part=mine.state if mine else None,
        rating=rating,
        earns_time_credit=spent is not None,
        time_bank=TimeBankOut(
            minutes=spent.minutes,
            status=spent.status,
            status_label=str(spent.get_status_display()),
            for_relative=spent.relative_id is not None,
        )
        if spent is not None and show_reason
        else None,
    )


class NeedIn(Schema):
    community: str
    category: int
    description: str
    urgency: str = "routine"
    window_start: dt.datetime | None = None
    window_end: dt.datetime | None = None
    people_needed: int = 1
    address: str = ""
    lat: float | None = None
    lng: float | None = None
    use_my_phone: bool = True
    contact_phone: str = ""
    skills: list[str] = []
    qualifications: list[str] = []
    health_details: str = ""
    photos_allowed: bool = False
    for_someone_else: bool = False
    beneficiary_name: str = ""
    beneficiary_phone: str = ""
    proxy_relation: str = "self"
    # A time-bank request: minutes of your credit to spend (0: none), for yourself or for one
    # of your registered relatives (GET /ledger/relatives).
    timebank_minutes: int = 0
    timebank_relative: int | None = None


class ReasonIn(Schema):
    reason: str = ""


class DispatchIn(Schema):
    volunteers: list[int] = []
    organization: int | None = None
    open_to_teams: bool = False
    note: str = ""


class GrabIn(Schema):
    organization: int


class LocationIn(Schema):
    lat: float | None = None
    lng: float | None = None


class CompleteIn(LocationIn):
    note: str


class RateIn(Schema):
    score: int
    tags: list[str] = []
    comment: str = ""


class BatchIn(Schema):
    needs: list[int]


class BatchOut(Schema):
    need: int
    dispatched_to: list[int]
    problem: str


class CandidateOut(Schema):
    user_id: int
    volunteer_number: str
    name: str
    score: float
    distance_km: float | None
    reasons: list[str]


class NoteIn(Schema):
    note: str


class PhotoOut(Schema):
    id: int
    content_type: str
    uploaded_at: dt.datetime
    url: str


def photo_out(photo: NeedPhoto) -> PhotoOut:
    return PhotoOut(
        id=photo.pk,
        content_type=photo.content_type,
        uploaded_at=photo.uploaded_at,
        url=f"/api/v1/needs/{photo.need_id}/photos/{photo.pk}",
    )


class RecordOrganizationIn(Schema):
    region: str
    organization: int | None = None


class RecordOrganizationOut(Schema):
    region: str
    organization_id: int | None
    organization_name: str
    in_force_id: int | None
    in_force_name: str


class FollowUpOut(Schema):
    id: int
    need: int
    score: int
    comment: str
    rated_at: dt.datetime


# --- endpoints ---------------------------------------------------------------------------------

ERRORS = {403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


@router.get("/categories", response=list[CategoryGroupOut])
def categories(request: HttpRequest, community: str = "") -> list[CategoryGroupOut]:
    """The two-level taxonomy as residents of ``community`` see it."""
    return [
        CategoryGroupOut(
            id=top.pk,
            code=top.code,
            name=str(top),
            items=[CategoryOut(id=c.pk, code=c.code, name=str(c)) for c in items],
        )
        for top, items in selectors.category_tree(community or None)
    ]


@router.post("", response={201: NeedOut, **ERRORS})
def submit(request: HttpRequest, payload: NeedIn) -> Status[NeedOut]:
    user = cast(User, request.user)
    data = payload.dict()
    data["region"] = data.pop("community")
    need = _run(
        lambda: services.need_submit(poster=user, posting=services.Posting(**data), request=request)
    )
    return Status(201, need_out(user, need))


@router.get("/mine", response=list[NeedOut])
@paginate(LimitOffsetPagination)
def mine(request: HttpRequest) -> Any:
    user = request.user
    return [need_out(user, n) for n in selectors.need_list_posted_by(user)[:200]]


@router.get("/queue", response={200: list[NeedOut], 403: ErrorOut})
@paginate(LimitOffsetPagination)
def queue(
    request: HttpRequest,
    state: str = "open",
    area: str = "",
    category: int | None = None,
    urgency: str = "",
    older_than_hours: int | None = None,
    overdue: bool = False,
) -> Any:
    require(request.user, "need.dispatch", request=request)
    codes = region_scopes(request.user, "need.dispatch")
    filters = selectors.QueueFilters(area, category, urgency, older_than_hours, state, overdue)
    rows = selectors.need_queue(codes, filters)[:500]
    return [need_out(request.user, n) for n in rows]


@router.get("/offers", response={200: list[NeedOut], 403: ErrorOut})
def offers(request: HttpRequest) -> list[NeedOut]:
    require(request.user, "need.serve", request=request)
    data = selectors.need_offers_for(request.user)
    needs = [a.need for a in data["offered"]] + data["team"] + [a.need for a in data["holding"]]
    return [need_out(request.user, n) for n in needs]


@router.get("/dashboard", response={200: dict[str, Any], 403: ErrorOut})
def dashboard(request: HttpRequest, area: str = "", days: int = 30) -> dict[str, Any]:
    """The centre's figures (also what the dashboard page draws)."""
    from dataclasses import asdict

    require(request.user, "need.dashboard", request=request)
    codes = region_scopes(request.user, "need.dashboard")
    until = timezone.now()
    board = selectors.need_dashboard(
        codes, area=area, since=until - dt.timedelta(days=max(1, min(days, 3660))), until=until
    )
    return asdict(board)


@router.post("/batch", response={200: list[BatchOut], 403: ErrorOut})
def batch(request: HttpRequest, payload: BatchIn) -> list[BatchOut]:
    require(request.user, "need.dispatch", request=request)
    needs = [
        n
        for n in Need.objects.filter(pk__in=payload.needs)
        if has_perm(request.user, "need.dispatch", n)
    ]
    outcomes = services.need_dispatch_batch(
        needs=needs, actor=cast(User, request.user), request=request
    )
    return [
        BatchOut(need=o.need.pk, dispatched_to=[u.pk for u in o.dispatched_to], problem=o.problem)
        for o in outcomes
    ]


@router.get("/follow-ups", response={200: list[FollowUpOut], 403: ErrorOut})
def followups(request: HttpRequest) -> list[FollowUpOut]:
    require(request.user, "need.dispatch", request=request)
    rows = selectors.followups_open(region_scopes(request.user, "need.dispatch"))
    return [
        FollowUpOut(id=r.pk, need=r.need_id, score=r.score, comment=r.comment, rated_at=r.rated_at)
        for r in rows
    ]


@router.post("/follow-ups/{rating_id}/close", response={200: FollowUpOut, **ERRORS})
def followup_close(request: HttpRequest, rating_id: int, payload: NoteIn) -> FollowUpOut:
    rating = get_object_or_404(NeedRating.objects.select_related("need"), pk=rating_id)
    if not has_perm(request.user, "need.dispatch", rating.need):
        raise Http404
    r = _run(
        lambda: services.need_follow_up_close(
            rating=rating, actor=cast(User, request.user), note=payload.note, request=request
        )
    )
    return FollowUpOut(
        id=r.pk, need=r.need_id, score=r.score, comment=r.comment, rated_at=r.rated_at
    )


def _record_organization_out(region: Region) -> RecordOrganizationOut:
    from zhiyuan.needs.models import NeedPolicy

    own = NeedPolicy.objects.filter(region=region).select_related("record_organization").first()
    named = own.record_organization if own is not None else None
    in_force = selectors.record_organization_of(region.code)
    return RecordOrganizationOut(
        region=region.code,
        organization_id=named.pk if named else None,
        organization_name=named.name if named else "",
        in_force_id=in_force.pk if in_force else None,
        in_force_name=in_force.name if in_force else "",
    )


def _policy_region(request: HttpRequest, code: str) -> Region:
    region = Region.objects.filter(code=code).first()
    if region is None:
        raise ApiError(422, "invalid", _("There is no such region."))
    require(request.user, "need.policy", region, request=request)
    return region


@router.get(
    "/record-organization", response={200: RecordOrganizationOut, 403: ErrorOut, 422: ErrorOut}
)
def record_organization(request: HttpRequest, region: str) -> RecordOrganizationOut:
    """The organisation a region names for its civilisation-practice centre, and the one in
    force there (named here or by a region above)."""
    return _record_organization_out(_policy_region(request, region))


@router.put("/record-organization", response={200: RecordOrganizationOut, **ERRORS})
def record_organization_set(
    request: HttpRequest, payload: RecordOrganizationIn
) -> RecordOrganizationOut:
    region = _policy_region(request, payload.region)
    org = get_object_or_404(Organization, pk=payload.organization) if payload.organization else None
    _run(
        lambda: services.need_record_organization_set(
            region=region, organization=org, actor=cast(User, request.user), request=request
        )
    )
    return _record_organization_out(region)


@router.get("/{need_id}", response={200: NeedOut, 404: ErrorOut})
def detail(request: HttpRequest, need_id: int) -> NeedOut:
    return need_out(request.user, _need(request, need_id))


@router.get(
    "/{need_id}/candidates", response={200: list[CandidateOut], 403: ErrorOut, 404: ErrorOut}
)
def candidates(request: HttpRequest, need_id: int) -> list[CandidateOut]:
    need = _need(request, need_id)
    require(request.user, "need.dispatch", need, request=request)
    return [
        CandidateOut(
            user_id=c.volunteer.user_id,
            volunteer_number=c.volunteer.volunteer_number,
            name=c.volunteer.user.name,
            score=c.score,
            distance_km=c.distance_km,
            reasons=[str(r) for r in c.reasons],
        )
        for c in selectors.need_candidates(need)
    ]


def _act(request: HttpRequest, need_id: int, call: Any) -> NeedOut:
    need = _need(request, need_id)
    _run(lambda: call(need, cast(User, request.user)))
    fresh = selectors.need_detail(need.pk)
    assert fresh is not None
    return need_out(request.user, fresh)


@router.post("/{need_id}/review", response={200: NeedOut, **ERRORS})
def review(request: HttpRequest, need_id: int) -> NeedOut:
    return _act(
        request, need_id, lambda n, u: services.need_review(need=n, actor=u, request=request)
    )


@router.post("/{need_id}/reject", response={200: NeedOut, **ERRORS})
def reject(request: HttpRequest, need_id: int, payload: ReasonIn) -> NeedOut:
    return _act(
        request,
        need_id,
        lambda n, u: services.need_reject(need=n, actor=u, reason=payload.reason, request=request),
    )


@router.post("/{need_id}/dispatch", response={200: NeedOut, **ERRORS})
def dispatch(request: HttpRequest, need_id: int, payload: DispatchIn) -> NeedOut:
    org = get_object_or_404(Organization, pk=payload.organization) if payload.organization else None
    people = list(User.objects.filter(pk__in=payload.volunteers))
    if len(people) != len(set(payload.volunteers)):
        raise ApiError(422, "invalid", _("Some of these volunteers do not exist."))
    return _act(
        request,
        need_id,
        lambda n, u: services.need_dispatch(
            need=n,
            actor=u,
            volunteers=people,
            organization=org,
            open_to_teams=payload.open_to_teams,
            note=payload.note,
            request=request,
        ),
    )


@router.post("/{need_id}/grab", response={200: NeedOut, **ERRORS})
def grab(request: HttpRequest, need_id: int, payload: GrabIn) -> NeedOut:
    org = get_object_or_404(Organization, pk=payload.organization)
    return _act(
        request,
        need_id,
        lambda n, u: services.need_grab(need=n, actor=u, organization=org, request=request),
    )


@router.post("/{need_id}/accept", response={200: NeedOut, **ERRORS})
def accept(request: HttpRequest, need_id: int) -> NeedOut:
    return _act(
        request, need_id, lambda n, u: services.need_accept(need=n, volunteer=u, request=request)
    )


@router.post("/{need_id}/decline", response={200: NeedOut, **ERRORS})
def decline(request: HttpRequest, need_id: int, payload: ReasonIn) -> NeedOut:
    return _act(
        request,
        need_id,
        lambda n, u: services.need_decline(
            need=n, volunteer=u, reason=payload.reason, request=request
        ),
    )


@router.post("/{need_id}/withdraw", response={200: NeedOut, **ERRORS})
def withdraw(request: HttpRequest, need_id: int, payload: ReasonIn) -> NeedOut:
    return _act(
        request,
        need_id,
        lambda n, u: services.need_withdraw(
            need=n, volunteer=u, reason=payload.reason, request=request
        ),
    )


@router.post("/{need_id}/return", response={200: NeedOut, **ERRORS})
def return_(request: HttpRequest, need_id: int, payload: ReasonIn) -> NeedOut:
    return _act(
        request,
        need_id,
        lambda n, u: services.need_return(need=n, actor=u, reason=payload.reason, request=request),
    )


@router.post("/{need_id}/start", response={200: NeedOut, **ERRORS})
def start(request: HttpRequest, need_id: int, payload: LocationIn) -> NeedOut:
    return _act(
        request,
        need_id,
        lambda n, u: services.need_start(
            need=n, volunteer=u, lat=payload.lat, lng=payload.lng, request=request
        ),
    )


@router.post("/{need_id}/complete", response={200: NeedOut, **ERRORS})
def complete(request: HttpRequest, need_id: int, payload: CompleteIn) -> NeedOut:
    return _act(
        request,
        need_id,
        lambda n, u: services.need_complete(
            need=n,
            volunteer=u,
            note=payload.note,
            lat=payload.lat,
            lng=payload.lng,
            request=request,
        ),
    )


@router.post("/{need_id}/rate", response={200: NeedOut, **ERRORS})
def rate(request: HttpRequest, need_id: int, payload: RateIn) -> NeedOut:
    return _act(
        request,
        need_id,
        lambda n, u: services.need_rate(
            need=n,
            actor=u,
            score=payload.score,
            tags=payload.tags,
            comment=payload.comment,
            request=request,
        ),
    )


@router.post("/{need_id}/cancel", response={200: NeedOut, **ERRORS})
def cancel(request: HttpRequest, need_id: int, payload: ReasonIn) -> NeedOut:
    return _act(
        request,
        need_id,
        lambda n, u: services.need_cancel(need=n, actor=u, reason=payload.reason, request=request),
    )


@router.post("/{need_id}/photos", response={201: list[PhotoOut], **ERRORS})
def photos_add(
    request: HttpRequest, need_id: int, photos: File[list[UploadedFile]]
) -> Status[list[PhotoOut]]:
    """Photos of the service (multipart, field ``photos``), by the volunteer serving it, where
    the resident allowed photos: JPEG or PNG by their bytes, at most 5 MB each, 6 per
    volunteer. Stored privately; only the people who may see the need can fetch them."""
    need = _need(request, need_id)
    stored = _run(
        lambda: services.need_photos_add(
            need=need, volunteer=cast(User, request.user), photos=photos, request=request
        )
    )
    return Status(201, [photo_out(p) for p in stored])


@router.get("/{need_id}/photos", response={200: list[PhotoOut], 404: ErrorOut})
def photos(request: HttpRequest, need_id: int) -> list[PhotoOut]:
    need = _need(request, need_id)
    return [photo_out(p) for p in NeedPhoto.objects.filter(need=need).order_by("pk")]


@router.get("/{need_id}/photos/{photo_id}", response={404: ErrorOut})
def photo_download(request: HttpRequest, need_id: int, photo_id: int) -> Any:
    """The photo itself, as a download (never shown inline), to those who may see the need."""
    from zhiyuan.organizations.uploads import attachment_response

    need = _need(request, need_id)
    row = get_object_or_404(NeedPhoto, pk=photo_id, need=need)
    extension = (row.file.name or "").rsplit(".", 1)[-1]
    return attachment_response(row.file, row.content_type, f"need-{need.pk}-{row.pk}.{extension}")
