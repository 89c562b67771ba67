"""The needs pages, mobile first: posting, following, dispatching, accepting, serving, rating,
and the centre's queue and dashboard. Views parse, call a service or selector, and render."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from zhiyuan.accounts.models import RoleGrant, User
from zhiyuan.core.permissions import (
    has_perm,
    organization_scopes,
    record_refusal,
    region_scopes,
    require,
)
from zhiyuan.needs import charts, selectors, services
from zhiyuan.needs.forms import (
    CategoryForm,
    CompleteForm,
    DashboardForm,
    FollowUpForm,
    LocationForm,
    NeedForm,
    OptionalReasonForm,
    PolicyForm,
    QueueFilterForm,
    RateForm,
    ReasonForm,
    RecordOrganizationForm,
)
from zhiyuan.needs.models import (
    AssignmentState,
    Need,
    NeedCategory,
    NeedPhoto,
    NeedPolicy,
    NeedRating,
    NeedTimeBank,
    Urgency,
)
from zhiyuan.needs.ranking import distance_km, need_ranker
from zhiyuan.needs.states import (
    CANCELLABLE,
    MAIN_PATH,
    NEXT_STEP,
    OPEN,
    UNACCEPTED,
    IllegalTransition,
    NeedState,
    Party,
    step_of,
)
from zhiyuan.organizations.models import Organization
from zhiyuan.organizations.services import OperationRefused
from zhiyuan.people.models import NoticeKind
from zhiyuan.people.services import consent_active
from zhiyuan.regions.models import Region
from zhiyuan.regions.views import picker_context


def _attach(form: Any, error: ValidationError) -> None:
    """Put a service's field errors on the form; unknown fields become form-wide errors."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            for e in errors:
                form.add_error(field if field in form.fields else None, e.messages[0])
    else:
        for message in error.messages:
            form.add_error(None, message)


def _visible_need(request: HttpRequest, pk: int) -> Need:
    """The need, if this person may see it; otherwise 404 (its existence is not theirs)."""
    need = selectors.need_detail(pk)
    if need is None or not selectors.need_can_view(request.user, need):
        raise Http404
    return need


# --- posting and following ---------------------------------------------------------------------


def _home_community(user: Any) -> str:
    grant = (
        RoleGrant.objects.filter(user=user, revoked_at__isnull=True, region__level=5)
        .order_by("granted_at")
        .first()
    )
    return grant.region_id if grant and grant.region_id else ""


@login_required
def need_post(request: HttpRequest) -> HttpResponse:
    """Ask for help in a few taps; community workers and relatives post for someone (代点单)."""
    require(request.user, "need.post", request=request)
    return _post_page(request, timebank=False)


@login_required
def need_post_timebank(request: HttpRequest) -> HttpResponse:
    """Ask for service with one's time-bank credit, for oneself or a registered relative."""
    require(request.user, "need.timebank", request=request)
    return _post_page(request, timebank=True)


def _post_page(request: HttpRequest, *, timebank: bool) -> HttpResponse:
    from zhiyuan.ledger.selectors import balances_of, timebank_beneficiaries

    user = cast(User, request.user)
    community = request.POST.get("community") or _home_community(user)
    tree = selectors.category_tree(community or None)
    # Whom the member may spend credit for, by the rules of the community the need is for
    # (the ledger checks again when it withdraws).
    whom = timebank_beneficiaries(user, community or None) if timebank else None
    form = NeedForm(
        request.POST or None, tree=tree, beneficiaries=whom, initial={"community": community}
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        spend: dict[str, Any] = {}
        if timebank:
            whom = data["timebank_for"]
            spend = {
                "timebank_minutes": data["timebank_minutes"],
                "timebank_relative": None if whom == "self" else int(whom),
                "for_someone_else": False,
            }
        posting = services.Posting(
            region=data["community"],
            category=data["category"],
            description=data["description"],
            urgency=data["urgency"],
            window_start=data["window_start"],
            window_end=data["window_end"],
            people_needed=data["people_needed"],
            address=data["address"],
            lat=data["lat"],
            lng=data["lng"],
            use_my_phone=data["use_my_phone"],
            contact_phone=data["contact_phone"],
            skills=data["skills"],
            qualifications=data["qualifications"],
            health_details=data["health_details"],
            photos_allowed=data["photos_allowed"],
            for_someone_else=data["for_someone_else"],
            beneficiary_name=data["beneficiary_name"],
            beneficiary_phone=data["beneficiary_phone"],
            proxy_relation=data["proxy_relation"] or "self",
        )
        for name, value in spend.items():
            setattr(posting, name, value)
        try:
            need = services.need_submit(poster=user, posting=posting, request=request)
        except ValidationError as exc:
            _attach(form, exc)
        else:
            messages.success(request, _("Your need is posted. The service centre will review it."))
            return redirect("needs:detail", need.pk)
    return render(
        request,
        "needs/post.html",
        {
            "form": form,
            "health_consent": consent_active(user, NoticeKind.SENSITIVE_HEALTH),
            "is_dispatcher": has_perm(user, "need.dispatch", None),
            "timebank": timebank,
            "beneficiaries": whom,
            "balance": balances_of(user)["time_minutes"] if timebank else None,
            "may_spend": has_perm(user, "need.timebank", None),
            **picker_context(community, "community"),
        },
    )


@login_required
def need_mine(request: HttpRequest) -> HttpResponse:
    """The resident's needs (posted by them or for them), each with where it stands."""
    rows = selectors.need_list_posted_by(request.user)
    page = Paginator(rows, 20).get_page(request.GET.get("page"))
    return render(
        request,
        "needs/mine.html",
        {
            "page": page,
            "next_step": NEXT_STEP,
            "can_post": has_perm(request.user, "need.post", None),
        },
    )


def _detail_context(request: HttpRequest, need: Need, **forms: Any) -> dict[str, Any]:
    user = cast(User, request.user)
    parties = selectors.need_parties(user, need)
    shown = selectors.need_contact_for(user, need, parties)
    contact = shown.visible
    mine = next((a for a in need.assignments.all() if a.volunteer_id == user.pk), None)
    holding = [
        a
        for a in need.assignments.all()
        if a.state in (AssignmentState.ACCEPTED, AssignmentState.STARTED, AssignmentState.FINISHED)
    ]
    state = NeedState(need.state)
    is_dispatcher = Party.DISPATCHER in parties
    is_volunteer = Party.VOLUNTEER in parties
    is_poster = Party.POSTER in parties
    via_team = (
        is_volunteer
        and mine is None
        and need.organization_id is not None
        and state in (NeedState.DISPATCHED, NeedState.ACCEPTED)
    )
    offered = mine is not None and mine.state == AssignmentState.OFFERED
    distance = None
    if is_volunteer and need.lat is not None:
        profile = selectors.volunteers_by_user([user.pk]).get(user.pk)
        if profile and profile.home_lat is not None and profile.home_lng is not None:
            distance = distance_km(need.lat, need.lng, profile.home_lat, profile.home_lng)  # type: ignore[arg-type]
    rating = getattr(need, "rating", None) if state == NeedState.RATED else None
    team_orgs = (
        selectors.grabbing_organizations(user, need)
        if (Party.TEAM in parties and need.open_to_teams)
        else []
    )
    return {
        "need": need,
        "state": state,
        "parties": {p.value for p in parties},
        "is_poster": is_poster,
        "is_dispatcher": is_dispatcher,
        "is_volunteer": is_volunteer,
        "contact": contact,
        "address": shown.address,
        "phone": shown.phone,
        "beneficiary_name": shown.name,
        "health": shown.health,
        "has_health": bool(need.health_details),
        "mine": mine,
        "offered": offered,
        "via_team": via_team,
        "holding": holding,
        "distance": distance,
        "next_step": NEXT_STEP[state],
        "cancellable": state in CANCELLABLE,
        "unaccepted": state in UNACCEPTED,
        "is_open": state in OPEN,
        "finished": state in (NeedState.COMPLETED, NeedState.RATED),
        "steps": [(s, s.label, i <= step_of(state)) for i, s in enumerate(MAIN_PATH)],
        "deadline": selectors.need_deadline(need) if (is_dispatcher or is_volunteer) else None,
        "events": list(need.events.all())
        if (is_poster or is_dispatcher or has_perm(user, "need.view", need))
        else [],
        "rating": rating,
        "photos": list(need.photos.all())
        if state in (NeedState.IN_SERVICE, NeedState.COMPLETED, NeedState.RATED)
        else [],
        "team_orgs": team_orgs,
        "time_bank": NeedTimeBank.objects.filter(need=need).first(),
        "reason_form": forms.get("reason_form") or ReasonForm(),
        "decline_form": forms.get("decline_form") or ReasonForm(),
        "cancel_form": forms.get("cancel_form") or OptionalReasonForm(),
        "location_form": LocationForm(),
        "complete_form": forms.get("complete_form") or CompleteForm(),
        "problem": forms.get("problem", ""),
    }


@login_required
def need_detail(request: HttpRequest, pk: int) -> HttpResponse:
    need = _visible_need(request, pk)
    return render(request, "needs/detail.html", _detail_context(request, need))


SUCCESS = {
    "review": gettext_lazy("You took the need for review."),
    "reject": gettext_lazy("The need is rejected; the resident sees your reason."),
    "return": gettext_lazy("The need is back in the queue."),
    "cancel": gettext_lazy("The need is cancelled."),
    "accept": gettext_lazy("You accepted. Thank you! The address and phone are now shown."),
    "decline": gettext_lazy("You declined. The dispatcher will ask someone else."),
    "withdraw": gettext_lazy("You gave up your place; the centre is told."),
    "start": gettext_lazy("Service started. Finish it here when you are done."),
    "complete": gettext_lazy("Thank you! Your service is recorded."),
    "grab": gettext_lazy("Your team took the need. Members can now accept it."),
}


@login_required
@require_POST
def need_act(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """One button on the need's page: run the service, or show why not."""
    if action not in SUCCESS:
        raise Http404
    need = _visible_need(request, pk)
    user = cast(User, request.user)
    bound: dict[str, Any] = {}
    try:
        if action == "review":
            services.need_review(need=need, actor=user, request=request)
        elif action in ("reject", "return"):
            reason_form = bound["reason_form"] = ReasonForm(request.POST)
            if not reason_form.is_valid():
                raise ValidationError(reason_form.errors["reason"][0])
            reason = reason_form.cleaned_data["reason"]
            if action == "reject":
                services.need_reject(need=need, actor=user, reason=reason, request=request)
            else:
                services.need_return(need=need, actor=user, reason=reason, request=request)
        elif action == "cancel":
            cancel_form = bound["cancel_form"] = OptionalReasonForm(request.POST)
            cancel_form.is_valid()
            reason = cancel_form.cleaned_data.get("reason", "")
            services.need_cancel(need=need, actor=user, reason=reason, request=request)
        elif action == "accept":
            services.need_accept(need=need, volunteer=user, request=request)
        elif action in ("decline", "withdraw"):
            decline_form = bound["decline_form"] = ReasonForm(request.POST)
            if not decline_form.is_valid():
                raise ValidationError(decline_form.errors["reason"][0])
            reason = decline_form.cleaned_data["reason"]
            if action == "decline":
                services.need_decline(need=need, volunteer=user, reason=reason, request=request)
            else:
                services.need_withdraw(need=need, volunteer=user, reason=reason, request=request)
        elif action == "start":
            loc = LocationForm(request.POST)
            loc.is_valid()
            services.need_start(
                need=need,
                volunteer=user,
                lat=loc.cleaned_data.get("lat"),
                lng=loc.cleaned_data.get("lng"),
                request=request,
            )
        elif action == "complete":
            form = bound["complete_form"] = CompleteForm(request.POST, request.FILES)
            if not form.is_valid():
                raise ValidationError(next(iter(form.errors.values()))[0])
            services.need_complete(
                need=need,
                volunteer=user,
                note=form.cleaned_data["note"],
                lat=form.cleaned_data.get("lat"),
                lng=form.cleaned_data.get("lng"),
                photos=form.cleaned_data.get("photos") or [],
                request=request,
            )
        elif action == "grab":
            org = get_object_or_404(Organization, pk=request.POST.get("organization") or 0)
            services.need_grab(need=need, actor=user, organization=org, request=request)
    except IllegalTransition as exc:
        fresh = _visible_need(request, pk)
        return render(
            request,
            "needs/detail.html",
            _detail_context(request, fresh, problem=exc.message),
            status=409,
        )
    except OperationRefused as exc:
        record_refusal(exc)  # caught here, so the middleware will not see it
        return render(
            request,
            "needs/detail.html",
            _detail_context(request, need, problem=exc.refusal.message),
            status=403,
        )
    except ValidationError as exc:
        for form in bound.values():
            if hasattr(exc, "error_dict"):
                _attach(form, exc)
        return render(
            request,
            "needs/detail.html",
            _detail_context(request, need, problem=" ".join(exc.messages), **bound),
            status=422,
        )
    messages.success(request, SUCCESS[action])
    if action == "decline":
        return redirect("needs:offers")
    return redirect("needs:detail", pk)


@login_required
def need_rate(request: HttpRequest, pk: int) -> HttpResponse:
    """The resident (or proxy) confirms the service and rates it."""
    need = _visible_need(request, pk)
    form = RateForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            services.need_rate(
                need=need,
                actor=cast(User, request.user),
                score=form.cleaned_data["score"],
                tags=form.cleaned_data["tags"],
                comment=form.cleaned_data["comment"],
                request=request,
            )
        except IllegalTransition as exc:
            form.add_error(None, exc.message)
            status = 409
        except ValidationError as exc:
            _attach(form, exc)
        else:
            messages.success(request, _("Thank you for your rating."))
            return redirect("needs:detail", pk)
    elif request.method == "GET":
        if Party.POSTER not in selectors.need_parties(request.user, need):
            raise PermissionDenied
        if need.state == NeedState.RATED:
            # Rated already: say so at once rather than offer a form that can only be refused.
            messages.info(request, _("You have already rated this service. Thank you."))
            return redirect("needs:detail", pk)
    return render(request, "needs/rate.html", {"need": need, "form": form}, status=status)


@login_required
def need_photo(request: HttpRequest, pk: int, photo: int) -> HttpResponse:
    from zhiyuan.organizations.uploads import attachment_response

    need = _visible_need(request, pk)
    row = get_object_or_404(NeedPhoto, pk=photo, need=need)
    extension = (row.file.name or "").rsplit(".", 1)[-1]
    return attachment_response(row.file, row.content_type, f"need-{need.pk}-{row.pk}.{extension}")


# --- the dispatcher ----------------------------------------------------------------------------


@login_required
def need_queue(request: HttpRequest) -> HttpResponse:
    """The centre's queue: filters, what is overdue and what will be soon, batch dispatch."""
    require(request.user, "need.dispatch", request=request)
    codes = region_scopes(request.user, "need.dispatch")
    areas = selectors.scope_areas(codes)
    tops = [top for top, _ in selectors.category_tree(codes[0] if codes else None)]
    form = QueueFilterForm(request.GET or None, areas=areas, tops=tops)
    filters = selectors.QueueFilters()
    if form.is_valid():
        d = form.cleaned_data
        filters = selectors.QueueFilters(
            area=d["area"] or "",
            category=d["category"],
            urgency=d["urgency"] or "",
            older_than_hours=d["older_than"],
            state=d["state"] or "open",
            overdue=d["overdue"],
        )
    now = timezone.now()
    rows = selectors.need_queue(codes, filters, now)
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    deadlines = selectors.need_deadlines(page.object_list, now)
    overdue = selectors.need_queue(
        codes, selectors.QueueFilters(state="active", overdue=True), now
    ).count()
    return render(
        request,
        "needs/queue.html",
        {
            "form": form,
            "page": page,
            "rows": [(n, deadlines.get(n.pk)) for n in page.object_list],
            "overdue_total": overdue,
            "due_soon_total": sum(1 for d in deadlines.values() if d and d.due_soon),
            "followups": selectors.followups_open(codes).count(),
            "query": request.GET.urlencode(),
        },
    )


@login_required
@require_POST
def need_batch(request: HttpRequest) -> HttpResponse:
    """Dispatch the needs ticked in the queue, each to its best ranked volunteers."""
    require(request.user, "need.dispatch", request=request)
    ids = [int(i) for i in request.POST.getlist("needs") if i.isdigit()]
    needs = [
        n
        for n in Need.objects.filter(pk__in=ids).select_related(
            "category", "category__parent", "region"
        )
        if has_perm(request.user, "need.dispatch", n)
    ]
    if not needs:
        messages.error(request, _("Tick the needs to dispatch first."))
        return redirect("needs:queue")
    outcomes = services.need_dispatch_batch(
        needs=needs, actor=cast(User, request.user), request=request
    )
    done = [o for o in outcomes if o.dispatched_to]
    messages.success(
        request, _("%(n)d of %(m)d needs dispatched.") % {"n": len(done), "m": len(outcomes)}
    )
    for o in outcomes:
        if o.problem:
            messages.warning(
                request, _("Need #%(id)s: %(problem)s") % {"id": o.need.pk, "problem": o.problem}
            )
    return redirect("needs:queue")


@login_required
def need_dispatch(request: HttpRequest, pk: int) -> HttpResponse:
    """Choose who gets the need: ranked volunteers with the reasons, a team, or the area's teams."""
    need = _visible_need(request, pk)
    require(request.user, "need.dispatch", need, request=request)
    user = cast(User, request.user)
    candidates = selectors.need_candidates(need, limit=20)
    lookup = request.GET.get("q", "")
    found = selectors.volunteer_lookup(need, lookup)
    teams = selectors.team_candidates(need)
    policy = selectors.need_policy_for(need.region_id)
    problem = ""
    status = 200
    if request.method == "POST":
        target = request.POST.get("target", "volunteers")
        try:
            if target == "team":
                org = get_object_or_404(Organization, pk=request.POST.get("organization") or 0)
                services.need_dispatch(
                    need=need,
                    actor=user,
                    organization=org,
                    note=request.POST.get("note", ""),
                    request=request,
                )
            elif target == "open":
                services.need_dispatch(
                    need=need,
                    actor=user,
                    open_to_teams=True,
                    note=request.POST.get("note", ""),
                    request=request,
                )
            else:
                ids = [int(i) for i in request.POST.getlist("volunteers") if i.isdigit()]
                chosen = list(User.objects.filter(pk__in=ids))
                ranked = need_ranker().rank(need, list(selectors.volunteers_by_user(ids).values()))
                scores = {c.volunteer.user_id: (c.score, c.reasons) for c in ranked}
                services.need_dispatch(
                    need=need,
                    actor=user,
                    volunteers=chosen,
                    scores=scores,
                    note=request.POST.get("note", ""),
                    request=request,
                )
        except IllegalTransition as exc:
            problem, status = exc.message, 409
        except OperationRefused as exc:
            record_refusal(exc)
            problem, status = exc.refusal.message, 403
        except ValidationError as exc:
            problem, status = " ".join(exc.messages), 422
        else:
            messages.success(request, _("Need #%(id)s is dispatched.") % {"id": need.pk})
            return redirect("needs:queue")
    return render(
        request,
        "needs/dispatch.html",
        {
            "need": need,
            "candidates": candidates,
            "found": found,
            "lookup": lookup,
            "teams": teams,
            "may_open": policy.teams_may_grab,
            "problem": problem,
            "chosen": request.POST.getlist("volunteers"),
            "address": need.address,
            "phone": need.contact_phone,
        },
        status=status,
    )


@login_required
def need_followups(request: HttpRequest) -> HttpResponse:
    require(request.user, "need.dispatch", request=request)
    codes = region_scopes(request.user, "need.dispatch")
    return render(
        request,
        "needs/followups.html",
        {"rows": selectors.followups_open(codes), "form": FollowUpForm()},
    )


@login_required
@require_POST
def need_followup_close(request: HttpRequest, pk: int) -> HttpResponse:
    rating = get_object_or_404(NeedRating.objects.select_related("need"), pk=pk)
    if not has_perm(request.user, "need.dispatch", rating.need):
        raise Http404
    form = FollowUpForm(request.POST)
    if form.is_valid():
        try:
            services.need_follow_up_close(
                rating=rating,
                actor=cast(User, request.user),
                note=form.cleaned_data["note"],
                request=request,
            )
        except (IllegalTransition, ValidationError) as exc:
            messages.error(
                request,
                exc.message if isinstance(exc, IllegalTransition) else " ".join(exc.messages),
            )
        else:
            messages.success(request, _("The follow-up is closed."))
    else:
        messages.error(request, _("Say what was done."))
    return redirect("needs:followups")


@login_required
def need_dashboard(request: HttpRequest) -> HttpResponse:
    """The centre's figures per community and period, with charts drawn on the server (SVG)."""
    require(request.user, "need.dashboard", request=request)
    codes = region_scopes(request.user, "need.dashboard")
    areas = selectors.scope_areas(codes)
    form = DashboardForm(request.GET or None, areas=areas)
    area, days = "", 30
    if form.is_valid():
        area, days = form.cleaned_data["area"] or "", form.cleaned_data["period"] or 30
    until = timezone.now()
    since = until - timedelta(days=days)
    board = selectors.need_dashboard(codes, area=area, since=since, until=until)
    return render(
        request,
        "needs/dashboard.html",
        {
            "form": form,
            "board": board,
            "since": since,
            "until": until,
            "chart_states": charts.bar_chart(
                [(label, n) for _, label, n in board.by_state if n], title=_("Needs by state")
            ),
            "chart_categories": charts.bar_chart(
                board.by_category, title=_("Needs by kind of help")
            ),
            "chart_weeks": charts.column_chart(board.per_week, title=_("Needs posted per week")),
            "chart_durations": charts.bar_chart(
                [
                    (_("to dispatch (median)"), board.to_dispatch.median_hours or 0),
                    (_("to dispatch (p95)"), board.to_dispatch.p95_hours or 0),
                    (_("to acceptance (median)"), board.to_accept.median_hours or 0),
                    (_("to acceptance (p95)"), board.to_accept.p95_hours or 0),
                    (_("to completion (median)"), board.to_complete.median_hours or 0),
                    (_("to completion (p95)"), board.to_complete.p95_hours or 0),
                ]
                if board.to_dispatch and board.to_accept and board.to_complete
                else [],
                title=_("Hours from posting"),
                unit=_("h"),
            ),
        },
    )


# --- the volunteer and the team ----------------------------------------------------------------


@login_required
def need_offers(request: HttpRequest) -> HttpResponse:
    """A volunteer's phone list: offers to answer, places held, and what they served."""
    require(request.user, "need.serve", request=request)
    offers = selectors.need_offers_for(request.user)
    return render(
        request,
        "needs/offers.html",
        {**offers, "quality": selectors.volunteer_quality(request.user)},
    )


@login_required
def need_team(request: HttpRequest) -> HttpResponse:
    """A team admin's view: open needs the team may take, and the needs sent to the team."""
    require(request.user, "need.grab", request=request)
    ids = organization_scopes(request.user, "need.grab")
    orgs = list(Organization.objects.filter(pk__in=ids))
    return render(
        request,
        "needs/team.html",
        {
            "pool": selectors.need_pool_for(request.user),
            "needs": selectors.need_list_for_team(ids)[:50],
            "quality": [(o, selectors.organization_quality(o)) for o in orgs],
        },
    )


# --- the region's settings ---------------------------------------------------------------------


def _admin_region(request: HttpRequest) -> Region:
    codes = region_scopes(request.user, "need.policy") or []
    code = request.GET.get("region") or request.POST.get("region") or (codes[0] if codes else "")
    region = Region.objects.filter(code=code).first()
    if region is None:
        raise Http404
    require(request.user, "need.policy", region, request=request)
    return region


@login_required
def need_settings(request: HttpRequest) -> HttpResponse:
    """A region admin sets time limits, team grabbing and the taxonomy of their region."""
    require(request.user, "need.policy", request=request)
    region = _admin_region(request)
    user = cast(User, request.user)
    policy = selectors.need_policy_for(region.code)
    initial: dict[str, Any] = {
        "teams_may_grab": policy.teams_may_grab,
        "low_rating": policy.low_rating,
    }
    for urgency in Urgency.values:
        limits = selectors.time_limits_for(region.code, urgency)
        initial[f"{urgency}_review"] = int(limits.review.total_seconds() // 60)
        initial[f"{urgency}_accept"] = int(limits.accept.total_seconds() // 60)
        initial[f"{urgency}_start"] = int(limits.start.total_seconds() // 60)
    tree = selectors.category_tree(region.code)
    tops = [top for top, _ in tree]
    is_policy = request.method == "POST" and request.POST.get("form") == "policy"
    is_category = request.method == "POST" and request.POST.get("form") == "category"
    is_centre = request.method == "POST" and request.POST.get("form") == "centre"
    policy_form = PolicyForm(request.POST if is_policy else None, initial=initial)
    category_form = CategoryForm(request.POST if is_category else None, tops=tops)
    own_policy = NeedPolicy.objects.filter(region=region).first()
    centre_form = RecordOrganizationForm(
        request.POST if is_centre else None,
        organizations=selectors.record_organization_choices(region.code),
        initial={"organization": own_policy.record_organization_id if own_policy else None},
    )
    if is_centre and centre_form.is_valid():
        chosen = centre_form.cleaned_data["organization"]
        try:
            services.need_record_organization_set(
                region=region,
                organization=Organization.objects.filter(pk=chosen).first() if chosen else None,
                actor=user,
                request=request,
            )
        except ValidationError as exc:
            _attach(centre_form, exc)
        else:
            messages.success(
                request, _("The rules for needs in %(region)s are saved.") % {"region": region.name}
            )
            return redirect(f"{request.path}?region={region.code}")
    if is_policy and policy_form.is_valid():
        d = policy_form.cleaned_data
        try:
            services.need_policy_set(
                region=region,
                teams_may_grab=d["teams_may_grab"],
                low_rating=d["low_rating"],
                limits={
                    u: (d[f"{u}_review"], d[f"{u}_accept"], d[f"{u}_start"]) for u in Urgency.values
                },
                actor=user,
                request=request,
            )
        except ValidationError as exc:
            _attach(policy_form, exc)
        else:
            messages.success(
                request, _("The rules for needs in %(region)s are saved.") % {"region": region.name}
            )
            return redirect(f"{request.path}?region={region.code}")
    if is_category and category_form.is_valid():
        d = category_form.cleaned_data
        parent = NeedCategory.objects.filter(pk=d["parent"]).first() if d["parent"] else None
        try:
            services.category_save(
                region=region,
                name_zh=d["name_zh"],
                name_en=d["name_en"],
                parent=parent,
                skill_code=d["skill_code"],
                actor=user,
                request=request,
            )
        except ValidationError as exc:
            _attach(category_form, exc)
        else:
            messages.success(request, _("The category is added."))
            return redirect(f"{request.path}?region={region.code}")
    return render(
        request,
        "needs/settings.html",
        {
            "region": region,
            "policy_form": policy_form,
            "category_form": category_form,
            "centre_form": centre_form,
            "centre": selectors.record_organization_of(region.code),
            "tree": tree,
            "own": list(selectors.categories_of_region(region.code)),
            "urgencies": Urgency.choices,
        },
    )


@login_required
@require_POST
def need_category_retire(request: HttpRequest, pk: int) -> HttpResponse:
    category = get_object_or_404(NeedCategory, pk=pk)
    if category.region_id is None or not has_perm(request.user, "need.categories", category):
        raise Http404
    services.category_retire(category=category, actor=cast(User, request.user), request=request)
    messages.success(request, _("The category is retired; needs already posted keep it."))
    return redirect(f"{reverse('needs:settings')}?region={category.region_id}")
