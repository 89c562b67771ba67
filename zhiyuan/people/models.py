"""Volunteers: the public volunteer number, skills, weekly availability and where they serve.

Real-name identity, qualifications, consent and guardians build on this (the people issue).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from zhiyuan.core.permissions import Scope

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
