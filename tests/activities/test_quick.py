"""The quick paths of an app's check-in and sign-up (one statement, two statements) give the
same answers as the full services: the same session or sign-up on success, and on every
refusal the same status, code and message, because they step aside and the full service
answers. On SQLite the quick paths always step aside; the tests then compare the full path
with itself and still check every answer. Query counts are checked on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.translation import override

from tests.activities.fixtures import NOW, at, first_shift, new_volunteer
from tests.activities.test_concurrency import race, seat_written_on
from tests.factories import make_user
from zhiyuan.accounts.models import ApiToken
from zhiyuan.accounts.roles import Role
from zhiyuan.accounts.services import token_create, token_revoke
from zhiyuan.activities import services
from zhiyuan.activities.models import (
    Activity,
    ActivityAudit,
    ActivityStatus,
    Approval,
    ServiceSession,
    Shift,
    Signup,
    SignupStatus,
)
from zhiyuan.core.audit import entry_mac
from zhiyuan.core.models import AuditEvent
from zhiyuan.people.models import (
    Identity,
    ProfileStatus,
    Qualification,
    QualificationKind,
    Skill,
)
from zhiyuan.safeguards.models import (
    AgreementTemplate,
    InsurancePolicy,
    InsuredPerson,
    SanctionKind,
)
from zhiyuan.safeguards.selectors import agreement_current_version
from zhiyuan.safeguards.services import (
    agreement_accept,
    agreement_template_create,
    sanction_impose,
)

pytestmark = pytest.mark.django_db
CHECKINS = "/api/v1/activities/checkins"


class Paths:
    """Runs requests with the quick paths on (and records whether they acted) or off."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.acted: list[bool] = []
        self.originals = {
            "checkin_scan_by_token": services.checkin_scan_by_token,
            "signup_create_by_token": services.signup_create_by_token,
        }

    def quick(self) -> None:
        for name, original in self.originals.items():

            def spy(*, _original: Callable[..., Any] = original, **kwargs: Any) -> Any:
                result = _original(**kwargs)
                self.acted.append(result is not None)
                return result

            self.monkeypatch.setattr(services, name, spy)

    def full(self) -> None:
        for name in self.originals:
            self.monkeypatch.setattr(services, name, lambda **kwargs: None)


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> Paths:
    return Paths(monkeypatch)


def bearer(user: Any) -> dict[str, str]:
    _, key = token_create(user=user, name="phone")
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def post(client: Client, url: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    with override("en"):
        return client.post(url, json.dumps(body), content_type="application/json", **headers)


def answer(response: Any) -> tuple[int, dict[str, Any]]:
    """Status and body, without the row id (two people get two rows)."""
    body = dict(response.json())  # a copy: the client keeps the decoded body
    body.pop("id", None)
    return response.status_code, body


def quick_acts() -> bool:
    return connection.vendor == "postgresql"


# --- check-in ---------------------------------------------------------------------------------


@pytest.fixture
def gate(make_activity, community, frozen_clock) -> dict[str, Any]:
    """One shift at 9:00 with seats for everyone here, the clock at 8:55 on the day."""
    shift = first_shift(make_activity(capacity=10))
    people = [new_volunteer(community) for _ in range(2)]
    for person in people:
        services.signup_create(shift=shift, volunteer=person)
    frozen_clock.move_to(at(4, 8, 55))
    return {"shift": shift, "people": people, "code": services.checkin_code(shift)}


def test_a_quick_checkin_is_the_full_one_and_replays_find_it(client, gate, paths):
    quick_person, full_person = gate["people"]
    body = {"code": gate["code"], "client_at": "2026-03-04T08:54:00+08:00"}
    paths.quick()
    quick_headers = bearer(quick_person)
    first = post(client, CHECKINS, body, quick_headers)
    replays = [post(client, CHECKINS, body, quick_headers) for _ in range(100)]
    assert paths.acted == [quick_acts()] * 101
    paths.full()
    full_headers = bearer(full_person)
    full_first = post(client, CHECKINS, body, full_headers)
    full_again = post(client, CHECKINS, body, full_headers)
    assert answer(first) == answer(full_first)
    assert first.status_code == 201 and first.json()["checkin_method"] == "qr"
    assert all(answer(r) == answer(full_again) for r in replays)
    assert all(r.json()["id"] == first.json()["id"] for r in replays)
    assert first["Content-Type"] == full_first["Content-Type"]
    quick_row = ServiceSession.objects.get(volunteer=quick_person)
    full_row = ServiceSession.objects.get(volunteer=full_person)
    fields = [
        "shift_id",
        "need_key",
        "organization_id",
        "checked_in_at",
        "client_checked_in_at",
        "checkin_method",
        "checkin_evidence",
        "checked_out_at",
        "checkout_method",
        "checkout_evidence",
        "flags",
    ]
    assert [getattr(quick_row, f) for f in fields] == [getattr(full_row, f) for f in fields]
    assert quick_row.client_checked_in_at == at(4, 8, 54)
    assert ServiceSession.objects.count() == 2


def _refusal_cases() -> list[str]:
    return [
        "expired",
        "forged",
        "malformed",
        "other_activity",
        "waitlisted",
        "too_early",
        "over",
        "cancelled",
        "revoked_token",
        "expired_token",
        "inactive_user",
        "not_a_volunteer",
        "no_token",
        "missing",
        "invalid_body",
    ]


def _checkin_case(
    case: str, gate: dict[str, Any], make_activity: Any, community: Any, frozen_clock: Any
) -> tuple[dict[str, Any], dict[str, str]]:
    """Make the situation ``case`` for a new seated person; their body and headers."""
    shift = gate["shift"]
    person = new_volunteer(community)
    services.signup_create(shift=shift, volunteer=person)
    headers = bearer(person)
    code = services.checkin_code(shift)
    body: dict[str, Any] = {"code": code}
    if case == "expired":
        body["code"] = services.checkin_code(shift, timezone.now() - dt.timedelta(minutes=2))
    elif case == "forged":
        body["code"] = code.rsplit(".", 1)[0] + ".AAAAAAAAAAAAAAAA"
    elif case == "malformed":
        body["code"] = "hello"
    elif case == "other_activity":
        body["code"] = services.checkin_code(first_shift(make_activity(title="别的活动")))
    elif case == "waitlisted":
        Signup.objects.filter(volunteer=person).update(status=SignupStatus.WAITLISTED)
    elif case == "too_early":
        Shift.objects.filter(pk=shift.pk).update(starts_at=at(4, 11), ends_at=at(4, 13))
    elif case == "over":
        Shift.objects.filter(pk=shift.pk).update(starts_at=at(4, 7), ends_at=at(4, 8))
    elif case == "cancelled":
        Activity.objects.filter(pk=shift.activity_id).update(status=ActivityStatus.CANCELLED)
    elif case == "revoked_token":
        token = ApiToken.objects.filter(user=person).get()
        token_revoke(token=token, user=person)
    elif case == "expired_token":
        ApiToken.objects.filter(user=person).update(expires_at=timezone.now())
    elif case == "inactive_user":
        type(person).objects.filter(pk=person.pk).update(is_active=False)
    elif case == "not_a_volunteer":
        headers = bearer(make_user(Role.RESIDENT, region=community))
    elif case == "no_token":
        headers = {}
    elif case == "missing":
        body = {"client_at": "2026-03-04T08:54:00+08:00"}
    elif case == "invalid_body":
        body = {"code": code, "client_at": "yesterday"}
    return body, headers


@pytest.mark.parametrize("case", _refusal_cases())
def test_every_checkin_refusal_is_the_full_services(
    client, gate, paths, case, make_activity, community, frozen_clock
):
    answers = []
    for run in (paths.quick, paths.full):
        run()
        body, headers = _checkin_case(case, gate, make_activity, community, frozen_clock)
        refusals = AuditEvent.objects.count()
        answers.append(
            (answer(post(client, CHECKINS, body, headers)), AuditEvent.objects.count() - refusals)
        )
        # Undo what the case changed on the shared shift, for the second run.
        Shift.objects.filter(pk=gate["shift"].pk).update(starts_at=at(4, 9), ends_at=at(4, 12))
        Activity.objects.filter(pk=gate["shift"].activity_id).update(
            status=ActivityStatus.PUBLISHED
        )
    assert answers[0] == answers[1]
    (status, body), _ = answers[0]
    assert status in (401, 403, 422)
    assert set(paths.acted) <= {False}
    expected = {
        "expired": "expired",
        "forged": "forged",
        "malformed": "malformed",
        "other_activity": "not_signed_up",
        "waitlisted": "not_signed_up",
        "too_early": "too_early",
        "over": "over",
        "cancelled": "closed",
        "revoked_token": "unauthenticated",
        "expired_token": "unauthenticated",
        "inactive_user": "unauthenticated",
        "not_a_volunteer": "forbidden",
        "no_token": "unauthenticated",
        "missing": "missing",
        "invalid_body": "invalid",
    }
    assert body["code"] == expected[case]
    assert ServiceSession.objects.count() == 0


def test_a_refused_code_is_explained_in_the_persons_language(client, gate, paths):
    paths.quick()
    headers = bearer(gate["people"][0])
    forged = json.dumps({"code": gate["code"].rsplit(".", 1)[0] + ".AAAAAAAAAAAAAAAA"})
    said = {
        language: client.post(
            CHECKINS,
            forged,
            content_type="application/json",
            HTTP_ACCEPT_LANGUAGE=language,
            **headers,
        ).json()
        for language in ("en", "zh-hans")
    }
    assert said["en"]["code"] == said["zh-hans"]["code"] == "forged"
    assert said["en"]["message"] == "This is not a genuine check-in code."
    assert said["zh-hans"]["message"] == "这不是有效的签到码。"
    assert AuditEvent.objects.filter(action=ActivityAudit.CHECKIN_REFUSED).count() == 2


def test_revoking_a_token_stops_quick_checkins_at_once(client, gate, paths):
    paths.quick()
    person = gate["people"][0]
    headers = bearer(person)
    assert post(client, CHECKINS, {"code": gate["code"]}, headers).status_code == 201
    token_revoke(token=ApiToken.objects.get(user=person, name="phone"), user=person)
    again = post(client, CHECKINS, {"code": gate["code"]}, headers)
    assert again.status_code == 401 and again.json()["code"] == "unauthenticated"


def test_a_shift_moved_by_the_organiser_is_seen_at_once(client, gate, paths):
    paths.quick()
    headers = bearer(gate["people"][0])
    Shift.objects.filter(pk=gate["shift"].pk).update(starts_at=at(4, 14), ends_at=at(4, 16))
    moved = post(client, CHECKINS, {"code": gate["code"]}, headers)
    assert moved.status_code == 422 and moved.json()["code"] == "too_early"
    Shift.objects.filter(pk=gate["shift"].pk).update(starts_at=at(4, 9), ends_at=at(4, 12))
    assert post(client, CHECKINS, {"code": gate["code"]}, headers).status_code == 201


def test_geofenced_and_session_checkins_still_go_the_full_way(client, gate, paths):
    paths.quick()
    person = gate["people"][0]
    located = post(
        client,
        CHECKINS,
        {
            "shift": gate["shift"].pk,
            "lat": gate["shift"].activity.lat,
            "lng": gate["shift"].activity.lng,
        },
        bearer(person),
    )
    assert located.status_code == 201 and located.json()["checkin_method"] == "geofence"
    client.force_login(gate["people"][1])
    by_session = client.post(
        CHECKINS, json.dumps({"code": gate["code"]}), content_type="application/json"
    )
    assert by_session.status_code == 201 and by_session.json()["checkin_method"] == "qr"


@pytest.mark.postgres
def test_a_quick_checkin_is_one_statement_and_a_replay_two(client, gate, paths):
    paths.quick()
    headers = bearer(gate["people"][0])
    ApiToken.objects.update(last_used_at=NOW)  # as for a phone that used its token just now
    answers = []
    for expected_statements in (1, 2):
        with CaptureQueriesContext(connection) as queries:
            response = post(client, CHECKINS, {"code": gate["code"]}, headers)
        answers.append(response)
        assert len(queries) == expected_statements, [q["sql"][:80] for q in queries]
    assert [a.status_code for a in answers] == [201, 200]
    assert answers[0].json() == answers[1].json()
    # The replay's second statement reads the session by its unique key.
    assert "FROM activities_servicesession" in queries[1]["sql"]
    assert paths.acted == [True, True]


@pytest.mark.postgres
def test_a_replay_reads_its_session_by_a_statement_planned_each_time(client, gate, paths):
    """The check-in itself is prepared once per connection; the replay's lookup is not, so no
    plan made while the sessions table was nearly empty (a whole-table read on every replay)
    can outlive the first minutes of a big event."""
    paths.quick()
    headers = bearer(gate["people"][0])
    for _ in range(8):  # past PostgreSQL's five custom plans before it may keep a generic one
        assert post(client, CHECKINS, {"code": gate["code"]}, headers).status_code in (200, 201)
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("INSERT INTO activities_servicesession" in sql for sql in prepared)
    assert not any(
        "SELECT 'found'" in sql or "WHERE shift_id = $1 AND volunteer_id = $2" in sql
        for sql in prepared
    ), prepared


# --- sign-up ----------------------------------------------------------------------------------


def signups_url(shift: Shift) -> str:
    return f"/api/v1/activities/shifts/{shift.pk}/signups"


def test_a_quick_signup_is_the_full_one(client, make_activity, community, paths):
    shift = first_shift(make_activity(capacity=10))
    quick_person, full_person = new_volunteer(community), new_volunteer(community)
    paths.quick()
    quick_headers = bearer(quick_person)
    quick = post(client, signups_url(shift), {"waitlist": True}, quick_headers)
    again = post(client, signups_url(shift), {}, quick_headers)
    assert paths.acted == [quick_acts(), False]  # the second finds the first, the full way
    paths.full()
    full = post(client, signups_url(shift), {"waitlist": True}, bearer(full_person))
    assert answer(quick) == answer(full)
    assert quick.status_code == 201 and quick.json()["status"] == SignupStatus.CONFIRMED
    assert again.status_code == 201 and again.json()["id"] == quick.json()["id"]
    rows = {s.volunteer_id: s for s in Signup.objects.filter(shift=shift)}
    fields = ["status", "created_at", "signed_up_by_id", "team_id", "decided_at", "late_cancel"]
    assert [getattr(rows[quick_person.pk], f) for f in fields[:1] + fields[3:]] == [
        getattr(rows[full_person.pk], f) for f in fields[:1] + fields[3:]
    ]
    assert rows[quick_person.pk].signed_up_by_id == quick_person.pk
    shift.refresh_from_db()
    assert shift.seats_taken == 2
    audits = AuditEvent.objects.filter(action=ActivityAudit.SIGNED_UP).order_by("id")
    assert [(a.actor_id, a.object_type, a.detail) for a in audits] == [
        (quick_person.pk, "activities.signup", {"shift": shift.pk, "status": "confirmed"}),
        (full_person.pk, "activities.signup", {"shift": shift.pk, "status": "confirmed"}),
    ]
    assert audits[0].object_id == str(rows[quick_person.pk].pk)


def test_a_quick_signup_joins_the_waitlist_when_full(client, make_activity, community, paths):
    shift = first_shift(make_activity(capacity=1))
    services.signup_create(shift=shift, volunteer=new_volunteer(community))
    paths.quick()
    waiting = post(client, signups_url(shift), {"waitlist": True}, bearer(new_volunteer(community)))
    refused = post(
        client, signups_url(shift), {"waitlist": False}, bearer(new_volunteer(community))
    )
    paths.full()
    full_waiting = post(client, signups_url(shift), {}, bearer(new_volunteer(community)))
    assert answer(waiting) == answer(full_waiting)
    assert waiting.json()["status"] == SignupStatus.WAITLISTED
    assert refused.status_code == 422 and [r["code"] for r in refused.json()["reasons"]] == ["full"]
    assert paths.acted == [quick_acts(), False]
    shift.refresh_from_db()
    assert shift.seats_taken == 1
    # Each waiting sign-up's audit entry names its status, and its MAC holds.
    for response in (waiting, full_waiting):
        entry = AuditEvent.objects.get(
            action=ActivityAudit.SIGNED_UP, object_id=str(response.json()["id"])
        )
        assert entry.detail == {"shift": shift.pk, "status": SignupStatus.WAITLISTED}
        assert entry.mac == entry_mac(entry)


SIGNUP_CASES = [
    "closed",
    "draft",
    "not_registered",
    "not_active",
    "sanction",
    "age",
    "age_unknown",
    "skill_missing",
    "qualification_missing",
    "qualification_expired",
    "no_insurance",
    "not_named",
    "agreement",
    "clash",
    "manual_approval",
    "named_and_qualified",
    "agreement_accepted",
]


def _signup_case(case: str, ctx: dict[str, Any]) -> tuple[Shift, Any]:
    """A new activity and a new person in the situation ``case``."""
    make, community, org, organiser = ctx["make"], ctx["community"], ctx["org"], ctx["organiser"]
    fields: dict[str, Any] = {}
    birth = "19900101"
    if case in ("age", "age_unknown"):
        fields["no_minors"] = True
        birth = "20100301"
    if case == "skill_missing":
        skill, _ = Skill.objects.get_or_create(
            code="first-aid", defaults={"name_zh": "应急救护", "name_en": "First aid"}
        )
        fields["skills"] = [skill]
    if case in ("qualification_missing", "qualification_expired", "named_and_qualified"):
        fields["qualifications"] = [QualificationKind.FIRST_AID]
    if case in ("agreement", "agreement_accepted"):
        if not AgreementTemplate.objects.filter(organization=org).exists():
            agreement_template_create(
                organization=org, title="服务协议", body="……", actor=organiser
            )
        fields["agreement_marked"] = True
    if case == "manual_approval":
        fields["approval"] = Approval.MANUAL
    activity = make(publish=case != "draft", **fields)
    shift = first_shift(activity)
    if case == "not_registered":
        person = make_user(Role.VOLUNTEER, region=community)
    elif case == "not_active":
        person = new_volunteer(community, status=ProfileStatus.AWAITING_GUARDIAN)
    else:
        person = new_volunteer(community, birth=birth)
    if case == "age_unknown":
        Identity.objects.filter(user=person).delete()
    if case in ("qualification_expired", "named_and_qualified"):
        Qualification.objects.create(
            profile=person.volunteer,
            kind=QualificationKind.FIRST_AID,
            issuer="北京市红十字会",
            valid_until=dt.date(2026, 3, 1) if case == "qualification_expired" else None,
        )
    if case == "sanction":
        sanction_impose(
            party=person,
            kind=SanctionKind.SUSPENSION,
            reason="多次无故缺席",
            ends_at=NOW + dt.timedelta(days=10),
            actor=ctx["region_admin"],
        )
    if case == "closed":
        Shift.objects.filter(pk=shift.pk).update(starts_at=at(2, 8), ends_at=at(4, 12))
    if case == "no_insurance":
        InsurancePolicy.objects.update(activity_types=["medical"])
    if case in ("not_named", "named_and_qualified"):
        InsurancePolicy.objects.update(basis="named")
        if case == "named_and_qualified":
            InsuredPerson.objects.create(policy=InsurancePolicy.objects.get(), user=person)
    if case == "clash":
        other = make(title="另一项活动", insurance_required=False)
        services.signup_create(shift=first_shift(other), volunteer=person)
    if case == "agreement_accepted":
        template = activity.agreement
        agreement_accept(
            version=agreement_current_version(template), user=person, subject=activity.key
        )
    return shift, person


@pytest.mark.parametrize("case", SIGNUP_CASES)
def test_every_signup_answer_is_the_full_services(
    client, make_activity, community, org, organiser, region_admin, paths, case
):
    """Inside the test's transaction: on PostgreSQL the quick path's two statements run in a
    savepoint of it."""
    _every_signup_answer(
        client, make_activity, community, org, organiser, region_admin, paths, case
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("case", SIGNUP_CASES)
def test_every_signup_answer_is_the_full_services_on_its_own(
    client, make_activity, community, org, organiser, region_admin, paths, case
):
    """As a request runs in production (autocommit): the quick path's two statements run each
    on its own, one that reads and one that writes (the function ``activities_signup_take``)."""
    _every_signup_answer(
        client, make_activity, community, org, organiser, region_admin, paths, case
    )


def _every_signup_answer(
    client, make_activity, community, org, organiser, region_admin, paths, case
) -> None:
    ctx = {
        "make": make_activity,
        "community": community,
        "org": org,
        "organiser": organiser,
        "region_admin": region_admin,
    }
    policy = InsurancePolicy.objects.get()
    policy_basis, policy_types = policy.basis, policy.activity_types
    answers = []
    for run in (paths.quick, paths.full):
        run()
        shift, person = _signup_case(case, ctx)
        headers = bearer(person)
        before = AuditEvent.objects.count()
        response = post(client, signups_url(shift), {"waitlist": True}, headers)
        status, body = answer(response)
        for key in ("shift", "activity", "starts_at", "ends_at"):
            body.pop(key, None)  # each run has its own activity
        if case == "sanction":  # and its own sanction, with its own number
            body = json.loads(re.sub(r"第\d+号", "第N号", json.dumps(body, ensure_ascii=False)))
        actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
        answers.append((status, body, actions[before:]))
        InsurancePolicy.objects.update(basis=policy_basis, activity_types=policy_types)
    assert answers[0] == answers[1]
    quick_ok = case in ("named_and_qualified", "agreement_accepted")
    assert paths.acted == [quick_ok and quick_acts()]
    status, body, actions = answers[0]
    if quick_ok:
        assert (status, body["status"]) == (201, SignupStatus.CONFIRMED)
        assert actions == [ActivityAudit.SIGNED_UP]
    elif case == "manual_approval":
        assert (status, body["status"]) == (201, SignupStatus.PENDING)
    elif case == "draft":
        assert status == 404
    else:
        expected = "no_insurance" if case == "not_named" else case
        assert (status, [r["code"] for r in body["reasons"]]) == (422, [expected])
        assert actions == [ActivityAudit.SIGNUP_REFUSED]


@pytest.mark.postgres
def test_a_quick_signup_is_two_statements_the_second_writing_everything(
    client, make_activity, community, paths
):
    shift = first_shift(make_activity(capacity=10))
    paths.quick()
    person = new_volunteer(community)
    headers = bearer(person)  # a token never used before: its first use is recorded as well
    with CaptureQueriesContext(connection) as queries:
        response = post(client, signups_url(shift), {"waitlist": True}, headers)
    assert response.status_code == 201 and paths.acted == [True]
    assert ApiToken.objects.get(user=person).last_used_at is not None
    statements = [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(statements) == 2, statements
    assert "FOR " not in statements[0]  # the facts: read without a lock
    assert "activities_signup_take(" in statements[1]
    # The entry it wrote is the one the full service writes, and its MAC holds.
    entry = AuditEvent.objects.get(action=ActivityAudit.SIGNED_UP)
    signup = Signup.objects.get(shift=shift, volunteer=person)
    assert (entry.actor_id, entry.object_type, entry.object_id) == (
        person.pk,
        "activities.signup",
        str(signup.pk),
    )
    assert entry.detail == {"shift": shift.pk, "status": SignupStatus.CONFIRMED}
    assert entry.mac == entry_mac(entry)


def test_a_signup_records_the_tokens_use_at_most_every_five_minutes(
    client, make_activity, community, paths
):
    """As ``token_authenticate`` does, on either path: a token never used or last used over
    five minutes ago is stamped with this use, one used a minute ago is left as it is."""
    shift = first_shift(make_activity(capacity=10))
    paths.quick()
    fresh, recent, stale = (new_volunteer(community) for _ in range(3))
    headers = {person.pk: bearer(person) for person in (fresh, recent, stale)}
    before = timezone.now()
    minute_ago, six_minutes_ago = before - dt.timedelta(minutes=1), before - dt.timedelta(minutes=6)
    ApiToken.objects.filter(user=recent).update(last_used_at=minute_ago)
    ApiToken.objects.filter(user=stale).update(last_used_at=six_minutes_ago)
    for person in (fresh, recent, stale):
        response = post(client, signups_url(shift), {"waitlist": True}, headers[person.pk])
        assert response.status_code == 201, response.content
    assert paths.acted == [quick_acts()] * 3
    used = dict(ApiToken.objects.values_list("user_id", "last_used_at"))
    assert used[fresh.pk] >= before and used[stale.pk] >= before
    assert used[recent.pk] == minute_ago


# --- races on PostgreSQL (real concurrent connections) ------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_quick_scans_make_one_checkin_and_all_answer_quickly(
    make_activity, volunteer, frozen_clock
):
    shift = first_shift(make_activity())
    services.signup_create(shift=shift, volunteer=volunteer)
    _, key = token_create(user=volunteer, name="phone")
    frozen_clock.move_to(at(4, 9, 0))
    code = services.checkin_code(shift)
    results = race([lambda: services.checkin_scan_by_token(token=key, code=code)] * 8)
    # Those that waited on the first insert ran once more and found it: none fell back.
    assert all(isinstance(r, services.FastCheckin) for r in results), results
    assert [r.created for r in results].count(True) == 1
    assert len({r.session_id for r in results}) == 1
    assert ServiceSession.objects.filter(shift=shift).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_quick_and_full_signups_race_for_ten_seats(make_activity, community):
    shift = first_shift(make_activity(capacity=10))
    people = [new_volunteer(community) for _ in range(50)]
    keys = [token_create(user=p, name="phone")[1] for p in people]

    def quick_or_full(index: int) -> str:
        if index % 2 == 0:
            done = services.signup_create_by_token(token=keys[index], shift_id=shift.pk)
            if done is not None:
                return done.status
        return services.signup_create(shift=shift, volunteer=people[index]).status

    results = race([lambda i=i: quick_or_full(i) for i in range(50)])
    assert not [r for r in results if isinstance(r, Exception)], results
    assert results.count(SignupStatus.CONFIRMED) == 10
    assert results.count(SignupStatus.WAITLISTED) == 40
    shift.refresh_from_db()
    assert shift.seats_taken == 10
    assert Signup.objects.filter(shift=shift, status=SignupStatus.CONFIRMED).count() == 10
    assert AuditEvent.objects.filter(action=ActivityAudit.SIGNED_UP).count() == 50


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_person_signing_up_twice_at_once_gets_one_signup(make_activity, volunteer):
    shift = first_shift(make_activity(capacity=10))
    _, key = token_create(user=volunteer, name="phone")
    results = race(
        [lambda: services.signup_create_by_token(token=key, shift_id=shift.pk)] * 4
        + [lambda: services.signup_create(shift=shift, volunteer=volunteer)] * 4
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    assert Signup.objects.filter(shift=shift, volunteer=volunteer).count() == 1
    shift.refresh_from_db()
    assert shift.seats_taken == 1


def waiting_on_a_lock(pid: int) -> None:
    """Return once the backend ``pid`` waits for a lock (asked of PostgreSQL until it does)."""
    import psycopg

    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as watcher:
        for _ in range(100_000):
            row = watcher.execute(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid]
            ).fetchone()
            if row is not None and row[0] == "Lock":
                return
            watcher.execute("SELECT pg_sleep(0.001)")
    raise AssertionError(f"backend {pid} never waited for a lock")


def call_in_a_thread(work: Any, done: dict[str, Any]) -> Any:
    """``work()`` on its own connection, in a thread: its backend's pid and its result (or the
    exception it raised) appended to ``done["pids"]`` and ``done["results"]``."""
    import threading

    started = threading.Event()

    def run() -> None:
        try:
            connection.ensure_connection()
            done.setdefault("pids", []).append(connection.connection.info.backend_pid)
            started.set()
            try:
                result = work()
            except Exception as exc:  # kept for the test to look at
                result = exc
            done.setdefault("results", []).append(result)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    assert started.wait(timeout=30)
    return thread


def quick_signup_in_a_thread(key: str, shift: Shift, done: dict[str, Any]) -> Any:
    return call_in_a_thread(
        lambda: services.signup_create_by_token(token=key, shift_id=shift.pk), done
    )


def once_it_waits(other: Any, work: Any, done: dict[str, Any]) -> None:
    """``work`` in a thread while ``other`` holds its locks; ``other`` commits once the thread
    waits for one of them; then the thread is waited for."""
    thread = call_in_a_thread(work, done)
    waiting_on_a_lock(done["pids"][-1])
    other.commit()
    thread.join(timeout=30)


def nothing_signed_up(shift: Shift) -> None:
    assert not Signup.objects.filter(shift=shift).exists()
    shift.refresh_from_db()
    assert shift.seats_taken == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_quick_signup_and_a_commit_that_refers_to_the_person_wait_on_nobody_in_a_ring(
    make_activity, volunteer
):
    """The quick sign-up's function locks the person, then refreshes the token's last use.
    Another transaction holds the token's row (as a check-in refreshing it does), so the
    function waits for it; that transaction then commits a row that refers to the person (its
    foreign key takes a key-share lock on the person at commit). The function's lock is FOR NO
    KEY UPDATE, which that key-share lock does not wait for: the other transaction commits, the
    sign-up goes on and commits too. Locked FOR UPDATE, each would wait for the other until the
    deadlock detector cancelled one."""
    import psycopg

    from zhiyuan.core.audit import AUDIT_INSERT_COLUMNS

    shift = first_shift(make_activity(capacity=10))
    token, key = token_create(user=volunteer, name="phone")
    ApiToken.objects.filter(pk=token.pk).update(
        last_used_at=timezone.now() - dt.timedelta(minutes=10)  # its refresh is due
    )
    done: dict[str, Any] = {}
    with psycopg.connect(**connection.get_connection_params()) as other:
        other.execute("UPDATE accounts_apitoken SET last_used_at = now() WHERE id = %s", [token.pk])
        thread = quick_signup_in_a_thread(key, shift, done)
        waiting_on_a_lock(done["pids"][0])  # the function: the person locked, waiting for the token
        other.execute(
            f"INSERT INTO core_auditevent ({AUDIT_INSERT_COLUMNS}) VALUES "  # noqa: S608 — fixed names
            "(now(), %s, NULL, 'test.refers', 'accounts.user', %s, 'ok', '{}', '')",
            [volunteer.pk, str(volunteer.pk)],
        )
        other.commit()  # the key-share lock on the person: granted beside the sign-up's lock
        thread.join(timeout=30)
    (result,) = done["results"]
    assert result is not None and result.status == SignupStatus.CONFIRMED
    assert Signup.objects.get(shift=shift, volunteer=volunteer).status == SignupStatus.CONFIRMED


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_quick_signups_for_clashing_shifts_at_once_take_one_seat(make_activity, volunteer):
    """Both read the facts (no clash yet) and wait for the person's lock; the first takes its
    seat and commits; the second, once it has the lock, looks again on what committed up to
    then, finds the clash and writes nothing. (Looked for in the snapshot its statement began
    with, it would have missed the first one's seat.) The full service then names the clash."""
    import psycopg

    first_activity, second_activity = make_activity(capacity=10), make_activity(capacity=10)
    shifts = [first_shift(first_activity), first_shift(second_activity)]
    assert shifts[0].starts_at < shifts[1].ends_at and shifts[1].starts_at < shifts[0].ends_at
    _, key = token_create(user=volunteer, name="phone")
    done: dict[str, Any] = {}
    with psycopg.connect(**connection.get_connection_params()) as other:
        other.execute("SELECT 1 FROM accounts_user WHERE id = %s FOR UPDATE", [volunteer.pk])
        threads = []
        for shift in shifts:
            threads.append(quick_signup_in_a_thread(key, shift, done))
            waiting_on_a_lock(done["pids"][-1])  # both have read the facts: no clash yet
        other.commit()
        for thread in threads:
            thread.join(timeout=30)
    results = done["results"]
    assert sorted(r is None for r in results) == [False, True], results
    assert Signup.objects.filter(volunteer=volunteer).count() == 1
    assert (
        sum(
            Shift.objects.filter(pk__in=[s.pk for s in shifts]).values_list(
                "seats_taken", flat=True
            )
        )
        == 1
    )
    late = next(s for s in shifts if not Signup.objects.filter(shift=s).exists())
    with pytest.raises(services.SignupRefused) as refused:
        services.signup_create(shift=late, volunteer=volunteer)
    assert [r.code for r in refused.value.reasons] == ["clash"]


def cancelling_uncommitted(other: Any, activity: Activity) -> None:
    """What ``activity_cancel`` does, on the connection ``other``, not yet committed: the
    activity locked, its live sign-ups cancelled, its seats freed, its status cancelled."""
    other.execute("SELECT 1 FROM activities_activity WHERE id = %s FOR UPDATE", [activity.pk])
    other.execute(
        "UPDATE activities_signup s SET status = 'cancelled', cancelled_at = now(), "
        "cancel_reason = 'storm' FROM activities_shift sh WHERE sh.id = s.shift_id "
        "AND sh.activity_id = %s AND s.status = ANY(%s)",
        [activity.pk, [str(status) for status in services.LIVE]],
    )
    other.execute(
        "UPDATE activities_shift SET seats_taken = 0 WHERE activity_id = %s", [activity.pk]
    )
    other.execute(
        "UPDATE activities_activity SET status = 'cancelled', cancelled_at = now() WHERE id = %s",
        [activity.pk],
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["quick", "full"])
def test_a_signup_waiting_for_a_cancelling_in_progress_finds_the_activity_closed(
    make_activity, volunteer, path
):
    """The activity is being cancelled (its lock held, its sign-ups cancelled, not yet
    committed) when a sign-up comes: the sign-up waits for it, then finds the activity no
    longer open, and writes nothing; the full service names the reason."""
    import psycopg

    activity = make_activity(capacity=10)
    shift = first_shift(activity)
    _, key = token_create(user=volunteer, name="phone")
    done: dict[str, Any] = {}

    def sign_up() -> Any:
        if path == "quick":
            return services.signup_create_by_token(token=key, shift_id=shift.pk)
        try:
            return services.signup_create(shift=Shift.objects.get(pk=shift.pk), volunteer=volunteer)
        except services.SignupRefused as refused:
            return [r.code for r in refused.reasons]

    with psycopg.connect(**connection.get_connection_params()) as other:
        cancelling_uncommitted(other, activity)
        once_it_waits(other, sign_up, done)
    (result,) = done["results"]
    assert result == (None if path == "quick" else ["closed"]), result
    nothing_signed_up(shift)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_cancelling_waits_for_a_signup_in_progress_and_cancels_it_too(
    make_activity, volunteer, organiser
):
    """A sign-up holds the activity's share lock (as ``_activity_open_locked`` and the quick
    sign-up's function take it) and has written its seat, not yet committed: cancelling the
    activity waits for it, and then cancels that sign-up with the others."""
    import psycopg

    activity = make_activity(capacity=10)
    shift = first_shift(activity)
    done: dict[str, Any] = {}
    with psycopg.connect(**connection.get_connection_params()) as other:
        other.execute("SELECT 1 FROM activities_activity WHERE id = %s FOR SHARE", [activity.pk])
        other.execute("UPDATE activities_shift SET seats_taken = 1 WHERE id = %s", [shift.pk])
        seat_written_on(other, shift, volunteer)
        once_it_waits(
            other,
            lambda: services.activity_cancel(
                activity=Activity.objects.get(pk=activity.pk), actor=organiser, reason="storm"
            ),
            done,
        )
    assert Signup.objects.get(shift=shift).status == SignupStatus.CANCELLED
    shift.refresh_from_db()
    assert shift.seats_taken == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_quick_signup_waiting_for_an_account_being_closed_writes_nothing(
    make_activity, volunteer
):
    """The account is being closed (locked, made inactive, its tokens deleted, not yet
    committed) when its phone signs up: the sign-up waits for the person's lock, then finds
    the account closed, and writes nothing."""
    import psycopg

    shift = first_shift(make_activity(capacity=10))
    _, key = token_create(user=volunteer, name="phone")
    done: dict[str, Any] = {}
    with psycopg.connect(**connection.get_connection_params()) as other:
        other.execute("SELECT 1 FROM accounts_user WHERE id = %s FOR UPDATE", [volunteer.pk])
        other.execute("UPDATE accounts_user SET is_active = false WHERE id = %s", [volunteer.pk])
        other.execute("DELETE FROM accounts_apitoken WHERE user_id = %s", [volunteer.pk])
        once_it_waits(
            other, lambda: services.signup_create_by_token(token=key, shift_id=shift.pk), done
        )
    assert done["results"] == [None]
    nothing_signed_up(shift)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_quick_signup_on_a_connection_gone_bad_leaves_a_new_one_to_the_full_service(
    make_activity, volunteer, caplog
):
    """The quick sign-up does not ping the connection first (as the quick check-in): when the
    server dropped it, the quick path writes nothing, and the full service answers on a new
    connection."""
    import psycopg

    shift = first_shift(make_activity(capacity=10))
    _, key = token_create(user=volunteer, name="phone")
    connection.ensure_connection()
    dropped = connection.connection.info.backend_pid
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [dropped])
    assert services.signup_create_by_token(token=key, shift_id=shift.pk) is None
    assert "quick sign-up fell back to the full service" in caplog.text
    signup = services.signup_create(shift=shift, volunteer=volunteer)
    assert signup.status == SignupStatus.CONFIRMED
    assert connection.connection.info.backend_pid != dropped
    assert Signup.objects.filter(shift=shift, volunteer=volunteer).count() == 1
    shift.refresh_from_db()
    assert shift.seats_taken == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_quick_signup_on_its_own_reads_unlocked_and_writes_in_one_statement(
    make_activity, volunteer, monkeypatch
):
    """Outside any transaction: the facts are read without a lock (another connection finds
    the person free meanwhile), then one statement writes everything and commits."""
    import psycopg

    shift = first_shift(make_activity(capacity=10))
    _, key = token_create(user=volunteer, name="phone")
    seen: list[str] = []
    decide = services._quick_eligible

    def while_deciding(*args: Any) -> bool:
        with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
            try:
                other.execute(
                    "SELECT 1 FROM accounts_user WHERE id = %s FOR UPDATE NOWAIT", [volunteer.pk]
                )
                seen.append("free")
            except psycopg.errors.LockNotAvailable:
                seen.append("locked")
        return decide(*args)

    monkeypatch.setattr(services, "_quick_eligible", while_deciding)
    ApiToken.objects.update(last_used_at=timezone.now())  # no touch of the token's last use
    with CaptureQueriesContext(connection) as queries:
        done = services.signup_create_by_token(token=key, shift_id=shift.pk)
    assert done is not None and done.status == SignupStatus.CONFIRMED
    assert seen == ["free"]
    assert len(queries) == 2 and "activities_signup_take(" in queries[1]["sql"]
    assert not connection.in_atomic_block
    assert connection.connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    # Committed: seen from another connection, the seat, the sign-up and its audit entry.
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        other.execute("SELECT 1 FROM accounts_user WHERE id = %s FOR UPDATE NOWAIT", [volunteer.pk])
        seats = other.execute(
            "SELECT seats_taken FROM activities_shift WHERE id = %s", [shift.pk]
        ).fetchone()
        assert seats == (1,)
    assert Signup.objects.get(shift=shift, volunteer=volunteer).status == SignupStatus.CONFIRMED
    assert AuditEvent.objects.filter(action=ActivityAudit.SIGNED_UP).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_take_function_knows_the_statuses_the_code_knows():
    """``activities_signup_take`` has the live and seat-holding statuses written in (migration
    activities 0005): a change of either in the code needs a migration replacing it."""
    from zhiyuan.activities.models import LIVE, SEAT_HOLDING

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_functiondef('activities_signup_take'::regproc)")
        (body,) = cursor.fetchone()
    lists = re.findall(r"s\.status IN \(([^)]*)\)", body)

    def listed(statuses: Any) -> str:
        return ", ".join(f"'{s}'" for s in statuses)

    assert lists == [listed(LIVE), listed(SEAT_HOLDING)]
    assert re.findall(r"a\.status = '(\w+)'", body) == [ActivityStatus.PUBLISHED]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_connection_dropped_between_the_two_statements_writes_nothing(
    make_activity, volunteer, monkeypatch, caplog
):
    """The server goes away after the facts were read: the second statement never runs,
    nothing is kept, and the full service signs the person up on a new connection."""
    import psycopg

    shift = first_shift(make_activity(capacity=10))
    _, key = token_create(user=volunteer, name="phone")
    decide = services._quick_eligible

    def then_drop(*args: Any) -> bool:
        with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
            other.execute(
                "SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid]
            )
        return decide(*args)

    monkeypatch.setattr(services, "_quick_eligible", then_drop)
    assert services.signup_create_by_token(token=key, shift_id=shift.pk) is None
    assert "quick sign-up fell back to the full service" in caplog.text
    assert not Signup.objects.filter(shift=shift).exists()
    assert not AuditEvent.objects.filter(action=ActivityAudit.SIGNED_UP).exists()
    shift.refresh_from_db()
    assert shift.seats_taken == 0
    assert services.signup_create(shift=shift, volunteer=volunteer).status == SignupStatus.CONFIRMED
    shift.refresh_from_db()
    assert shift.seats_taken == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_apps_checkin_and_signup_through_the_sites_wsgi_handler(
    gate, make_activity, community, paths
):
    """As gunicorn serves them (zhiyuan.wsgi: the token lane, in autocommit): the quick
    check-in and the quick sign-up act, and answer as the test client's requests do."""
    from tests.core.test_token_lane import call
    from zhiyuan.core.handlers import SiteHandler

    app = SiteHandler()
    paths.quick()
    person = gate["people"][0]
    _, key = token_create(user=person, name="phone")
    status, headers, body = call(app, "POST", CHECKINS, token=key, body={"code": gate["code"]})
    assert status == 201 and json.loads(body)["checkin_method"] == "qr"
    assert headers["Cache-Control"] == "no-store"
    status, _, again = call(app, "POST", CHECKINS, token=key, body={"code": gate["code"]})
    assert status == 200 and json.loads(again)["id"] == json.loads(body)["id"]
    shift = first_shift(make_activity(capacity=10))
    newcomer = new_volunteer(community)
    _, newcomer_key = token_create(user=newcomer, name="phone")
    status, _, body = call(
        app, "POST", signups_url(shift), token=newcomer_key, body={"waitlist": True}
    )
    assert status == 201 and json.loads(body)["status"] == SignupStatus.CONFIRMED
    assert paths.acted == [True, True, True]
    assert ServiceSession.objects.filter(volunteer=person).count() == 1
    assert Signup.objects.get(shift=shift, volunteer=newcomer).status == SignupStatus.CONFIRMED


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_quick_signup_in_a_callers_manual_transaction_waits_for_its_commit(
    make_activity, volunteer
):
    """With autocommit off (a caller managing its own transaction), the quick sign-up runs its
    statements in a savepoint of that transaction: nothing is seen before the caller commits."""
    import psycopg
    from django.db import transaction

    shift = first_shift(make_activity(capacity=10))
    _, key = token_create(user=volunteer, name="phone")
    transaction.set_autocommit(False)
    try:
        done = services.signup_create_by_token(token=key, shift_id=shift.pk)
        assert done is not None and done.status == SignupStatus.CONFIRMED
        with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
            seen = other.execute(
                "SELECT count(*) FROM activities_signup WHERE shift_id = %s", [shift.pk]
            ).fetchone()
            assert seen == (0,)
        transaction.commit()
    finally:
        transaction.set_autocommit(True)
    assert Signup.objects.get(shift=shift, volunteer=volunteer).status == SignupStatus.CONFIRMED
    assert AuditEvent.objects.filter(action=ActivityAudit.SIGNED_UP).count() == 1


def test_the_busiest_endpoints_are_the_first_api_patterns_the_resolver_tries():
    """Django tries URL patterns in order, at a cost per pattern: the check-in and the sign-up
    come before the rest of the API (the order changes which view answers no path)."""
    from django.urls import get_resolver, resolve

    api_patterns = next(
        p for p in get_resolver(settings.ROOT_URLCONF).url_patterns if str(p.pattern) == "api/v1/"
    ).url_patterns
    routes = [str(p.pattern) for p in api_patterns]
    assert routes.index("activities/checkins") <= 2
    assert routes.index("activities/shifts/<int:shift_id>/signups") <= 3
    assert resolve(CHECKINS).url_name == "checkin"
    assert resolve("/api/v1/activities/shifts/7/signups").url_name == "signup_create"
    assert resolve("/api/v1/activities/7").kwargs == {"activity_id": 7}


def test_the_fixed_lists_written_into_the_quick_statements_are_codes_only(monkeypatch):
    """The roles, sanction kinds and statuses go into the statements as literals: a value that
    is not a plain lower-case code is refused rather than written into SQL."""
    from zhiyuan.core import permissions

    services._with_fixed_lists.cache_clear()
    try:
        written = services._with_fixed_lists("SELECT %(roles)s, %(live)s")
        assert "'volunteer'" in written and "'waitlisted'" in written and "%(" not in written
        services._with_fixed_lists.cache_clear()
        monkeypatch.setitem(permissions.ABILITIES, "activity.join", frozenset({"x'); DROP --"}))
        with pytest.raises(ValueError, match="roles"):
            services._with_fixed_lists("SELECT %(roles)s")
    finally:
        services._with_fixed_lists.cache_clear()
