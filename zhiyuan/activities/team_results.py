"""What a team's group sign-up did, told to the organiser about each member.

``services.signup_group`` checks each member as if they signed up alone, so its reasons are
the volunteer's own ("you are not insured…"). The organiser who signed the team up is not the
one refused: this module words each result about the member, by name — who was signed up,
who waits, who was refused and why. The facts behind a reason are read again here (an age, a
policy, a clashing shift); nothing is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from zhiyuan.activities.models import SEAT_HOLDING, Shift, SignupStatus

SIGNED_UP = "signed_up"
AWAITING = "awaiting_approval"
WAITLISTED = "waitlisted"
OFFERED = "offered"
REFUSED = "refused"


@dataclass(frozen=True)
class MemberOutcome:
    """One member's result: what happened (``outcome``), in a sentence naming them, and each
    reason they were not signed up."""

    volunteer: Any
    outcome: str
    headline: str
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TeamOutcome:
    members: list[MemberOutcome]

    def named(self, outcome: str) -> list[str]:
        return [m.volunteer.name for m in self.members if m.outcome == outcome]

    @property
    def summary(self) -> str:
        """One line: how many were signed up, wait, and were not signed up."""
        seated = len(self.named(SIGNED_UP)) + len(self.named(AWAITING)) + len(self.named(OFFERED))
        parts = [_("signed up: %(n)d") % {"n": seated}]
        if waiting := len(self.named(WAITLISTED)):
            parts.append(_("on the waitlist: %(n)d") % {"n": waiting})
        if refused := len(self.named(REFUSED)):
            parts.append(_("not signed up: %(n)d") % {"n": refused})
        return _("%(parts)s.") % {"parts": _(", ").join(parts)}


def _day(shift: Shift) -> dt.date:
    return timezone.localdate(shift.starts_at)


def _when(moment: dt.datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def _not_active(person: Any, shift: Shift, team: Any) -> str:
    from zhiyuan.people.models import VolunteerProfile

    profile = VolunteerProfile.objects.filter(user=person).first()
    status = profile.get_status_display() if profile else "—"
    return _("%(name)s's volunteer registration is not active yet: %(status)s.") % {
        "name": person.name,
        "status": status,
    }


def _sanction(person: Any, shift: Shift, team: Any) -> str:
    from zhiyuan.safeguards.selectors import volunteer_can_serve

    refusal = volunteer_can_serve(person)
    if refusal is None:  # lifted since: say what the check found then
        return _("%(name)s was under a safeguards sanction.") % {"name": person.name}
    # The sanction's number, not its reason: that is the member's business and the region's.
    if refusal.until is not None:
        return _(
            "%(name)s's volunteer service is suspended until %(end)s (sanction no. %(id)d)."
        ) % {"name": person.name, "end": _when(refusal.until), "id": refusal.sanction_id}
    return _("%(name)s is barred from volunteer service here (sanction no. %(id)d).") % {
        "name": person.name,
        "id": refusal.sanction_id,
    }


def _age_unknown(person: Any, shift: Shift, team: Any) -> str:
    return _(
        "%(name)s's age is not on record (no real-name registration yet); this activity is for "
        "volunteers aged %(age)d or over."
    ) % {"name": person.name, "age": shift.activity.effective_min_age}


def _age(person: Any, shift: Shift, team: Any) -> str:
    from zhiyuan.people.identity import age_on
    from zhiyuan.people.models import Identity

    identity = Identity.objects.filter(user=person).only("birth_date").first()
    birth = identity.birth_date if identity else None
    if birth is None:
        return _age_unknown(person, shift, team)
    return _(
        "%(name)s will be %(years)d on %(day)s; this activity is for volunteers aged %(age)d or "
        "over."
    ) % {
        "name": person.name,
        "years": age_on(birth, _day(shift)),
        "day": _day(shift).isoformat(),
        "age": shift.activity.effective_min_age,
    }


def _skill_missing(person: Any, shift: Shift, team: Any) -> str:
    from zhiyuan.people.models import VolunteerProfile

    have = set(VolunteerProfile.objects.filter(user=person).values_list("skills__pk", flat=True))
    missing = [s for s in shift.activity.skills.all() if s.pk not in have]
    return _("%(name)s lacks skills this activity needs: %(skills)s.") % {
        "name": person.name,
        "skills": "、".join(str(s) for s in missing) or "—",
    }


def _qualifications(person: Any, shift: Shift) -> tuple[list[str], list[tuple[str, str]]]:
    """The activity's qualifications the member lacks, and those held but expired by the
    shift's day (with the last day they are valid)."""
    from zhiyuan.people.models import Qualification, QualificationKind

    labels = dict(QualificationKind.choices)
    day = _day(shift)
    held = list(Qualification.objects.filter(profile__user=person))
    missing, expired = [], []
    for kind in shift.activity.qualifications or []:
        mine = [q for q in held if q.kind == kind]
        label = str(labels.get(kind, kind))
        if not mine:
            missing.append(label)
        elif not any(q.valid_on(day) for q in mine):
            until = max((q.valid_until for q in mine if q.valid_until), default=None)
            expired.append((label, until.isoformat() if until else "—"))
    return missing, expired


def _qualification_missing(person: Any, shift: Shift, team: Any) -> str:
    missing, _expired = _qualifications(person, shift)
    return _("%(name)s lacks a qualification this activity needs: %(names)s.") % {
        "name": person.name,
        "names": "、".join(missing) or "—",
    }


def _qualification_expired(person: Any, shift: Shift, team: Any) -> str:
    _missing, expired = _qualifications(person, shift)
    return " ".join(
        _(
            "%(name)s's qualification %(qualification)s is valid until %(until)s, before the "
            "shift on %(day)s."
        )
        % {
            "name": person.name,
            "qualification": label,
            "until": until,
            "day": _day(shift).isoformat(),
        }
        for label, until in expired
    ) or _("%(name)s's qualification expires before the shift.") % {"name": person.name}


def _no_insurance(person: Any, shift: Shift, team: Any) -> str:
    from zhiyuan.safeguards.selectors import insurance_cover_for

    activity = shift.activity
    cover = insurance_cover_for(
        person, activity.organization, activity.activity_type, shift.starts_at, shift.ends_at
    )
    why = getattr(cover, "message", "") or "—"
    return _("%(name)s is not insured for this activity: %(why)s") % {
        "name": person.name,
        "why": why,
    }


def _agreement(person: Any, shift: Shift, team: Any) -> str:
    agreement = shift.activity.agreement
    return _(
        "%(name)s has not accepted the agreement “%(title)s” yet: they accept it themselves "
        "in Zhiyuan."
    ) % {"name": person.name, "title": agreement.title if agreement else "—"}


def _clash(person: Any, shift: Shift, team: Any) -> str:
    from zhiyuan.activities.models import Signup

    clash = (
        Signup.objects.filter(
            volunteer=person,
            status__in=SEAT_HOLDING,
            shift__starts_at__lt=shift.ends_at,
            shift__ends_at__gt=shift.starts_at,
        )
        .exclude(shift=shift)
        .select_related("shift__activity")
        .first()
    )
    if clash is None:
        return _("%(name)s is signed up for another shift at the same time.") % {
            "name": person.name
        }
    return _("%(name)s is already signed up for “%(other)s” at the same time (%(when)s).") % {
        "name": person.name,
        "other": clash.shift.activity.title,
        "when": _when(clash.shift.starts_at),
    }


Worder = Callable[[Any, Shift, Any], str]

# Each sign-up refusal code of ``services.signup_eligibility`` (and ``signup_group``'s
# "not_member") that speaks to the volunteer, worded about the member instead. A code not
# listed ("closed") keeps the service's sentence, which is about the shift.
WORDING: dict[str, Worder] = {
    "not_member": lambda p, s, t: (
        _("%(name)s is not a member of %(team)s.") % {"name": p.name, "team": t}
    ),
    "not_registered": lambda p, s, t: (
        _("%(name)s has not registered as a volunteer.") % {"name": p.name}
    ),
    "not_active": _not_active,
    "sanction": _sanction,
    "age_unknown": _age_unknown,
    "age": _age,
    "skill_missing": _skill_missing,
    "qualification_missing": _qualification_missing,
    "qualification_expired": _qualification_expired,
    "no_insurance": _no_insurance,
    "agreement": _agreement,
    "already": lambda p, s, t: (
        _("%(name)s is already signed up for this shift.") % {"name": p.name}
    ),
    "clash": _clash,
}
# Reasons about the shift, not the member, keep the service's (neutral) sentence; "full" is
# left out of a refusal: had the member been eligible, they would be on the waitlist.
NOT_A_REFUSAL = {"full"}


def _headline(person: Any, status: str) -> tuple[str, str]:
    name = {"name": person.name}
    if status == SignupStatus.CONFIRMED:
        return SIGNED_UP, _("%(name)s is signed up.") % name
    if status == SignupStatus.PENDING:
        return AWAITING, _(
            "%(name)s is signed up, awaiting the approval of the activity's organiser."
        ) % name
    if status == SignupStatus.WAITLISTED:
        return WAITLISTED, _("%(name)s is on the waitlist: the shift is full.") % name
    if status == SignupStatus.OFFERED:
        return OFFERED, _("%(name)s has been offered a seat.") % name
    return SIGNED_UP, _("%(name)s: %(status)s.") % {
        "name": person.name,
        "status": SignupStatus(status).label,
    }


def member_reason(reason: Any, person: Any, shift: Shift, team: Any) -> str:
    """One refusal reason of ``signup_group``, worded about ``person`` by name."""
    worder = WORDING.get(reason.code)
    return worder(person, shift, team) if worder else str(reason.message)


def team_outcome(results: Sequence[Any], shift: Shift, team: Any) -> TeamOutcome:
    """``signup_group``'s results, about each member by name."""
    members = []
    for result in results:
        person = result.volunteer
        if result.signup is not None:
            outcome, headline = _headline(person, result.signup.status)
            members.append(MemberOutcome(person, outcome, headline))
            continue
        reasons = [
            member_reason(reason, person, shift, team)
            for reason in result.reasons
            if reason.code not in NOT_A_REFUSAL
        ]
        headline = _("%(name)s was not signed up.") % {"name": person.name}
        members.append(MemberOutcome(person, REFUSED, headline, list(dict.fromkeys(reasons))))
    return TeamOutcome(members)
