"""Agreements: when one is required (Art. 14, Beijing Art. 18), versions, acceptance records."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import RequestFactory

from tests.factories import make_volunteer
from tests.organizations.helpers import org_with_admin
from zhiyuan.core.models import AuditEvent
from zhiyuan.safeguards import rules, services
from zhiyuan.safeguards.selectors import agreement_acceptance_for

TZ = ZoneInfo("Asia/Shanghai")


class TestRequired:
    def test_nothing_set_means_not_required(self) -> None:
        need = rules.agreement_required()
        assert not need and need.reasons == ()

    @pytest.mark.parametrize(
        "flag",
        [
            "organiser_marked",
            "requested_by_party",
            "high_risk",
            "large_scale",
            "outside_city",
            "foreign_participants",
        ],
    )
    def test_each_trigger_alone_requires_one(self, flag: str) -> None:
        need = rules.agreement_required(**{flag: True})
        assert need.required
        assert len(need.reasons) == 1

    @pytest.mark.parametrize(
        ("start", "end", "required"),
        [
            (date(2026, 3, 1), date(2026, 3, 31), False),  # one day short of a month
            (date(2026, 3, 1), date(2026, 4, 1), True),  # exactly a month
            (date(2026, 1, 31), date(2026, 2, 27), False),
            (date(2026, 1, 31), date(2026, 2, 28), True),  # month end clamps
            (date(2024, 1, 31), date(2024, 2, 29), True),  # leap year
            (date(2026, 12, 15), date(2027, 1, 15), True),  # across the year
        ],
    )
    def test_a_month_or_more(self, start: date, end: date, required: bool) -> None:
        need = rules.agreement_required(start=start, end=end)
        assert need.required is required
        assert (rules.ONE_MONTH_OR_MORE in need.reasons) is required

    def test_datetimes_count_by_day(self) -> None:
        need = rules.agreement_required(
            start=datetime(2026, 3, 1, 9, tzinfo=TZ), end=datetime(2026, 4, 1, 8, tzinfo=TZ)
        )
        assert need.required

    def test_every_reason_is_listed_in_order(self) -> None:
        need = rules.agreement_required(
            foreign_participants=True, high_risk=True, organiser_marked=True
        )
        assert need.reasons == (rules.ORGANISER_MARKED, rules.HIGH_RISK, rules.FOREIGN_PARTICIPANTS)


@pytest.mark.django_db
class TestVersionsAndAcceptance:
    def test_versions_and_the_acceptance_record(self, district) -> None:
        org, admin = org_with_admin(district)
        template = services.agreement_template_create(
            organization=org, title="志愿服务协议", body="第一版条款", actor=admin
        )
        v1 = template.versions.get()
        volunteer = make_volunteer(district).user
        request = RequestFactory().post(
            "/", REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="Mozilla/5.0 (iPhone)"
        )
        accepted = services.agreement_accept(
            version=v1, user=volunteer, subject="activity:42", request=request
        )
        assert (accepted.ip, accepted.user_agent, accepted.version.number) == (
            "203.0.113.9",
            "Mozilla/5.0 (iPhone)",
            1,
        )
        assert agreement_acceptance_for(volunteer, template, "activity:42") == accepted
        # Accepting again returns the same record.
        assert services.agreement_accept(version=v1, user=volunteer, subject="activity:42") == (
            accepted
        )
        v2 = services.agreement_version_publish(template=template, body="第二版条款", actor=admin)
        assert v2.number == 2
        # The old acceptance no longer counts: the words changed.
        assert agreement_acceptance_for(volunteer, template, "activity:42") is None
        with pytest.raises(ValidationError):
            services.agreement_accept(version=v1, user=volunteer)
        v1.refresh_from_db()
        assert v1.body == "第一版条款"
        assert AuditEvent.objects.filter(action="agreement.accepted").count() == 1

    def test_an_unchanged_text_is_not_a_new_version(self, district) -> None:
        org, admin = org_with_admin(district)
        template = services.agreement_template_create(
            organization=org, title="t", body="同样", actor=admin
        )
        with pytest.raises(ValidationError):
            services.agreement_version_publish(template=template, body="同样", actor=admin)

    def test_only_the_organisations_admins_write_agreements(self, district) -> None:
        org, _ = org_with_admin(district)
        _, stranger = org_with_admin(district)
        with pytest.raises(PermissionDenied):
            services.agreement_template_create(
                organization=org, title="t", body="b", actor=stranger
            )
