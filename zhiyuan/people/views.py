"""People pages: registering, the volunteer's own profile and rights, guardians, and the
region admin's masked list of volunteers."""

from __future__ import annotations

import json
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from zhiyuan.accounts.models import PhonePurpose, User
from zhiyuan.accounts.otp import CodeRefused, phone_code_send
from zhiyuan.accounts.phones import InvalidPhone
from zhiyuan.core.audit import client_ip
from zhiyuan.core.permissions import region_scopes, require
from zhiyuan.people import selectors, services
from zhiyuan.people.forms import (
    AvailabilityForm,
    PasswordConfirmForm,
    PhoneChangeForm,
    ProfileForm,
    QualificationForm,
    RegistrationForm,
    SkillsForm,
    UnmaskForm,
)
from zhiyuan.people.models import GuardianLink, NoticeKind, ProfileStatus, Qualification
from zhiyuan.regions.views import picked_region, picker_context


def _attach(form: Any, error: ValidationError) -> None:
    """Put a service's field errors on the form; unknown fields become form-wide errors."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            for e in errors:
                form.add_error(field if field in form.fields else None, e.messages[0])
    else:
        for message in error.messages:
            form.add_error(None, message)


def register(request: HttpRequest) -> HttpResponse:
    """Real-name registration on one phone-sized page; 'send code' keeps everything typed."""
    if request.user.is_authenticated:
        return redirect("core:home")
    notice = services.notice_current(NoticeKind.PRIVACY)
    if request.method == "POST" and request.POST.get("action") == "send_code":
        # Only the number matters for sending a code; the rest is kept as typed, unjudged.
        form = RegistrationForm(initial={**request.POST.dict(), "accept_notice": notice.version})
        try:
            phone_code_send(
                phone=request.POST.get("phone", ""),
                purpose=PhonePurpose.REGISTER,
                ip=client_ip(request),
            )
        except (CodeRefused, InvalidPhone) as exc:
            messages.error(request, str(exc))
        else:
            messages.info(request, _("A code was sent by text message. It works for 10 minutes."))
    else:
        form = RegistrationForm(request.POST or None, initial={"accept_notice": notice.version})
    if request.method == "POST" and form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            profile = services.volunteer_register(
                phone=data["phone"],
                code=data["code"],
                name=data["name"],
                document_type=data["document_type"],
                document_number=data["document_number"],
                birth_date=data["birth_date"],
                sex=data["sex"],
                community=picked_region(request.POST),
                password=data["password"],
                accept_notice=notice.version if data["agree"] else 0,
                guardian_phone=data["guardian_phone"],
                guardian_relation=data["guardian_relation"],
                request=request,
            )
        except ValidationError as exc:
            _attach(form, exc)
        else:
            if profile.status == ProfileStatus.AWAITING_GUARDIAN:
                # A minor's account does not work until the guardian agrees: no log-in yet.
                return render(request, "people/awaiting_guardian.html", {"profile": profile})
            login(request, profile.user, backend="zhiyuan.accounts.backends.PhoneBackend")
            messages.success(
                request,
                _("Welcome! Your volunteer number is %(number)s.")
                % {"number": profile.volunteer_number},
            )
            return redirect("people:me")
    community = picked_region(form.data) if form.is_bound else form.initial.get("community", "")
    return render(
        request,
        "people/register.html",
        {"form": form, "notice": notice, **picker_context(community, "community")},
    )


def _me(request: HttpRequest) -> tuple[User, Any]:
    user = cast(User, request.user)
    profile = selectors.profile_of(user)
    if profile is None:
        raise Http404
    return user, profile


@login_required
def me(request: HttpRequest) -> HttpResponse:
    user, profile = _me(request)
    return render(
        request,
        "people/me.html",
        {
            "profile": profile,
            "identity": selectors.identity_of(user),
            "slots": AvailabilityForm(
                initial=AvailabilityForm.initial_for(profile.availability)
            ).grid(),
            "guardians": GuardianLink.objects.filter(minor=user, revoked_at__isnull=True),
        },
    )


@login_required
def profile_edit(request: HttpRequest) -> HttpResponse:
    user, profile = _me(request)
    initial = {
        "max_travel_km": profile.max_travel_km,
        "emergency_ok": profile.emergency_ok,
        "address": profile.address,
        "languages": ", ".join(profile.languages),
        "tags": ", ".join(profile.tags),
        "party_member": profile.party_member,
        "party_organization": profile.party_organization,
        "workplace": profile.workplace,
        "home_lat": profile.home_lat,
        "home_lng": profile.home_lng,
    }
    form = ProfileForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        data["languages"] = ProfileForm.split(data["languages"])
        data["tags"] = ProfileForm.split(data["tags"])
        try:
            services.profile_update(profile=profile, actor=user, request=request, **data)
        except ValidationError as exc:
            _attach(form, exc)
        else:
            messages.success(request, _("Your profile is saved."))
            return redirect("people:me")
    return render(request, "people/form.html", {"form": form, "title": _("Edit my profile")})


@login_required
def skills_edit(request: HttpRequest) -> HttpResponse:
    user, profile = _me(request)
    form = SkillsForm(request.POST or None, initial={"skills": profile.skills.all()})
    if request.method == "POST" and form.is_valid():
        services.profile_update(
            profile=profile, actor=user, skills=form.cleaned_data["skills"], request=request
        )
        messages.success(request, _("Your skills are saved."))
        return redirect("people:me")
    return render(request, "people/form.html", {"form": form, "title": _("My skills")})


@login_required
def availability_edit(request: HttpRequest) -> HttpResponse:
    user, profile = _me(request)
    form = AvailabilityForm(
        request.POST or None, initial=AvailabilityForm.initial_for(profile.availability)
    )
    if request.method == "POST" and form.is_valid():
        services.profile_update(
            profile=profile, actor=user, availability=form.bitmask(), request=request
        )
        messages.success(request, _("Your weekly availability is saved."))
        return redirect("people:me")
    return render(request, "people/availability.html", {"form": form})


@login_required
def qualifications(request: HttpRequest) -> HttpResponse:
    user, profile = _me(request)
    form = QualificationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.qualification_add(
                profile=profile, actor=user, request=request, **form.cleaned_data
            )
        except ValidationError as exc:
            _attach(form, exc)
        else:
            messages.success(request, _("The qualification is added."))
            return redirect("people:qualifications")
    return render(
        request,
        "people/qualifications.html",
        {"form": form, "qualifications": profile.qualifications.all()},
    )


@login_required
@require_POST
def qualification_remove(request: HttpRequest, pk: int) -> HttpResponse:
    user, profile = _me(request)
    qualification = get_object_or_404(Qualification, pk=pk, profile=profile)
    services.qualification_remove(qualification=qualification, actor=user, request=request)
    messages.success(request, _("The qualification is removed."))
    return redirect("people:qualifications")


@login_required
def phone_change(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    form = PhoneChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if request.POST.get("action") == "send_code":
            # The password first: the code must not reach a number on a stranger's say-so.
            if not user.check_password(data["password"]):
                form.add_error("password", _("The password is not right."))
            else:
                try:
                    phone_code_send(
                        phone=data["new_phone"],
                        purpose=PhonePurpose.CHANGE_PHONE,
                        ip=client_ip(request),
                    )
                except (CodeRefused, InvalidPhone) as exc:
                    form.add_error("new_phone", str(exc))
                else:
                    messages.info(request, _("A code was sent to the new number."))
        else:
            try:
                services.phone_change(
                    user=user,
                    password=data["password"],
                    new_phone=data["new_phone"],
                    code=data["code"],
                    request=request,
                )
            except ValidationError as exc:
                _attach(form, exc)
            else:
                messages.success(request, _("Your mobile number is changed."))
                return redirect("people:me")
    return render(request, "people/phone.html", {"form": form})


@login_required
def privacy(request: HttpRequest) -> HttpResponse:
    """Consents, download my data, close my account."""
    user = cast(User, request.user)
    if request.method == "POST":
        try:
            kind = NoticeKind(request.POST.get("kind", NoticeKind.SENSITIVE_HEALTH))
        except ValueError as exc:
            raise Http404 from exc
        try:
            if request.POST.get("action") == "withdraw":
                services.consent_withdraw(user=user, kind=kind, request=request)
                messages.success(request, _("Your consent is withdrawn."))
            else:
                services.consent_give(user=user, kind=kind, request=request)
                messages.success(request, _("Your consent is recorded."))
        except ValidationError as exc:
            messages.error(request, exc.messages[0])
        return redirect("people:privacy")
    return render(
        request,
        "people/privacy.html",
        {"consents": selectors.consents_of(user), "kinds": NoticeKind},
    )


@login_required
def my_data(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    data = services.person_export(user=user, request=request)
    if request.GET.get("format") == "json":
        response = HttpResponse(
            json.dumps(data, ensure_ascii=False, indent=2), content_type="application/json"
        )
        response["Content-Disposition"] = 'attachment; filename="zhiyuan-my-data.json"'
        return response
    return render(request, "people/my_data.html", {"data": data})


@login_required
def close_account(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    form = PasswordConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.person_close(
                user=user, password=form.cleaned_data["password"], request=request
            )
        except ValidationError as exc:
            _attach(form, exc)
        else:
            logout(request)
            messages.success(request, _("Your account is closed and your personal data erased."))
            return redirect("accounts:login")
    return render(request, "people/close.html", {"form": form})


@login_required
def guardian(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    if request.method == "POST":
        link_id = request.POST.get("link", "")
        if not link_id.isdigit():
            raise Http404
        link = get_object_or_404(
            GuardianLink, pk=int(link_id), guardian=user, revoked_at__isnull=True
        )
        if request.POST.get("action") == "withdraw":
            services.guardian_withdraw(guardian=user, link=link, request=request)
            messages.success(request, _("Your consent is withdrawn: their account is paused."))
        else:
            services.guardian_consent(guardian=user, link=link, request=request)
            messages.success(request, _("Thank you: the account now works."))
        return redirect("people:guardian")
    links = GuardianLink.objects.filter(guardian=user, revoked_at__isnull=True).select_related(
        "minor"
    )
    return render(request, "people/guardian.html", {"links": links})


@login_required
def volunteer_list(request: HttpRequest) -> HttpResponse:
    require(request.user, "volunteer.view", request=request)
    codes = region_scopes(request.user, "volunteer.view")
    page = Paginator(selectors.volunteer_rows(codes, request.GET.get("q", "")), 50).get_page(
        request.GET.get("page")
    )
    return render(
        request, "people/volunteer_list.html", {"page": page, "q": request.GET.get("q", "")}
    )


@login_required
def volunteer_detail(request: HttpRequest, number: str) -> HttpResponse:
    codes = region_scopes(request.user, "volunteer.view")
    profile = selectors.volunteer_in_scope(codes, number)
    if profile is None:
        raise Http404  # outside the scope, a volunteer's existence is not for this person
    require(request.user, "volunteer.view", profile, request=request)
    form = UnmaskForm(request.POST or None)
    shown: str | None = None
    if request.method == "POST" and form.is_valid():
        try:
            shown = services.person_unmask(
                actor=cast(User, request.user),
                profile=profile,
                field=form.cleaned_data["field"],
                reason=form.cleaned_data["reason"],
                request=request,
            )
        except ValidationError as exc:
            _attach(form, exc)
    return render(
        request,
        "people/volunteer_detail.html",
        {
            "profile": profile,
            "identity": selectors.identity_of(profile.user),
            "form": form,
            "shown": shown,
        },
    )
