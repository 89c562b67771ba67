from __future__ import annotations

import pytest

from tests.factories import PASSWORD, make_user
from zhiyuan.accounts.models import ApiToken
from zhiyuan.accounts.roles import Role

pytestmark = pytest.mark.django_db


def obtain(client, phone: str, password: str = PASSWORD, **headers):
    return client.post(
        "/api/v1/auth/tokens",
        {"phone": phone, "password": password, "name": "小程序"},
        content_type="application/json",
        **headers,
    )


def test_token_lifecycle(client, district) -> None:
    make_user(Role.VOLUNTEER, region=district, phone="13912345678")
    created = obtain(client, "13912345678")
    assert created.status_code == 201
    key = created.json()["token"]
    assert key.startswith("zy_")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}

    me = client.get("/api/v1/auth/me", **auth).json()
    assert me["phone"] == "139****5678"
    assert me["roles"] == [{"role": "volunteer", "region": district.code, "organization": None}]

    tokens = client.get("/api/v1/auth/tokens", **auth).json()
    assert [t["name"] for t in tokens] == ["小程序"]
    assert ApiToken.objects.get().key_hash != key  # only a hash is stored

    assert client.delete(f"/api/v1/auth/tokens/{tokens[0]['id']}", **auth).status_code == 204
    refused = client.get("/api/v1/auth/me", **auth)
    assert refused.status_code == 401
    assert refused.json()["code"] == "unauthenticated"


def test_wrong_password_gives_a_coded_translated_error(client) -> None:
    make_user(phone="13912345678")
    zh = obtain(client, "13912345678", "wrong-password")
    assert zh.status_code == 401
    assert zh.json() == {"code": "invalid_login", "message": "手机号码或密码不正确。"}
    en = obtain(client, "13912345678", "wrong-password", HTTP_ACCEPT_LANGUAGE="en")
    assert en.json()["message"] == "The mobile number or the password is not right."


def test_malformed_phone_is_422_with_reason(client) -> None:
    response = obtain(client, "12345")
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_phone"


def test_api_lockout_after_five_failures(client) -> None:
    make_user(phone="13912345678")
    for _ in range(5):
        obtain(client, "13912345678", "wrong-password")
    locked = obtain(client, "13912345678")
    assert locked.status_code == 429
    assert locked.json()["code"] == "locked_out"


def test_someone_elses_token_is_not_found(client) -> None:
    make_user(phone="13912345678")
    make_user(phone="13912345679")
    mine = obtain(client, "13912345678").json()
    theirs = obtain(client, "13912345679").json()
    response = client.delete(
        f"/api/v1/auth/tokens/{theirs['id']}", HTTP_AUTHORIZATION=f"Bearer {mine['token']}"
    )
    assert response.status_code == 404
    assert ApiToken.objects.get(pk=theirs["id"]).revoked_at is None


def test_openapi_document_is_served(client) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    assert doc["info"]["title"] == "Zhiyuan API"
    assert "/api/v1/auth/tokens" in doc["paths"]
