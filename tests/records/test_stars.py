"""The star-level page: each level's hours and months of service, what was reached and when;
the API gives the same; residents and anonymous visitors are refused."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils.translation import override

from tests.records.helpers import bearer
from zhiyuan.records import services
from zhiyuan.records.models import StarAward

pytestmark = pytest.mark.django_db


def test_the_star_page_shows_thresholds_months_and_history(
    client: Client, world, district, region_admin
):
    services.record_rule_set(
        region=district,
        actor=region_admin,
        star_hours=[1, 50, 100, 200, 300],
        star_min_months=[0, 3, 6, 12, 24],
    )
    services.star_recompute(volunteer=world["volunteer"])
    award = StarAward.objects.get(volunteer=world["volunteer"])
    assert award.level == 1 and award.threshold_hours == 1
    client.force_login(world["volunteer"])
    with override("en"):
        page = client.get("/records/stars/", HTTP_ACCEPT_LANGUAGE="en")
    text = page.content.decode()
    assert page.status_code == 200
    assert "Thresholds set by your region." in text
    assert '<tr data-level="2"><td>2★</td><td>50</td><td>3</td><td>—</td></tr>' in text
    assert award.reached_at.strftime("%Y-%m-%d") in text
    assert "48.0 more hours to reach 2 stars." in text
    api = client.get("/api/v1/records/summary", **bearer(world["volunteer"])).json()
    assert api["min_months"] == [0, 3, 6, 12, 24] and api["rule_region"] == district.pk
    assert api["months_of_service"] == 0 and api["star_level"] == 1
    assert [h["level"] for h in api["history"]] == [1]


def test_months_of_service_count_completed_months():
    assert services.months_of_service(None) == 0
    first = dt.date(2025, 12, 31)
    assert services.months_of_service(first, dt.datetime(2026, 3, 30, 12, tzinfo=dt.UTC)) == 2


def test_the_star_page_refuses_outsiders(client: Client, world):
    for outsider in (world["resident"], world["organiser"]):
        client.force_login(outsider)
        assert client.get("/records/stars/").status_code == 403
    client.logout()
    assert client.get("/records/stars/").status_code == 302
