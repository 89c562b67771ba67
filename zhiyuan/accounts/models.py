"""Accounts: people who log in, the roles they hold and their API tokens."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from zhiyuan.accounts.phones import normalize_mobile
from zhiyuan.accounts.roles import Role
from zhiyuan.core.crypto import blind_index
from zhiyuan.core.fields import EncryptedTextField
from zhiyuan.core.masking import mask_phone

PHONE_PURPOSE = "phone"


def phone_index(phone: str) -> str:
    """The blind index of a (normalised) mobile number: the account's log-in key."""
    return blind_index(normalize_mobile(phone), purpose=PHONE_PURPOSE)


class UserManager(BaseUserManager["User"]):
    def get_by_natural_key(self, username: str | None) -> User:
        # The log-in form sends a phone number; accounts are found by its blind index.
        return self.get(phone_index=phone_index(username or ""))

    def create_user(self, phone: str, password: str | None = None, **extra: Any) -> User:
        phone = normalize_mobile(phone)
        user = self.model(phone=phone, phone_index=phone_index(phone), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, phone: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(phone, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who logs in with a mainland mobile number and a password.

    The number is stored encrypted; ``phone_index`` (a keyed hash) finds the account and keeps
    one account per number without decrypting anything.
    """

    phone = EncryptedTextField(_("mobile number"), purpose=PHONE_PURPOSE)
    phone_index = models.CharField(max_length=32, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=60, blank=True)
    language = models.CharField(
        _("language"),
        max_length=10,
        choices=[("zh-hans", "简体中文"), ("en", "English")],
        default="zh-hans",
    )
    is_active = models.BooleanField(_("active"), default=True)
    # Django's admin site is for the system administrator alone.
    is_staff = models.BooleanField(_("staff"), default=False)
    date_joined = models.DateTimeField(_("joined"), default=timezone.now)
    # Set when the person closes the account: personal data is erased, records stay under the
    # volunteer number (PIPL Art. 47; Regulations Art. 19).
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "phone_index"
    REQUIRED_FIELDS = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.name or self.masked_phone

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone)


class RoleGrant(models.Model):
    """A role held by a user over a scope: a region subtree, an organisation, or everything.

    Region-scoped roles name a region; organisation admins name an organisation; the three
    separated administrators hold their role over the whole deployment. Revoking keeps the row.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="grants")
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    region = models.ForeignKey(
        "regions.Region",
        verbose_name=_("region"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    organization = models.ForeignKey(
        "organizations.Organization",
        verbose_name=_("organisation"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="grants",
    )
    granted_at = models.DateTimeField(_("granted"), default=timezone.now)
    granted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("role grant")
        verbose_name_plural = _("role grants")
        constraints = [
            models.CheckConstraint(
                condition=~(Q(region__isnull=False) & Q(organization__isnull=False)),
                name="%(app_label)s_%(class)s_one_scope",
                violation_error_message=_("A role is scoped by a region or an organisation."),
            ),
            models.UniqueConstraint(
                fields=["user", "role", "region", "organization"],
                condition=Q(revoked_at__isnull=True),
                name="%(app_label)s_%(class)s_unique_active",
                violation_error_message=_("This person already holds this role here."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_role_display()} @ {self.region_id or self.organization_id or '*'}"


class ApiToken(models.Model):
    """A bearer token for an app client (mini program, mobile app). Only its hash is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=60)
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_usable(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class PhonePurpose(models.TextChoices):
    REGISTER = "register", _("registration")
    CHANGE_PHONE = "change_phone", _("change of mobile number")
    GUARDIAN = "guardian", _("guardian confirmation")


class PhoneChallenge(models.Model):
    """A one-time code sent by SMS to prove a person holds a mobile number.

    Only the code's hash is stored; a code works once, for 10 minutes, for 5 guesses.
    """

    phone_index = models.CharField(max_length=32, db_index=True)
    # A keyed hash of the requesting address, for the per-connection limit; never the address.
    ip_index = models.CharField(max_length=32, blank=True, db_index=True)
    purpose = models.CharField(max_length=20, choices=PhonePurpose.choices)
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("phone code")
        verbose_name_plural = _("phone codes")

    def __str__(self) -> str:
        return f"{self.purpose} {self.created_at:%Y-%m-%d %H:%M}"
