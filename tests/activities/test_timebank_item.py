"""An activity naming the time-bank service item it provides (issue 6, item 3): the service
refuses a code it may not name, the form keeps what was typed, the API carries the item both
ways, and the detail page says what each service deposits."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils.translation import override

from tests.activities.fixtures import PLACE, at
from tests.factories import OrganizationFactory, make_user
from tests.records.helpers import bearer
from zhiyuan.accounts.roles import Role
from zhiyuan.activities.models import Activity
from zhiyuan.core.models import AuditEvent
from zhiyuan.ledger.services import timebank_item_save, timebank_policy_set

pytestmark = pytest.mark.django_db


def set_pricing(region: Any, admin: Any, *, priced: bool) -> None:
    timebank_policy_set(
        region=region, cap_minutes=1500 * 60, min_withdraw_age=60, priced_items=priced, actor=admin
    )


@pytest.fixture
def priced(district, region_admin) -> Any:
    """The district prices items; bathing help is worth 90 minutes of credit."""
    set_pricing(district, region_admin, priced=True)
    return timebank_item_save(
        region=district, code="bath-help", name="助浴", minutes=90, actor=region_admin
    )


def form_data(org: Any, community: Any, **over: Any) -> dict[str, Any]:
    data = {
        "organization": org.pk,
        "title": "周末助浴服务",
        "activity_type": "elder_care",
        "region": community.pk,
        "place_name": "社区养老驿站",
        "lat": PLACE[0],
        "lng": PLACE[1],
        "datum": "wgs84",
        "checkin_radius_m": 200,
        "starts_at": "2026-03-07T09:00",
        "ends_at": "2026-03-07T12:00",
        "capacity": 4,
        "min_staff": 0,
        "recurrence": "once",
        "approval": "automatic",
        "insurance_required": "on",
        "time_bank": "on",
        "timebank_item": "bath-help",
    }
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


# --- the service ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("time_bank", "code", "needle"),
    [
        (False, "bath-help", "Counts for the time bank"),
        (True, "no-such-item", "no-such-item"),
    ],
)
def test_the_service_refuses_an_item_it_may_not_name(
    make_activity, priced, time_bank, code, needle
):
    with override("en"), pytest.raises(ValidationError) as refused:
        make_activity(time_bank=time_bank, timebank_item=code)
    assert needle in " ".join(refused.value.message_dict["timebank_item"])
    assert not Activity.objects.exists()


def test_the_service_refuses_an_item_where_the_region_counts_hours(
    make_activity, district, region_admin
):
    timebank_item_save(
        region=district, code="bath-help", name="助浴", minutes=90, actor=region_admin
    )
    set_pricing(district, region_admin, priced=False)
    with override("en"), pytest.raises(ValidationError) as refused:
        make_activity(time_bank=True, timebank_item="bath-help")
    assert "counts the hours served" in " ".join(refused.value.message_dict["timebank_item"])


def test_the_service_keeps_a_priced_item(make_activity, priced):
    activity = make_activity(time_bank=True, timebank_item="bath-help")
    assert activity.timebank_item == "bath-help"
    assert make_activity(time_bank=True).timebank_item == ""


# --- the form and the detail page -------------------------------------------------------------


def test_the_form_offers_the_priced_items_and_saves_the_choice(
    client: Client, org, organiser, community, policy, priced
):
    client.force_login(organiser)
    page = client.get("/activities/manage/new/").content.decode()
    assert 'value="bath-help"' in page and "助浴（bath-help）" in page
    response = client.post("/activities/manage/new/", form_data(org, community))
    assert response.status_code == 302
    activity = Activity.objects.get()
    assert activity.time_bank and activity.timebank_item == "bath-help"


def test_the_form_refuses_an_unknown_code_and_keeps_what_was_typed(
    client: Client, org, organiser, community, policy, priced
):
    client.force_login(organiser)
    with override("en"):
        page = client.post(
            "/activities/manage/new/",
            form_data(org, community, timebank_item="made-up"),
            HTTP_ACCEPT_LANGUAGE="en",
        )
    text = page.content.decode()
    assert page.status_code == 200
    assert "周末助浴服务" in text and "社区养老驿站" in text
    assert "made-up" in text  # the message names the code refused
    assert not Activity.objects.exists()


def test_the_form_refuses_an_item_without_the_time_bank_and_keeps_the_choice(
    client: Client, org, organiser, community, policy, priced
):
    client.force_login(organiser)
    page = client.post("/activities/manage/new/", form_data(org, community, time_bank=None))
    text = page.content.decode()
    assert page.status_code == 200
    assert 'id="id_timebank_item_error"' in text
    assert '<option value="bath-help" selected>' in text
    assert "周末助浴服务" in text
    assert not Activity.objects.exists()


def test_the_detail_page_says_what_each_service_deposits(
    client: Client, make_activity, volunteer, priced
):
    activity = make_activity(time_bank=True, timebank_item="bath-help")
    client.force_login(volunteer)
    text = client.get(f"/activities/{activity.pk}/").content.decode()
    assert "每次服务存入 90 分钟" in text and "助浴" in text
    hours = make_activity(time_bank=True, title="按时长存入")
    assert "每次服务存入" not in client.get(f"/activities/{hours.pk}/").content.decode()


# --- the API ----------------------------------------------------------------------------------


def api_body(org: Any, community: Any, **over: Any) -> str:
    body = {
        "organization": org.pk,
        "title": "周末助浴服务",
        "region": community.pk,
        "place_name": "社区养老驿站",
        "lat": PLACE[0],
        "lng": PLACE[1],
        "shifts": [
            {"starts_at": at(7, 9).isoformat(), "ends_at": at(7, 12).isoformat(), "capacity": 4}
        ],
        "time_bank": True,
        "timebank_item": "bath-help",
    }
    body.update(over)
    return json.dumps(body)


def test_api_round_trip(client: Client, org, organiser, community, policy, priced):
    headers = bearer(organiser)
    made = client.post(
        "/api/v1/activities",
        api_body(org, community),
        content_type="application/json",
        **headers,
    )
    assert made.status_code == 201, made.content
    assert made.json()["timebank_item"] == "bath-help"
    assert made.json()["timebank_item_minutes"] == 90
    again = client.get(f"/api/v1/activities/{made.json()['id']}", **headers).json()
    assert again["timebank_item"] == "bath-help" and again["timebank_item_minutes"] == 90
    plain = client.post(
        "/api/v1/activities",
        api_body(org, community, timebank_item=""),
        content_type="application/json",
        **headers,
    ).json()
    assert plain["timebank_item"] == "" and plain["timebank_item_minutes"] is None


def test_api_refuses_a_bad_code(client: Client, org, organiser, community, policy, priced):
    with override("en"):
        refused = client.post(
            "/api/v1/activities",
            api_body(org, community, timebank_item="made-up"),
            content_type="application/json",
            HTTP_ACCEPT_LANGUAGE="en",
            **bearer(organiser),
        )
    assert refused.status_code == 422
    assert refused.json()["code"] == "invalid"
    assert "made-up" in refused.json()["message"]
    assert not Activity.objects.exists()


def test_api_refuses_outsiders_an_item_of_another_organisation(
    client: Client, org, community, district, policy, priced
):
    stranger = make_user(Role.ORG_ADMIN, organization=OrganizationFactory(region=district))
    refused = client.post(
        "/api/v1/activities",
        api_body(org, community),
        content_type="application/json",
        **bearer(stranger),
    )
    assert refused.status_code == 403
    assert not Activity.objects.exists()


# --- naming the item of an existing activity --------------------------------------------------


def test_the_organiser_names_the_item_of_an_existing_activity_on_its_page(
    client: Client, make_activity, organiser, priced
):
    activity = make_activity(time_bank=True)
    client.force_login(organiser)
    detail = client.get(f"/activities/{activity.pk}/").content.decode()
    assert f"/activities/manage/{activity.pk}/timebank-item/" in detail
    page = client.get(f"/activities/manage/{activity.pk}/timebank-item/").content.decode()
    assert "助浴（bath-help）：90 分钟" in page
    response = client.post(
        f"/activities/manage/{activity.pk}/timebank-item/", {"timebank_item": "bath-help"}
    )
    assert response.status_code == 302
    activity.refresh_from_db()
    assert activity.timebank_item == "bath-help"
    assert AuditEvent.objects.filter(
        action="activity.timebank_item_set", object_id=str(activity.pk)
    ).exists()
    client.post(f"/activities/manage/{activity.pk}/timebank-item/", {"timebank_item": ""})
    activity.refresh_from_db()
    assert activity.timebank_item == ""


def test_the_item_page_refuses_an_unknown_code_and_keeps_the_item(
    client: Client, make_activity, organiser, priced
):
    activity = make_activity(time_bank=True, timebank_item="bath-help")
    client.force_login(organiser)
    page = client.post(
        f"/activities/manage/{activity.pk}/timebank-item/", {"timebank_item": "made-up"}
    )
    assert page.status_code == 200
    assert 'id="id_timebank_item_error"' in page.content.decode()
    activity.refresh_from_db()
    assert activity.timebank_item == "bath-help"


def test_the_item_page_and_endpoint_refuse_outsiders(
    client: Client, make_activity, volunteer, district, priced
):
    activity = make_activity(time_bank=True)
    stranger = make_user(Role.ORG_ADMIN, organization=OrganizationFactory(region=district))
    url = f"/activities/manage/{activity.pk}/timebank-item/"
    api = f"/api/v1/activities/{activity.pk}/timebank-item"
    body = json.dumps({"timebank_item": "bath-help"})
    for outsider in (stranger, volunteer):
        client.force_login(outsider)
        assert client.get(url).status_code == 403
        assert client.post(url, {"timebank_item": "bath-help"}).status_code == 403
        refused = client.put(api, body, content_type="application/json", **bearer(outsider))
        assert refused.status_code == 403
    client.logout()
    assert client.get(url).status_code == 302  # to the log-in page
    assert client.put(api, body, content_type="application/json").status_code == 401
    activity.refresh_from_db()
    assert activity.timebank_item == ""


def test_api_names_and_clears_the_item_of_an_existing_activity(
    client: Client, make_activity, organiser, priced
):
    activity = make_activity(time_bank=True)
    headers = bearer(organiser)
    api = f"/api/v1/activities/{activity.pk}/timebank-item"
    named = client.put(
        api, json.dumps({"timebank_item": "bath-help"}), content_type="application/json", **headers
    )
    assert named.status_code == 200
    assert named.json()["timebank_item"] == "bath-help"
    assert named.json()["timebank_item_minutes"] == 90
    with override("en"):
        refused = client.put(
            api,
            json.dumps({"timebank_item": "made-up"}),
            content_type="application/json",
            HTTP_ACCEPT_LANGUAGE="en",
            **headers,
        )
    assert refused.status_code == 422 and "made-up" in refused.json()["message"]
    cleared = client.put(
        api, json.dumps({"timebank_item": ""}), content_type="application/json", **headers
    )
    assert cleared.json()["timebank_item"] == "" and cleared.json()["timebank_item_minutes"] is None
