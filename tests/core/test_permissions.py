"""The access matrix: every page and endpoint refuses people outside its roles and scope."""

from __future__ import annotations

import pytest

from tests.factories import OrganizationFactory, make_user
from zhiyuan.accounts.roles import Role
from zhiyuan.core.models import AuditEvent
from zhiyuan.core.permissions import has_perm, region_scopes

pytestmark = pytest.mark.django_db

HOMES = {
    Role.RESIDENT: "/home/resident/",
    Role.VOLUNTEER: "/home/volunteer/",
    Role.ORG_ADMIN: "/home/organisation/",
    Role.DISPATCHER: "/home/dispatcher/",
    Role.REGION_ADMIN: "/home/region/",
    Role.SYSTEM_ADMIN: "/home/system/",
    Role.SECURITY_ADMIN: "/home/security/",
    Role.AUDIT_ADMIN: "/home/audit/",
}


@pytest.fixture
def people(district):
    org = OrganizationFactory(region=district)
    people = {}
    for role in HOMES:
        scope = {}
        if role in (Role.RESIDENT, Role.VOLUNTEER, Role.DISPATCHER, Role.REGION_ADMIN):
            scope = {"region": district}
        elif role == Role.ORG_ADMIN:
            scope = {"organization": org}
        people[role] = make_user(role, **scope)
    return people


@pytest.mark.parametrize("viewer", list(HOMES))
@pytest.mark.parametrize("page_role", list(HOMES))
def test_role_homes_admit_only_their_role(client, people, viewer, page_role) -> None:
    client.force_login(people[viewer])
    response = client.get(HOMES[page_role])
    assert response.status_code == (200 if viewer == page_role else 403)


def test_anonymous_visitors_are_sent_to_log_in(client) -> None:
    for url in HOMES.values():
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith("/accounts/login/")


def test_everyone_lands_on_their_own_home(client, people) -> None:
    for role, user in people.items():
        client.force_login(user)
        assert client.get("/").url == HOMES[role]


def test_refusals_are_audited(client, people) -> None:
    client.force_login(people[Role.SYSTEM_ADMIN])
    client.get(HOMES[Role.AUDIT_ADMIN])
    event = AuditEvent.objects.get(action="access.denied")
    assert event.actor == people[Role.SYSTEM_ADMIN]
    assert event.object_type == "home.audit_admin"


def test_separated_administrators_stay_separate(people) -> None:
    assert not has_perm(people[Role.SYSTEM_ADMIN], "audit.view")
    assert not has_perm(people[Role.AUDIT_ADMIN], "user.manage")
    assert not has_perm(people[Role.AUDIT_ADMIN], "role.grant")
    assert not has_perm(people[Role.SECURITY_ADMIN], "user.manage")
    assert has_perm(people[Role.SECURITY_ADMIN], "role.grant")


def test_undeclared_abilities_are_nobodys(people) -> None:
    for user in people.values():
        assert not has_perm(user, "ledger.mint")


def test_revoked_and_disabled_accounts_lose_their_rights(people) -> None:
    from zhiyuan.accounts.services import role_revoke

    admin = people[Role.REGION_ADMIN]
    role_revoke(grant=admin.grants.get())
    admin.refresh_from_db()
    assert not has_perm(admin, "organization.verify")
    auditor = people[Role.AUDIT_ADMIN]
    auditor.is_active = False
    assert not has_perm(auditor, "audit.view")


def test_region_scopes(people, district) -> None:
    assert region_scopes(people[Role.DISPATCHER], "volunteer.view") == [district.code]
    assert region_scopes(people[Role.SYSTEM_ADMIN], "region.view") is None
    assert region_scopes(people[Role.VOLUNTEER], "volunteer.view") == []


class TestApiScopes:
    def test_regions_outside_the_scope_are_refused(self, client, district, other_district) -> None:
        client.force_login(make_user(Role.DISPATCHER, region=district))
        assert client.get(f"/api/v1/regions/{district.code}").status_code == 200
        refused = client.get(f"/api/v1/regions/{other_district.code}")
        assert refused.status_code == 403
        assert refused.json()["code"] == "forbidden"
        assert client.get("/api/v1/regions/110101099000").status_code == 404

    def test_organisation_lists_are_scoped(self, client, district, other_district) -> None:
        mine = OrganizationFactory(region=district, name="东城队")
        theirs = OrganizationFactory(region=other_district, name="西城队")
        client.force_login(make_user(Role.REGION_ADMIN, region=district))
        names = [o["name"] for o in client.get("/api/v1/organizations").json()]
        assert names == ["东城队"]
        assert client.get(f"/api/v1/organizations/{mine.pk}").status_code == 200
        assert client.get(f"/api/v1/organizations/{theirs.pk}").status_code == 403

    def test_org_admin_sees_only_their_organisation(self, client, district) -> None:
        mine = OrganizationFactory(region=district)
        other = OrganizationFactory(region=district)
        client.force_login(make_user(Role.ORG_ADMIN, organization=mine))
        assert [o["id"] for o in client.get("/api/v1/organizations").json()] == [mine.pk]
        assert client.get(f"/api/v1/organizations/{other.pk}").status_code == 403

    def test_volunteers_and_residents_see_no_organisation_registry(self, client, district) -> None:
        client.force_login(make_user(Role.VOLUNTEER, region=district))
        assert client.get("/api/v1/organizations").status_code == 403

    def test_audit_api_is_for_the_auditor_alone(self, client, people) -> None:
        for role, user in people.items():
            client.force_login(user)
            status = client.get("/api/v1/audit").status_code
            assert status == (200 if role == Role.AUDIT_ADMIN else 403), role

    def test_anonymous_api_calls_are_401(self, client) -> None:
        for url in ("/api/v1/auth/me", "/api/v1/organizations", "/api/v1/audit"):
            assert client.get(url).status_code == 401
