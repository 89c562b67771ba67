"""Group sign-up of a team from a phone: the organiser picks a shift and members, each member
is checked as if alone (reasons shown), the choice is kept on error; the API lists teams and
members; outsiders are refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.utils.translation import override

from tests.activities.fixtures import first_shift, new_volunteer
from tests.factories import OrganizationFactory, make_user
from tests.records.helpers import bearer
from zhiyuan.accounts.roles import Role
from zhiyuan.activities import services
from zhiyuan.activities.models import Signup, SignupStatus
from zhiyuan.organizations.models import MemberRole, Membership

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(make_activity, org, organiser, community, district) -> dict[str, Any]:
    shift = first_shift(make_activity(capacity=2, title="社区环境清洁", no_minors=True))
    members = [new_volunteer(community) for _ in range(3)]
    child = new_volunteer(community, birth="20150101")  # too young for "no minors"
    for person in [*members, child]:
        Membership.objects.create(organization=org, user=person, role=MemberRole.MEMBER)
    other_org = OrganizationFactory(region=district, name="别的志愿队")
    return {
        "shift": shift,
        "members": members,
        "child": child,
        "stranger_admin": make_user(Role.ORG_ADMIN, organization=other_org),
        "volunteer": members[0],
    }


def test_the_organiser_signs_members_up_together_and_sees_each_result(
    client: Client, team, organiser, org
):
    shift = team["shift"]
    client.force_login(organiser)
    index = client.get("/activities/teams/").content.decode()
    assert "社区环境清洁" in index and f"/activities/teams/shifts/{shift.pk}/" in index
    page = client.get(f"/activities/teams/shifts/{shift.pk}/").content.decode()
    for person in [*team["members"], team["child"]]:
        assert f'value="{person.pk}"' in page
    chosen = [*team["members"], team["child"]]
    with override("en"):
        done = client.post(
            f"/activities/teams/shifts/{shift.pk}/",
            {"team": org.pk, "volunteers": [p.pk for p in chosen]},
            HTTP_ACCEPT_LANGUAGE="en",
        )
    text = done.content.decode()
    assert done.status_code == 200 and 'id="group-results"' in text
    statuses = {s.volunteer_id: s.status for s in Signup.objects.filter(shift=shift)}
    assert sorted(statuses.values()) == [
        SignupStatus.CONFIRMED,
        SignupStatus.CONFIRMED,
        SignupStatus.WAITLISTED,
    ]
    assert team["child"].pk not in statuses  # refused, with the reason shown
    assert all(s.team_id == org.pk for s in Signup.objects.filter(shift=shift))
    assert "not signed up" in text
    with override("en"):
        why = services.signup_eligibility(shift=shift, volunteer=team["child"])
    assert [r.code for r in why] == ["age"]
    # Worded about the member, by name, not to the organiser as if they were refused.
    child = team["child"].name
    assert (
        f"{child} was not signed up." in text
        and f"{child} will be 11 on 2026-03-04; this activity is for volunteers aged 18 or over."
        in text
    )
    assert "you will be" not in text and why[0].message not in text
    for signup in Signup.objects.filter(shift=shift).select_related("volunteer"):
        name = signup.volunteer.name
        if signup.status == SignupStatus.CONFIRMED:
            assert f"{name} is signed up." in text
        else:
            assert f"{name} is on the waitlist: the shift is full." in text
    assert "signed up: 2, on the waitlist: 1, not signed up: 1." in text
    shift.refresh_from_db()
    assert shift.seats_taken == 2


def test_choosing_nobody_is_refused_and_the_team_is_kept(client: Client, team, organiser, org):
    client.force_login(organiser)
    with override("en"):
        page = client.post(
            f"/activities/teams/shifts/{team['shift'].pk}/",
            {"team": org.pk},
            HTTP_ACCEPT_LANGUAGE="en",
        )
    assert page.status_code == 200
    assert "Choose at least one member." in page.content.decode()
    assert not Signup.objects.filter(shift=team["shift"]).exists()


def test_outsiders_cannot_sign_a_team_up(client: Client, team, org, community):
    url = f"/activities/teams/shifts/{team['shift'].pk}/"
    body = {"team": org.pk, "volunteers": [team["members"][0].pk]}
    client.force_login(team["stranger_admin"])
    # Another organisation's admin may not name a team that is not theirs.
    assert client.post(url, body).status_code == 403
    for outsider in (team["volunteer"], make_user(Role.RESIDENT, region=community)):
        client.force_login(outsider)
        assert client.get("/activities/teams/").status_code == 403
        assert client.get(url).status_code == 403
        assert client.post(url, body).status_code == 403
    client.logout()
    assert client.get(url).status_code == 302
    assert not Signup.objects.filter(shift=team["shift"]).exists()


def test_a_draft_shift_is_not_found(client: Client, make_activity, organiser):
    draft = first_shift(make_activity(publish=False, title="草稿"))
    client.force_login(organiser)
    assert client.get(f"/activities/teams/shifts/{draft.pk}/").status_code == 404


def test_the_api_lists_my_teams_with_members_for_the_group_endpoint(client: Client, team, org):
    headers = bearer(org.memberships.get(role=MemberRole.ADMIN).user)
    teams = client.get("/api/v1/activities/teams", **headers).json()
    assert [t["id"] for t in teams] == [org.pk]
    ids = {m["id"] for m in teams[0]["members"]}
    assert {p.pk for p in team["members"]} <= ids
    done = client.post(
        f"/api/v1/activities/shifts/{team['shift'].pk}/group-signups",
        json.dumps({"team": org.pk, "volunteers": [p.pk for p in team["members"][:2]]}),
        content_type="application/json",
        **headers,
    )
    assert done.status_code == 200
    assert [r["status"] for r in done.json()] == ["confirmed", "confirmed"]
    for outsider in (team["volunteer"],):
        assert client.get("/api/v1/activities/teams", **bearer(outsider)).status_code == 403
    stranger = client.get("/api/v1/activities/teams", **bearer(team["stranger_admin"])).json()
    assert org.pk not in [t["id"] for t in stranger]
