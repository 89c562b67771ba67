from __future__ import annotations

import re

import pytest
from django.utils import translation

from tests.factories import make_user
from tests.people.conftest import id_number
from zhiyuan.accounts.roles import Role
from zhiyuan.core.models import AuditEvent
from zhiyuan.core.sms import ConsoleSmsBackend
from zhiyuan.people import services
from zhiyuan.people.models import VolunteerProfile

pytestmark = pytest.mark.django_db


def test_register_page_keeps_everything_after_an_error(
    client, district, django_capture_on_commit_callbacks
) -> None:
    form = {
        "phone": "13911112222",
        "name": "林小雨",
        "document_type": "resident_id",
        "document_number": id_number("19900101")[:-1] + "0",
        "community": f"{district.code[:6]}001001",
        "password": "walk-the-dog-2026",
        "agree": "on",
        "accept_notice": "1",
    }
    with django_capture_on_commit_callbacks(execute=True):
        sent = client.post("/people/register/", {**form, "action": "send_code"})
    assert "验证码已通过短信发送" in sent.content.decode()
    code = re.search(r"\d{6}", ConsoleSmsBackend.outbox[-1][1]).group(0)
    response = client.post("/people/register/", {**form, "code": code, "action": "register"})
    page = response.content.decode()
    assert "最后一位校验码不对" in page
    assert 'value="林小雨"' in page
    assert f'value="{form["document_number"]}"' in page
    assert 'value="walk-the-dog-2026"' in page
    assert f'name="community" value="{form["community"]}"' in page
    fixed = {**form, "document_number": id_number("19900101"), "code": code, "action": "register"}
    done = client.post("/people/register/", fixed, follow=True)
    assert "欢迎！您的志愿者编号是" in done.content.decode()
    assert "139****2222" in done.content.decode()
    assert VolunteerProfile.objects.count() == 1


def test_profile_pages_edit_availability_and_skills(client, registration) -> None:
    profile = services.volunteer_register(**registration())
    client.force_login(profile.user)
    client.post("/people/me/availability/", {"slot_0": "on", "slot_20": "on"})
    profile.refresh_from_db()
    assert profile.availability == (1 << 0) | (1 << 20)
    page = client.get("/people/me/").content.decode()
    assert page.count('class="free"') == 2
    assert "110105********" in page and id_number("19900101") not in page


def test_my_data_download(client, registration) -> None:
    profile = services.volunteer_register(**registration())
    client.force_login(profile.user)
    response = client.get("/people/me/data/?format=json")
    assert response["Content-Disposition"].startswith("attachment")
    assert response.json()["identity"]["document_number"] == id_number("19900101")


def test_close_account_page(client, registration) -> None:
    profile = services.volunteer_register(**registration())
    client.force_login(profile.user)
    wrong = client.post("/people/me/close/", {"password": "nope-nope"})
    assert "密码不正确" in wrong.content.decode()
    done = client.post("/people/me/close/", {"password": "walk-the-dog-2026"}, follow=True)
    assert "账号已注销" in done.content.decode()
    assert client.get("/people/me/").status_code == 302  # logged out


def test_volunteer_list_is_masked_and_scoped(
    client, registration, district, other_district
) -> None:
    profile = services.volunteer_register(**registration())
    client.force_login(make_user(Role.REGION_ADMIN, region=district))
    page = client.get("/people/volunteers/").content.decode()
    assert profile.volunteer_number in page and "139****2222" in page and "13911112222" not in page
    detail = client.post(
        f"/people/volunteers/{profile.volunteer_number}/",
        {"field": "phone", "reason": "联系核实服务时长"},
    )
    assert "13911112222" in detail.content.decode()
    assert AuditEvent.objects.filter(action="pii.unmask").count() == 1
    client.force_login(make_user(Role.REGION_ADMIN, region=other_district))
    assert profile.volunteer_number not in client.get("/people/volunteers/").content.decode()
    assert client.get(f"/people/volunteers/{profile.volunteer_number}/").status_code == 404
    client.force_login(profile.user)
    assert client.get("/people/volunteers/").status_code == 403


def test_guardian_page(client, registration, adult) -> None:
    mother = adult("13912345678")
    import time_machine

    with time_machine.travel("2026-11-28 10:00 +0800", tick=False):
        child = services.volunteer_register(
            **registration(
                document_number=id_number("20150301"),
                guardian_phone="13912345678",
                guardian_relation="妈妈",
            )
        )
    client.force_login(mother)
    page = client.get("/people/guardian/").content.decode()
    assert "林小雨" in page and "妈妈" in page
    link = child.user.guardian_links.get()
    client.post("/people/guardian/", {"link": link.pk})
    child.refresh_from_db()
    assert child.status == "active"
    stranger = make_user()
    client.force_login(stranger)
    assert client.post("/people/guardian/", {"link": link.pk}).status_code == 404


class TestApi:
    def test_register_through_the_api(self, client, district, sms_code) -> None:
        assert (
            client.post(
                "/api/v1/people/register/code",
                {"phone": "13911112222"},
                content_type="application/json",
            ).status_code
            == 202
        )
        again = client.post(
            "/api/v1/people/register/code",
            {"phone": "13911112222"},
            content_type="application/json",
        )
        assert again.status_code == 429
        code = sms_code("13911113333")
        body = {
            "phone": "13911113333",
            "code": code,
            "name": "林小雨",
            "document_type": "resident_id",
            "document_number": id_number("19900101"),
            "community": f"{district.code[:6]}001001",
            "password": "walk-the-dog-2026",
            "accept_notice": 1,
        }
        bad = client.post(
            "/api/v1/people/register",
            {**body, "document_number": "123"},
            content_type="application/json",
        )
        assert bad.status_code == 422
        assert bad.json()["fields"]["document_number"] == ["身份证号码应为 18 位，您输入了 3 位。"]
        ok = client.post("/api/v1/people/register", body, content_type="application/json")
        assert ok.status_code == 201
        number = ok.json()["volunteer_number"]
        assert VolunteerProfile.objects.get(volunteer_number=number).user.name == "林小雨"

    def test_me_and_patch(self, client, registration) -> None:
        profile = services.volunteer_register(**registration())
        client.force_login(profile.user)
        me = client.get("/api/v1/people/me").json()
        assert me["phone"] == "139****2222"
        assert me["document"].startswith("110105********")
        patched = client.patch(
            "/api/v1/people/me",
            {"max_travel_km": 8, "languages": ["粤语"]},
            content_type="application/json",
        )
        assert patched.json()["max_travel_km"] == 8 and patched.json()["languages"] == ["粤语"]
        bad = client.patch(
            "/api/v1/people/me", {"max_travel_km": 500}, content_type="application/json"
        )
        assert bad.status_code == 422
        profile.refresh_from_db()
        assert profile.max_travel_km == 8

    def test_unmask_api_scope(self, client, registration, district, other_district) -> None:
        profile = services.volunteer_register(**registration())
        url = f"/api/v1/people/volunteers/{profile.volunteer_number}/unmask"
        client.force_login(make_user(Role.REGION_ADMIN, region=other_district))
        assert (
            client.post(
                url, {"field": "phone", "reason": "核实身份"}, content_type="application/json"
            ).status_code
            == 404
        )
        client.force_login(make_user(Role.REGION_ADMIN, region=district))
        with translation.override("en"):
            ok = client.post(
                url, {"field": "phone", "reason": "核实身份"}, content_type="application/json"
            )
        assert ok.json() == {"field": "phone", "value": "13911112222"}
        client.force_login(profile.user)
        assert client.get("/api/v1/people/volunteers").status_code == 403


def test_a_waiting_minor_is_not_logged_in(
    client, district, adult, django_capture_on_commit_callbacks
) -> None:
    import time_machine

    adult("13912345678")
    with time_machine.travel("2026-11-28 10:00 +0800", tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            client.post("/people/register/", {"phone": "13911112222", "action": "send_code"})
        code = re.search(r"\d{6}", ConsoleSmsBackend.outbox[-1][1]).group(0)
        page = client.post(
            "/people/register/",
            {
                "phone": "13911112222",
                "code": code,
                "name": "林小雨",
                "document_type": "resident_id",
                "document_number": id_number("20150301"),
                "community": f"{district.code[:6]}001001",
                "password": "walk-the-dog-2026",
                "guardian_phone": "13912345678",
                "guardian_relation": "妈妈",
                "agree": "on",
                "action": "register",
            },
        ).content.decode()
    assert "等待监护人同意" in page
    assert client.get("/people/me/").status_code == 302  # not logged in


def test_patching_nulls_changes_nothing(client, registration) -> None:
    profile = services.volunteer_register(**registration())
    client.force_login(profile.user)
    response = client.patch(
        "/api/v1/people/me",
        {"max_travel_km": None, "emergency_ok": None},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json()["max_travel_km"] == profile.max_travel_km


def test_bad_form_values_are_404_not_500(client, registration) -> None:
    profile = services.volunteer_register(**registration())
    client.force_login(profile.user)
    assert client.post("/people/me/privacy/", {"kind": "nonsense"}).status_code == 404
    assert client.post("/people/guardian/", {"link": "x"}).status_code == 404


def test_the_home_point_is_kept_coarse(client, registration) -> None:
    profile = services.volunteer_register(**registration())
    client.force_login(profile.user)
    form = {"max_travel_km": 5, "home_lat": "39.92871", "home_lng": "116.41734"}
    client.post("/people/me/edit/", form)
    profile.refresh_from_db()
    assert (profile.home_lat, profile.home_lng) == (39.929, 116.417)
    page = client.get("/people/me/edit/").content.decode()
    assert 'data-locate="id_home_lat id_home_lng"' in page
