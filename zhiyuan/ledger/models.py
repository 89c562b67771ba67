"""The ledger: service points and time-bank minutes, where nothing is ever lost.

Accounts hold one asset each. A transaction is a list of postings; each posting moves a positive
amount of one asset from one account to another, so every transaction balances by construction.
Transactions and postings are append-only (database triggers refuse UPDATE and DELETE); the
database also applies each posting to the cached balances, refuses to overdraw an ordinary
account and checks at commit that every transaction balances per asset (migration 0002).
Committed transactions are sealed into a hash chain in batches (``Seal``); ``zhiyuan ledger
verify`` replays everything. See docs/ledger.md and docs/adr/0005-ledger-hash-chain.md.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from zhiyuan.core.permissions import Scope


class Asset(models.TextChoices):
    POINTS = "points", _("Service points")
    TIME_MINUTES = "time_minutes", _("Time-bank minutes")


class OwnerKind(models.TextChoices):
    USER = "user", _("Person")
    ORGANIZATION = "organization", _("Organisation")
    STORE = "store", _("Rewards store")
    FUND = "fund", _("Public fund")
    MINT = "mint", _("Issuer")


#: Accounts that may go below zero: the issuer of a region and its public fund.
SYSTEM_KINDS = frozenset({OwnerKind.FUND, OwnerKind.MINT})


class Account(models.Model):
    """One owner's holding of one asset.

    ``balance`` is a cache of the postings, kept by the database itself: a trigger applies every
    inserted posting to both accounts in the same transaction. Only system accounts (the issuer
    and the public fund of a region) may go negative; the constraint below refuses it elsewhere.
    """

    kind = models.CharField(_("owner kind"), max_length=20, choices=OwnerKind.choices)
    asset = models.CharField(_("asset"), max_length=20, choices=Asset.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_accounts",
    )
    organization = models.ForeignKey(
        "organizations.Organization",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_accounts",
    )
    region = models.ForeignKey(
        "regions.Region", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    is_system = models.BooleanField(_("system account"), default=False)
    balance = models.BigIntegerField(_("balance"), default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        constraints = [
            models.CheckConstraint(
                condition=Q(balance__gte=0) | Q(is_system=True),
                name="%(app_label)s_%(class)s_not_overdrawn",
                violation_error_message=_("An ordinary account cannot go below zero."),
            ),
            models.CheckConstraint(
                condition=Q(is_system=True, kind__in=sorted(k.value for k in SYSTEM_KINDS))
                | Q(is_system=False, kind__in=["user", "organization", "store"]),
                name="%(app_label)s_%(class)s_system_kinds",
                violation_error_message=_("Only an issuer or a public fund is a system account."),
            ),
            models.CheckConstraint(
                condition=(Q(kind="user", user__isnull=False, organization__isnull=True))
                | (Q(kind__in=["organization", "store"], organization__isnull=False, user=None))
                | (
                    Q(kind__in=["fund", "mint"], region__isnull=False, user=None, organization=None)
                ),
                name="%(app_label)s_%(class)s_one_owner",
                violation_error_message=_("An account has exactly one owner of its kind."),
            ),
            models.UniqueConstraint(
                fields=["user", "asset"],
                condition=Q(kind="user"),
                name="%(app_label)s_%(class)s_unique_user",
                violation_error_message=_("This person already has this account."),
            ),
            models.UniqueConstraint(
                fields=["kind", "organization", "asset"],
                condition=Q(kind__in=["organization", "store"]),
                name="%(app_label)s_%(class)s_unique_organization",
                violation_error_message=_("This organisation already has this account."),
            ),
            models.UniqueConstraint(
                fields=["kind", "region", "asset"],
                condition=Q(kind__in=["fund", "mint"]),
                name="%(app_label)s_%(class)s_unique_region",
                violation_error_message=_("This region already has this account."),
            ),
        ]

    def __str__(self) -> str:
        owner = self.user_id or self.organization_id or self.region_id
        return f"{self.kind}:{owner}:{self.asset}"


class TransactionKind(models.TextChoices):
    EARN = "earn", _("Points earned for service")
    NO_SHOW = "no_show", _("No-show penalty")
    OPENING_IMPORT = "opening_import", _("Opening balance import (earned before Zhiyuan)")
    DEPOSIT = "deposit", _("Time-bank deposit")
    WITHDRAWAL = "withdrawal", _("Time-bank withdrawal")
    TRANSFER = "transfer", _("Transfer to a relative")
    DONATION = "donation", _("Donation")
    FUND_SEED = "fund_seed", _("Credit from the public fund")
    REDEMPTION = "redemption", _("Reward redeemed")
    REVERSAL = "reversal", _("Reversal")


class Transaction(models.Model):
    """One booking: a list of postings that commit together, or not at all.

    ``idempotency_key`` is unique: a retry finds the first booking and gets its result;
    ``request_hash`` tells a true retry from a different request under the same key. A
    correction is a new transaction of kind ``reversal`` pointing at the original through
    ``reverses`` (unique, so nothing is reversed twice). ``digest`` covers this row and its
    postings; ``xid`` (the PostgreSQL transaction id, set by a trigger) places it in the chain.
    ``audit_at_seal``: the booking's audit entry is written by the seal (ADR 0009).
    """

    idempotency_key = models.CharField(_("idempotency key"), max_length=120, unique=True)
    request_hash = models.CharField(max_length=64)
    kind = models.CharField(_("kind"), max_length=20, choices=TransactionKind.choices)
    created_at = models.DateTimeField(_("booked"))
    region = models.ForeignKey(
        "regions.Region", verbose_name=_("region"), on_delete=models.PROTECT, related_name="+"
    )
    organization = models.ForeignKey(
        "organizations.Organization",
        verbose_name=_("organisation"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    reverses = models.OneToOneField(
        "self",
        verbose_name=_("reverses"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reversed_by",
    )
    memo = models.CharField(_("memo"), max_length=200, blank=True)
    xid = models.BigIntegerField(null=True, blank=True, editable=False)
    digest = models.CharField(max_length=64)
    # A booking written in one statement (ADR 0009) leaves its audit entry to the seal that
    # covers it: the sealer writes the entry from this row, with the client address the
    # booking came from. Both are covered by ``digest``; ``audit_mac`` (the digest under the
    # audit key) proves that this deployment wrote the row, so a row slipped into the table
    # gets no genuine entry.
    audit_at_seal = models.BooleanField(default=False, db_default=False, editable=False)
    audit_ip = models.GenericIPAddressField(null=True, blank=True, editable=False)
    audit_mac = models.CharField(
        max_length=64, blank=True, default="", db_default="", editable=False
    )

    class Meta:
        verbose_name = _("ledger transaction")
        verbose_name_plural = _("ledger transactions")
        indexes = [
            models.Index(fields=["region", "created_at"], name="ledger_tx_region_at"),
            models.Index(fields=["xid", "id"], name="ledger_tx_chain_order"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind}"

    def permission_scope(self) -> Scope:
        return Scope(region_code=self.region_id, organization_id=self.organization_id)


class Posting(models.Model):
    """A positive amount of one asset moving from ``debit`` to ``credit``.

    ``source`` names what caused it ("record:123:v2", "voucher:AB12CD34"); earnings also name the
    rule version. ``leg`` orders the postings of a transaction; ``digest`` covers every field.
    """

    transaction = models.ForeignKey(
        Transaction, on_delete=models.PROTECT, related_name="postings", db_index=False
    )
    leg = models.PositiveSmallIntegerField()
    asset = models.CharField(_("asset"), max_length=20, choices=Asset.choices)
    debit = models.ForeignKey(
        Account, verbose_name=_("from"), on_delete=models.PROTECT, related_name="debits"
    )
    credit = models.ForeignKey(
        Account, verbose_name=_("to"), on_delete=models.PROTECT, related_name="credits"
    )
    amount = models.BigIntegerField(_("amount"))
    source = models.CharField(_("source"), max_length=80)
    rule_version = models.ForeignKey(
        "ledger.EarningRuleSet",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    digest = models.CharField(max_length=64)

    class Meta:
        verbose_name = _("posting")
        verbose_name_plural = _("postings")
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0),
                name="%(app_label)s_%(class)s_positive",
                violation_error_message=_("An amount must be a positive whole number."),
            ),
            models.CheckConstraint(
                condition=~Q(debit=models.F("credit")),
                name="%(app_label)s_%(class)s_two_accounts",
                violation_error_message=_("A posting moves between two different accounts."),
            ),
            models.UniqueConstraint(
                fields=["transaction", "leg"], name="%(app_label)s_%(class)s_unique_leg"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.asset} {self.debit_id}→{self.credit_id}"


class Seal(models.Model):
    """A sealed batch of committed transactions, chained to the batch before it.

    The batch holds every transaction whose chain key (PostgreSQL transaction id; the row id on
    SQLite) lies in ``[key_from, key_to)``; the sealer only seals keys below the oldest
    transaction still running, so no transaction can later appear inside a sealed range.
    """

    number = models.BigIntegerField(unique=True)
    sealed_at = models.DateTimeField(default=timezone.now)
    key_from = models.BigIntegerField()
    key_to = models.BigIntegerField()
    count = models.PositiveIntegerField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        verbose_name = _("ledger seal")
        verbose_name_plural = _("ledger seals")
        ordering = ["number"]

    def __str__(self) -> str:
        return f"seal {self.number} ({self.count})"


class SealHead(models.Model):
    """The single row holding the end of the ledger chain; only sealers lock it."""

    last_number = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)
    last_key = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"seal {self.last_number}"


class EarningRuleSet(models.Model):
    """One published version of a region's earning rules; never changed once published.

    ``params`` is read by the pure evaluator (``zhiyuan.ledger.rules.RuleParams``). A region
    without its own rules uses those of its nearest ancestor.
    """

    region = models.ForeignKey(
        "regions.Region", verbose_name=_("region"), on_delete=models.PROTECT, related_name="+"
    )
    version = models.PositiveIntegerField(_("version"))
    effective_from = models.DateTimeField(_("in force from"))
    params = models.JSONField(_("rules"))
    note = models.CharField(_("note"), max_length=200, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    published_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("earning rules")
        verbose_name_plural = _("earning rules")
        ordering = ["region", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["region", "version"],
                name="%(app_label)s_%(class)s_unique_version",
                violation_error_message=_("This version of the rules exists already."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.region_id} v{self.version}"

    def permission_scope(self) -> Scope:
        return Scope(region_code=self.region_id)


class Earning(models.Model):
    """What one confirmed service earned (or a reversal of it, with negative points).

    Append-only, like the postings; the caps per day and per activity add these up.
    """

    volunteer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    region = models.ForeignKey("regions.Region", on_delete=models.PROTECT, related_name="+")
    activity_key = models.CharField(max_length=80)
    day = models.DateField()
    points = models.BigIntegerField()
    rule_set = models.ForeignKey(EarningRuleSet, on_delete=models.PROTECT, related_name="+")
    source = models.CharField(max_length=80)
    transaction = models.ForeignKey(Transaction, on_delete=models.PROTECT, related_name="+")
    breakdown = models.JSONField(default=dict)

    class Meta:
        verbose_name = _("earning")
        verbose_name_plural = _("earnings")
        indexes = [models.Index(fields=["volunteer", "day"], name="ledger_earning_day")]

    def __str__(self) -> str:
        return f"{self.source}: {self.points}"


# --- the time bank -----------------------------------------------------------------------------


class TimeBankPolicy(models.Model):
    """A region's time-bank settings; regions without one use their nearest ancestor's."""

    region = models.OneToOneField(
        "regions.Region", verbose_name=_("region"), on_delete=models.PROTECT, related_name="+"
    )
    cap_minutes = models.PositiveIntegerField(
        _("most minutes one member may hold"),
        default=1500 * 60,
        help_text=_("What a deposit brings above this goes to the public fund."),
    )
    min_withdraw_age = models.PositiveSmallIntegerField(
        _("age from which credit may be spent"), default=60
    )
    priced_items = models.BooleanField(
        _("price service items instead of counting minutes"), default=False
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("time-bank policy")
        verbose_name_plural = _("time-bank policies")

    def __str__(self) -> str:
        return str(self.region_id)

    def permission_scope(self) -> Scope:
        return Scope(region_code=self.region_id)


class TimeBankItem(models.Model):
    """A service item priced in minutes of credit, for regions that price items."""

    region = models.ForeignKey("regions.Region", on_delete=models.PROTECT, related_name="+")
    code = models.SlugField(_("code"), max_length=40)
    name = models.CharField(_("name"), max_length=80)
    minutes = models.PositiveIntegerField(_("credit in minutes"))

    class Meta:
        verbose_name = _("time-bank service item")
        verbose_name_plural = _("time-bank service items")
        constraints = [
            models.UniqueConstraint(
                fields=["region", "code"],
                name="%(app_label)s_%(class)s_unique_code",
                violation_error_message=_("This region has an item with this code already."),
            ),
            models.CheckConstraint(
                condition=Q(minutes__gt=0),
                name="%(app_label)s_%(class)s_positive",
                violation_error_message=_("An item is worth at least one minute."),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Relation(models.TextChoices):
    SPOUSE = "spouse", _("Spouse")
    PARENT = "parent", _("Parent")
    CHILD = "child", _("Child")
    GRANDPARENT = "grandparent", _("Grandparent")
    GRANDCHILD = "grandchild", _("Grandchild")
    SIBLING = "sibling", _("Brother or sister")
    OTHER = "other", _("Other family")


#: Direct relatives (spouse and lineal kin): the only ones credit may be transferred to.
DIRECT_RELATIONS = frozenset(
    {Relation.SPOUSE, Relation.PARENT, Relation.CHILD, Relation.GRANDPARENT, Relation.GRANDCHILD}
)


class Relative(models.Model):
    """A family member registered for a time-bank member, after the community checked the
    household register. Credit may be spent for any registered relative and transferred to a
    direct relative who has an account of their own."""

    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="relatives"
    )
    relation = models.CharField(_("relation"), max_length=20, choices=Relation.choices)
    name = models.CharField(_("name"), max_length=60)
    birth_date = models.DateField(_("birth date"))
    account_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("their own account"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    region = models.ForeignKey(
        "regions.Region",
        verbose_name=_("registered in"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    registered_at = models.DateTimeField(default=timezone.now)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("registered relative")
        verbose_name_plural = _("registered relatives")
        constraints = [
            models.CheckConstraint(
                condition=~Q(member=models.F("account_user")),
                name="%(app_label)s_%(class)s_not_self",
                violation_error_message=_("A person is not their own relative."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_relation_display()} {self.name}"

    def permission_scope(self) -> Scope:
        return Scope(region_code=self.region_id)

    @property
    def is_direct(self) -> bool:
        return self.relation in DIRECT_RELATIONS


class ElderReason(models.TextChoices):
    LOW_INCOME = "low_income", _("Low income")
    ALONE = "alone", _("Lives alone")
    DISABLED = "disabled", _("Disability")
    BEREAVED = "bereaved", _("Lost their only child")
    OTHER = "other", _("Other hardship")


class Elder(models.Model):
    """An elder in difficulty, registered by the region: may receive donations and credit
    from the public fund. Holds credit in their own account (``user``)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="elder"
    )
    region = models.ForeignKey(
        "regions.Region", verbose_name=_("community"), on_delete=models.PROTECT, related_name="+"
    )
    birth_date = models.DateField(_("birth date"))
    reason = models.CharField(_("why"), max_length=20, choices=ElderReason.choices)
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    registered_at = models.DateTimeField(default=timezone.now)
    active = models.BooleanField(_("eligible"), default=True)

    class Meta:
        verbose_name = _("elder in difficulty")
        verbose_name_plural = _("elders in difficulty")

    def __str__(self) -> str:
        return str(self.user)

    def permission_scope(self) -> Scope:
        return Scope(region_code=self.region_id)


class WithdrawalStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    CANCELLED = "cancelled", _("Cancelled, credit returned")
    # Its service has started (the needs flow): the credit is spent, no longer refundable.
    SERVED = "served", _("Served: credit spent")


class Withdrawal(models.Model):
    """Credit a member spent to ask for service for themselves or a registered relative.

    Posted through a need (the needs flow holds it, `need_time_bank`) or on its own, when the
    community arranges the service itself: region admins then mark it served or cancel it.
    """

    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    relative = models.ForeignKey(
        Relative, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    region = models.ForeignKey("regions.Region", on_delete=models.PROTECT, related_name="+")
    minutes = models.PositiveIntegerField(_("minutes"))
    note = models.CharField(_("what is needed"), max_length=200)
    status = models.CharField(
        max_length=20, choices=WithdrawalStatus.choices, default=WithdrawalStatus.REQUESTED
    )
    transaction = models.OneToOneField(Transaction, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("time-bank withdrawal")
        verbose_name_plural = _("time-bank withdrawals")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.minutes}"

    def permission_scope(self) -> Scope:
        return Scope(region_code=self.region_id)
