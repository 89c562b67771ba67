"""Writes of the records app: making, confirming and correcting service records, star levels
and certificates.

``record_create`` is the one way a record is made (from a check-in/out pair, a completed need,
or a manual entry by the organiser); ``record_confirm`` is the one way it is confirmed, and the
one place that credits the ledger and the time bank for it. Locks, in this order: the record
(its confirmation), the earlier version it replaces, then the ledger's accounts (taken by the
ledger), then the audit chain head.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Min, Sum
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from zhiyuan.accounts.models import User
from zhiyuan.accounts.roles import Role
from zhiyuan.core.audit import audit_record
from zhiyuan.core.permissions import Scope, active_grants, has_perm, require
from zhiyuan.organizations.models import Organization
from zhiyuan.organizations.selectors import organization_chain
from zhiyuan.organizations.services import organization_may
from zhiyuan.records import anomalies
from zhiyuan.records.models import (
    LEDGER_NOTE_ITEM_UNPRICED,
    LEDGER_NOTE_NO_RULES,
    LEDGER_NOTE_SEPARATOR,
    RULE_FIELDS,
    Certificate,
    CertificateSequence,
    CorrectionRequest,
    CorrectionStatus,
    RecordAudit,
    RecordKind,
    RecordRule,
    RecordRuleVersion,
    RecordStatus,
    RevokeReason,
    RoundingMode,
    ServiceRecord,
    StarAward,
)
from zhiyuan.records.rules import (
    DEFAULT_STAR_HOURS,
    DEFAULT_STAR_MONTHS,
    Rules,
    actual_minutes,
    cap_for_day,
    months_between,
    next_level,
    round_minutes,
    star_level,
)
from zhiyuan.regions.models import Region

R = RecordAudit
LIVE_STATUSES = (RecordStatus.PENDING, RecordStatus.CONFIRMED)


class RecordRefused(ValidationError):
    """A record write that was refused; ``code`` says why, the message says it to a person."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)
        self.code: str = code


def _notify(
    users: Sequence[Any], kind: str, title: Any, body: Any, url: str, params: dict[str, Any]
) -> None:
    """Through the notifications app where installed: rows in this transaction, sent after
    commit, each reader in their own language (lazy texts with ``params``)."""
    if not users or not apps.is_installed("zhiyuan.notifications"):
        return
    from importlib import import_module

    notify = import_module("zhiyuan.notifications.services").notify
    notify(users=list(users), kind=kind, title=title, body=body, url=url, params=params)


# --- the region's rules -----------------------------------------------------------------------


def _ancestors(code: str) -> list[str]:
    """The region's own code and its ancestors', nearest first."""
    from zhiyuan.regions.codes import parse_code

    prefix = parse_code(code).prefix
    codes = [prefix[:end].ljust(12, "0") for end in (2, 4, 6, 9, 12) if end <= len(prefix)]
    return list(dict.fromkeys(reversed(codes)))


def _rules_from(rule: RecordRule) -> Rules:
    return Rules(
        region_code=rule.region_id,
        rounding_unit=rule.rounding_unit,
        rounding_mode=rule.rounding_mode,
        daily_cap_minutes=rule.daily_cap_minutes,
        confirm_days=rule.confirm_days,
        auto_confirm_clean=rule.auto_confirm_clean,
        star_hours=tuple(rule.star_hours or DEFAULT_STAR_HOURS),
        star_min_months=tuple(rule.star_min_months or DEFAULT_STAR_MONTHS),
        far_checkin_m=rule.far_checkin_m,
        burst_seconds=rule.burst_seconds,
        burst_count=rule.burst_count,
        checkout_grace_minutes=rule.checkout_grace_minutes,
    )


def record_rules_for(region: Region | str) -> Rules:
    """The nearest region's recording rules up the tree, or the national defaults."""
    code = region if isinstance(region, str) else region.pk
    chain = _ancestors(code)
    found = {r.region_id: r for r in RecordRule.objects.filter(region_id__in=chain)}
    for ancestor in chain:
        rule = found.get(ancestor)
        if rule is not None:
            return _rules_from(rule)
    return Rules()


def checkout_grace_for(region: Region | str) -> dt.timedelta:
    """How long after a shift's end a forgotten check-out is closed (and flagged), by the
    region's rule (default two hours). Read by the activities' auto-close."""
    return dt.timedelta(minutes=record_rules_for(region).checkout_grace_minutes)


def rule_values(rules: Rules) -> dict[str, Any]:
    """The settable values of a set of rules, as plain JSON (lists for the star rows)."""
    return {
        name: list(value) if isinstance(value, tuple) else value
        for name, value in ((f, getattr(rules, f)) for f in RULE_FIELDS)
    }


def _rule_errors(values: dict[str, Any]) -> dict[str, list[str]]:
    """Every reason the values cannot be the region's rules, by field, in the reader's
    language (nothing is saved unless this is empty)."""
    errors: dict[str, list[str]] = {}

    def between(field: str, low: int, high: int, message: str) -> None:
        value = values[field]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            errors[field] = [message]

    between("rounding_unit", 1, 60, _("Round to between 1 and 60 minutes."))
    if values["rounding_mode"] not in RoundingMode.values:
        errors["rounding_mode"] = [_("Choose a rounding from the list.")]
    between(
        "daily_cap_minutes",
        60,
        1440,
        _("The daily cap is between 60 and 1440 minutes (1 to 24 hours)."),
    )
    between("confirm_days", 1, 90, _("Records are confirmed within 1 to 90 days."))
    between(
        "checkout_grace_minutes",
        15,
        720,
        _("A forgotten check-out is closed between 15 minutes and 12 hours after the shift."),
    )
    between("far_checkin_m", 0, 50_000, _("The distance is between 0 and 50,000 metres."))
    between("burst_seconds", 1, 600, _("The burst window is between 1 and 600 seconds."))
    between("burst_count", 2, 1000, _("A burst is between 2 and 1,000 people."))
    hours = list(values["star_hours"])
    months = list(values["star_min_months"])
    if (
        len(hours) != 5
        or not all(isinstance(h, int) and not isinstance(h, bool) for h in hours)
        or hours != sorted(hours)
        or len(set(hours)) != 5
        or hours[0] < 1
        or hours[-1] > 100_000
    ):
        errors["star_hours"] = [_("Give five increasing hour thresholds, one per star.")]
    if (
        len(months) != 5
        or not all(isinstance(m, int) and not isinstance(m, bool) for m in months)
        or any(m < 0 or m > 600 for m in months)
    ):
        errors["star_min_months"] = [_("Give five minimum numbers of months, one per star.")]
    elif months != sorted(months):
        errors["star_min_months"] = [
            _("A higher star cannot need fewer months of service than a lower one.")
        ]
    return errors


def record_rule_set(
    *,
    region: Region,
    actor: User,
    rounding_unit: int | None = None,
    rounding_mode: str | None = None,
    daily_cap_minutes: int | None = None,
    confirm_days: int | None = None,
    auto_confirm_clean: bool | None = None,
    checkout_grace_minutes: int | None = None,
    star_hours: Sequence[int] | None = None,
    star_min_months: Sequence[int] | None = None,
    far_checkin_m: int | None = None,
    burst_seconds: int | None = None,
    burst_count: int | None = None,
    note: str = "",
    request: HttpRequest | None = None,
) -> RecordRule:
    """A region admin sets the region's recording rules (they apply to the whole subtree).

    A field not given (``None``) keeps the value that applies now (the region's own, an
    ancestor's, or the national default). Each change is a new numbered ``RecordRuleVersion``
    with every value, what changed and why, and an audit entry; nothing changes when any
    value is refused (every reason is given at once)."""
    require(actor, "record.rules", region, request=request)
    changes: dict[str, Any] = {
        "rounding_unit": rounding_unit,
        "rounding_mode": rounding_mode,
        "daily_cap_minutes": daily_cap_minutes,
        "confirm_days": confirm_days,
        "auto_confirm_clean": auto_confirm_clean,
        "checkout_grace_minutes": checkout_grace_minutes,
        "star_hours": star_hours,
        "star_min_months": star_min_months,
        "far_checkin_m": far_checkin_m,
        "burst_seconds": burst_seconds,
        "burst_count": burst_count,
    }
    assert set(changes) == set(RULE_FIELDS)
    current = rule_values(record_rules_for(region))
    values = {**current, **{k: v for k, v in changes.items() if v is not None}}
    values["star_hours"] = list(values["star_hours"])
    values["star_min_months"] = list(values["star_min_months"])
    errors = _rule_errors(values)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        rule, _created = RecordRule.objects.get_or_create(region=region)
        # Row lock on the region's rule: versions are numbered one after another, and two
        # admins saving at once each see the other's values as "before".
        rule = RecordRule.objects.select_for_update().get(pk=rule.pk)
        own = rule_values(_rules_from(rule)) if rule.version else current
        diff = {f: [own[f], values[f]] for f in RULE_FIELDS if own[f] != values[f]}
        if rule.version and not diff:
            return rule
        for field_name in RULE_FIELDS:
            setattr(rule, field_name, values[field_name])
        rule.version += 1
        rule.updated_at = timezone.now()
        rule.save()
        RecordRuleVersion.objects.create(
            region=region,
            version=rule.version,
            values=values,
            changes=diff,
            note=(note or "").strip()[:200],
            changed_at=rule.updated_at,
            changed_by=actor,
        )
        audit_record(
            action=R.RULE_SET,
            actor=actor,
            target=rule,
            request=request,
            detail={"region": region.pk, "version": rule.version, "changes": diff},
        )
    return rule


# --- anomalies --------------------------------------------------------------------------------


def _day_bounds(moment: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    day = timezone.localdate(moment)
    start = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
    return start, start + dt.timedelta(days=1)


def _facts(record: ServiceRecord, rules: Rules) -> anomalies.Facts:
    mine = ServiceRecord.objects.filter(
        volunteer_id=record.volunteer_id, status__in=LIVE_STATUSES
    ).exclude(source=record.source)
    others = list(
        mine.filter(started_at__lt=record.ended_at, ended_at__gt=record.started_at).values_list(
            "pk", "started_at", "ended_at"
        )[:20]
    )
    start, end = _day_bounds(record.started_at)
    same_day = (
        mine.filter(started_at__gte=start, started_at__lt=end).aggregate(m=Sum("minutes"))["m"] or 0
    )
    distance = threshold = None
    method = ""
    nearby = 0
    auto_closed = False
    session = record.session
    if session is not None:
        method = session.checkin_method
        distance = (session.checkin_evidence or {}).get("distance_m")
        if record.activity is not None:
            threshold = float(rules.far_checkin_m or record.activity.checkin_radius_m)
        auto_closed = "auto_closed" in (session.flags or [])
        if session.shift_id and method != "qr":
            from zhiyuan.activities.models import ServiceSession

            window = dt.timedelta(seconds=rules.burst_seconds)
            nearby = (
                ServiceSession.objects.filter(
                    shift_id=session.shift_id,
                    checked_in_at__gte=session.checked_in_at - window,
                    checked_in_at__lte=session.checked_in_at + window,
                )
                .exclude(checkin_method="qr")
                .count()
            )
    return anomalies.Facts(
        started_at=record.started_at,
        ended_at=record.ended_at,
        minutes=record.minutes,
        others=others,
        same_day_minutes=int(same_day),
        daily_cap=rules.daily_cap_minutes,
        planned_minutes=record.planned_minutes,
        checkin_distance_m=distance,
        far_threshold_m=threshold,
        checkin_method=method,
        non_qr_checkins_nearby=nearby,
        burst_count=rules.burst_count,
        auto_closed=auto_closed,
    )


def record_check(record: ServiceRecord, rules: Rules | None = None) -> dict[str, str]:
    """The anomaly flags that hold for the record now, with a note for each."""
    return anomalies.check(_facts(record, rules or record_rules_for(record.region_id)))


# --- making a record --------------------------------------------------------------------------


def _need_id(need: Any) -> int | None:
    if need is None:
        return None
    if isinstance(need, int):
        return need
    if isinstance(need, str) and need.isdigit():
        return int(need)
    pk = getattr(need, "pk", None)
    if not isinstance(pk, int):
        raise ValueError("need is a need object or its id")
    return pk


def record_create(
    *,
    volunteer: User,
    organization: Organization,
    region: Region | str,
    kind: str,
    started_at: dt.datetime,
    ended_at: dt.datetime,
    content: str,
    source: str,
    created_by: User | None,
    activity: Any = None,
    shift: Any = None,
    need: Any = None,
    evidence: Any = None,
    category: str = "",
    urgency: str = "normal",
    time_bank: bool | None = None,
    planned_minutes: int | None = None,
    request: HttpRequest | None = None,
) -> ServiceRecord:
    """Make a service record, waiting for the organiser's confirmation. The one way a record
    is made. ``source`` names what produced it ("session:<id>", "need:<id>", "manual:<key>");
    calling again with the same source returns the record made the first time.

    - CHECKIN: from a closed check-in session (``evidence``).
    - NEED: from a completed need (``need`` is the need or its id; the needs app decides who
      may complete it); ``evidence`` may be its on-site session.
    - MANUAL: entered by hand by the organiser, a separate marked kind, for an ``activity``
      (and ``shift``): never longer than the activity's own duration.
    Minutes are actual service time, rounded by the region's rule.
    """
    if kind not in RecordKind.values:
        raise ValueError(f"unknown record kind {kind!r}")
    existing = ServiceRecord.objects.filter(source=source).order_by("version").first()
    if existing is not None:
        return existing
    region_code = region if isinstance(region, str) else region.pk
    need_id = _need_id(need)
    if kind == RecordKind.NEED and (
        need_id is None or not re.fullmatch(rf"need:{need_id}(:{volunteer.pk})?", source)
    ):
        # One record per volunteer of a need: "need:<need>:<volunteer>" ("need:<id>" alone is
        # still accepted for a need served by one person).
        raise ValueError("a need's record has source need:<id>:<volunteer id>")
    if kind == RecordKind.CHECKIN and evidence is None:
        raise ValueError("a check-in record is made from its session")
    now = timezone.now()
    errors: list[str] = []
    if ended_at <= started_at:
        errors.append(_("The end of the service comes after its start."))
    if ended_at > now + dt.timedelta(minutes=5):
        errors.append(_("A record cannot be made for service still to come."))
    if not (content or "").strip():
        errors.append(_("Say what was done."))
    if kind == RecordKind.MANUAL:
        if activity is None:
            errors.append(_("A manual entry names the activity it is for."))
        elif created_by is None or not organization_may(
            created_by, "activity.manage", activity.organization
        ):
            raise PermissionDenied(_("Only the activity's organiser can enter hours by hand."))
        if activity is not None:
            longest = shift.duration_minutes if shift is not None else _activity_duration(activity)
            planned_minutes = longest
            if actual_minutes(started_at, ended_at) > longest:
                errors.append(
                    _(
                        "A manual entry cannot exceed the activity's own duration "
                        "(%(minutes)d minutes)."
                    )
                    % {"minutes": longest}
                )
            if shift is not None and not (
                shift.starts_at - dt.timedelta(hours=1) <= started_at
                and ended_at <= shift.ends_at + dt.timedelta(hours=1)
            ):
                errors.append(_("A manual entry lies within the shift's time."))
    if errors:
        raise RecordRefused("invalid", " ".join(errors))
    rules = record_rules_for(region_code)
    raw = actual_minutes(started_at, ended_at)
    with transaction.atomic():
        record = ServiceRecord(
            volunteer=volunteer,
            organization=organization,
            region_id=region_code,
            kind=kind,
            source=source,
            version=1,
            started_at=started_at,
            ended_at=ended_at,
            raw_minutes=raw,
            minutes=round_minutes(raw, rules.rounding_unit, rules.rounding_mode),
            content=content.strip(),
            activity=activity,
            shift=shift,
            session=evidence,
            need_id=need_id,
            category=category,
            urgency=urgency,
            time_bank=bool(
                time_bank if time_bank is not None else getattr(activity, "time_bank", False)
            ),
            planned_minutes=planned_minutes,
            created_by=created_by,
            due_at=now + dt.timedelta(days=rules.confirm_days),
        )
        flags = anomalies.check(_facts(record, rules))
        record.flags, record.flag_notes = list(flags), flags
        record.save(force_insert=True)
        audit_record(
            action=R.CREATED,
            actor=created_by,
            target=record,
            request=request,
            detail={
                "kind": kind,
                "source": source,
                "minutes": record.minutes,
                "flags": record.flags,
            },
        )
    return record


def _activity_duration(activity: Any) -> int:
    """The activity's own duration: its longest shift, in minutes."""
    return max((s.duration_minutes for s in activity.shifts.all()), default=0)


def record_from_session(*, session: Any, actor: User | None) -> ServiceRecord | None:
    """The record of a closed check-in session (called by check-out, in its transaction).
    A session shorter than a minute makes no record: there is no service to count."""
    shift = session.shift
    activity = shift.activity
    if actual_minutes(session.checked_in_at, session.checked_out_at) < 1:
        return None
    role = f" · {shift.role}" if shift.role else ""
    return record_create(
        volunteer=session.volunteer,
        organization=activity.organization,
        region=activity.region_id,
        kind=RecordKind.CHECKIN,
        started_at=session.checked_in_at,
        ended_at=session.checked_out_at,
        content=f"{activity.title}{role}",
        source=f"session:{session.pk}",
        created_by=actor,
        activity=activity,
        shift=shift,
        evidence=session,
        category=activity.points_category,
        urgency="emergency" if activity.emergency else "normal",
        time_bank=activity.time_bank,
        planned_minutes=shift.duration_minutes,
    )


def record_manual_create(
    *,
    activity: Any,
    volunteer: User,
    started_at: dt.datetime,
    ended_at: dt.datetime,
    content: str,
    actor: User,
    shift: Any = None,
    key: str | None = None,
    request: HttpRequest | None = None,
) -> ServiceRecord:
    """The organiser enters service by hand (a separate, marked kind). ``key`` makes a
    retried request find the first record."""
    return record_create(
        volunteer=volunteer,
        organization=activity.organization,
        region=activity.region_id,
        kind=RecordKind.MANUAL,
        started_at=started_at,
        ended_at=ended_at,
        content=content,
        source=f"manual:{(key or uuid.uuid4().hex)[:60]}",
        created_by=actor,
        activity=activity,
        shift=shift,
        category=activity.points_category,
        urgency="emergency" if activity.emergency else "normal",
        time_bank=activity.time_bank,
        request=request,
    )


# --- confirming -------------------------------------------------------------------------------


def record_may_confirm(user: Any, record: ServiceRecord, *, second: bool = False) -> bool:
    """Who organised certifies: the organisation's admins (or a parent's). A flagged record's
    second confirmation may also come from a region admin over the record's region."""
    if user is None or user.pk == record.volunteer_id:
        return False
    if is_organiser(user, record.organization):
        return True
    return second and has_perm(user, "record.confirm", Scope(region_code=record.region_id))


def is_organiser(user: Any, organization: Organization) -> bool:
    """An admin of the organisation or of a parent above it (a region admin is not)."""
    chain = {o.pk for o in organization_chain(organization)}
    return any(g.role == Role.ORG_ADMIN and g.organization_id in chain for g in active_grants(user))


def _credited_that_day(record: ServiceRecord, replaced: ServiceRecord | None) -> int:
    start, end = _day_bounds(record.started_at)
    rows = ServiceRecord.objects.filter(
        volunteer_id=record.volunteer_id,
        status=RecordStatus.CONFIRMED,
        started_at__gte=start,
        started_at__lt=end,
    )
    if replaced is not None:
        rows = rows.exclude(pk=replaced.pk)
    return int(rows.aggregate(m=Sum("credited_minutes"))["m"] or 0)


def _activity_key(record: ServiceRecord) -> str:
    """What the ledger's per-activity cap counts against: one occurrence of an activity (a
    weekly activity is a new occurrence each week), one need, or the record itself."""
    if record.activity_id:
        day = timezone.localdate(record.shift.starts_at if record.shift else record.started_at)
        return f"activity:{record.activity_id}:{day.isoformat()}"
    if record.need_id:
        return f"need:{record.need_id}"
    return record.source


def _credit(
    record: ServiceRecord, replaced: ServiceRecord | None, actor: Any
) -> tuple[int | None, str]:
    """Credit points (and time-bank minutes) for the confirmed version, once per version; a
    correction passes the replaced version so the ledger moves by the difference only."""
    from zhiyuan.ledger import errors as ledger_errors
    from zhiyuan.ledger.models import Transaction
    from zhiyuan.ledger.services import (
        deposit_price,
        ledger_credit_service,
        ledger_reverse,
        timebank_deposit,
    )

    minutes = record.credited_minutes or 0
    notes: list[str] = []
    points: int | None = None
    replaces = replaced.ledger_source if replaced is not None and replaced.points else None
    try:
        if minutes > 0:
            result = ledger_credit_service(
                volunteer=record.volunteer,
                region=record.region_id,
                minutes=minutes,
                category=record.category or "general",
                urgency=record.urgency or "normal",
                activity_key=_activity_key(record),
                occurred_at=record.started_at,
                source=record.ledger_source,
                organization=record.organization,
                actor=actor,
                replaces=replaces,
            )
            points = result.points
        elif replaces:
            earned = Transaction.objects.filter(idempotency_key=f"earn:{replaces}").first()
            if earned is not None:
                ledger_reverse(original=earned, key=f"reverse:{replaces}", actor=actor)
            points = 0
    except ledger_errors.NoRules:
        notes.append(LEDGER_NOTE_NO_RULES)
    priced_before: tuple[str, int] | None = None
    if replaced is not None and replaced.time_bank:
        deposit = Transaction.objects.filter(
            idempotency_key=f"deposit:{replaced.ledger_source}"
        ).first()
        if deposit is not None:
            # A priced deposit is one unit of service per record: a corrected record keeps the
            # price it was first confirmed at (the item may since have been re-priced or
            # withdrawn; deposits made keep their credit).
            priced_before = deposit_price(deposit)
            ledger_reverse(original=deposit, key=f"undeposit:{replaced.ledger_source}", actor=actor)
    if record.time_bank and minutes > 0 and priced_before is not None:
        timebank_deposit(
            member=record.volunteer,
            region=record.region_id,
            source=record.ledger_source,
            organization=record.organization,
            actor=actor,
            priced_as=priced_before,
        )
    elif record.time_bank and minutes > 0:
        # An activity may name the service item it provides: where the region prices items,
        # the record deposits the item's price (one unit per record), else the minutes served.
        activity = record.activity
        item_code = (activity.timebank_item or None) if activity is not None else None
        deposit_args: dict[str, Any] = {
            "member": record.volunteer,
            "region": record.region_id,
            "source": record.ledger_source,
            "minutes": minutes,
            "organization": record.organization,
            "actor": actor,
        }
        try:
            timebank_deposit(**deposit_args, item_code=item_code, quantity=1)
        except ledger_errors.ItemUnknown:
            # The item left the price list since the activity named it: the service still
            # counts, by the minutes served (the failed attempt booked nothing: its savepoint
            # rolled back).
            timebank_deposit(**deposit_args)
            notes.append(LEDGER_NOTE_ITEM_UNPRICED.format(item=item_code))
    return points, LEDGER_NOTE_SEPARATOR.join(notes)


def record_confirm(
    *, record: ServiceRecord, actor: User | None, request: HttpRequest | None = None
) -> ServiceRecord:
    """The organiser confirms a record: the anomaly checks run again; a flagged record needs a
    second, different confirmer. The final confirmation caps the minutes by the day's rule,
    credits the ledger (and the time bank), supersedes the version it corrects, writes the
    audit entry and updates the volunteer's star level — all in one transaction.

    ``actor=None`` is the system confirming a clean record at its deadline.
    """
    if actor is not None and not record_may_confirm(actor, record, second=True):
        require(actor, "record.confirm", record, request=request)  # audits, then refuses
        raise PermissionDenied(_("You cannot confirm your own service."))
    with transaction.atomic():
        # Row lock on the record: two confirmers at once confirm it once.
        record = (
            ServiceRecord.objects.select_for_update(of=("self",))
            .select_related("session", "activity", "shift", "volunteer", "organization")
            .get(pk=record.pk)
        )
        if record.status == RecordStatus.CONFIRMED:
            return record
        if record.status != RecordStatus.PENDING:
            raise RecordRefused(
                "not_pending", _("Only a record waiting for confirmation can be confirmed.")
            )
        rules = record_rules_for(record.region_id)
        flags = anomalies.check(_facts(record, rules))
        now = timezone.now()
        record.flags, record.flag_notes = list(flags), flags
        # A region admin may only be the second confirmer of a flagged record.
        outsider = actor is not None and not record_may_confirm(actor, record, second=False)
        if outsider and not (flags and record.first_confirmed_by_id):
            raise PermissionDenied(
                _("The organisation that organised the service confirms it first.")
            )
        if flags:
            if actor is None:
                raise RecordRefused("flagged", _("A flagged record needs people to confirm it."))
            if record.first_confirmed_by_id is None:
                record.first_confirmed_by = actor
                record.first_confirmed_at = now
                record.save(
                    update_fields=[
                        "flags",
                        "flag_notes",
                        "first_confirmed_by",
                        "first_confirmed_at",
                    ]
                )
                audit_record(
                    action=R.FIRST_CONFIRMATION,
                    actor=actor,
                    target=record,
                    request=request,
                    detail={"flags": record.flags},
                )
                return record
            if record.first_confirmed_by_id == actor.pk:
                raise RecordRefused(
                    "second_confirmer",
                    _(
                        "This record is flagged: someone other than the first confirmer must "
                        "confirm it too."
                    ),
                )
        replaced = None
        if record.replaces_id:
            # Row lock on the version being corrected: it is superseded exactly once.
            replaced = ServiceRecord.objects.select_for_update().get(pk=record.replaces_id)
            if replaced.status != RecordStatus.CONFIRMED:
                raise RecordRefused("stale", _("The version this corrects is no longer confirmed."))
        record.credited_minutes = cap_for_day(
            record.minutes, _credited_that_day(record, replaced), rules.daily_cap_minutes
        )
        points, note = _credit(record, replaced, actor)
        if replaced is not None:
            replaced.status = RecordStatus.SUPERSEDED
            replaced.superseded_at = now
            replaced.save(update_fields=["status", "superseded_at"])
            audit_record(
                action=R.SUPERSEDED,
                actor=actor,
                target=replaced,
                request=request,
                detail={"by": record.pk, "version": record.version},
            )
        record.status = RecordStatus.CONFIRMED
        record.confirmed_at = now
        record.confirmed_by = actor
        record.points = points
        record.ledger_note = note
        record.save(
            update_fields=[
                "flags",
                "flag_notes",
                "credited_minutes",
                "status",
                "confirmed_at",
                "confirmed_by",
                "points",
                "ledger_note",
            ]
        )
        audit_record(
            action=R.CONFIRMED if actor is not None else R.AUTO_CONFIRMED,
            actor=actor,
            target=record,
            request=request,
            detail={
                "minutes": record.credited_minutes,
                "points": points,
                "flags": record.flags,
                "version": record.version,
            },
        )
        star_recompute(volunteer=record.volunteer, at=now)
        _notify(
            [record.volunteer],
            "record.confirmed",
            gettext_lazy("Service hours confirmed"),
            gettext_lazy("%(minutes)s minutes for %(content)s"),
            "/records/mine/",
            {"minutes": record.credited_minutes or 0, "content": record.content},
        )
    return record


def record_reject(
    *, record: ServiceRecord, actor: User, reason: str, request: HttpRequest | None = None
) -> ServiceRecord:
    """The organiser rejects a record waiting for confirmation, saying why (the service did
    not happen as recorded). Nothing is credited; the row stays."""
    if not record_may_confirm(actor, record):
        require(actor, "record.confirm", record.organization, request=request)
        raise PermissionDenied(_("You cannot reject your own service."))
    if not (reason or "").strip():
        raise ValidationError({"reason": [_("Say why the record is rejected.")]})
    with transaction.atomic():
        record = ServiceRecord.objects.select_for_update().get(pk=record.pk)
        if record.status != RecordStatus.PENDING:
            raise RecordRefused(
                "not_pending", _("Only a record waiting for confirmation can be rejected.")
            )
        record.status = RecordStatus.REJECTED
        record.rejected_at = timezone.now()
        record.rejected_by = actor
        record.reject_reason = reason.strip()[:300]
        record.save(update_fields=["status", "rejected_at", "rejected_by", "reject_reason"])
        audit_record(action=R.REJECTED, actor=actor, target=record, request=request)
        CorrectionRequest.objects.filter(new_record=record).update(
            status=CorrectionStatus.REJECTED, decided_at=record.rejected_at, decided_by=actor
        )
    return record


def records_confirm_due(now: dt.datetime | None = None) -> dict[str, int]:
    """At the deadline: records backed by strong evidence (code or geofence at both ends) and
    without any flag are confirmed by the system where the region's rule says so; the rest are
    marked overdue, once, for the organiser and the region to see."""
    now = now or timezone.now()
    counts = {"confirmed": 0, "overdue": 0}
    due = ServiceRecord.objects.filter(status=RecordStatus.PENDING, due_at__lte=now).select_related(
        "session"
    )
    for record in due[:2000]:
        rules = record_rules_for(record.region_id)
        session = record.session
        strong = (
            record.kind == RecordKind.CHECKIN
            and session is not None
            and session.checkin_method in ("qr", "geofence")
            and session.checkout_method in ("qr", "geofence")
        )
        if rules.auto_confirm_clean and strong and not record_check(record, rules):
            confirmed = record_confirm(record=record, actor=None)
            counts["confirmed"] += confirmed.status == RecordStatus.CONFIRMED
            continue
        if record.overdue_at is None:
            with transaction.atomic():
                if ServiceRecord.objects.filter(pk=record.pk, overdue_at__isnull=True).update(
                    overdue_at=now
                ):
                    audit_record(
                        action=R.OVERDUE, target=record, detail={"due": record.due_at.isoformat()}
                    )
                    counts["overdue"] += 1
    return counts


# --- corrections ------------------------------------------------------------------------------


def correction_request(
    *,
    record: ServiceRecord,
    actor: User,
    reason: str,
    started_at: dt.datetime,
    ended_at: dt.datetime,
    content: str = "",
    request: HttpRequest | None = None,
) -> CorrectionRequest:
    """The volunteer asks for a confirmed record to be corrected, with the reason and what
    they say is right. The record itself does not change."""
    if actor.pk != record.volunteer_id:
        raise PermissionDenied(_("Only the volunteer can ask to correct their record."))
    require(actor, "record.own", request=request)
    errors: dict[str, list[str]] = {}
    if not (reason or "").strip():
        errors["reason"] = [_("Say what is wrong with the record.")]
    if ended_at <= started_at:
        errors["ended_at"] = [_("The end comes after the start.")]
    elif ended_at > timezone.now():
        errors["ended_at"] = [_("The service cannot end in the future.")]
    if (
        started_at == record.started_at
        and ended_at == record.ended_at
        and (content or record.content).strip() == record.content
    ):
        errors["started_at"] = [_("This is what the record says already.")]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        record = ServiceRecord.objects.select_for_update().get(pk=record.pk)
        if record.status != RecordStatus.CONFIRMED:
            raise RecordRefused("not_confirmed", _("Only a confirmed record can be corrected."))
        if CorrectionRequest.objects.filter(
            record=record, status=CorrectionStatus.PENDING
        ).exists():
            raise RecordRefused("open", _("A correction of this record is already waiting."))
        correction = CorrectionRequest.objects.create(
            record=record,
            requested_by=actor,
            reason=reason.strip(),
            started_at=started_at,
            ended_at=ended_at,
            content=(content or "").strip(),
        )
        audit_record(
            action=R.CORRECTION_REQUESTED,
            actor=actor,
            target=correction,
            request=request,
            detail={"record": record.pk, "version": record.version},
        )
    return correction


def correction_approve(
    *,
    correction: CorrectionRequest,
    actor: User,
    note: str = "",
    request: HttpRequest | None = None,
) -> ServiceRecord:
    """The organiser verifies and approves a correction: a new version of the record is made
    and confirmed (by a second person too, if the new version is flagged); the old version is
    kept and marked superseded when the new one is confirmed. Both steps are audited."""
    record = correction.record
    if not record_may_confirm(actor, record):
        require(actor, "record.confirm", record.organization, request=request)
        raise PermissionDenied(_("You cannot approve a correction of your own service."))
    with transaction.atomic():
        correction = CorrectionRequest.objects.select_for_update().get(pk=correction.pk)
        if correction.status != CorrectionStatus.PENDING:
            raise RecordRefused("decided", _("This correction was decided already."))
        old = ServiceRecord.objects.select_for_update().get(pk=correction.record_id)
        if old.status != RecordStatus.CONFIRMED:
            raise RecordRefused("stale", _("The record changed since the request; ask again."))
        rules = record_rules_for(old.region_id)
        raw = actual_minutes(correction.started_at, correction.ended_at)
        new = ServiceRecord(
            volunteer_id=old.volunteer_id,
            organization_id=old.organization_id,
            region_id=old.region_id,
            kind=old.kind,
            source=old.source,
            version=old.version + 1,
            root_id=old.series_id,
            replaces=old,
            started_at=correction.started_at,
            ended_at=correction.ended_at,
            raw_minutes=raw,
            minutes=round_minutes(raw, rules.rounding_unit, rules.rounding_mode),
            content=correction.content or old.content,
            activity_id=old.activity_id,
            shift_id=old.shift_id,
            session_id=old.session_id,
            need_id=old.need_id,
            category=old.category,
            urgency=old.urgency,
            time_bank=old.time_bank,
            planned_minutes=old.planned_minutes,
            created_by=actor,
            due_at=timezone.now() + dt.timedelta(days=rules.confirm_days),
        )
        flags = anomalies.check(_facts(new, rules))
        new.flags, new.flag_notes = list(flags), flags
        new.save(force_insert=True)
        correction.status = CorrectionStatus.APPROVED
        correction.decided_at = timezone.now()
        correction.decided_by = actor
        correction.decision_note = (note or "").strip()[:300]
        correction.new_record = new
        correction.save(
            update_fields=["status", "decided_at", "decided_by", "decision_note", "new_record"]
        )
        audit_record(
            action=R.CORRECTION_APPROVED,
            actor=actor,
            target=correction,
            request=request,
            detail={"old": old.pk, "new": new.pk, "version": new.version, "flags": new.flags},
        )
        return record_confirm(record=new, actor=actor, request=request)


def correction_reject(
    *,
    correction: CorrectionRequest,
    actor: User,
    note: str,
    request: HttpRequest | None = None,
) -> CorrectionRequest:
    """The organiser turns a correction down, saying why; the record stays as it was."""
    if not record_may_confirm(actor, correction.record):
        require(actor, "record.confirm", correction.record.organization, request=request)
        raise PermissionDenied(_("You cannot decide a correction of your own service."))
    if not (note or "").strip():
        raise ValidationError({"note": [_("Say why the correction is turned down.")]})
    with transaction.atomic():
        correction = CorrectionRequest.objects.select_for_update().get(pk=correction.pk)
        if correction.status != CorrectionStatus.PENDING:
            raise RecordRefused("decided", _("This correction was decided already."))
        correction.status = CorrectionStatus.REJECTED
        correction.decided_at = timezone.now()
        correction.decided_by = actor
        correction.decision_note = note.strip()[:300]
        correction.save(update_fields=["status", "decided_at", "decided_by", "decision_note"])
        audit_record(action=R.CORRECTION_REJECTED, actor=actor, target=correction, request=request)
    return correction


# --- star levels ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StarStatus:
    level: int
    hours: float
    next_level: int
    hours_missing: float
    thresholds: tuple[int, ...]
    min_months: tuple[int, ...]
    first_service: dt.date | None
    awards: list[StarAward]
    rule_region: str = ""


def _home_region(volunteer: User) -> str | None:
    profile = getattr(volunteer, "volunteer", None)
    return profile.region_id if profile is not None else None


def star_status(volunteer: User, at: dt.datetime | None = None) -> StarStatus:
    """The volunteer's star level from confirmed hours and the home region's rule."""
    at = at or timezone.now()
    confirmed = ServiceRecord.objects.filter(volunteer=volunteer, status=RecordStatus.CONFIRMED)
    totals = confirmed.aggregate(m=Sum("credited_minutes"), first=Min("started_at"))
    hours = round((totals["m"] or 0) / 60, 2)
    first = timezone.localdate(totals["first"]) if totals["first"] else None
    region = _home_region(volunteer)
    rules = record_rules_for(region) if region else Rules()
    level = star_level(
        hours,
        first_service=first,
        today=timezone.localdate(at),
        thresholds=rules.star_hours,
        min_months=rules.star_min_months,
    )
    nxt, missing = next_level(hours, rules.star_hours)
    return StarStatus(
        level=level,
        hours=hours,
        next_level=nxt,
        hours_missing=missing,
        thresholds=rules.star_hours,
        min_months=rules.star_min_months,
        first_service=first,
        awards=list(StarAward.objects.filter(volunteer=volunteer).order_by("level")),
        rule_region=rules.region_code,
    )


def months_of_service(first_service: dt.date | None, at: dt.datetime | None = None) -> int:
    """Completed months since the first confirmed service (0 before any)."""
    if first_service is None:
        return 0
    return months_between(first_service, timezone.localdate(at or timezone.now()))


def star_recompute(*, volunteer: User, at: dt.datetime | None = None) -> list[StarAward]:
    """Record each level newly reached (the history keeps the first time a level was reached,
    with the hours then; a later correction downwards lowers the level shown, not the past)."""
    at = at or timezone.now()
    status = star_status(volunteer, at)
    reached = {a.level for a in status.awards}
    region = _home_region(volunteer) or ""
    new: list[StarAward] = []
    for level in range(1, status.level + 1):
        if level in reached:
            continue
        award, created = StarAward.objects.get_or_create(
            volunteer=volunteer,
            level=level,
            defaults={
                "reached_at": at,
                "hours": Decimal(str(status.hours)),
                "rule_region": region,
                "threshold_hours": status.thresholds[level - 1],
            },
        )
        if created:
            new.append(award)
            audit_record(
                action=R.STAR_REACHED,
                target=award,
                detail={"volunteer": volunteer.pk, "level": level},
            )
    return new


# --- certificates -----------------------------------------------------------------------------

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def _short_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(10))


def certificate_records(
    volunteer: User, organization: Organization, start: dt.date, end: dt.date
) -> list[ServiceRecord]:
    first = timezone.make_aware(dt.datetime.combine(start, dt.time.min))
    last = timezone.make_aware(dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min))
    return list(
        ServiceRecord.objects.filter(
            volunteer=volunteer,
            organization=organization,
            status=RecordStatus.CONFIRMED,
            started_at__gte=first,
            started_at__lt=last,
        )
        .select_related("activity")
        .order_by("started_at")
    )


def certificate_issue(
    *,
    volunteer: User,
    organization: Organization,
    period_start: dt.date,
    period_end: dt.date,
    actor: User,
    notes: str = "",
    request: HttpRequest | None = None,
) -> Certificate:
    """Issue, free of charge, a numbered and registered certificate of the volunteer's
    confirmed service with one organisation over a period (Regulations Art. 19). The issuer is
    the organisation that recorded the service."""
    if actor.pk != volunteer.pk:
        raise PermissionDenied(_("Volunteers ask for their own certificates."))
    require(actor, "record.own", request=request)
    if period_end < period_start:
        raise ValidationError({"period_end": [_("The period ends before it starts.")]})
    if period_end > timezone.localdate():
        period_end = timezone.localdate()
    records = certificate_records(volunteer, organization, period_start, period_end)
    if not records:
        raise RecordRefused(
            "nothing",
            _("You have no confirmed service with %(org)s between %(start)s and %(end)s.")
            % {"org": organization.name, "start": period_start, "end": period_end},
        )
    from zhiyuan.people.models import Identity, VolunteerProfile

    profile = VolunteerProfile.objects.filter(user=volunteer).first()
    identity = Identity.objects.filter(user=volunteer).first()
    minutes = sum(r.credited_minutes or 0 for r in records)
    summary: dict[str, dict[str, int]] = {}
    for r in records:
        entry = summary.setdefault(r.content, {"minutes": 0, "count": 0})
        entry["minutes"] += r.credited_minutes or 0
        entry["count"] += 1
    content = [
        {"content": text, **figures}
        for text, figures in sorted(summary.items(), key=lambda kv: -kv[1]["minutes"])
    ]
    now = timezone.now()
    with transaction.atomic():
        year = timezone.localdate(now).year
        CertificateSequence.objects.get_or_create(organization=organization, year=year)
        # Row lock on the organisation's numbering for the year: numbers are consecutive.
        sequence = CertificateSequence.objects.select_for_update().get(
            organization=organization, year=year
        )
        sequence.last += 1
        sequence.save(update_fields=["last"])
        number = f"ZY{year}-{organization.pk:05d}-{sequence.last:05d}"
        code = _short_code()
        while Certificate.objects.filter(short_code=code).exists():
            code = _short_code()
        facts = {
            "number": number,
            "volunteer_number": profile.volunteer_number if profile else "",
            "organization": organization.pk,
            "period": [period_start.isoformat(), period_end.isoformat()],
            "minutes": minutes,
            "records": [[r.pk, r.version] for r in records],
        }
        certificate = Certificate.objects.create(
            number=number,
            short_code=code,
            volunteer=volunteer,
            organization=organization,
            period_start=period_start,
            period_end=period_end,
            minutes=minutes,
            record_count=len(records),
            volunteer_name=volunteer.name,
            volunteer_number=profile.volunteer_number if profile else "",
            document_type=identity.get_document_type_display() if identity else "",
            masked_document=identity.masked_number if identity else "",
            organization_name=organization.name,
            organization_code=organization.credit_code or "",
            responsible_person=organization.legal_representative or "",
            handler=organization.contact_name or "",
            contact=organization.contact_phone or "",
            content_summary=content[:12],
            notes=(notes or "").strip()[:200],
            issued_at=now,
            content_hash=hashlib.sha256(
                json.dumps(facts, sort_keys=True, separators=(",", ":")).encode()
            ).hexdigest(),
        )
        certificate.records.set(records)
        audit_record(
            action=R.CERTIFICATE_ISSUED,
            actor=actor,
            target=certificate,
            request=request,
            detail={"number": number, "records": len(records), "minutes": minutes},
        )
    return certificate


@dataclass(frozen=True)
class CertificateStanding:
    stands: bool
    reason: str


def certificate_standing(certificate: Certificate) -> CertificateStanding:
    """Does the certificate still stand? Not if revoked, nor if a record it counted has since
    been corrected (the certified version is no longer the confirmed one). The reason is
    fit for the public page: a fixed sentence, never the revoker's own note."""
    if certificate.revoked_at is not None:
        why = RevokeReason(certificate.revoke_category or RevokeReason.OTHER).label
        return CertificateStanding(
            False,
            _("Revoked on %(day)s. %(why)s")
            % {"day": timezone.localdate(certificate.revoked_at).isoformat(), "why": why},
        )
    changed = getattr(certificate, "changed_records", None)
    if changed is None:
        changed = certificate.records.exclude(status=RecordStatus.CONFIRMED).count()
    if changed:
        return CertificateStanding(
            False,
            _("%(n)d of the records it certifies were corrected since: ask for a new certificate.")
            % {"n": changed},
        )
    return CertificateStanding(True, _("Valid: the certified records are unchanged."))


def certificate_may_revoke(user: Any, certificate: Certificate) -> bool:
    """An admin of the issuing organisation (or of a parent above it), or a region admin
    whose region holds the issuing organisation."""
    if user is None or user.pk == certificate.volunteer_id:
        return False
    organization = certificate.organization
    return is_organiser(user, organization) or has_perm(
        user, "certificate.revoke", Scope(region_code=organization.region_id)
    )


def certificate_revoke(
    *,
    certificate: Certificate,
    actor: User,
    category: str,
    note: str = "",
    request: HttpRequest | None = None,
) -> Certificate:
    """The issuing organisation (or the region) withdraws a certificate, saying why: a
    ``RevokeReason`` the public page shows in plain words, and a note of its own for the
    issuer and the volunteer. Audited; the volunteer is told. Revoking twice is refused."""
    if not certificate_may_revoke(actor, certificate):
        require(
            actor,
            "certificate.revoke",
            Scope(region_code=certificate.organization.region_id),
            request=request,
        )
        raise PermissionDenied(_("You cannot revoke your own certificate."))
    errors: dict[str, list[str]] = {}
    if category not in RevokeReason.values:
        errors["category"] = [_("Choose why the certificate is revoked.")]
    elif category == RevokeReason.OTHER and not (note or "").strip():
        errors["note"] = [_("Say in a few words why the certificate is revoked.")]
    if len((note or "").strip()) > 200:
        errors["note"] = [_("Keep the note under 200 characters.")]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        # Row lock on the certificate: two admins revoking at once revoke it once.
        certificate = Certificate.objects.select_for_update().get(pk=certificate.pk)
        if certificate.revoked_at is not None:
            raise RecordRefused("revoked", _("This certificate was revoked already."))
        certificate.revoked_at = timezone.now()
        certificate.revoked_by = actor
        certificate.revoke_category = category
        certificate.revoke_reason = (note or "").strip()
        certificate.save(
            update_fields=["revoked_at", "revoked_by", "revoke_category", "revoke_reason"]
        )
        audit_record(
            action=R.CERTIFICATE_REVOKED,
            actor=actor,
            target=certificate,
            request=request,
            detail={"number": certificate.number, "category": category},
        )
        _notify(
            [certificate.volunteer],
            "certificate.revoked",
            gettext_lazy("A certificate of yours was revoked"),
            gettext_lazy("Certificate %(number)s no longer stands: %(why)s"),
            "/records/mine/",
            {"number": certificate.number, "why": RevokeReason(category).label},
        )
    return certificate
