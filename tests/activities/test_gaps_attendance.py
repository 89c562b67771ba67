"""The organiser's view of late cancellations and no-shows in their shifts (page and API),
counted per person; other organisations' people and volunteers see nothing."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils.translation import override

from tests.activities.fixtures import at, first_shift, new_volunteer
from tests.factories import OrganizationFactory, make_user
from tests.records.helpers import bearer
from zhiyuan.accounts.roles import Role
from zhiyuan.activities import services
from zhiyuan.activities.autoclose import sessions_auto_close_by_rule
from zhiyuan.activities.models import Signup, SignupStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(make_activity, community, frozen_clock):
    """One shift on 4 March: one person cancels early, one late, one never comes, one comes."""
    shift = first_shift(make_activity(cancel_notice_hours=24, title="周三助餐"))
    early, late, absent, present = (new_volunteer(community) for _ in range(4))
    for person in (early, late, absent, present):
        services.signup_create(shift=shift, volunteer=person)
    services.signup_cancel(signup=Signup.objects.get(volunteer=early), actor=early)
    frozen_clock.move_to(at(3, 20))
    services.signup_cancel(signup=Signup.objects.get(volunteer=late), actor=late, reason="临时加班")
    frozen_clock.move_to(at(4, 9, 5))
    services.checkin_scan(volunteer=present, code=services.checkin_code(shift))
    frozen_clock.move_to(at(4, 14, 30))  # past the end and the two-hour grace
    sessions_auto_close_by_rule()
    assert Signup.objects.get(volunteer=absent).status == SignupStatus.NO_SHOW
    return {"shift": shift, "early": early, "late": late, "absent": absent, "present": present}


def test_the_organiser_sees_who_cancelled_late_and_who_did_not_come(
    client: Client, history, organiser
):
    client.force_login(organiser)
    with override("en"):
        page = client.get("/activities/manage/attendance/", HTTP_ACCEPT_LANGUAGE="en")
    text = page.content.decode()
    assert page.status_code == 200
    assert history["late"].name in text and "临时加班" in text
    assert history["absent"].name in text and "did not turn up" in text
    assert history["early"].name not in text and history["present"].name not in text
    api = client.get("/api/v1/activities/attendance", **bearer(organiser)).json()
    assert (api["late_cancels"], api["no_shows"], api["shifts"]) == (1, 1, 1)
    assert api["expected"] == 2 and api["no_show_rate"] == 0.5
    kinds = {p["volunteer"]: [e["kind"] for e in p["events"]] for p in api["people"]}
    assert kinds == {history["late"].pk: ["late_cancel"], history["absent"].pk: ["no_show"]}


def test_a_short_period_leaves_older_shifts_out(client: Client, history, organiser, frozen_clock):
    frozen_clock.move_to(at(31, 12))  # 27 days after the shift
    client.force_login(organiser)
    assert (
        history["absent"].name
        in client.get("/activities/manage/attendance/?days=30").content.decode()
    )
    api = client.get("/api/v1/activities/attendance?days=7", **bearer(organiser)).json()
    assert api["people"] == [] and api["no_shows"] == 0


def test_outsiders_see_nothing(client: Client, history, district, community):
    stranger = make_user(Role.ORG_ADMIN, organization=OrganizationFactory(region=district))
    client.force_login(stranger)
    page = client.get("/activities/manage/attendance/").content.decode()
    assert history["absent"].name not in page
    api = client.get("/api/v1/activities/attendance", **bearer(stranger)).json()
    assert api["people"] == []
    for outsider in (history["present"], make_user(Role.RESIDENT, region=community)):
        client.force_login(outsider)
        assert client.get("/activities/manage/attendance/").status_code == 403
        assert client.get("/api/v1/activities/attendance", **bearer(outsider)).status_code == 403
    client.logout()
    assert client.get("/activities/manage/attendance/").status_code == 302
