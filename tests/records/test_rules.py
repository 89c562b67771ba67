"""The region's recording rules: versioned and audited changes, every refusal with its reason in
the reader's language, the page keeping what was typed, the API, and outsiders refused."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, transaction
from django.test import Client
from django.utils.translation import gettext, override

from tests.factories import make_user
from tests.records.helpers import bearer
from zhiyuan.accounts.roles import Role
from zhiyuan.core.models import AuditEvent
from zhiyuan.records import services
from zhiyuan.records.models import RecordAudit, RecordRule, RecordRuleVersion
from zhiyuan.records.rules import Rules

pytestmark = pytest.mark.django_db


def test_each_change_is_a_numbered_version_with_what_changed_who_and_why(
    district, community, region_admin
):
    first = services.record_rule_set(
        region=district,
        actor=region_admin,
        note="按区里的新规定",
        daily_cap_minutes=480,
        checkout_grace_minutes=60,
    )
    assert first.version == 1
    services.record_rule_set(
        region=district,
        actor=region_admin,
        note="星级需要服务时长",
        star_min_months=[0, 6, 12, 24, 36],
    )
    # Saving the same values again makes no new version.
    assert services.record_rule_set(region=district, actor=region_admin).version == 2
    versions = list(RecordRuleVersion.objects.filter(region=district).order_by("version"))
    assert [v.version for v in versions] == [1, 2]
    assert versions[0].changes == {
        "daily_cap_minutes": [720, 480],
        "checkout_grace_minutes": [120, 60],
    }
    assert versions[0].note == "按区里的新规定" and versions[0].changed_by == region_admin
    assert versions[1].changes == {"star_min_months": [[0, 0, 0, 0, 0], [0, 6, 12, 24, 36]]}
    assert versions[1].values["daily_cap_minutes"] == 480  # every value, not only the change
    entries = AuditEvent.objects.filter(action=RecordAudit.RULE_SET).order_by("id")
    assert [e.detail["version"] for e in entries] == [1, 2]
    assert entries[1].detail["changes"] == {
        "star_min_months": [[0, 0, 0, 0, 0], [0, 6, 12, 24, 36]]
    }
    # The community inherits the district's rules; the forgotten check-out grace with them.
    applied = services.record_rules_for(community)
    assert (applied.region_code, applied.daily_cap_minutes) == (district.pk, 480)
    assert services.checkout_grace_for(community) == dt.timedelta(minutes=60)


def test_a_region_of_its_own_starts_from_what_it_inherited(district, community, region_admin):
    services.record_rule_set(region=district, actor=region_admin, confirm_days=10)
    own = services.record_rule_set(region=community, actor=region_admin, rounding_unit=15)
    version = RecordRuleVersion.objects.get(region=community)
    assert own.confirm_days == 10  # kept from the district
    assert version.changes == {"rounding_unit": [1, 15]}
    assert services.record_rules_for(community).rounding_unit == 15
    assert services.record_rules_for(district).rounding_unit == 1


def test_defaults_apply_where_no_region_has_rules(district):
    assert services.record_rules_for(district) == Rules()
    assert services.checkout_grace_for(district) == dt.timedelta(hours=2)


def test_every_refusal_is_given_and_nothing_changes(district, region_admin):
    with pytest.raises(ValidationError) as refused:
        services.record_rule_set(
            region=district,
            actor=region_admin,
            rounding_unit=0,
            rounding_mode="sideways",
            daily_cap_minutes=30,
            confirm_days=0,
            checkout_grace_minutes=5,
            star_hours=[100, 300, 300, 1000, 1500],
            star_min_months=[0, 12, 6, 24, 36],
            burst_count=1,
        )
    assert set(refused.value.message_dict) == {
        "rounding_unit",
        "rounding_mode",
        "daily_cap_minutes",
        "confirm_days",
        "checkout_grace_minutes",
        "star_hours",
        "star_min_months",
        "burst_count",
    }
    assert not RecordRule.objects.exists() and not RecordRuleVersion.objects.exists()
    assert not AuditEvent.objects.filter(action=RecordAudit.RULE_SET).exists()


def test_only_the_regions_admins_set_its_rules(district, other_district, org, organiser):
    foreign = make_user(Role.REGION_ADMIN, region=other_district)
    for outsider in (foreign, organiser):
        with pytest.raises(PermissionDenied):
            services.record_rule_set(region=district, actor=outsider, confirm_days=3)
    assert not RecordRule.objects.exists()


# --- the page ---------------------------------------------------------------------------------


def form_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "rounding_unit": 1,
        "rounding_mode": "down",
        "daily_cap_minutes": 720,
        "confirm_days": 7,
        "auto_confirm_clean": "on",
        "checkout_grace_minutes": 120,
        "far_checkin_m": 0,
        "burst_seconds": 10,
        "burst_count": 5,
        "note": "",
    }
    for star, (hours, months) in enumerate(
        zip([100, 300, 600, 1000, 1500], [0] * 5, strict=True), start=1
    ):
        data[f"star_{star}_hours"] = hours
        data[f"star_{star}_months"] = months
    data.update(changes)
    return data


def test_the_page_shows_what_applies_and_saves_a_version(client: Client, district, region_admin):
    client.force_login(region_admin)
    with override("en"):
        page = client.get("/records/rules/", HTTP_ACCEPT_LANGUAGE="en")
    text = page.content.decode()
    assert page.status_code == 200
    assert "the national defaults apply" in text
    assert 'name="star_5_hours"' in text and 'value="1500"' in text
    done = client.post(
        "/records/rules/",
        form_data(
            checkout_grace_minutes=45,
            star_3_months=12,
            star_4_months=12,
            star_5_months=24,
            note="试行半年",
        ),
    )
    assert done.status_code == 302
    rule = RecordRule.objects.get(region=district)
    assert rule.checkout_grace_minutes == 45 and rule.star_min_months == [0, 0, 12, 12, 24]
    history = client.get(done["Location"]).content.decode()
    assert "v1" in history and "试行半年" in history and "120 → 45" in history


def test_the_page_refuses_in_the_readers_language_and_keeps_what_was_typed(
    client: Client, district, region_admin
):
    client.force_login(region_admin)
    bad = form_data(daily_cap_minutes=30, star_2_hours=50, note="我写的理由")
    with override("en"):
        page = client.post("/records/rules/", bad, HTTP_ACCEPT_LANGUAGE="en")
    text = page.content.decode()
    assert page.status_code == 200
    assert "The daily cap is between 60 and 1440 minutes (1 to 24 hours)." in text
    assert "Give five increasing hour thresholds, one per star." in text
    assert 'value="30"' in text and 'value="50"' in text and "我写的理由" in text
    # The default language is Chinese: the same refusal, translated.
    page = client.post("/records/rules/", bad)
    with override("zh-hans"):
        chinese = gettext("The daily cap is between 60 and 1440 minutes (1 to 24 hours).")
    assert chinese != "The daily cap is between 60 and 1440 minutes (1 to 24 hours)."
    assert chinese in page.content.decode()
    # A typed word in a number field is refused by the form, and kept.
    page = client.post("/records/rules/", form_data(confirm_days="seven"))
    assert page.status_code == 200 and 'value="seven"' in page.content.decode()
    assert not RecordRule.objects.exists()


def test_the_page_refuses_outsiders(
    client: Client, district, other_district, org, organiser, volunteer
):
    foreign = make_user(Role.REGION_ADMIN, region=other_district)
    client.force_login(foreign)
    assert client.get("/records/rules/", {"region": district.pk}).status_code == 403
    assert client.post(f"/records/rules/?region={district.pk}", form_data()).status_code == 403
    assert client.get("/records/rules/", {"region": "999999999999"}).status_code == 404
    for outsider in (organiser, volunteer):
        client.force_login(outsider)
        assert client.get("/records/rules/").status_code == 403
    client.logout()
    assert client.get("/records/rules/").status_code == 302
    assert not RecordRule.objects.exists()


# --- the API ----------------------------------------------------------------------------------


def test_the_api_reads_sets_part_and_lists_versions(client: Client, district, region_admin):
    headers = bearer(region_admin)
    url = f"/api/v1/records/rules/{district.pk}"
    before = client.get(url, **headers).json()
    assert before["applies_from"] == "" and before["version"] == 0
    assert before["values"]["checkout_grace_minutes"] == 120
    body = {"checkout_grace_minutes": 90, "star_min_months": [0, 0, 6, 12, 24], "note": "区文件"}
    done = client.put(url, json.dumps(body), content_type="application/json", **headers)
    assert done.status_code == 200
    assert done.json()["version"] == 1 and done.json()["applies_from"] == district.pk
    assert done.json()["values"]["daily_cap_minutes"] == 720  # not sent: kept
    refused = client.put(
        url,
        json.dumps({"confirm_days": 400}),
        content_type="application/json",
        **headers,
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert refused.status_code == 422
    assert refused.json()["message"] == "Records are confirmed within 1 to 90 days."
    versions = client.get(f"{url}/versions", **headers).json()
    assert [v["version"] for v in versions] == [1]
    assert versions[0]["changes"]["checkout_grace_minutes"] == [120, 90]
    assert versions[0]["note"] == "区文件"


def test_the_api_refuses_outsiders(client: Client, district, other_district, organiser):
    url = f"/api/v1/records/rules/{district.pk}"
    foreign = make_user(Role.REGION_ADMIN, region=other_district)
    for outsider in (foreign, organiser):
        headers = bearer(outsider)
        assert client.get(url, **headers).status_code == 403
        assert client.get(f"{url}/versions", **headers).status_code == 403
        assert (
            client.put(
                url, json.dumps({"confirm_days": 3}), content_type="application/json", **headers
            ).status_code
            == 403
        )
    assert client.get(url).status_code == 401
    assert not RecordRule.objects.exists()


def test_the_database_refuses_to_change_a_version(district, region_admin):
    services.record_rule_set(region=district, actor=region_admin, confirm_days=3)
    with pytest.raises(DatabaseError), transaction.atomic():
        RecordRuleVersion.objects.filter(region=district).update(note="改写历史")
    assert RecordRuleVersion.objects.get(region=district).note == ""


@pytest.mark.postgres
def test_postgresql_refuses_to_delete_a_version(district, region_admin):
    services.record_rule_set(region=district, actor=region_admin, confirm_days=3)
    with pytest.raises(DatabaseError), transaction.atomic():
        RecordRuleVersion.objects.filter(region=district).delete()
    assert RecordRuleVersion.objects.filter(region=district).exists()


def test_the_history_names_a_rounding_mode_in_the_readers_words(
    client: Client, district, region_admin
):
    client.force_login(region_admin)
    done = client.post("/records/rules/", form_data(rounding_mode="nearest"))
    assert done.status_code == 302
    history = client.get(done["Location"]).content.decode()
    assert "向下取整 → 四舍五入" in history and "down → nearest" not in history
