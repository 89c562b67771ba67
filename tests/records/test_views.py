"""Record pages, the API, the certificate PDF and its public check; outsiders refused."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from django.test import Client
from django.utils.translation import override

from tests.records.helpers import bearer
from zhiyuan.records import services
from zhiyuan.records.models import CorrectionRequest, RecordStatus

pytestmark = pytest.mark.django_db


def test_my_hours_page(client: Client, world):
    client.force_login(world["volunteer"])
    page = client.get("/records/mine/").content.decode()
    assert "2.0" in page  # confirmed hours
    assert world["certificate"].number in page
    assert "社区助老探访" in page


def test_organiser_confirms_from_the_queue_and_decides_corrections(client: Client, world):
    client.force_login(world["organiser"])
    page = client.get("/records/queue/").content.decode()
    assert "补录" in page and "少记了半小时" in page
    client.post(f"/records/{world['pending'].pk}/confirm/")
    world["pending"].refresh_from_db()
    assert world["pending"].status == RecordStatus.CONFIRMED
    client.post(f"/records/corrections/{world['correction'].pk}/approve/", {"note": "属实"})
    world["record"].refresh_from_db()
    assert world["record"].status == RecordStatus.SUPERSEDED


def test_correction_form_keeps_what_was_typed(client: Client, world):
    client.force_login(world["volunteer"])
    CorrectionRequest.objects.update(status="rejected")
    page = client.post(
        f"/records/{world['record'].pk}/correct/",
        {
            "reason": "我的理由很具体",
            "started_at": "2026-03-04T12:00",
            "ended_at": "2026-03-04T10:00",
        },
    )
    assert page.status_code == 200 and "我的理由很具体" in page.content.decode()


def test_public_verification_page_shows_masked_data(client: Client, world):
    certificate = world["certificate"]
    page = client.get(f"/records/verify/{certificate.short_code}/")
    text = page.content.decode()
    assert page.status_code == 200
    assert certificate.number in text
    assert world["volunteer"].name not in text  # masked: family name only
    assert world["volunteer"].name[0] + "*" in text
    assert certificate.masked_document in text
    lookup = client.get("/records/verify/", {"code": certificate.short_code.lower()})
    assert lookup.status_code == 200 and certificate.number in lookup.content.decode()
    assert client.get("/records/verify/NOSUCHCODE/").status_code == 404
    api = client.get(f"/api/v1/records/verify/{certificate.short_code}").json()
    assert api["stands"] is True and "*" in api["volunteer"]


def test_certificate_pdf_embeds_a_cjk_font_and_is_not_blank(client: Client, world, tmp_path: Path):
    for tool in ("pdffonts", "pdftoppm"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: install Debian's poppler-utils")
    client.force_login(world["volunteer"])
    response = client.get(f"/records/certificates/{world['certificate'].pk}/pdf/")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    pdf = tmp_path / "certificate.pdf"
    pdf.write_bytes(response.content)
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True)
    cjk = [line for line in fonts.stdout.splitlines() if "Noto-Sans-CJK-SC" in line]
    assert cjk, fonts.stdout
    assert all(line.split()[-5] == "yes" for line in cjk), fonts.stdout  # "emb" column
    subprocess.run(
        ["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")],
        check=True,
    )
    png = next(tmp_path.glob("page*.png"))
    from PIL import Image

    image = Image.open(png).convert("L")
    dark = sum(image.histogram()[:128])  # pixels darker than mid-grey
    assert dark > 0.002 * image.width * image.height  # text and the QR code, not a blank page
    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert world["certificate"].number in text
    assert "志愿服务记录证明" in text


def test_api_summary_queue_confirm_and_certificates(client: Client, world):
    mine = client.get("/api/v1/records/summary", **bearer(world["volunteer"])).json()
    assert mine["confirmed_hours"] == 2.0 and mine["thresholds"] == [100, 300, 600, 1000, 1500]
    organiser = bearer(world["organiser"])
    queue = client.get("/api/v1/records/queue", **organiser).json()
    assert [r["id"] for r in queue] == [world["pending"].pk]
    done = client.post(f"/api/v1/records/{world['pending'].pk}/confirm", **organiser)
    assert done.status_code == 200 and done.json()["status"] == "confirmed"
    issued = client.post(
        "/api/v1/records/certificates",
        json.dumps(
            {
                "organization": world["shift"].activity.organization_id,
                "period_start": "2026-03-01",
                "period_end": "2026-03-31",
            }
        ),
        content_type="application/json",
        **bearer(world["volunteer"]),
    )
    assert issued.status_code == 201 and issued.json()["stands"] is True


def test_flag_rates_page_for_region_admins_only(client: Client, world, region_admin):
    client.force_login(region_admin)
    page = client.get("/records/flags/")
    assert (
        page.status_code == 200
        and world["shift"].activity.organization.name in page.content.decode()
    )
    api = client.get("/api/v1/records/flag-rates", **bearer(region_admin)).json()
    assert api[0]["records"] == 2
    for outsider in (world["organiser"], world["volunteer"]):
        client.force_login(outsider)
        assert client.get("/records/flags/").status_code == 403
        assert client.get("/api/v1/records/flag-rates", **bearer(outsider)).status_code == 403


VOLUNTEER_PAGES = ["/records/mine/", "/records/stars/"]
ORGANISER_PAGES = ["/records/queue/", "/records/manual/", "/records/certificates/issued/"]
REGION_PAGES = ["/records/flags/", "/records/rules/"]


@pytest.mark.parametrize("url", VOLUNTEER_PAGES + ORGANISER_PAGES + REGION_PAGES)
def test_pages_refuse_residents_and_anonymous(client: Client, world, url):
    client.force_login(world["resident"])
    assert client.get(url).status_code == 403
    client.logout()
    assert client.get(url).status_code == 302


def test_other_peoples_records_and_certificates_do_not_leak(client: Client, world):
    other = world["other_volunteer"]
    client.force_login(other)
    assert client.get(f"/records/certificates/{world['certificate'].pk}/pdf/").status_code == 404
    assert client.get(f"/records/{world['record'].pk}/correct/").status_code == 404
    headers = bearer(other)
    assert (
        client.get(
            f"/api/v1/records/certificates/{world['certificate'].pk}/pdf", **headers
        ).status_code
        == 404
    )
    response = client.post(
        f"/api/v1/records/{world['record'].pk}/corrections",
        json.dumps(
            {
                "reason": "x",
                "started_at": "2026-03-04T09:00+08:00",
                "ended_at": "2026-03-04T10:00+08:00",
            }
        ),
        content_type="application/json",
        **headers,
    )
    assert response.status_code == 404


def test_confirm_and_corrections_refuse_outsiders(client: Client, world):
    for outsider in (world["stranger_admin"], world["volunteer"], world["other_volunteer"]):
        client.force_login(outsider)
        assert client.post(f"/records/{world['pending'].pk}/confirm/").status_code == 403
        assert (
            client.post(f"/records/corrections/{world['correction'].pk}/approve/").status_code
            == 403
        )
        headers = bearer(outsider)
        assert (
            client.post(f"/api/v1/records/{world['pending'].pk}/confirm", **headers).status_code
            == 403
        )
        assert (
            client.post(
                f"/api/v1/records/corrections/{world['correction'].pk}/approve",
                json.dumps({}),
                content_type="application/json",
                **headers,
            ).status_code
            == 403
        )
        assert (
            client.get("/api/v1/records/queue", **headers).status_code == 403
            or outsider == world["stranger_admin"]
        )
    world["pending"].refresh_from_db()
    assert world["pending"].status == RecordStatus.PENDING
    stranger_queue = client.get("/api/v1/records/queue", **bearer(world["stranger_admin"])).json()
    assert stranger_queue == []


def test_manual_entry_page(client: Client, world):
    client.force_login(world["organiser"])
    with override("en"):
        page = client.post(
            "/records/manual/",
            {
                "activity": world["shift"].activity_id,
                "volunteer_number": world["other_volunteer"].volunteer.volunteer_number,
                "started_at": "2026-03-04T08:00",
                "ended_at": "2026-03-04T12:30",
                "content": "太长了",
            },
            HTTP_ACCEPT_LANGUAGE="en",
        )
    assert page.status_code == 200  # refused: longer than the activity
    assert "太长了" in page.content.decode()


def test_rules_api_is_region_admin_only(client: Client, world, region_admin, district):
    body = json.dumps({"daily_cap_minutes": 480})
    url = f"/api/v1/records/rules/{district.code}"
    assert (
        client.put(
            url, body, content_type="application/json", **bearer(world["organiser"])
        ).status_code
        == 403
    )
    done = client.put(url, body, content_type="application/json", **bearer(region_admin))
    assert done.status_code == 200 and done.json()["values"]["daily_cap_minutes"] == 480
    assert services.record_rules_for(world["shift"].activity.region_id).daily_cap_minutes == 480
