from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.utils import translation

from tests.factories import make_user
from tests.people.conftest import id_number
from zhiyuan.accounts.models import PhoneChallenge, PhonePurpose, User
from zhiyuan.accounts.otp import CodeRefused, phone_code_check, phone_code_send
from zhiyuan.accounts.roles import Role
from zhiyuan.core.models import AuditEvent
from zhiyuan.core.permissions import has_role
from zhiyuan.people import services
from zhiyuan.people.models import (
    Consent,
    GuardianLink,
    Identity,
    MinorPolicy,
    NoticeKind,
    ProfileStatus,
    VolunteerProfile,
)
from zhiyuan.people.numbers import is_valid_volunteer_number

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def messages_of(caught: pytest.ExceptionInfo[ValidationError]) -> dict[str, str]:
    return {k: v[0].messages[0] for k, v in caught.value.error_dict.items()}


class TestRegistration:
    def test_a_valid_registration_makes_a_volunteer(self, registration) -> None:
        profile = services.volunteer_register(**registration())
        identity = Identity.objects.get(user=profile.user)
        assert identity.birth_date == dt.date(1990, 1, 1)
        assert identity.sex == "M"  # sequence 123 is odd
        assert identity.masked_number == "110105********" + id_number("19900101")[-4:]
        assert is_valid_volunteer_number(profile.volunteer_number)
        assert profile.status == ProfileStatus.ACTIVE
        assert has_role(profile.user, Role.VOLUNTEER)
        assert Consent.objects.filter(subject=profile.user, notice__kind="privacy").count() == 1
        assert AuditEvent.objects.filter(action="person.registered").count() == 1

    def test_the_volunteer_number_reveals_nothing_of_the_id(self, registration) -> None:
        profile = services.volunteer_register(**registration())
        number = Identity.objects.get(user=profile.user).document_number
        assert profile.volunteer_number not in number
        assert number[6:14] not in profile.volunteer_number

    def test_every_mistake_is_reported_at_once_and_nothing_is_written(self, registration) -> None:
        data = registration(
            name="林",
            document_number=id_number("19900101")[:-1] + "0",
            community="110101001000",  # a street, not a community
            password="12345678",
            accept_notice=0,
        )
        with pytest.raises(ValidationError) as caught:
            services.volunteer_register(**data)
        errors = messages_of(caught)
        assert set(errors) == {"name", "document_number", "community", "password", "accept_notice"}
        assert "last character" in errors["document_number"]
        assert User.objects.count() == 0
        # The code was not consumed: the person fixes the form and submits again.
        assert PhoneChallenge.objects.get().used_at is None

    def test_one_account_per_document_without_saying_whose(self, registration, sms_code) -> None:
        services.volunteer_register(**registration())
        with pytest.raises(ValidationError) as caught:
            services.volunteer_register(**registration(phone="13911113333"))
        message = messages_of(caught)["document_number"]
        assert "already registered" in message
        assert "林" not in message and "139" not in message

    def test_a_wrong_code_is_counted_and_refused(self, registration) -> None:
        data = registration(code="000000")
        with pytest.raises(ValidationError) as caught:
            services.volunteer_register(**data)
        assert "tries left" in messages_of(caught)["code"]
        assert PhoneChallenge.objects.get().attempts == 1
        assert User.objects.count() == 0

    def test_a_document_without_birth_date_asks_for_it(self, registration) -> None:
        data = registration(document_type="passport", document_number="E12345678")
        with pytest.raises(ValidationError) as caught:
            services.volunteer_register(**data)
        assert set(messages_of(caught)) == {"birth_date", "sex"}
        profile = services.volunteer_register(
            **registration(
                document_type="passport",
                document_number="E12345678",
                birth_date=dt.date(1985, 5, 5),
                sex="F",
            )
        )
        assert Identity.objects.get(user=profile.user).birth_date == dt.date(1985, 5, 5)


class TestMinors:
    @time_machine.travel("2026-11-28 10:00 +0800", tick=False)
    def test_under_14_waits_for_the_guardian(self, registration, adult) -> None:
        with pytest.raises(ValidationError) as caught:
            services.volunteer_register(**registration(document_number=id_number("20150301")))
        assert "guardian" in messages_of(caught)["guardian_phone"]
        # An account without a real-name adult identity cannot be a guardian.
        make_user(phone="13912345670")
        with pytest.raises(ValidationError) as caught:
            services.volunteer_register(
                **registration(
                    document_number=id_number("20150301"),
                    guardian_phone="13912345670",
                    guardian_relation="mother",
                )
            )
        assert "No adult" in messages_of(caught)["guardian_phone"]
        mother = adult("13912345678")
        profile = services.volunteer_register(
            **registration(
                document_number=id_number("20150301"),
                guardian_phone="13912345678",
                guardian_relation="mother",
            )
        )
        assert profile.status == ProfileStatus.AWAITING_GUARDIAN
        assert not has_role(profile.user, Role.VOLUNTEER)  # the account does not work yet
        link = GuardianLink.objects.get(minor=profile.user)
        with pytest.raises(PermissionDenied):
            services.guardian_consent(guardian=make_user(phone="13912345679"), link=link)
        services.guardian_consent(guardian=mother, link=link)
        profile.refresh_from_db()
        profile.user._zhiyuan_grants = None
        assert profile.status == ProfileStatus.ACTIVE
        assert has_role(profile.user, Role.VOLUNTEER)
        child_consent = Consent.objects.get(
            subject=profile.user, notice__kind=NoticeKind.CHILD_DATA
        )
        assert child_consent.given_by == mother
        # The child cannot withdraw the guardian's consent; the guardian can, and it pauses.
        with pytest.raises(ValidationError):
            services.consent_withdraw(user=profile.user, kind=NoticeKind.CHILD_DATA)
        services.guardian_withdraw(guardian=mother, link=link)
        profile.refresh_from_db()
        profile.user._zhiyuan_grants = None
        assert profile.status == ProfileStatus.AWAITING_GUARDIAN
        assert not has_role(profile.user, Role.VOLUNTEER)
        assert not services.consent_active(profile.user, NoticeKind.CHILD_DATA)

    @time_machine.travel("2026-11-28 10:00 +0800", tick=False)
    def test_teenagers_need_a_guardian_unless_the_region_relaxes_it(
        self, registration, district, adult
    ) -> None:
        teen = id_number("20100601")  # 16
        with pytest.raises(ValidationError):
            services.volunteer_register(**registration(document_number=teen))
        father = adult("13912345678")
        waiting = services.volunteer_register(
            **registration(
                phone="13911119999",
                document_number=id_number("20100601", sequence=125),
                guardian_phone="13912345678",
                guardian_relation="father",
            )
        )
        services.guardian_consent(guardian=father, link=waiting.user.guardian_links.get())
        consent = Consent.objects.get(subject=waiting.user, given_by=father)
        assert consent.notice.kind == NoticeKind.TEEN_GUARDIAN
        MinorPolicy.objects.create(region=district, teens_need_guardian=False)
        profile = services.volunteer_register(**registration(document_number=teen))
        assert profile.status == ProfileStatus.ACTIVE

    @time_machine.travel("2026-11-28 10:00 +0800", tick=False)
    def test_under_14_needs_a_guardian_even_where_teens_do_not(
        self, registration, district
    ) -> None:
        MinorPolicy.objects.create(region=district, teens_need_guardian=False)
        with pytest.raises(ValidationError):
            services.volunteer_register(**registration(document_number=id_number("20150301")))


class TestPhoneCodes:
    def test_codes_are_single_use(self, sms_code) -> None:
        code = sms_code("13911112222")
        phone_code_check(phone="13911112222", purpose=PhonePurpose.REGISTER, code=code)
        with pytest.raises(CodeRefused, match="expired or was not sent"):
            phone_code_check(phone="13911112222", purpose=PhonePurpose.REGISTER, code=code)

    def test_codes_live_ten_minutes(self, sms_code) -> None:
        with time_machine.travel("2026-11-28 10:00 +0800", tick=False) as clock:
            code = sms_code("13911112222")
            clock.shift(10 * 60 + 1)
            with pytest.raises(CodeRefused, match="expired"):
                phone_code_check(phone="13911112222", purpose=PhonePurpose.REGISTER, code=code)

    def test_guessing_stops_after_five_tries(self, sms_code) -> None:
        code = sms_code("13911112222")
        for _ in range(4):
            with pytest.raises(CodeRefused, match="tries left"):
                phone_code_check(phone="13911112222", purpose=PhonePurpose.REGISTER, code="999999")
        with pytest.raises(CodeRefused, match="Too many wrong codes"):
            phone_code_check(phone="13911112222", purpose=PhonePurpose.REGISTER, code="999999")
        with pytest.raises(CodeRefused, match="Too many wrong codes"):
            phone_code_check(phone="13911112222", purpose=PhonePurpose.REGISTER, code=code)

    def test_sending_is_rate_limited(self) -> None:
        with time_machine.travel("2026-11-28 10:00 +0800", tick=False) as clock:
            phone_code_send(phone="13911112222", purpose=PhonePurpose.REGISTER)
            with pytest.raises(CodeRefused, match="seconds"):
                phone_code_send(phone="13911112222", purpose=PhonePurpose.REGISTER)
            for _ in range(4):
                clock.shift(61)
                phone_code_send(phone="13911112222", purpose=PhonePurpose.REGISTER)
            clock.shift(61)
            with pytest.raises(CodeRefused, match="an hour"):
                phone_code_send(phone="13911112222", purpose=PhonePurpose.REGISTER)
            clock.shift(3600)
            phone_code_send(phone="13911112222", purpose=PhonePurpose.REGISTER)

    def test_one_connection_cannot_spend_the_sms_budget(self) -> None:
        from zhiyuan.accounts.otp import MAX_PER_IP_HOUR

        for n in range(MAX_PER_IP_HOUR):
            phone_code_send(phone=f"1391111{n:04d}", purpose=PhonePurpose.REGISTER, ip="10.0.0.7")
        with pytest.raises(CodeRefused, match="connection"):
            phone_code_send(phone="13922220000", purpose=PhonePurpose.REGISTER, ip="10.0.0.7")
        phone_code_send(phone="13922220000", purpose=PhonePurpose.REGISTER, ip="10.0.0.8")


class TestRights:
    def test_export_holds_everything_in_full_and_is_audited(self, registration) -> None:
        profile = services.volunteer_register(**registration())
        data = services.person_export(user=profile.user)
        assert data["account"]["mobile"] == "13911112222"
        assert data["identity"]["document_number"] == id_number("19900101")
        assert data["volunteer"]["volunteer_number"] == profile.volunteer_number
        assert AuditEvent.objects.filter(action="pii.export", actor=profile.user).exists()

    def test_closing_erases_personal_data_and_keeps_the_number(self, registration) -> None:
        profile = services.volunteer_register(**registration())
        number = profile.volunteer_number
        with pytest.raises(ValidationError):
            services.person_close(user=profile.user, password="wrong-password")
        services.person_close(user=profile.user, password="walk-the-dog-2026")
        user = User.objects.get(pk=profile.user_id)
        assert (user.name, user.phone, user.is_active) == ("", "", False)
        assert not user.has_usable_password()
        identity = Identity.objects.get(user=user)
        assert (identity.document_number, identity.birth_date) == ("", None)
        profile.refresh_from_db()
        assert profile.volunteer_number == number
        assert profile.status == ProfileStatus.CLOSED
        assert not has_role(user, Role.VOLUNTEER)
        # The same person can register again later with the same document and number.
        services.volunteer_register(**registration())

    def test_withdrawing_sensitive_consent_stops_it(self, registration) -> None:
        user = services.volunteer_register(**registration()).user
        services.consent_give(user=user, kind=NoticeKind.SENSITIVE_HEALTH)
        assert services.consent_active(user, NoticeKind.SENSITIVE_HEALTH)
        assert services.consent_withdraw(user=user, kind=NoticeKind.SENSITIVE_HEALTH) == 1
        assert not services.consent_active(user, NoticeKind.SENSITIVE_HEALTH)
        with pytest.raises(ValidationError):
            services.consent_withdraw(user=user, kind=NoticeKind.PRIVACY)

    def test_profile_changes_are_audited_by_field_name_only(self, registration) -> None:
        profile = services.volunteer_register(**registration())
        services.profile_update(
            profile=profile, actor=profile.user, address="东城区多福巷 12 号", availability=0b111
        )
        profile.refresh_from_db()
        assert profile.address == "东城区多福巷 12 号"
        event = AuditEvent.objects.filter(action="person.profile_changed").last()
        assert event.detail == {"fields": ["address", "availability"]}
        with pytest.raises(PermissionDenied):
            services.profile_update(profile=profile, actor=make_user(), max_travel_km=3)


class TestUnmask:
    def test_unmasking_needs_the_right_scope_and_a_reason(
        self, registration, district, other_district
    ) -> None:
        profile = services.volunteer_register(**registration())
        admin = make_user(Role.REGION_ADMIN, region=district)
        with pytest.raises(ValidationError):
            services.person_unmask(actor=admin, profile=profile, field="phone", reason="")
        value = services.person_unmask(
            actor=admin, profile=profile, field="document_number", reason="核实保险投保信息"
        )
        assert value == id_number("19900101")
        event = AuditEvent.objects.get(action="pii.unmask")
        assert event.detail == {"field": "document_number", "reason": "核实保险投保信息"}
        assert id_number("19900101") not in str(event.detail)
        outsider = make_user(Role.REGION_ADMIN, region=other_district)
        with pytest.raises(PermissionDenied):
            services.person_unmask(
                actor=outsider, profile=profile, field="phone", reason="想看看号码"
            )
        dispatcher = make_user(Role.DISPATCHER, region=district)
        with pytest.raises(PermissionDenied):
            services.person_unmask(
                actor=dispatcher, profile=profile, field="phone", reason="想看看号码"
            )


def test_nothing_personal_in_clear_in_the_tables(registration) -> None:
    profile = services.volunteer_register(**registration())
    services.profile_update(profile=profile, actor=profile.user, address="东城区多福巷 12 号")
    dump = []
    with connection.cursor() as cursor:
        for table in (
            "accounts_user",
            "people_identity",
            "people_volunteerprofile",
            "core_auditevent",
        ):
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 — fixed table names
            dump.append(repr(cursor.fetchall()))
    text = "\n".join(dump)
    assert "13911112222" not in text
    assert id_number("19900101") not in text
    assert "多福巷" not in text
    assert VolunteerProfile.objects.get().address == "东城区多福巷 12 号"


@time_machine.travel("2026-11-28 10:00 +0800", tick=False)
def test_retention_erases_a_minor_nobody_agreed_to(registration, adult) -> None:
    from zhiyuan.core.tasks import retention_apply

    adult("13912345678")
    child = services.volunteer_register(
        **registration(
            document_number=id_number("20150301"),
            guardian_phone="13912345678",
            guardian_relation="妈妈",
        )
    )
    with time_machine.travel("2026-12-20 10:00 +0800", tick=False):
        assert retention_apply()["unconsented_minors"] == 0
    with time_machine.travel("2027-01-05 10:00 +0800", tick=False):
        assert retention_apply()["unconsented_minors"] == 1
    child.refresh_from_db()
    assert child.status == ProfileStatus.CLOSED
    assert Identity.objects.get(user=child.user).document_number == ""
    # The child can register again later, with another guardian.
    again = services.document_index("resident_id", id_number("20150301"))
    assert not Identity.objects.filter(document_index=again).exists()


def test_probing_without_a_code_reveals_nothing(registration) -> None:
    services.volunteer_register(**registration())
    probe = registration(phone="13911113333", code="000000")
    probe["document_number"] = id_number("19900101")  # someone else's, already registered
    with pytest.raises(ValidationError) as caught:
        services.volunteer_register(**probe)
    assert set(messages_of(caught)) == {"code"}


def test_closing_an_account_ends_its_tokens_devices_and_wards(registration, adult) -> None:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from zhiyuan.accounts.models import ApiToken
    from zhiyuan.accounts.services import token_create

    mother = adult("13912345678")
    mother.set_password("walk-the-dog-2026")
    mother.save()
    with time_machine.travel("2026-11-28 10:00 +0800", tick=False):
        child = services.volunteer_register(
            **registration(
                document_number=id_number("20150301"),
                guardian_phone="13912345678",
                guardian_relation="妈妈",
            )
        )
    services.guardian_consent(guardian=mother, link=child.user.guardian_links.get())
    token_create(user=mother, name="app")
    TOTPDevice.objects.create(user=mother, name="phone")
    services.person_close(user=mother, password="walk-the-dog-2026")
    assert not ApiToken.objects.filter(user=mother).exists()
    assert not TOTPDevice.objects.filter(user=mother).exists()
    child.refresh_from_db()
    assert child.status == ProfileStatus.AWAITING_GUARDIAN


def test_an_unmask_reason_may_not_carry_numbers(registration, district) -> None:
    profile = services.volunteer_register(**registration())
    admin = make_user(Role.REGION_ADMIN, region=district)
    with pytest.raises(ValidationError):
        services.person_unmask(
            actor=admin, profile=profile, field="phone", reason="核对 13911112222"
        )
