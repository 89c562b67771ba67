"""Organiser pages that sit beside the main activity views: signing a team up together for a
shift, and who cancelled late or did not turn up. Thin: they parse, authorise, call
``services.signup_group`` or a selector of ``activities.teams``, and render."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from zhiyuan.accounts.models import User
from zhiyuan.activities import services, teams
from zhiyuan.activities.models import ActivityStatus, Shift
from zhiyuan.activities.team_results import team_outcome
from zhiyuan.core.permissions import require
from zhiyuan.organizations.models import Organization

PERIODS = (30, 90, 365)


class GroupForm(forms.Form):
    team = forms.ChoiceField(label=_("Team"))
    volunteers = forms.MultipleChoiceField(
        label=_("Members to sign up"),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one member.")},
    )

    def __init__(
        self, *args: Any, teams_: list[Organization], members: list[User], **kw: Any
    ) -> None:
        super().__init__(*args, **kw)
        team = cast(forms.ChoiceField, self.fields["team"])
        team.choices = [(str(t.pk), t.name) for t in teams_]
        chosen = cast(forms.MultipleChoiceField, self.fields["volunteers"])
        chosen.choices = [(str(m.pk), _member_label(m)) for m in members]


def _member_label(user: User) -> str:
    profile = getattr(user, "volunteer", None)
    number = getattr(profile, "volunteer_number", "") if profile is not None else ""
    return f"{user.name} {number}".strip()


def _team(request: HttpRequest, choices: list[Organization]) -> Organization:
    wanted = request.POST.get("team") or request.GET.get("team") or ""
    for team in choices:
        if str(team.pk) == wanted:
            return team
    if wanted:
        raise PermissionDenied  # not a team this person runs
    return choices[0]


@login_required
def team_signup_index(request: HttpRequest) -> HttpResponse:
    """Shifts open for sign-up, to pick one for the team."""
    require(request.user, "activity.manage", request=request)
    query = request.GET.get("q", "")[:60]
    return render(
        request,
        "activities/team_index.html",
        {
            "teams": teams.teams_of(request.user),
            "shifts": list(teams.shifts_open(query=query)[:50]),
            "q": query,
        },
    )


@login_required
def team_signup(request: HttpRequest, shift_id: int) -> HttpResponse:
    """Sign chosen members of my team up for one shift together; each is checked as if
    signing up alone, and those who cannot come are shown with every reason."""
    require(request.user, "activity.manage", request=request)
    shift = (
        Shift.objects.select_related("activity__organization")
        .filter(pk=shift_id, activity__status=ActivityStatus.PUBLISHED)
        .first()
    )
    if shift is None:
        raise Http404
    choices = teams.teams_of(request.user)
    if not choices:
        raise PermissionDenied
    team = _team(request, choices)
    members = teams.team_members(team)
    form = GroupForm(
        request.POST or None,
        initial={"team": str(team.pk)},
        teams_=choices,
        members=members,
    )
    results = None
    if request.method == "POST" and form.is_valid():
        chosen = {int(pk) for pk in form.cleaned_data["volunteers"]}
        people = [m for m in members if m.pk in chosen]
        results = team_outcome(
            services.signup_group(
                shift=shift,
                team=team,
                volunteers=people,
                actor=cast(User, request.user),
                request=request,
            ),
            shift,
            team,
        )
        form = GroupForm(initial={"team": str(team.pk)}, teams_=choices, members=members)
    held = teams.team_signups(shift, members)
    return render(
        request,
        "activities/team_signup.html",
        {
            "shift": shift,
            "team": team,
            "teams": choices,
            "form": form,
            "results": results,
            "held": [(m, held[m.pk]) for m in members if m.pk in held],
            "started": shift.starts_at <= timezone.now(),
        },
    )


@login_required
def attendance(request: HttpRequest) -> HttpResponse:
    """Who cancelled late or did not turn up in my organisations' shifts, most first."""
    require(request.user, "activity.manage", request=request)
    try:
        days = int(request.GET.get("days", 90))
    except ValueError:
        days = 90
    days = days if days in PERIODS else 90
    since = timezone.now() - dt.timedelta(days=days)
    return render(
        request,
        "activities/attendance.html",
        {
            "attendance": teams.attendance_of(teams.organised_ids(request.user), since),
            "days": days,
            "periods": PERIODS,
        },
    )
