"""People: real-name identity, volunteer profiles, qualifications, consent and guardians.

Identity numbers and addresses are stored encrypted; lookups use blind indexes. See
docs/people.md for the rules of the Volunteer Service Regulations and the PIPL built in here.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from zhiyuan.core.fields import EncryptedTextField
from zhiyuan.core.permissions import Scope
from zhiyuan.people.identity import DocumentType, Sex

# Weekly availability: 7 days × 3 parts of the day = 21 slots, bit ``day * 3 + part``.
SLOT_PARTS = (_("morning"), _("afternoon"), _("evening"))
SLOTS_PER_WEEK = 21


class Skill(models.Model):
    """An entry of the skill taxonomy; a region may add its own under the national ones."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name_zh = models.CharField(_("name (Chinese)"), max_length=60)
    name_en = models.CharField(_("name (English)"), max_length=60)
    region = models.ForeignKey(
        "regions.Region",
        verbose_name=_("added by region"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        verbose_name = _("skill")
        verbose_name_plural = _("skills")
        ordering = ["code"]

    def __str__(self) -> str:
        from django.utils.translation import get_language

        return self.name_en if (get_language() or "").startswith("en") else self.name_zh


class Identity(models.Model):
    """A person's real-name identity (Regulations Art. 7): one account per document.

    The number is encrypted; ``document_index`` (a keyed hash of type and number) keeps it unique
    without decrypting. Birth date and sex come from the number where it carries them.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="identity"
    )
    document_type = models.CharField(
        _("document type"), max_length=20, choices=DocumentType.choices
    )
    document_number = EncryptedTextField(_("document number"), purpose="id_number", blank=True)
    document_index = models.CharField(max_length=40, unique=True, editable=False)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices, blank=True)
    registered_at = models.DateTimeField(_("registered"), default=timezone.now)

    class Meta:
        verbose_name = _("identity")
        verbose_name_plural = _("identities")

    def __str__(self) -> str:
        return f"{self.get_document_type_display()} {self.masked_number}"

    @property
    def masked_number(self) -> str:
        from zhiyuan.core.masking import mask_id_number

        return mask_id_number(self.document_number)


class ProfileStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    AWAITING_GUARDIAN = "awaiting_guardian", _("Waiting for a guardian's consent")
    CLOSED = "closed", _("Closed")


class VolunteerProfile(models.Model):
    """A registered volunteer.

    ``volunteer_number`` is the public identifier, stable for life, random (it reveals nothing
    about the person) and ending in a Luhn check digit; certificates and exchanges with other
    systems use it instead of the ID number.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="volunteer"
    )
    volunteer_number = models.CharField(_("volunteer number"), max_length=12, unique=True)
    region = models.ForeignKey(
        "regions.Region",
        verbose_name=_("home community"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    skills = models.ManyToManyField(Skill, verbose_name=_("skills"), blank=True)
    availability = models.PositiveIntegerField(_("weekly availability"), default=0)
    # An approximate home point (WGS-84) for matching by distance; the address itself is kept
    # encrypted with the real-name identity.
    home_lat = models.FloatField(null=True, blank=True)
    home_lng = models.FloatField(null=True, blank=True)
    max_travel_km = models.PositiveSmallIntegerField(_("how far I will travel (km)"), default=5)
    emergency_ok = models.BooleanField(_("available for emergency call-outs"), default=False)
    registered_at = models.DateTimeField(_("registered"), default=timezone.now)
    status = models.CharField(
        _("status"), max_length=20, choices=ProfileStatus.choices, default=ProfileStatus.ACTIVE
    )
    address = EncryptedTextField(_("home address"), purpose="address", blank=True)
    languages = models.JSONField(_("languages"), default=list, blank=True)
    tags = models.JSONField(_("other skills (free tags)"), default=list, blank=True)
    # In-service party members report to their residential community (在职党员到社区报到).
    party_member = models.BooleanField(_("Communist Party member"), default=False)
    party_organization = models.CharField(_("party organisation"), max_length=120, blank=True)
    workplace = models.CharField(_("workplace"), max_length=120, blank=True)

    class Meta:
        verbose_name = _("volunteer")
        verbose_name_plural = _("volunteers")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(availability__lt=1 << SLOTS_PER_WEEK),
                name="%(app_label)s_%(class)s_availability_21_slots",
                violation_error_message=_("Availability has 21 weekly slots."),
            )
        ]

    def __str__(self) -> str:
        return self.volunteer_number

    def permission_scope(self) -> Scope:
        return Scope(region_code=self.region_id)

    def is_free(self, day: int, part: int) -> bool:
        return bool(self.availability >> (day * 3 + part) & 1)


class QualificationKind(models.TextChoices):
    DOCTOR = "doctor", _("Doctor")
    NURSE = "nurse", _("Nurse")
    LAWYER = "lawyer", _("Lawyer")
    TEACHER = "teacher", _("Teacher")
    SOCIAL_WORKER = "social_worker", _("Social worker")
    PSYCHOLOGIST = "psychologist", _("Psychological counsellor")
    FIRST_AID = "first_aid", _("First aid")
    DRIVER = "driver", _("Driving licence")
    OTHER = "other", _("Other")


class Qualification(models.Model):
    """A professional qualification (Regulations Art. 16): issuer and validity matter, because a
    task that needs it may only go to someone whose qualification is valid on the day."""

    profile = models.ForeignKey(
        VolunteerProfile, on_delete=models.CASCADE, related_name="qualifications"
    )
    kind = models.CharField(_("qualification"), max_length=20, choices=QualificationKind.choices)
    title = models.CharField(_("title"), max_length=80, blank=True)
    issuer = models.CharField(_("issued by"), max_length=120)
    number = models.CharField(_("certificate number"), max_length=60, blank=True)
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("qualification")
        verbose_name_plural = _("qualifications")
        ordering = ["kind", "valid_until"]

    def __str__(self) -> str:
        return self.title or self.get_kind_display()

    def valid_on(self, day: object) -> bool:
        return self.valid_until is None or self.valid_until >= day  # type: ignore[operator]


class NoticeKind(models.TextChoices):
    PRIVACY = "privacy", _("Privacy notice")
    SENSITIVE_HEALTH = "sensitive_health", _("Health information in a need")
    CHILD_DATA = "child_data", _("Data of a child under 14")
    TEEN_GUARDIAN = "teen_guardian", _("Guardian's consent for a volunteer aged 14 to 17")


class PrivacyNotice(models.Model):
    """A published, versioned text a person consents to. Published versions never change."""

    kind = models.CharField(_("kind"), max_length=20, choices=NoticeKind.choices)
    version = models.PositiveIntegerField(_("version"))
    text_zh = models.TextField(_("text (Chinese)"))
    text_en = models.TextField(_("text (English)"))
    published_at = models.DateTimeField(_("published"), default=timezone.now)

    class Meta:
        verbose_name = _("privacy notice")
        verbose_name_plural = _("privacy notices")
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "version"],
                name="%(app_label)s_%(class)s_one_version",
                violation_error_message=_("This version of the notice exists already."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} v{self.version}"

    @property
    def text(self) -> str:
        from django.utils.translation import get_language

        return self.text_en if (get_language() or "").startswith("en") else self.text_zh


class Consent(models.Model):
    """Who consented to which version of which notice, when, and whether they withdrew it.

    ``subject`` is the person the data is about; ``given_by`` differs when a guardian consents
    for a child (PIPL Art. 31).
    """

    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="consents"
    )
    given_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    notice = models.ForeignKey(PrivacyNotice, on_delete=models.PROTECT, related_name="+")
    given_at = models.DateTimeField(_("given"), default=timezone.now)
    withdrawn_at = models.DateTimeField(_("withdrawn"), null=True, blank=True)

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        ordering = ["-given_at"]

    def __str__(self) -> str:
        return f"{self.subject_id}: {self.notice}"


class GuardianLink(models.Model):
    """A guardian linked to a minor volunteer; the minor's account works once they consent."""

    minor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="guardian_links"
    )
    guardian = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="wards"
    )
    relation = models.CharField(_("relation"), max_length=20)
    requested_at = models.DateTimeField(default=timezone.now)
    consented_at = models.DateTimeField(_("consented"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("guardian")
        verbose_name_plural = _("guardians")

    def __str__(self) -> str:
        return f"{self.guardian_id} → {self.minor_id}"


class MinorPolicy(models.Model):
    """A region's rule for volunteers aged 14 to 17. By default their guardian consents too
    (Shanghai Art. 13); a region where local rules allow may relax it. The nearest region up
    the tree with a policy decides."""

    region = models.OneToOneField(
        "regions.Region", on_delete=models.PROTECT, related_name="minor_policy"
    )
    teens_need_guardian = models.BooleanField(
        _("volunteers aged 14–17 need a guardian's consent"), default=True
    )

    class Meta:
        verbose_name = _("minors policy")
        verbose_name_plural = _("minors policies")

    def __str__(self) -> str:
        return f"{self.region_id}: {self.teens_need_guardian}"
