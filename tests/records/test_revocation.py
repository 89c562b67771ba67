"""Revoking a certificate (issuer's admins or the region's, with a reason; audited; the public
check then says it no longer stands and why, in plain words), and the public check opening a
certificate by its random code only — never by its consecutive number."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils.translation import override

from tests.factories import OrganizationFactory, make_user
from tests.records.helpers import bearer
from zhiyuan.accounts.roles import Role
from zhiyuan.core.masking import mask_name
from zhiyuan.core.models import AuditEvent
from zhiyuan.notifications.models import Notification
from zhiyuan.records import services
from zhiyuan.records.models import Certificate, RecordAudit, RevokeReason

pytestmark = pytest.mark.django_db

NOTE = "志愿者张三的身份证号填错了"  # a note that must never reach the public page


def test_the_issuers_admin_revokes_with_a_reason_once_and_it_is_audited(world):
    certificate = world["certificate"]
    with pytest.raises(ValidationError) as refused:
        services.certificate_revoke(
            certificate=certificate, actor=world["organiser"], category="whim"
        )
    assert "category" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        services.certificate_revoke(
            certificate=certificate, actor=world["organiser"], category=RevokeReason.OTHER
        )
    assert "note" in refused.value.message_dict  # "other" needs words of its own
    services.certificate_revoke(
        certificate=certificate,
        actor=world["organiser"],
        category=RevokeReason.ISSUED_IN_ERROR,
        note=NOTE,
    )
    certificate.refresh_from_db()
    assert certificate.revoked_by == world["organiser"] and certificate.revoke_reason == NOTE
    with override("en"):
        standing = services.certificate_standing(certificate)
    assert not standing.stands
    assert standing.reason == "Revoked on 2026-03-04. It was issued in error."
    entry = AuditEvent.objects.get(action=RecordAudit.CERTIFICATE_REVOKED)
    assert entry.detail == {"number": certificate.number, "category": "issued_in_error"}
    assert NOTE not in json.dumps(entry.detail, ensure_ascii=False)
    assert Notification.objects.filter(user=world["volunteer"], kind="certificate.revoked").exists()
    with pytest.raises(services.RecordRefused):
        services.certificate_revoke(
            certificate=certificate, actor=world["organiser"], category=RevokeReason.REPLACED
        )


def test_the_region_admin_may_revoke_and_outsiders_may_not(world, region_admin, other_district):
    certificate = world["certificate"]
    foreign = make_user(Role.REGION_ADMIN, region=other_district)
    for outsider in (world["stranger_admin"], foreign, world["volunteer"], world["resident"]):
        with pytest.raises(PermissionDenied):
            services.certificate_revoke(
                certificate=certificate, actor=outsider, category=RevokeReason.REPLACED
            )
    certificate.refresh_from_db()
    assert certificate.revoked_at is None
    done = services.certificate_revoke(
        certificate=certificate, actor=region_admin, category=RevokeReason.RECORDS_UNTRUE
    )
    assert not services.certificate_standing(done).stands


def test_the_public_check_says_it_no_longer_stands_and_why_without_personal_data(
    client: Client, world
):
    certificate = world["certificate"]
    services.certificate_revoke(
        certificate=certificate,
        actor=world["organiser"],
        category=RevokeReason.ISSUED_IN_ERROR,
        note=NOTE,
    )
    with override("en"):
        page = client.get(f"/records/verify/{certificate.short_code}/", HTTP_ACCEPT_LANGUAGE="en")
    text = page.content.decode()
    assert page.status_code == 200
    assert "This certificate no longer stands." in text
    assert "It was issued in error." in text
    assert NOTE not in text and world["volunteer"].name not in text
    api = client.get(
        f"/api/v1/records/verify/{certificate.short_code}", HTTP_ACCEPT_LANGUAGE="en"
    ).json()
    assert api["stands"] is False and api["standing"].endswith("It was issued in error.")
    assert NOTE not in json.dumps(api, ensure_ascii=False)


def test_a_certificate_number_opens_nothing(client: Client, world):
    """Numbers are consecutive (ZY2026-00001-00001, -00002, …): the public check must not
    open a certificate by its number, or anyone could walk through all of them."""
    first = world["certificate"]
    second = services.certificate_issue(
        volunteer=world["volunteer"],
        organization=first.organization,
        period_start=dt.date(2026, 3, 1),
        period_end=dt.date(2026, 3, 31),
        actor=world["volunteer"],
    )
    assert second.number.endswith("-00002")
    for number in (first.number, second.number, second.number.lower()):
        for response in (
            client.get(f"/records/verify/{number}/"),
            client.get("/records/verify/", {"code": number}),
            client.get(f"/api/v1/records/verify/{number}"),
        ):
            assert response.status_code == 404
            body = response.content.decode()
            assert first.volunteer_number not in body and first.masked_document not in body
    # The random code still opens it, and the number is shown once it has.
    opened = client.get(f"/records/verify/{second.short_code}/")
    assert opened.status_code == 200 and second.number in opened.content.decode()


def test_the_issuers_pages_list_and_revoke(client: Client, world):
    certificate = world["certificate"]
    client.force_login(world["organiser"])
    listing = client.get("/records/certificates/issued/").content.decode()
    assert certificate.number in listing
    # The volunteer's name is masked on the issuer's pages, as everywhere by default.
    assert certificate.volunteer_name not in listing
    assert mask_name(certificate.volunteer_name) in listing
    form = client.get(f"/records/certificates/{certificate.pk}/revoke/")
    assert form.status_code == 200
    assert certificate.volunteer_name not in form.content.decode()
    with override("en"):
        refused = client.post(
            f"/records/certificates/{certificate.pk}/revoke/",
            {"category": "other", "note": ""},
            HTTP_ACCEPT_LANGUAGE="en",
        )
    text = refused.content.decode()
    assert refused.status_code == 200
    assert "Say in a few words why the certificate is revoked." in text
    assert '<option value="other" selected>' in text  # what was chosen is kept
    done = client.post(
        f"/records/certificates/{certificate.pk}/revoke/",
        {"category": "replaced", "note": "已重新开具"},
    )
    assert done.status_code == 302
    certificate.refresh_from_db()
    assert certificate.revoke_category == "replaced"
    # The volunteer sees it on their page, with the issuer's note.
    client.force_login(world["volunteer"])
    mine = client.get("/records/mine/").content.decode()
    assert "已重新开具" in mine
    api = client.get("/api/v1/records/certificates", **bearer(world["volunteer"])).json()
    assert api[0]["stands"] is False and api[0]["revoke_note"] == "已重新开具"


def test_the_issuers_pages_refuse_outsiders(client: Client, world, other_district):
    certificate = world["certificate"]
    url = f"/records/certificates/{certificate.pk}/revoke/"
    foreign = make_user(Role.REGION_ADMIN, region=other_district)
    for outsider in (world["stranger_admin"], foreign, world["volunteer"], world["resident"]):
        client.force_login(outsider)
        # 404, as for a certificate that does not exist: ids are consecutive.
        assert client.get(url).status_code == 404
        assert client.post(url, {"category": "replaced"}).status_code == 404
        assert (
            client.get(f"/records/certificates/{certificate.pk + 1000}/revoke/").status_code == 404
        )
        listing = client.get("/records/certificates/issued/")
        assert listing.status_code == 403 or certificate.number not in listing.content.decode()
    for person in (world["volunteer"], world["resident"]):
        client.force_login(person)
        assert client.get("/records/certificates/issued/").status_code == 403
    client.logout()
    assert client.get(url).status_code == 302
    certificate.refresh_from_db()
    assert certificate.revoked_at is None


def test_the_api_lists_and_revokes_for_issuers_only(client: Client, world, region_admin):
    certificate = world["certificate"]
    url = f"/api/v1/records/certificates/{certificate.pk}/revoke"
    body = json.dumps({"category": "records_untrue", "note": NOTE})
    for outsider in (world["stranger_admin"], world["volunteer"]):
        headers = bearer(outsider)
        assert client.post(url, body, content_type="application/json", **headers).status_code == 404
        listed = client.get("/api/v1/records/certificates/issued", **headers)
        assert listed.status_code == 403 or listed.json() == []
    listed = client.get("/api/v1/records/certificates/issued", **bearer(region_admin)).json()
    assert [c["number"] for c in listed] == [certificate.number]
    assert "*" in listed[0]["volunteer"]
    done = client.post(url, body, content_type="application/json", **bearer(world["organiser"]))
    assert done.status_code == 200 and done.json()["stands"] is False
    assert done.json()["revoke_note"] == NOTE
    again = client.post(url, body, content_type="application/json", **bearer(region_admin))
    assert again.status_code == 422 and again.json()["code"] == "revoked"
    invalid = client.post(
        f"/api/v1/records/certificates/{certificate.pk}/revoke",
        json.dumps({"category": "nonsense"}),
        content_type="application/json",
        **bearer(world["organiser"]),
    )
    assert invalid.status_code == 422


def test_a_parent_organisations_admin_may_revoke(world, district):
    issuer = world["certificate"].organization
    parent = OrganizationFactory(region=district, name="上级志愿者联合会")
    issuer.parent = parent
    issuer.save(update_fields=["parent"])
    admin = make_user(Role.ORG_ADMIN, organization=parent)
    services.certificate_revoke(
        certificate=Certificate.objects.get(pk=world["certificate"].pk),
        actor=admin,
        category=RevokeReason.REPLACED,
    )
    assert Certificate.objects.get(pk=world["certificate"].pk).revoked_at is not None


def test_the_issuers_list_takes_the_same_queries_for_many_certificates(client: Client, world):
    client.force_login(world["organiser"])
    client.get("/records/certificates/issued/")  # warm the session and grants
    with CaptureQueriesContext(connection) as one:
        client.get("/records/certificates/issued/")
    for month in (1, 2, 3):
        services.certificate_issue(
            volunteer=world["volunteer"],
            organization=world["certificate"].organization,
            period_start=dt.date(2026, month, 1),
            period_end=dt.date(2026, 3, 31),
            actor=world["volunteer"],
        )
    with CaptureQueriesContext(connection) as four:
        page = client.get("/records/certificates/issued/")
    assert page.content.decode().count("data-certificate=") == 4
    assert len(four.captured_queries) == len(one.captured_queries)
    api = client.get("/api/v1/records/certificates/issued", **bearer(world["organiser"]))
    assert len(api.json()) == 4 and all(c["stands"] for c in api.json())


def test_a_revoked_certificate_says_so_on_its_document(world):
    from zhiyuan.records.pdf import certificate_html

    certificate = world["certificate"]
    assert "此证明已失效" not in certificate_html(certificate, "https://example.test/v")
    done = services.certificate_revoke(
        certificate=certificate, actor=world["organiser"], category=RevokeReason.REPLACED
    )
    html = certificate_html(done, "https://example.test/v")
    assert "此证明已失效" in html and "已另行开具新的证明替代" in html
