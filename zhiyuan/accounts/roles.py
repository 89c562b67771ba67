"""The roles of Zhiyuan. A role is always granted with a scope (see RoleGrant)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    RESIDENT = "resident", _("Resident")
    VOLUNTEER = "volunteer", _("Volunteer")
    ORG_ADMIN = "org_admin", _("Organisation admin")
    DISPATCHER = "dispatcher", _("Centre dispatcher")
    REGION_ADMIN = "region_admin", _("Region admin")
    SYSTEM_ADMIN = "system_admin", _("System administrator")
    SECURITY_ADMIN = "security_admin", _("Security administrator")
    AUDIT_ADMIN = "audit_admin", _("Audit administrator")
    MERCHANT = "merchant", _("Partner merchant")


# Scoped by a region subtree.
REGION_ROLES = frozenset({Role.RESIDENT, Role.VOLUNTEER, Role.DISPATCHER, Role.REGION_ADMIN})
# Scoped by an organisation.
# A partner merchant acts for its own organisation (of kind "merchant") in the rewards store.
ORGANIZATION_ROLES = frozenset({Role.ORG_ADMIN, Role.MERCHANT})
# The three separated administrators (三员分立) act on the whole deployment.
SEPARATED_ADMINS = frozenset({Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN, Role.AUDIT_ADMIN})
# Administrators get the shorter idle timeout and must use a second factor.
ADMIN_ROLES = SEPARATED_ADMINS | {Role.REGION_ADMIN}
