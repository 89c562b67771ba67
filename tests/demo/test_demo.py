from __future__ import annotations

import pytest
from django.core.management import call_command
from django.urls import reverse

from zhiyuan.accounts.models import User
from zhiyuan.core.context_processors import ROLE_HOMES
from zhiyuan.demo.builder import DEMO_PASSWORD, DemoBuilder, demo_logins
from zhiyuan.organizations.models import Organization, OrganizationStatus
from zhiyuan.people.models import VolunteerProfile
from zhiyuan.people.numbers import is_valid_volunteer_number
from zhiyuan.regions.models import Region

pytestmark = pytest.mark.django_db


def test_full_demo_district(capsys) -> None:
    call_command("demo")
    out = capsys.readouterr().out
    assert VolunteerProfile.objects.count() >= 2000
    # 30 teams and associations, and the district's civilisation-practice centre (needs demo).
    assert Organization.objects.exclude(kind="merchant").count() == 31
    assert Organization.objects.filter(status=OrganizationStatus.VERIFIED).count() >= 20
    assert Region.objects.filter(parent_id="110101000000").count() == 17  # Dongcheng's streets
    assert Region.objects.filter(level=5).count() >= 17 * 3
    profiles = VolunteerProfile.objects.all()
    assert all(is_valid_volunteer_number(p.volunteer_number) for p in profiles)
    with_skills = VolunteerProfile.objects.filter(skills__isnull=False).distinct().count()
    assert with_skills > 1500
    assert all(0 < p.availability < 1 << 21 for p in profiles)
    for login in demo_logins():
        assert login.phone in out
    assert DEMO_PASSWORD in out
    assert "13900000020" in out  # the centre's admin, who confirms directly dispatched needs


@pytest.mark.django_db(transaction=True)  # flushes mid-test, which needs real transactions
def test_demo_is_deterministic_and_runs_once(capsys) -> None:
    DemoBuilder(seed=11, volunteers=60).build()
    first = sorted(User.objects.values_list("name", flat=True))
    communities = sorted(Region.objects.filter(level=5).values_list("name", flat=True))
    call_command("demo")  # already built: reused, not rebuilt
    assert "演示辖区已建好" in capsys.readouterr().out
    assert User.objects.count() == len(first)
    call_command("flush", "--no-input")
    DemoBuilder(seed=11, volunteers=60).build()
    assert sorted(User.objects.values_list("name", flat=True)) == first
    assert sorted(Region.objects.filter(level=5).values_list("name", flat=True)) == communities


def test_every_demo_role_logs_in_to_its_home(client) -> None:
    DemoBuilder(seed=3, volunteers=40).build()
    for login in demo_logins():
        client.logout()
        response = client.post(
            "/accounts/login/", {"username": login.phone, "password": DEMO_PASSWORD}, follow=True
        )
        assert response.status_code == 200, login.role
        assert response.redirect_chain[-1][0] == reverse(dict(ROLE_HOMES)[login.role]), login.role
        assert login.name in response.content.decode()
