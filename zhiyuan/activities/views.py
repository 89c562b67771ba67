"""Activity pages: finding and joining (phone first), check-in, and the organiser's rosters.

Views parse, authorise, call a service and render. Refusals show the reasons the services
give, in the reader's language.
"""

from __future__ import annotations

from typing import Any, cast

import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from zhiyuan.accounts.models import User
from zhiyuan.activities import forms, qr, selectors, services
from zhiyuan.activities.models import (
    Activity,
    ActivityStatus,
    Shift,
    Signup,
    SignupStatus,
)
from zhiyuan.activities.timebank import activity_timebank_item_set, activity_timebank_price
from zhiyuan.core.permissions import organization_scopes, require
from zhiyuan.organizations.models import Organization
from zhiyuan.organizations.selectors import organization_descendant_ids
from zhiyuan.organizations.services import OperationRefused, organization_require
from zhiyuan.people.models import VolunteerProfile
from zhiyuan.safeguards.selectors import agreement_current_version


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _form_errors(form: Any, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            target = field if field in form.fields else None
            for error in errors:
                form.add_error(target, error)
    else:
        for message in exc.messages:
            form.add_error(None, message)


# --- finding and joining ----------------------------------------------------------------------


@login_required
def activity_browse(request: HttpRequest) -> HttpResponse:
    """Activities near my home point (or in my organisations), nearest first."""
    require(request.user, "activity.join", request=request)
    form = forms.BrowseForm(request.GET or None)
    profile = VolunteerProfile.objects.filter(user=_user(request)).first()
    filters: dict[str, Any] = {}
    if form.is_valid():
        filters = form.cleaned_data
    near = None
    if profile is not None and profile.home_lat is not None and profile.home_lng is not None:
        near = (profile.home_lat, profile.home_lng)
    km = filters.get("km") or (profile.max_travel_km if profile else 10)
    day = filters.get("day")
    skill = filters.get("skill")
    rows = selectors.activity_browse(
        near=near,
        max_km=km if near and not filters.get("mine") else None,
        organization_ids=(
            selectors.member_organization_ids(request.user) if filters.get("mine") else None
        ),
        day_from=day,
        day_to=day,
        skill=skill.code if skill else "",
        kind=filters.get("kind") or "",
    )
    return render(
        request,
        "activities/browse.html",
        {"form": form, "rows": rows, "near": near, "km": km},
    )


def _activity_for(request: HttpRequest, activity_id: int) -> Activity:
    activity = selectors.activity_detail(activity_id)
    if activity is None:
        raise Http404
    if activity.status == ActivityStatus.DRAFT and not services.organiser_may(
        request.user, activity
    ):
        raise Http404
    return activity


@login_required
def activity_detail(request: HttpRequest, activity_id: int) -> HttpResponse:
    """An activity with its shifts; for each upcoming shift, my place or why I cannot join."""
    activity = _activity_for(request, activity_id)
    user = _user(request)
    now = timezone.now()
    shifts = [s for s in activity.shifts.all() if s.ends_at > now][:12]
    mine = {
        s.shift_id: s
        for s in Signup.objects.filter(shift__in=shifts, volunteer=user).exclude(
            status__in=[SignupStatus.CANCELLED, SignupStatus.REJECTED, SignupStatus.LAPSED]
        )
    }
    rows = []
    for shift in shifts:
        reasons = []
        if shift.pk not in mine:
            reasons = services.signup_eligibility(shift=shift, volunteer=user, at=now)
        rows.append({"shift": shift, "signup": mine.get(shift.pk), "reasons": reasons})
    agreement = None
    if activity.needs_agreement and activity.agreement is not None:
        agreement = agreement_current_version(activity.agreement)
    return render(
        request,
        "activities/detail.html",
        {
            "activity": activity,
            "rows": rows,
            "agreement": agreement,
            "organiser": services.organiser_may(user, activity),
            "reason_labels": services.agreement_reason_labels(activity.agreement_reasons or []),
            "timebank": activity_timebank_price(activity),
        },
    )


@login_required
@require_POST
def agreement_accept(request: HttpRequest, activity_id: int) -> HttpResponse:
    from zhiyuan.safeguards.services import agreement_accept as accept

    activity = _activity_for(request, activity_id)
    if activity.agreement is None:
        raise Http404
    version = agreement_current_version(activity.agreement)
    if version is None:
        raise Http404
    try:
        accept(version=version, user=_user(request), subject=activity.key, request=request)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("You accepted the agreement."))
    return redirect("activities:detail", activity.pk)


@login_required
@require_POST
def signup_create(request: HttpRequest, shift_id: int) -> HttpResponse:
    shift = get_object_or_404(Shift.objects.select_related("activity"), pk=shift_id)
    if shift.activity.status == ActivityStatus.DRAFT:
        raise Http404
    try:
        signup = services.signup_create(shift=shift, volunteer=_user(request), request=request)
    except services.SignupRefused as exc:
        for reason in exc.reasons:
            messages.error(request, reason.message)
    else:
        text = {
            SignupStatus.CONFIRMED: _("You have a place. See you there!"),
            SignupStatus.PENDING: _("Your sign-up waits for the organiser's approval."),
            SignupStatus.WAITLISTED: _(
                "The shift is full: you are on the waitlist and will be offered a freed seat."
            ),
        }.get(SignupStatus(signup.status), _("Signed up."))
        messages.success(request, text)
    return redirect("activities:detail", shift.activity_id)


@login_required
def signups_mine(request: HttpRequest) -> HttpResponse:
    require(request.user, "activity.join", request=request)
    now = timezone.now()
    signups = list(selectors.signups_of(request.user)[:200])
    upcoming = [s for s in signups if s.shift.ends_at > now and s.status != SignupStatus.CANCELLED]
    past = [s for s in signups if s not in upcoming]
    me = _user(request).pk
    counts = selectors.reliability_of([me])[me]
    return render(
        request,
        "activities/mine.html",
        {"upcoming": upcoming, "past": past[:50], "counts": counts, "now": now},
    )


def _own_signup(request: HttpRequest, signup_id: int) -> Signup:
    return get_object_or_404(
        Signup.objects.select_related("shift__activity"), pk=signup_id, volunteer=request.user
    )


@login_required
@require_POST
def signup_cancel(request: HttpRequest, signup_id: int) -> HttpResponse:
    signup = _own_signup(request, signup_id)
    form = forms.ReasonForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        done = services.signup_cancel(
            signup=signup, actor=_user(request), reason=reason, request=request
        )
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        if done.late_cancel:
            messages.warning(
                request,
                _("Cancelled. It was less notice than the organiser asks, so it counts as late."),
            )
        else:
            messages.success(request, _("Cancelled. Thank you for telling the organiser."))
    return redirect("activities:mine")


@login_required
@require_POST
def offer_answer(request: HttpRequest, signup_id: int, answer: str) -> HttpResponse:
    signup = _own_signup(request, signup_id)
    try:
        if answer == "accept":
            services.signup_offer_accept(signup=signup, actor=_user(request), request=request)
            messages.success(request, _("The seat is yours."))
        else:
            services.signup_offer_decline(signup=signup, actor=_user(request), request=request)
            messages.success(request, _("You declined the seat; it goes to the next person."))
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    return redirect("activities:mine")


# --- check-in ---------------------------------------------------------------------------------


@login_required
def scan(request: HttpRequest) -> HttpResponse:
    """What a phone opens after scanning the organiser's code: check in or out with it."""
    require(request.user, "activity.join", request=request)
    user = _user(request)
    if request.method == "POST":
        form = forms.ScanForm(request.POST)
        if form.is_valid():
            code, action = form.cleaned_data["code"], form.cleaned_data["action"]
            try:
                if action == "out":
                    result = services.checkout_scan(volunteer=user, code=code, request=request)
                    text = _("Checked out at %(when)s. Thank you!")
                    moment = result.session.checked_out_at
                else:
                    result = services.checkin_scan(volunteer=user, code=code, request=request)
                    text = _("Checked in at %(when)s.")
                    moment = result.session.checked_in_at
            except services.CheckinRefused as exc:
                form.add_error("code", exc.reason.message)
            else:
                assert moment is not None
                messages.success(
                    request, text % {"when": timezone.localtime(moment).strftime("%H:%M")}
                )
                return redirect("activities:mine")
    else:
        code = request.GET.get("c", "")
        form = forms.ScanForm(initial={"code": code, "action": "in"})
    shift = None
    session = None
    parsed = qr.parse(form["code"].value() or "")
    if parsed is not None:
        shift = Shift.objects.select_related("activity").filter(pk=parsed[0]).first()
        if shift is not None:
            session = selectors.session_of(shift, user)
    return render(
        request, "activities/scan.html", {"form": form, "shift": shift, "session": session}
    )


@login_required
def checkin_here(request: HttpRequest, shift_id: int) -> HttpResponse:
    """Check in or out by position (the page's script asks the browser for it)."""
    require(request.user, "activity.join", request=request)
    shift = get_object_or_404(Shift.objects.select_related("activity"), pk=shift_id)
    user = _user(request)
    if not Signup.objects.filter(shift=shift, volunteer=user).exists():
        raise Http404
    form = forms.HereForm(request.POST or None, initial={"action": "in", "datum": "wgs84"})
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            located = services.checkout_geo if data["action"] == "out" else services.checkin_geo
            try:
                located(
                    volunteer=user,
                    shift=shift,
                    lat=data["lat"],
                    lng=data["lng"],
                    datum=data["datum"],
                    accuracy_m=data.get("accuracy"),
                    request=request,
                )
            except services.CheckinRefused as exc:
                messages.error(request, exc.reason.message)
            else:
                messages.success(request, _("Done: your position was inside the place's radius."))
                return redirect("activities:mine")
        else:
            messages.error(
                request, _("Your phone did not give a position. Allow location, or scan the code.")
            )
    return render(
        request,
        "activities/here.html",
        {"shift": shift, "session": selectors.session_of(shift, user), "form": form},
    )


# --- the organiser ----------------------------------------------------------------------------


def _organised_ids(request: HttpRequest) -> list[int]:
    ids: list[int] = []
    for pk in organization_scopes(request.user, "activity.manage"):
        org = Organization.objects.filter(pk=pk).first()
        if org is not None:
            ids += [pk, *organization_descendant_ids(org)]
    return ids


def _organised(request: HttpRequest) -> Any:
    return Organization.objects.filter(pk__in=_organised_ids(request)).order_by("name")


@login_required
def manage(request: HttpRequest) -> HttpResponse:
    require(request.user, "activity.manage", request=request)
    ids = _organised_ids(request)
    return render(
        request,
        "activities/manage.html",
        {
            "activities": selectors.activities_of_organizations(ids)[:100],
            "understaffed": selectors.shifts_understaffed(ids),
        },
    )


@login_required
def project_new(request: HttpRequest) -> HttpResponse:
    require(request.user, "activity.manage", request=request)
    form = forms.ProjectForm(request.POST or None, organizations=_organised(request))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        targets = {k: data[k] for k in ("people_served", "service_hours") if data.get(k)}
        try:
            services.project_create(
                organization=data["organization"],
                title=data["title"],
                goal=data["goal"],
                starts_on=data["starts_on"],
                ends_on=data["ends_on"],
                beneficiaries=data["beneficiaries"],
                targets=targets,
                priority_tags=[t for t in data["priority_tags"].replace("，", ",").split(",")],
                actor=_user(request),
                request=request,
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("Project created."))
            return redirect("activities:manage")
    return render(request, "activities/project_form.html", {"form": form})


@login_required
def activity_new(request: HttpRequest) -> HttpResponse:
    require(request.user, "activity.manage", request=request)
    form = forms.ActivityForm(request.POST or None, organizations=_organised(request))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            activity = services.activity_create(
                organization=data["organization"],
                project=data["project"],
                actor=_user(request),
                title=data["title"],
                description=data["description"],
                risks=data["risks"],
                activity_type=data["activity_type"],
                region=data["region"],
                place_name=data["place_name"],
                lat=data["lat"],
                lng=data["lng"],
                datum=data["datum"],
                checkin_radius_m=data["checkin_radius_m"],
                allow_far_checkin=data["allow_far_checkin"],
                shifts=[
                    services.ShiftSpec(
                        data["starts_at"],
                        data["ends_at"],
                        data["capacity"],
                        min_staff=data.get("min_staff") or 0,
                    )
                ],
                recurrence=data["recurrence"],
                repeat_until=data["repeat_until"],
                approval=data["approval"],
                skills=data["skills"],
                qualifications=data["qualifications"],
                min_age=data["min_age"],
                no_minors=data["no_minors"],
                insurance_required=data["insurance_required"],
                emergency=data["emergency"],
                time_bank=data["time_bank"],
                timebank_item=data["timebank_item"],
                agreement_marked=data["agreement_marked"],
                high_risk=data["high_risk"],
                large_scale=data["large_scale"],
                outside_city=data["outside_city"],
                foreign_participants=data["foreign_participants"],
                request=request,
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("Saved as a draft. Publish it when it is ready."))
            return redirect("activities:manage_activity", activity.pk)
    return render(request, "activities/activity_form.html", {"form": form})


def _organised_activity(request: HttpRequest, activity_id: int) -> Activity:
    activity = get_object_or_404(Activity.objects.select_related("organization"), pk=activity_id)
    organization_require(request.user, "activity.manage", activity.organization, request=request)
    return activity


@login_required
def manage_activity(request: HttpRequest, activity_id: int) -> HttpResponse:
    from zhiyuan.safeguards.selectors import insurance_uncovered

    activity = _organised_activity(request, activity_id)
    shifts = list(activity.shifts.all())
    counts = {
        row["shift_id"]: row
        for row in Signup.objects.filter(shift__in=shifts)
        .values("shift_id")
        .annotate(
            coming=_count(SignupStatus.CONFIRMED),
            waiting=_count(SignupStatus.WAITLISTED),
            pending=_count(SignupStatus.PENDING),
        )
    }
    uncovered = []
    if activity.status == ActivityStatus.PUBLISHED:
        upcoming = [
            u
            for u in selectors.upcoming_for_insurance([activity.organization_id])
            if u.key.startswith(activity.key + ":")
        ]
        uncovered = [r for r in insurance_uncovered(upcoming) if r.uncovered]
    return render(
        request,
        "activities/manage_activity.html",
        {
            "activity": activity,
            "shifts": [(s, counts.get(s.pk, {})) for s in shifts],
            "uncovered": uncovered,
            "reason_labels": services.agreement_reason_labels(activity.agreement_reasons or []),
            "cancel_form": forms.ReasonForm(),
        },
    )


@login_required
def activity_timebank_item(request: HttpRequest, activity_id: int) -> HttpResponse:
    """The organiser names the time-bank service item an existing activity provides."""
    activity = _organised_activity(request, activity_id)
    form = forms.TimeBankItemForm(
        request.POST or None,
        region_code=activity.region_id,
        initial={"timebank_item": activity.timebank_item},
    )
    if request.method == "POST" and form.is_valid():
        try:
            activity_timebank_item_set(
                activity=activity,
                actor=_user(request),
                timebank_item=form.cleaned_data["timebank_item"],
                request=request,
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("Saved: records confirmed from now on use this."))
            return redirect("activities:detail", activity.pk)
    return render(
        request,
        "activities/timebank_item.html",
        {"activity": activity, "form": form, "timebank": activity_timebank_price(activity)},
    )


def _count(status: str) -> Any:
    from django.db.models import Count, Q

    return Count("id", filter=Q(status=status))


@login_required
@require_POST
def activity_publish(request: HttpRequest, activity_id: int) -> HttpResponse:
    activity = _organised_activity(request, activity_id)
    try:
        services.activity_publish(activity=activity, actor=_user(request), request=request)
    except OperationRefused as exc:
        messages.error(request, exc.refusal.message)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("Published: volunteers can now sign up."))
    return redirect("activities:manage_activity", activity.pk)


@login_required
@require_POST
def activity_cancel(request: HttpRequest, activity_id: int) -> HttpResponse:
    activity = _organised_activity(request, activity_id)
    form = forms.ReasonForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        services.activity_cancel(
            activity=activity, actor=_user(request), reason=reason, request=request
        )
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("The activity is cancelled and everyone was released."))
    return redirect("activities:manage_activity", activity.pk)


def _organised_shift(request: HttpRequest, shift_id: int) -> Shift:
    shift = get_object_or_404(Shift.objects.select_related("activity__organization"), pk=shift_id)
    organization_require(
        request.user, "activity.manage", shift.activity.organization, request=request
    )
    return shift


@login_required
def roster(request: HttpRequest, shift_id: int) -> HttpResponse:
    """Who is coming, who waits, who is here; mark people without a phone."""
    shift = _organised_shift(request, shift_id)
    people = selectors.shift_roster(shift)
    coming = [
        (s, people.sessions.get(s.volunteer_id), people.reliability[s.volunteer_id])
        for s in people.coming
    ]
    return render(
        request, "activities/roster.html", {"shift": shift, "roster": people, "coming": coming}
    )


@login_required
def roster_live(request: HttpRequest, shift_id: int) -> HttpResponse:
    """The live check-ins, a fragment the roster page refreshes by itself."""
    shift = _organised_shift(request, shift_id)
    return render(
        request,
        "activities/_live.html",
        {"shift": shift, "sessions": selectors.shift_live(shift), "now": timezone.now()},
    )


@login_required
@require_POST
def roster_mark(
    request: HttpRequest, shift_id: int, volunteer_id: int, action: str
) -> HttpResponse:
    shift = _organised_shift(request, shift_id)
    person = get_object_or_404(User, pk=volunteer_id)
    mark = {"in": services.checkin_roster, "out": services.checkout_roster}.get(action)
    if mark is None:
        raise Http404
    try:
        mark(shift=shift, volunteer=person, actor=_user(request), request=request)
    except services.CheckinRefused as exc:
        messages.error(request, exc.reason.message)
    else:
        messages.success(request, _("Marked."))
    return redirect("activities:roster", shift.pk)


@login_required
@require_POST
def signup_decide(request: HttpRequest, signup_id: int, decision: str) -> HttpResponse:
    signup = get_object_or_404(Signup.objects.select_related("shift__activity"), pk=signup_id)
    organization_require(
        request.user, "activity.manage", signup.shift.activity.organization, request=request
    )
    form = forms.ReasonForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        if decision == "approve":
            services.signup_approve(signup=signup, actor=_user(request), request=request)
        else:
            services.signup_reject(
                signup=signup, actor=_user(request), reason=reason, request=request
            )
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    return redirect("activities:roster", signup.shift_id)


def _qr_context(request: HttpRequest, shift: Shift) -> dict[str, Any]:
    now = timezone.now()
    code = services.checkin_code(shift, now)
    url = request.build_absolute_uri(f"/activities/scan/?c={code}")
    svg = segno.make(url, error="m").svg_inline(scale=6, border=2, title=_("Check-in code"))
    return {
        "shift": shift,
        "code": code,
        "url": url,
        "svg": svg,
        "seconds_left": qr.seconds_left(now.timestamp()),
    }


@login_required
def qr_page(request: HttpRequest, shift_id: int) -> HttpResponse:
    """The organiser's phone shows this to the volunteers; the code renews every 30 s."""
    shift = _organised_shift(request, shift_id)
    return render(request, "activities/qr.html", _qr_context(request, shift))


@login_required
def qr_code(request: HttpRequest, shift_id: int) -> HttpResponse:
    """The code itself, a fragment the QR page fetches again every few seconds (htmx)."""
    shift = _organised_shift(request, shift_id)
    return render(request, "activities/_qr.html", _qr_context(request, shift))
