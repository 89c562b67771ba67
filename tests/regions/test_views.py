from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.factories import make_user
from zhiyuan.accounts.roles import Role
from zhiyuan.regions.models import Region

pytestmark = pytest.mark.django_db


def upload(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("regions.csv", text.encode("utf-8"), content_type="text/csv")


def test_system_admin_imports_a_file(client) -> None:
    client.force_login(make_user(Role.SYSTEM_ADMIN))
    response = client.post(
        "/regions/import/",
        {"file": upload("110000000000,北京市,\n110100000000,市辖区,110000000000\n")},
        follow=True,
    )
    assert response.status_code == 200
    assert Region.objects.count() == 2
    assert "已创建 2 个区划" in response.content.decode()


def test_bad_file_shows_the_line_and_imports_nothing(client) -> None:
    client.force_login(make_user(Role.SYSTEM_ADMIN))
    response = client.post(
        "/regions/import/",
        {"file": upload("110000000000,北京市,\n110101001000,东华门街道,110101000000\n")},
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "第 2 行" in page and "110101000000" in page
    assert Region.objects.count() == 0


def test_others_cannot_import(client, district) -> None:
    client.force_login(make_user(Role.REGION_ADMIN, region=district))
    assert client.get("/regions/import/").status_code == 403


def test_region_page_is_limited_to_the_scope(client, district, other_district) -> None:
    client.force_login(make_user(Role.REGION_ADMIN, region=district))
    inside = client.get(f"/regions/{district.code[:6]}001001/")
    assert inside.status_code == 200
    assert "东城区1街道1社区" in inside.content.decode()
    assert client.get(f"/regions/{other_district.code}/").status_code == 403
    # Above one's own region is outside the scope too.
    assert client.get("/regions/110000000000/").status_code == 403


def test_the_deepest_pick_wins_even_before_the_picker_swapped() -> None:
    from django.http import QueryDict

    from zhiyuan.regions.views import picked_region

    data = QueryDict(mutable=True)
    data.setlist("pick", ["110000000000", "110101001000", "110101001002"])
    data["community"] = "110101001000"  # the hidden field still shows the street
    assert picked_region(data) == "110101001002"
    data.setlist("pick", ["not-a-code"])
    assert picked_region(data) == "110101001000"
