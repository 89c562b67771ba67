"""The administrative hierarchy, keyed by the statistical division code."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from zhiyuan.core.permissions import Scope
from zhiyuan.regions.codes import Level, RegionCode, parse_code


class Region(models.Model):
    """A province, city, district, street (township) or community (village).

    The primary key is the 12-digit code itself, so every row that points at a region stores the
    code, and "rows under this region" is a range filter on that column with no join.
    """

    code = models.CharField(_("code"), max_length=12, primary_key=True)
    name = models.CharField(_("name"), max_length=100)
    level = models.PositiveSmallIntegerField(_("level"), choices=Level.choices)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )

    class Meta:
        verbose_name = _("region")
        verbose_name_plural = _("regions")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(level__gte=1, level__lte=5),
                name="%(app_label)s_%(class)s_level_range",
                violation_error_message=_("A region's level is between 1 and 5."),
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def parsed(self) -> RegionCode:
        return parse_code(self.code)

    @property
    def subtree_range(self) -> tuple[str, str]:
        return self.parsed.subtree_range

    def permission_scope(self) -> Scope:
        return Scope(region_code=self.code)
