"""The demo district shows the safeguards on first log-in."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from zhiyuan.accounts.models import RoleGrant, User, phone_index
from zhiyuan.accounts.roles import Role
from zhiyuan.demo.builder import DISTRICT, DemoBuilder, demo_logins
from zhiyuan.organizations.models import Organization, OrganizationStatus
from zhiyuan.organizations.selectors import organization_can_operate
from zhiyuan.safeguards.demo import DEMO_FOLLOW_CODE
from zhiyuan.safeguards.models import AgreementAcceptance, Case
from zhiyuan.safeguards.selectors import (
    Cover,
    case_find_by_code,
    insurance_cover_for,
    risk_ranking,
    sanction_list_public,
)

pytestmark = pytest.mark.django_db


def test_demo_safeguards(client) -> None:
    DemoBuilder(seed=5, volunteers=150).build()
    suspended = Organization.objects.get(status=OrganizationStatus.SUSPENDED)
    refusal = organization_can_operate(suspended)
    assert refusal.code == "suspended" and refusal.sanction_id is not None
    assert {s.organization for s in sanction_list_public()} >= {suspended}
    case = case_find_by_code(DEMO_FOLLOW_CODE)
    assert case is not None and case.category == "charging"
    assert Case.objects.filter(due_at__lt=timezone.now()).exclude(status="decided").exists()
    logins = {login.role: login for login in demo_logins()}
    volunteer = User.objects.get(phone_index=phone_index(logins[Role.VOLUNTEER].phone))
    admin_user = User.objects.get(phone_index=phone_index(logins[Role.ORG_ADMIN].phone))
    org_admin = RoleGrant.objects.get(role=Role.ORG_ADMIN, user=admin_user)
    now = timezone.now()
    answer = insurance_cover_for(
        volunteer, org_admin.organization, "emergency", now, now + timedelta(hours=2)
    )
    assert isinstance(answer, Cover) and answer.policy.basis == "named"
    assert AgreementAcceptance.objects.filter(user=volunteer).exists()
    assert risk_ranking([DISTRICT])
    # Every registered organisation carries its contacts, encrypted and masked on its page.
    assert not Organization.objects.exclude(kind="merchant").filter(contact_phone="").exists()
    client.force_login(org_admin.user)
    page = client.get(f"/organisations/{org_admin.organization_id}/").content.decode()
    assert org_admin.organization.contact_phone not in page
