"""Every write to the ledger: booking, reversing, earning, the time bank and sealing.

The one way money-like data moves is :func:`book`: it checks the amounts and the balances of the
accounts the caller locked, writes the transaction and its postings (the database applies them
to the cached balances and checks them again) and the audit entry, all in the caller's database
transaction. Services take an idempotency key: a retry returns the first booking, a retry with a
different request is refused. Top-level calls retry deadlocks and lost races by themselves.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import ipaddress
import json
import logging
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    IntegrityError,
    OperationalError,
    connection,
    connections,
    models,
    transaction,
)
from django.db.models import Count, Max, Q, Sum
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from zhiyuan.accounts.models import User
from zhiyuan.core.audit import (
    audit_actions,
    audit_entry,
    audit_record,
    audit_record_many,
    canonical_ip,
    client_ip,
    keyed_mac,
)
from zhiyuan.core.db import chain_key_column, commit_watermark, drop_if_broken, pg_prepared
from zhiyuan.core.permissions import require
from zhiyuan.core.schedule import enqueue_soon
from zhiyuan.ledger import errors
from zhiyuan.ledger.models import (
    SYSTEM_KINDS,
    Account,
    Asset,
    Earning,
    EarningRuleSet,
    Elder,
    ElderReason,
    OwnerKind,
    Posting,
    Relation,
    Relative,
    Seal,
    SealHead,
    TimeBankItem,
    TimeBankPolicy,
    Transaction,
    TransactionKind,
    Withdrawal,
    WithdrawalStatus,
)
from zhiyuan.ledger.rules import (
    EarnedSoFar,
    RuleError,
    RuleParams,
    ServiceFacts,
    Urgency,
    age_on,
    evaluate,
    no_show_penalty,
)
from zhiyuan.organizations.models import Organization
from zhiyuan.regions.codes import ancestor_codes as regions_ancestor_codes
from zhiyuan.regions.codes import parse_code
from zhiyuan.regions.models import Region

P = ParamSpec("P")
logger = logging.getLogger("zhiyuan.ledger")
T = TypeVar("T")

GENESIS = "0" * 64
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MAX_ATTEMPTS = 8
KEY_RE = re.compile(r"^[A-Za-z0-9_.:\-]{8,100}$")
SOURCE_RE = re.compile(r"^[a-z_]+:[A-Za-z0-9_.:\-]{1,70}$")


@audit_actions
class LedgerAudit(models.TextChoices):
    EARNED = "ledger.earn", _("Points earned")
    NO_SHOW = "ledger.no_show", _("No-show penalty booked")
    OPENING_IMPORT = "ledger.opening_import", _("Opening balance imported")
    DEPOSIT = "ledger.deposit", _("Time credit deposited")
    WITHDRAWAL = "ledger.withdrawal", _("Time credit spent")
    WITHDRAWAL_SERVED = "ledger.withdrawal_served", _("Service paid with time credit started")
    TRANSFER = "ledger.transfer", _("Time credit transferred to a relative")
    DONATION = "ledger.donation", _("Time credit donated")
    FUND_SEED = "ledger.fund_seed", _("Public fund credited an elder")
    REDEMPTION = "ledger.redemption", _("Reward redeemed")
    REVERSAL = "ledger.reversal", _("Booking reversed")
    SEALED = "ledger.sealed", _("Ledger batch sealed")
    RULES_PUBLISHED = "ledger.rules_published", _("Earning rules published")
    POLICY_CHANGED = "ledger.policy_changed", _("Time-bank policy changed")
    ITEM_SAVED = "ledger.item_saved", _("Time-bank service item saved")
    ITEM_WITHDRAWN = "ledger.item_withdrawn", _("Time-bank service item withdrawn")
    RELATIVE_REGISTERED = "ledger.relative_added", _("Relative registered")
    RELATIVE_REMOVED = "ledger.relative_removed", _("Relative removed")
    ELDER_REGISTERED = "ledger.elder_registered", _("Elder in difficulty registered")


# --- retries -----------------------------------------------------------------------------------

# Deadlock, serialisation failure, and a unique key taken by a concurrent writer (the same
# request sent twice, or a random voucher code drawn twice).
_RETRY_SQLSTATES = frozenset({"40P01", "40001", "23505"})


def _retryable(exc: Exception) -> bool:
    if getattr(exc.__cause__, "sqlstate", None) in _RETRY_SQLSTATES:
        return True
    text = str(exc)
    # SQLite says the same in words.
    return "UNIQUE constraint failed" in text or "database is locked" in text


class _BookedMeanwhile(Exception):
    """The same key was booked by a concurrent run of the request while this one waited for
    the locks: run the service again, so that it returns that first booking."""


def ledger_service(fn: Callable[P, T]) -> Callable[P, T]:
    """Run a service in a transaction and retry it when it lost a race.

    At the top level the transaction is durable and a deadlock, a serialisation failure or a
    concurrent writer taking the same unique key (a retried request) makes the whole service
    run again: it then finds the first booking under its key and returns it. Inside a caller's
    transaction the service runs in a savepoint and retries there.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        nested = transaction.get_connection().in_atomic_block
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with transaction.atomic(durable=not nested):
                    return fn(*args, **kwargs)
            except _BookedMeanwhile:
                if attempt == MAX_ATTEMPTS:
                    raise AssertionError("a booking under this key keeps appearing") from None
            except (IntegrityError, OperationalError) as exc:
                if attempt == MAX_ATTEMPTS or not _retryable(exc):
                    raise
                # Back off a little, at random, so that the writers that collided spread out.
                time.sleep(random.uniform(0, 0.002 * attempt))  # noqa: S311
        raise AssertionError("unreachable")

    return wrapper


# --- accounts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountRef:
    """Who owns an account and in which asset: enough to find or open it."""

    kind: OwnerKind
    asset: Asset
    owner_id: Any  # a user id, an organisation id or a region code

    def lookup(self) -> dict[str, Any]:
        field = _OWNER_COLUMN[self.kind]
        return {"kind": self.kind.value, "asset": self.asset.value, field: self.owner_id}


# The account column that names each kind of owner.
_OWNER_COLUMN = {
    OwnerKind.USER: "user_id",
    OwnerKind.ORGANIZATION: "organization_id",
    OwnerKind.STORE: "organization_id",
    OwnerKind.FUND: "region_id",
    OwnerKind.MINT: "region_id",
}


def user_account(user: User | int, asset: Asset) -> AccountRef:
    return AccountRef(OwnerKind.USER, asset, user if isinstance(user, int) else user.pk)


def store_account(organization: Organization | int) -> AccountRef:
    pk = organization if isinstance(organization, int) else organization.pk
    return AccountRef(OwnerKind.STORE, Asset.POINTS, pk)


def mint_account(region: Region | str, asset: Asset) -> AccountRef:
    return AccountRef(OwnerKind.MINT, asset, region if isinstance(region, str) else region.pk)


def fund_account(region: Region | str, asset: Asset) -> AccountRef:
    return AccountRef(OwnerKind.FUND, asset, region if isinstance(region, str) else region.pk)


def account_open(ref: AccountRef) -> Account:
    """The account for ``ref``, opened on first use (a concurrent opener is tolerated)."""
    account, _created = Account.objects.get_or_create(
        **ref.lookup(), defaults={"is_system": ref.kind in SYSTEM_KINDS}
    )
    return account


_ACCOUNT_COLUMNS = "id, kind, asset, user_id, organization_id, region_id, is_system, balance"


def _pg_rows(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Run one statement of the booking path on PostgreSQL, prepared once per connection."""
    return pg_prepared(sql, params)


def _lock_sql(wanted: list[AccountRef]) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for ref in wanted:
        lookup = ref.lookup()
        clauses.append("(" + " AND ".join(f"{column} = %s" for column in lookup) + ")")
        params.extend(lookup.values())
    # The column names come from AccountRef.lookup, never from a caller.
    where = " OR ".join(clauses)
    return where, params


def _accounts_of(
    rows: Iterable[Sequence[Any]], wanted: list[AccountRef]
) -> dict[AccountRef, Account]:
    found: dict[AccountRef, Account] = {}
    for pk, kind, asset, user_id, org_id, region_id, is_system, balance in rows:
        account = Account(
            id=pk,
            kind=kind,
            asset=asset,
            user_id=user_id,
            organization_id=org_id,
            region_id=region_id,
            is_system=bool(is_system),
            balance=int(balance),
        )
        account._state.adding = False
        for ref in wanted:
            if all(getattr(account, k) == v for k, v in ref.lookup().items()):
                found[ref] = account
    return found


def _lock(
    wanted: list[AccountRef], key: str | None
) -> tuple[dict[AccountRef, Account], tuple[int, str] | None]:
    """Lock the accounts ``wanted`` (opening missing ones) and, with ``key``, find the
    transaction booked under it: on PostgreSQL both in one statement, one round trip."""
    where, params = _lock_sql(wanted)
    earlier: tuple[int, str] | None = None
    for _attempt in range(2):
        if connection.vendor == "postgresql":
            # Row locks on the accounts: ascending pk (ORDER BY inside the locking CTE, one
            # statement), so every writer takes them in the same order and none deadlocks.
            # The idempotency look-up rides along in the same round trip.
            sql = (
                f"WITH locked AS (SELECT {_ACCOUNT_COLUMNS} FROM ledger_account WHERE {where} "  # noqa: S608 — fixed column names, placeholders only
                "ORDER BY id FOR UPDATE) "
                f"SELECT {_ACCOUNT_COLUMNS}, NULL::varchar FROM locked"
            )
            if key is not None:
                sql += (
                    " UNION ALL SELECT id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, request_hash "
                    "FROM ledger_transaction WHERE idempotency_key = %s"
                )
            rows = _pg_rows(sql, [*params, key] if key is not None else params)
            accounts = [row[:8] for row in rows if row[8] is None]
            replays = [(int(row[0]), str(row[8])) for row in rows if row[8] is not None]
            earlier = earlier or (replays[0] if replays else None)
        else:
            # SQLite has no row locks: its writers take turns (immediate transactions).
            if key is not None and earlier is None:
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT id, request_hash FROM ledger_transaction "
                        "WHERE idempotency_key = %s",
                        [key],
                    )
                    row = cursor.fetchone()
                earlier = (int(row[0]), str(row[1])) if row else None
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT {_ACCOUNT_COLUMNS} FROM ledger_account WHERE {where} ORDER BY id",  # noqa: S608 — as above
                    params,
                )
                accounts = cursor.fetchall()
        if earlier is not None:
            # A retry: it returns the first booking, whatever the accounts look like now.
            return {}, earlier
        found = _accounts_of(accounts, wanted)
        missing = [ref for ref in wanted if ref not in found]
        if not missing:
            _remember_accounts(found)
            return found, None
        for ref in missing:
            account_open(ref)
    raise AssertionError("accounts could not be opened")


def lock_accounts(refs: Iterable[AccountRef]) -> dict[AccountRef, Account]:
    """Open and lock the accounts of one booking, in primary-key order.

    Every writer locks the accounts it moves money between in ascending pk order, so two
    writers needing the same accounts queue instead of deadlocking; the locks serialise the
    balance check and the update of each account's cached balance until commit.
    """
    found, _earlier = _lock(list(dict.fromkeys(refs)), None)
    return found


def replay_and_lock(
    key: str, request: Mapping[str, Any], refs: Iterable[AccountRef]
) -> tuple[Transaction | None, dict[AccountRef, Account]]:
    """:func:`replay` and :func:`lock_accounts` in one round trip.

    Returns the earlier transaction (a true retry: no accounts) or the locked accounts; a
    different request under a used key is refused. A retry that reaches here concurrently with
    its first run still books once: the unique key refuses the second insert, and the retry
    that follows finds the first booking.
    """
    found, earlier = _lock(list(dict.fromkeys(refs)), key)
    if earlier is None:
        return None, found
    if earlier[1] != request_hash(request):
        raise errors.IdempotencyConflict()
    return Transaction.objects.get(pk=earlier[0]), {}


# --- booking -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Leg:
    """One posting to be booked: ``amount`` of the accounts' asset from ``debit`` to ``credit``."""

    debit: AccountRef
    credit: AccountRef
    amount: int
    source: str
    rule_version_id: int | None = None


def request_hash(request: Mapping[str, Any]) -> str:
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str) -> str:
    if not isinstance(key, str) or not KEY_RE.match(key):
        raise errors.InvalidKey()
    return key


def replay(key: str, request: Mapping[str, Any]) -> Transaction | None:
    """The transaction booked earlier under ``key`` if this is a true retry; refuse otherwise."""
    # Plain SQL (prepared on PostgreSQL): this runs before many bookings, and most keys are new.
    # Services whose accounts are known up front use replay_and_lock instead.
    sql = "SELECT id, request_hash FROM ledger_transaction WHERE idempotency_key = %s"
    if connection.vendor == "postgresql":
        rows = _pg_rows(sql, [key])
        row = rows[0] if rows else None
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, [key])
            row = cursor.fetchone()
    if row is None:
        return None
    if row[1] != request_hash(request):
        raise errors.IdempotencyConflict()
    return Transaction.objects.get(pk=row[0])


def _booked_since(key: str) -> bool:
    """Whether a transaction under ``key`` has committed (a new statement sees it)."""
    sql = "SELECT 1 FROM ledger_transaction WHERE idempotency_key = %s"
    if connection.vendor == "postgresql":
        return bool(_pg_rows(sql, [key]))
    with connection.cursor() as cursor:
        cursor.execute(sql, [key])
        return cursor.fetchone() is not None


def micros(moment: dt.datetime) -> int:
    return (moment - EPOCH) // dt.timedelta(microseconds=1)


def posting_digest(
    key: str,
    leg: int,
    asset: str,
    debit_id: int,
    credit_id: int,
    amount: int,
    source: str,
    rule_version_id: int | None,
) -> str:
    text = f"{key}|{leg}|{asset}|{debit_id}|{credit_id}|{amount}|{source}|{rule_version_id or ''}"
    return hashlib.sha256(text.encode()).hexdigest()


def transaction_digest(
    *,
    key: str,
    request_hash: str,
    kind: str,
    created_us: int,
    region_id: str,
    organization_id: int | None,
    actor_id: int | None,
    reverses_id: int | None,
    memo: str,
    posting_digests: list[str],
    audit_at_seal: bool = False,
    audit_ip: str | None = None,
) -> str:
    # Every field before the memo has a fixed alphabet without "|" (keys, hashes, codes,
    # numbers, hex), and the number of postings precedes the memo, so the join is
    # unambiguous. A booking whose audit entry is left to the seal (ADR 0009) marks the number
    # with "a" and adds its client address as the hex of its bytes (a form no Python version
    # prints differently); every other booking's digest is as it always was.
    count = (
        f"{len(posting_digests)}a|{ipaddress.ip_address(audit_ip).packed.hex() if audit_ip else ''}"
        if audit_at_seal
        else len(posting_digests)
    )
    head = (
        f"{key}|{request_hash}|{kind}|{created_us}|{region_id}|{organization_id or ''}|"
        f"{actor_id or ''}|{reverses_id or ''}|{count}|{memo}"
    )
    digest = hashlib.sha256(head.encode())
    for item in posting_digests:
        digest.update(b"|" + item.encode())
    return digest.hexdigest()


_AUDIT_OF_KIND = {
    TransactionKind.EARN: LedgerAudit.EARNED,
    TransactionKind.NO_SHOW: LedgerAudit.NO_SHOW,
    TransactionKind.OPENING_IMPORT: LedgerAudit.OPENING_IMPORT,
    TransactionKind.DEPOSIT: LedgerAudit.DEPOSIT,
    TransactionKind.WITHDRAWAL: LedgerAudit.WITHDRAWAL,
    TransactionKind.TRANSFER: LedgerAudit.TRANSFER,
    TransactionKind.DONATION: LedgerAudit.DONATION,
    TransactionKind.FUND_SEED: LedgerAudit.FUND_SEED,
    TransactionKind.REDEMPTION: LedgerAudit.REDEMPTION,
    TransactionKind.REVERSAL: LedgerAudit.REVERSAL,
}


def _check_legs(legs: list[Leg], assets: Mapping[AccountRef, str]) -> None:
    """Refuse a booking without legs, a non-positive or fractional amount, and a posting
    between assets (``assets``: the asset of each account, as the database holds it)."""
    if not legs:
        raise errors.InvalidAmount()
    for leg in legs:
        if isinstance(leg.amount, bool) or not isinstance(leg.amount, int) or leg.amount <= 0:
            raise errors.InvalidAmount()
        if not SOURCE_RE.match(leg.source):
            raise ValueError(f"malformed posting source {leg.source!r}")
        if leg.debit == leg.credit or assets[leg.debit] != assets[leg.credit]:
            raise ValueError("a posting moves one asset between two different accounts")


# One posting as written: (leg, asset, debit id, credit id, amount, source, rule version, digest).
PostingRow = tuple[int, str, int, int, int, str, int | None, str]


@functools.cache
def _transaction_columns() -> tuple[str, ...]:
    return tuple(f.attname for f in Transaction._meta.concrete_fields)


def _new_transaction(values: Mapping[str, Any]) -> Transaction:
    """A ``Transaction`` from every column's value, built positionally: Django's quick path,
    where keyword arguments cost about a fifth of a one-statement booking's Python (measured,
    docs/ledger.md). A column missing from ``values`` is a KeyError, never a silent default."""
    return Transaction(*(values[column] for column in _transaction_columns()))


def _draft(
    *,
    kind: TransactionKind,
    key: str,
    request: Mapping[str, Any],
    legs: list[Leg],
    ids: Mapping[AccountRef, int],
    region_id: str,
    organization_id: int | None,
    actor: Any,
    reverses: Transaction | None,
    memo: str,
    audit_at_seal: bool = False,
    audit_ip: str | None = None,
) -> tuple[Transaction, list[PostingRow]]:
    """The transaction row (digest included) and its postings, not yet written:
    (leg, asset, debit id, credit id, amount, source, rule version, digest) per posting."""
    actor_id = actor.pk if actor is not None and getattr(actor, "is_authenticated", False) else None
    now = timezone.now()
    req_hash = request_hash(request)
    postings: list[PostingRow] = []
    for index, leg in enumerate(legs, start=1):
        asset, debit_id, credit_id = leg.debit.asset.value, ids[leg.debit], ids[leg.credit]
        postings.append(
            (
                index,
                asset,
                debit_id,
                credit_id,
                leg.amount,
                leg.source,
                leg.rule_version_id,
                posting_digest(
                    key,
                    index,
                    asset,
                    debit_id,
                    credit_id,
                    leg.amount,
                    leg.source,
                    leg.rule_version_id,
                ),
            )
        )
    tx = _new_transaction(
        {
            "id": None,
            "idempotency_key": key,
            "request_hash": req_hash,
            "kind": kind,
            "created_at": now,
            "region_id": region_id,
            "organization_id": organization_id,
            "actor_id": actor_id,
            "reverses_id": reverses.pk if reverses else None,
            "memo": memo,
            "xid": None,
            "digest": "",
            "audit_at_seal": audit_at_seal,
            "audit_ip": audit_ip,
            "audit_mac": "",  # the caller marks a booking it leaves to the seal
        }
    )
    if reverses is not None:
        tx.reverses = reverses  # as the keyword did: the original is at hand, not fetched again
    tx.digest = transaction_digest(
        key=key,
        request_hash=req_hash,
        kind=kind.value,
        created_us=micros(now),
        region_id=region_id,
        organization_id=organization_id,
        actor_id=actor_id,
        reverses_id=reverses.pk if reverses else None,
        memo=memo,
        posting_digests=[p[-1] for p in postings],
        audit_at_seal=audit_at_seal,
        audit_ip=audit_ip,
    )
    return tx, postings


def book(
    *,
    kind: TransactionKind,
    key: str,
    request: Mapping[str, Any],
    legs: list[Leg],
    locked: Mapping[AccountRef, Account],
    region_id: str,
    organization_id: int | None = None,
    actor: Any = None,
    reverses: Transaction | None = None,
    memo: str = "",
    http_request: HttpRequest | None = None,
    audit_detail: Mapping[str, Any] | None = None,
    then: Callable[[Transaction], None] | None = None,
) -> Transaction:
    """Write one balanced transaction. The caller has locked every account in ``legs``.

    ``then`` writes what goes with the booking (a voucher, an earning) before the audit entry.

    Refuses (before writing anything) a non-positive or fractional amount, postings between
    assets, and anything that would overdraw an ordinary account. The database applies the
    postings to the cached balances and checks the same rules again.
    """
    _check_legs(legs, {ref: account.asset for ref, account in locked.items()})
    running = {ref: account.balance for ref, account in locked.items()}
    for leg in legs:
        debit = locked[leg.debit]
        if debit.pk == locked[leg.credit].pk:
            raise ValueError("a posting moves one asset between two different accounts")
        running[leg.debit] -= leg.amount
        running[leg.credit] += leg.amount
        # Checked after every leg, in order, as the database applies them.
        if running[leg.debit] < 0 and not debit.is_system:
            if _booked_since(key):
                # The same request, sent twice at once, was booked while this run waited for
                # the locks (its replay check could not see it yet): answer with that booking.
                raise _BookedMeanwhile()
            spent = debit.balance - running[leg.debit]
            raise errors.Overdrawn(available=debit.balance, wanted=spent)

    tx, postings = _draft(
        kind=kind,
        key=key,
        request=request,
        legs=legs,
        ids={ref: account.pk for ref, account in locked.items()},
        region_id=region_id,
        organization_id=organization_id,
        actor=actor,
        reverses=reverses,
        memo=memo,
    )
    _insert(tx, postings)
    if then is not None:
        then(tx)
    # ZHIYUAN_LEDGER_AUDIT_EACH = False leaves the booking to the seal's audit entry, which
    # covers every booking of its batch by hash (docs/adr/0005).
    if getattr(settings, "ZHIYUAN_LEDGER_AUDIT_EACH", True):
        _audit_booking(tx, kind, key, len(postings), reverses, actor, http_request, audit_detail)
    transaction.on_commit(schedule_seal)
    return tx


def _audit_booking(
    tx: Transaction,
    kind: TransactionKind,
    key: str,
    postings: int,
    reverses: Transaction | None,
    actor: Any,
    http_request: HttpRequest | None,
    audit_detail: Mapping[str, Any] | None,
) -> None:
    audit_record(
        action=_AUDIT_OF_KIND[kind],
        actor=actor,
        target=tx,
        request=http_request,
        detail=_booking_detail(
            key, kind, postings, reverses.pk if reverses else None, audit_detail
        ),
    )


def _booking_detail(
    key: str,
    kind: TransactionKind,
    postings: int,
    reverses_id: int | None,
    audit_detail: Mapping[str, Any] | None,
) -> dict[str, Any]:
    return {
        "key": key,
        "kind": kind.value,
        "postings": postings,
        **({"reverses": reverses_id} if reverses_id else {}),
        **(audit_detail or {}),
    }


_TX_INSERT = (
    "INSERT INTO ledger_transaction (idempotency_key, request_hash, kind, created_at, "
    "region_id, organization_id, actor_id, reverses_id, memo, digest) "
)
_POSTING_INSERT = (
    "INSERT INTO ledger_posting (transaction_id, leg, asset, debit_id, credit_id, amount, "
    "source, rule_version_id, digest) "
)
# One posting's values on PostgreSQL, typed: a parameter alone in VALUES has no type of its own.
_PG_POSTING_VALUES = (
    "(%s::smallint, %s::varchar, %s::bigint, %s::bigint, %s::bigint, %s::varchar, %s::bigint, "
    "%s::varchar)"
)


def _insert(tx: Transaction, postings: list[PostingRow]) -> None:
    """Write the transaction row and its postings: the hot path of every booking.

    On PostgreSQL one statement (the transaction in a data-modifying WITH, the postings from
    its new id), so one round trip; the database's triggers apply each posting to the balances
    as before, and check at commit that the transaction balances. On SQLite two statements.
    """
    tx_params: list[Any] = [
        tx.idempotency_key,
        tx.request_hash,
        tx.kind,
        tx.created_at,
        tx.region_id,
        tx.organization_id,
        tx.actor_id,
        tx.reverses_id,
        tx.memo,
        tx.digest,
    ]
    if connection.vendor == "postgresql":
        sql = (
            f"WITH t AS ({_TX_INSERT}VALUES (%s, %s, %s, %s, %s, %s::bigint, %s::bigint, "  # noqa: S608 — placeholders only
            "%s::bigint, %s, %s) RETURNING id, xid), "
            f"p AS ({_POSTING_INSERT}SELECT t.id, v.* FROM t, (VALUES "
            + ", ".join([_PG_POSTING_VALUES] * len(postings))
            + ") AS v) SELECT id, xid FROM t"
        )
        rows = _pg_rows(sql, [*tx_params, *(value for p in postings for value in p)])
        tx.pk, tx.xid = rows[0]
        tx._state.adding = False
        return
    with connection.cursor() as cursor:
        tx_params[3] = connection.ops.adapt_datetimefield_value(tx.created_at)
        cursor.execute(
            _TX_INSERT + "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id", tx_params
        )
        tx.pk = cursor.fetchone()[0]
        tx._state.adding = False
        posting_params: list[Any] = [value for p in postings for value in (tx.pk, *p)]
        cursor.execute(
            _POSTING_INSERT
            + "VALUES "
            + ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(postings)),
            posting_params,
        )


# --- booking in one statement (PostgreSQL, outside a transaction) -------------------------------
#
# A booking through book() takes four round trips: lock and replay check, the insert, the audit
# entry, the commit. A simple booking (accounts known and open, no other rows to write) can be
# one statement in its own implicit transaction: lock the accounts in id order, insert the
# transaction unless its key is taken, and its postings; its audit entry is written by the seal
# that covers it (ADR 0009), from what the transaction row carries. The database does what
# book() checks in Python: the balance constraint refuses an overdraft, the triggers refuse a
# posting between assets and an unbalanced transaction. Anything else — a retry, an overdraft, a
# race, an account not yet open — writes nothing, and the caller runs the full service, which
# answers it exactly as before (replays, names the refusal, retries deadlocks).

_ACCOUNT_IDS: dict[AccountRef, int] = {}
_ACCOUNT_IDS_MAX = 100_000


def _remember_accounts(found: Mapping[AccountRef, Account]) -> None:
    """Remember account ids (an account never changes id nor owner; the one-statement booking
    checks both anyway, so a stale entry only sends one booking down the full path)."""
    if len(_ACCOUNT_IDS) > _ACCOUNT_IDS_MAX:
        _ACCOUNT_IDS.clear()
    for ref, account in found.items():
        _ACCOUNT_IDS[ref] = account.pk


_OWNER_CAST = {"user_id": "bigint", "organization_id": "bigint", "region_id": "varchar"}

_AT_ONCE_TX_INSERT = (
    "INSERT INTO ledger_transaction (idempotency_key, request_hash, kind, created_at, "
    "region_id, organization_id, actor_id, reverses_id, memo, digest, audit_at_seal, audit_ip, "
    "audit_mac) "
)


@functools.cache
def _at_once_sql(owners: tuple[str, ...], postings: int) -> str:
    """The statement for a booking between accounts whose owner columns are ``owners``."""
    guard = " OR ".join(
        f"(id = %s::bigint AND kind = %s::varchar AND asset = %s::varchar "
        f"AND {owner} = %s::{_OWNER_CAST[owner]})"
        for owner in owners
    )
    return (
        # Row locks on the accounts in ascending id (the order every booking locks in), and
        # proof that each remembered id is still the account meant.
        f"WITH l AS (SELECT id FROM ledger_account WHERE {guard} ORDER BY id FOR UPDATE), "  # noqa: S608 — fixed column names, placeholders only
        f"t AS ({_AT_ONCE_TX_INSERT}"
        "SELECT %s::varchar, %s::varchar, %s::varchar, %s::timestamptz, "
        "%s::varchar, %s::bigint, %s::bigint, %s::bigint, %s::varchar, %s::varchar, "
        "%s::boolean, %s::inet, %s::varchar "
        f"WHERE (SELECT count(*) FROM l) = {len(owners)} "
        "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, xid), "
        f"p AS ({_POSTING_INSERT}SELECT t.id, v.* FROM t, (VALUES "
        + ", ".join([_PG_POSTING_VALUES] * postings)
        + ") AS v) SELECT t.id, t.xid FROM t"
    )


def _declined(key: str, exc: DatabaseError) -> None:
    """The one statement failed and wrote nothing: say why (DEBUG), and leave the full
    service a connection that works."""
    logger.debug(
        "one-statement booking %s not written (SQLSTATE %s): the full service answers",
        key,
        getattr(exc.__cause__, "sqlstate", None),
    )
    # A connection that died (with or without the commit) is replaced: the full service answers
    # on a new one, and finds the booking if it had committed.
    drop_if_broken()


def book_at_once(
    *,
    kind: TransactionKind,
    key: str,
    request: Mapping[str, Any],
    legs: list[Leg],
    region_id: str,
    actor: Any = None,
    http_request: HttpRequest | None = None,
) -> Transaction | None:
    """Book ``legs`` in one statement, or return None having written nothing.

    Only at the top level on PostgreSQL, between accounts whose ids this process has seen,
    for a request the caller has checked (the key's form, who may move what). None means: run
    the full service. It then finds the booking if this was a retry, or names the refusal.

    The booking's audit entry is written by the seal that covers it (ADR 0009): the row
    carries what the entry needs (its actor, key, kind and time, and the client's address)."""
    db = connections[DEFAULT_DB_ALIAS]  # this thread's connection, looked up once
    if db.vendor != "postgresql" or db.in_atomic_block:
        return None
    known: dict[AccountRef, int] = {}
    for leg in legs:
        for ref in (leg.debit, leg.credit):
            if ref not in known:
                pk = _ACCOUNT_IDS.get(ref)
                if pk is None:
                    return None  # not seen yet: the full service opens the account if need be
                known[ref] = pk
    try:
        _check_legs(legs, {ref: ref.asset for ref in known})
    except (errors.LedgerRefused, ValueError):
        return None
    audited = getattr(settings, "ZHIYUAN_LEDGER_AUDIT_EACH", True)
    tx, postings = _draft(
        kind=kind,
        key=key,
        request=request,
        legs=legs,
        ids=known,
        region_id=region_id,
        organization_id=None,
        actor=actor,
        reverses=None,
        memo="",
        audit_at_seal=audited,
        audit_ip=canonical_ip(client_ip(http_request)) if audited else None,
    )
    tx.audit_mac = at_seal_mac(tx.digest) if audited else ""
    params: list[Any] = []
    owners: list[str] = []
    for ref, pk in known.items():
        owner = _OWNER_COLUMN[ref.kind]
        owners.append(owner)
        params.extend([pk, ref.kind.value, ref.asset.value, ref.owner_id])
    params.extend(
        [
            tx.idempotency_key,
            tx.request_hash,
            tx.kind,
            tx.created_at,
            tx.region_id,
            tx.organization_id,
            tx.actor_id,
            None,
            tx.memo,
            tx.digest,
            tx.audit_at_seal,
            tx.audit_ip,
            tx.audit_mac,
        ]
    )
    params.extend(value for posting in postings for value in posting)
    try:
        rows = pg_prepared(_at_once_sql(tuple(owners), len(postings)), params)
    except DatabaseError as exc:
        # An overdraft (the balance constraint), a deadlock: nothing written.
        _declined(key, exc)
        return None
    if not rows:
        # The key is taken (a retry, or its twin committed first), or a remembered account
        # was not the one meant: nothing written.
        return None
    tx.pk, tx.xid = rows[0][0], rows[0][1]
    tx._state.adding = False
    tx._state.db = "default"
    schedule_seal()
    return tx


def reverse_legs(original: Transaction, only_source: str | None = None) -> list[Leg]:
    """The legs that undo ``original`` (only its postings from ``only_source``, if given)."""
    postings = [
        p
        for p in original.postings.order_by("leg")
        if only_source is None or p.source == only_source
    ]
    ids = {pk for p in postings for pk in (p.debit_id, p.credit_id)}
    refs = {a.pk: _ref_of(a) for a in Account.objects.filter(pk__in=ids)}
    return [
        Leg(
            debit=refs[p.credit_id],
            credit=refs[p.debit_id],
            amount=p.amount,
            source=p.source,
            rule_version_id=p.rule_version_id,
        )
        for p in postings
    ]


def _negative_earnings(original: Transaction, only_source: str | None = None) -> list[Earning]:
    """Earning rows that take back what ``original`` earned, so the caps count it no more."""
    rows = Earning.objects.filter(transaction=original, points__gt=0)
    if only_source is not None:
        rows = rows.filter(source=only_source)
    return [
        Earning(
            volunteer_id=row.volunteer_id,
            region_id=row.region_id,
            activity_key=row.activity_key,
            day=row.day,
            points=-row.points,
            rule_set_id=row.rule_set_id,
            source=row.source,
            breakdown={"reverses": original.pk},
        )
        for row in rows
    ]


def _ref_of(account: Account) -> AccountRef:
    kind = OwnerKind(account.kind)
    owner = {
        OwnerKind.USER: account.user_id,
        OwnerKind.ORGANIZATION: account.organization_id,
        OwnerKind.STORE: account.organization_id,
        OwnerKind.FUND: account.region_id,
        OwnerKind.MINT: account.region_id,
    }[kind]
    return AccountRef(kind, Asset(account.asset), owner)


@ledger_service
def ledger_reverse(
    *,
    original: Transaction,
    key: str,
    actor: Any = None,
    memo: str = "",
    extra_legs: list[Leg] | None = None,
    kind: TransactionKind = TransactionKind.REVERSAL,
    http_request: HttpRequest | None = None,
) -> Transaction:
    """Book the mirror image of ``original`` (plus ``extra_legs``, for a correction).

    A booking is reversed at most once (``reverses`` is unique) and a reversal is never itself
    reversed. Reversing money already spent is refused like any overdraft.
    """
    check_key(key)
    request = {
        "op": "reverse",
        "original": original.pk,
        "kind": kind.value,
        "extra": [(leg.debit, leg.credit, leg.amount, leg.source) for leg in extra_legs or []],
    }
    if (done := replay(key, request)) is not None:
        return done
    if original.kind == TransactionKind.REVERSAL:
        raise errors.AlreadyReversed()
    legs = reverse_legs(original) + (extra_legs or [])
    if original.reverses_id is not None:
        # A correction both credited its own version and took back the one before: reversing
        # it undoes only its own credit (the earlier version stays taken back).
        earlier = set(
            Posting.objects.filter(transaction_id=original.reverses_id).values_list(
                "source", flat=True
            )
        )
        legs = [leg for leg in legs if leg.source not in earlier]
    locked = lock_accounts([r for leg in legs for r in (leg.debit, leg.credit)])
    # Checked after the locks: two reversals of one booking queue on the same accounts, and
    # the second sees the first (the unique ``reverses`` column backs this up).
    if Transaction.objects.filter(reverses=original).exists():
        raise errors.AlreadyReversed()
    taken_back = _negative_earnings(original)

    def take_back(tx: Transaction) -> None:
        for row in taken_back:
            row.transaction = tx
        Earning.objects.bulk_create(taken_back)

    return book(
        kind=kind,
        key=key,
        request=request,
        legs=legs,
        locked=locked,
        region_id=original.region_id,
        organization_id=original.organization_id,
        actor=actor,
        reverses=original,
        memo=memo,
        http_request=http_request,
        then=take_back,
    )


# --- regions' settings -------------------------------------------------------------------------


def ancestor_codes(code: str) -> list[str]:
    """The region's own code and its ancestors', nearest first (the order rules are looked
    up in), without a query."""
    return list(reversed(regions_ancestor_codes(code)))


def rules_in_force(region: Region | str, at: dt.datetime) -> EarningRuleSet:
    """The latest version in force at ``at`` of the nearest region's rules."""
    code = region if isinstance(region, str) else region.pk
    codes = ancestor_codes(code)
    candidates = list(
        EarningRuleSet.objects.filter(region_id__in=codes, effective_from__lte=at).order_by(
            "-version"
        )
    )
    for ancestor in codes:
        for rule_set in candidates:
            if rule_set.region_id == ancestor:
                return rule_set
    raise errors.NoRules()


def timebank_policy_for(region: Region | str) -> TimeBankPolicy:
    """The nearest region's time-bank policy, or the defaults held by the region itself."""
    code = region if isinstance(region, str) else region.pk
    codes = ancestor_codes(code)
    policies = {p.region_id: p for p in TimeBankPolicy.objects.filter(region_id__in=codes)}
    for ancestor in codes:
        if ancestor in policies:
            return policies[ancestor]
    # No policy anywhere above: the defaults, held by the district (or the region itself).
    district = code[:6] + "000000" if parse_code(code).level >= 3 else code
    return TimeBankPolicy(region_id=district)


@transaction.atomic
def earning_rules_publish(
    *,
    region: Region,
    params: Mapping[str, Any],
    effective_from: dt.datetime,
    actor: Any,
    note: str = "",
    http_request: HttpRequest | None = None,
) -> EarningRuleSet:
    """Publish the next version of a region's earning rules. Published versions never change."""
    require(actor, "ledger.manage", region, request=http_request)
    try:
        parsed = RuleParams.from_dict(params)
    except RuleError as exc:
        raise errors.LedgerRefused(
            _("The rules are not valid: %(reason)s") % {"reason": exc}, code="invalid_rules"
        ) from exc
    # Row lock on the region: two administrators publishing at once get consecutive versions.
    Region.objects.select_for_update().filter(pk=region.pk).first()
    latest = EarningRuleSet.objects.filter(region=region).aggregate(v=Max("version"))["v"] or 0
    rule_set = EarningRuleSet.objects.create(
        region=region,
        version=latest + 1,
        effective_from=effective_from,
        params=parsed.to_dict(),
        note=note,
        published_by=actor,
    )
    audit_record(
        action=LedgerAudit.RULES_PUBLISHED,
        actor=actor,
        target=rule_set,
        request=http_request,
        detail={"region": region.pk, "version": rule_set.version},
    )
    return rule_set


# --- earning -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EarnResult:
    """What a confirmed service earned. ``transaction`` is None when the caps left nothing."""

    points: int
    transaction: Transaction | None
    rule_set: EarningRuleSet
    breakdown: dict[str, Any]


def _earned_so_far(volunteer_id: int, activity_key: str, day: dt.date) -> EarnedSoFar:
    rows = Earning.objects.filter(volunteer_id=volunteer_id).filter(
        Q(activity_key=activity_key) | Q(day=day)
    )
    activity = rows.filter(activity_key=activity_key).aggregate(s=Sum("points"))["s"] or 0
    on_day = rows.filter(day=day).aggregate(s=Sum("points"))["s"] or 0
    return EarnedSoFar(activity=activity, day=on_day)


@ledger_service
def ledger_credit_service(
    *,
    volunteer: User,
    region: Region | str,
    minutes: int,
    category: str,
    urgency: Urgency | str = Urgency.NORMAL,
    activity_key: str,
    occurred_at: dt.datetime,
    source: str,
    organization: Organization | None = None,
    actor: Any = None,
    replaces: str | None = None,
) -> EarnResult:
    """Credit the points a confirmed service earns, exactly once per ``source``.

    ``source`` names the record and its version ("record:123:v2"); a retry returns the first
    result. With ``replaces`` (the source of the version being corrected) the earlier earning is
    reversed and the new one credited in the same transaction, so the balance moves by the
    difference only.
    """
    region_code = region if isinstance(region, str) else region.pk
    if not SOURCE_RE.match(source) or (replaces and not SOURCE_RE.match(replaces)):
        raise ValueError("a source names its type and id, like record:123:v2")
    if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes <= 0:
        raise errors.InvalidAmount()
    key = f"earn:{source}"
    request = {
        "op": "earn",
        "volunteer": volunteer.pk,
        "region": region_code,
        "minutes": minutes,
        "category": category,
        "urgency": str(urgency),
        "activity": activity_key,
        "at": occurred_at.isoformat(),
        "organization": organization.pk if organization else None,
        "replaces": replaces,
    }
    if (done := replay(key, request)) is not None:
        earned = (
            Earning.objects.select_related("rule_set")
            .filter(transaction=done, source=source, points__gt=0)
            .first()
        )
        if earned is not None:
            return EarnResult(earned.points, done, earned.rule_set, earned.breakdown)
        return EarnResult(0, done, rules_in_force(region_code, occurred_at), {})
    rule_set = rules_in_force(region_code, occurred_at)
    params = RuleParams.from_dict(rule_set.params)
    mint = mint_account(rule_set.region_id, Asset.POINTS)
    own = user_account(volunteer, Asset.POINTS)
    original = None
    legs: list[Leg] = []
    if replaces:
        original = Transaction.objects.filter(
            idempotency_key=f"earn:{replaces}", kind=TransactionKind.EARN
        ).first()
        if original is not None:
            legs = reverse_legs(original, only_source=replaces)
    # Locking the volunteer's points account (with the issuer's, in pk order) also serialises
    # the caps: two records of one volunteer cannot both see room left under today's cap.
    locked = lock_accounts([mint, own, *(r for leg in legs for r in (leg.debit, leg.credit))])
    if original is not None and Transaction.objects.filter(reverses=original).exists():
        raise errors.AlreadyReversed()
    day = timezone.localdate(occurred_at)
    taken_back = _negative_earnings(original, only_source=replaces) if original else []
    so_far = _earned_so_far(volunteer.pk, activity_key, day)
    for row in taken_back:  # the version being corrected no longer counts against the caps
        so_far = EarnedSoFar(
            activity=so_far.activity + row.points * (row.activity_key == activity_key),
            day=so_far.day + row.points * (row.day == day),
        )
    evaluation = evaluate(
        params,
        ServiceFacts(minutes=minutes, category=category, urgency=Urgency(urgency)),
        so_far,
    )
    if evaluation.points > 0:
        # The new credit goes first, so that the reversal after it never dips below zero
        # when the volunteer has already spent some of the points being corrected.
        legs.insert(0, Leg(mint, own, evaluation.points, source, rule_set.pk))
    if not legs:
        return EarnResult(0, None, rule_set, evaluation.breakdown())
    rows = taken_back
    if evaluation.points > 0:
        rows.append(
            Earning(
                volunteer=volunteer,
                region_id=region_code,
                activity_key=activity_key,
                day=day,
                points=evaluation.points,
                rule_set=rule_set,
                source=source,
                breakdown=evaluation.breakdown(),
            )
        )

    def record_earnings(tx: Transaction) -> None:
        for row in rows:
            row.transaction = tx
        Earning.objects.bulk_create(rows)

    tx = book(
        kind=TransactionKind.EARN,
        key=key,
        request=request,
        legs=legs,
        locked=locked,
        region_id=region_code,
        organization_id=organization.pk if organization else None,
        actor=actor,
        reverses=original,
        audit_detail={"source": source, "rules": rule_set.pk, "points": evaluation.points},
        then=record_earnings,
    )
    return EarnResult(evaluation.points, tx, rule_set, evaluation.breakdown())


@ledger_service
def ledger_penalise_no_show(
    *,
    volunteer: User,
    region: Region | str,
    occurred_at: dt.datetime,
    source: str,
    actor: Any = None,
) -> Transaction | None:
    """Book the no-show penalty of the rules in force, never more than the volunteer holds."""
    region_code = region if isinstance(region, str) else region.pk
    key = f"no_show:{source}"
    request = {"op": "no_show", "volunteer": volunteer.pk, "region": region_code, "source": source}
    if (done := replay(key, request)) is not None:
        return done
    rule_set = rules_in_force(region_code, occurred_at)
    mint = mint_account(rule_set.region_id, Asset.POINTS)
    own = user_account(volunteer, Asset.POINTS)
    locked = lock_accounts([mint, own])
    amount = no_show_penalty(RuleParams.from_dict(rule_set.params), locked[own].balance)
    if amount == 0:
        return None
    return book(
        kind=TransactionKind.NO_SHOW,
        key=key,
        request=request,
        legs=[Leg(own, mint, amount, source, rule_set.pk)],
        locked=locked,
        region_id=region_code,
        actor=actor,
    )


@ledger_service
def ledger_import_opening_balance(
    *,
    user: User,
    region: Region,
    points: int = 0,
    minutes: int = 0,
    reference: str,
    actor: Any = None,
) -> Transaction:
    """Bring in what a person earned before Zhiyuan, from the region's issuer, once per person.

    A distinct kind of booking, so that reports never mistake it for service confirmed here.
    """
    key = f"opening:{region.pk}:{user.pk}"
    request = {
        "op": "opening",
        "user": user.pk,
        "region": region.pk,
        "points": points,
        "minutes": minutes,
        "reference": reference,
    }
    if (done := replay(key, request)) is not None:
        return done
    for amount in (points, minutes):
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise errors.InvalidAmount()
    source = f"import:{reference}"
    legs = []
    if points:
        legs.append(
            Leg(
                mint_account(region, Asset.POINTS), user_account(user, Asset.POINTS), points, source
            )
        )
    if minutes:
        legs.append(
            Leg(
                mint_account(region, Asset.TIME_MINUTES),
                user_account(user, Asset.TIME_MINUTES),
                minutes,
                source,
            )
        )
    if not legs:
        raise errors.InvalidAmount()
    locked = lock_accounts([r for leg in legs for r in (leg.debit, leg.credit)])
    return book(
        kind=TransactionKind.OPENING_IMPORT,
        key=key,
        request=request,
        legs=legs,
        locked=locked,
        region_id=region.pk,
        actor=actor,
        audit_detail={"reference": reference},
    )


# --- the time bank -----------------------------------------------------------------------------


def member_birth_date(user: User) -> dt.date | None:
    """A member's birth date: from the real-name identity (people issue) or an elder's record."""
    identity = getattr(user, "identity", None)
    if identity is not None and getattr(identity, "birth_date", None):
        birth: dt.date = identity.birth_date
        return birth
    elder = Elder.objects.filter(user=user).first()
    return elder.birth_date if elder else None


def _positive_minutes(minutes: Any) -> int:
    if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes <= 0:
        raise errors.InvalidAmount()
    return minutes


@ledger_service
def timebank_deposit(
    *,
    member: User,
    region: Region | str,
    source: str,
    minutes: int | None = None,
    item_code: str | None = None,
    quantity: int = 1,
    organization: Organization | None = None,
    actor: Any = None,
    priced_as: tuple[str, int] | None = None,
) -> Transaction:
    """Deposit the credit a time-bank service earned, once per ``source`` (the record).

    One hour is 60 minutes of credit, unless the region prices service items. Whatever takes
    the member above the region's cap goes to the public fund in the same booking. A priced
    deposit says which item priced it (memo ``item:<code>``); ``priced_as`` (code, minutes)
    deposits a price given earlier again — a corrected record keeps the price its service
    was first confirmed at, whatever the list says now.
    """
    region_code = region if isinstance(region, str) else region.pk
    key = f"deposit:{source}"
    request = {
        "op": "deposit",
        "member": member.pk,
        "region": region_code,
        "minutes": minutes,
        "item": item_code,
        "quantity": quantity,
        "organization": organization.pk if organization else None,
        **({"priced_as": list(priced_as)} if priced_as else {}),
    }
    policy = timebank_policy_for(region_code)
    mint = mint_account(policy.region_id, Asset.TIME_MINUTES)
    fund = fund_account(policy.region_id, Asset.TIME_MINUTES)
    own = user_account(member, Asset.TIME_MINUTES)
    # Row locks on the issuer's, the member's and the fund's accounts, in pk order, with the
    # replay check; the member's lock also serialises the cap check below.
    done, locked = replay_and_lock(key, request, [mint, own, fund])
    if done is not None:
        return done
    memo = ""
    if priced_as is not None:
        memo, credit = f"item:{priced_as[0]}", _positive_minutes(priced_as[1])
    elif policy.priced_items and item_code:
        # The nearest region's price wins (longest code), as on the members' price list.
        item = (
            TimeBankItem.objects.filter(region_id__in=ancestor_codes(region_code), code=item_code)
            .order_by("-region_id")
            .first()
        )
        if item is None:
            raise errors.ItemUnknown()
        memo, credit = f"item:{item.code}", item.minutes * _positive_minutes(quantity)
    else:
        credit = _positive_minutes(minutes)
    legs = [Leg(mint, own, credit, source)]
    excess = locked[own].balance + credit - policy.cap_minutes
    if excess > 0:
        legs.append(Leg(own, fund, excess, f"cap:{policy.region_id}"))
    return book(
        kind=TransactionKind.DEPOSIT,
        key=key,
        request=request,
        legs=legs,
        locked=locked,
        region_id=region_code,
        organization_id=organization.pk if organization else None,
        actor=actor,
        memo=memo,
        audit_detail={"excess_to_fund": max(0, excess)},
    )


def deposit_price(deposit: Transaction) -> tuple[str, int] | None:
    """The (item code, minutes) a time-bank deposit was priced at, or None if it credited the
    minutes served: what :func:`timebank_deposit` takes back as ``priced_as``."""
    if not deposit.memo.startswith("item:"):
        return None
    return deposit.memo.removeprefix("item:"), deposit.postings.get(leg=1).amount


def withdrawal_age_check(
    birth_date: dt.date | None, policy: TimeBankPolicy, today: dt.date
) -> None:
    """Refuse spending credit for someone below the region's withdrawal age, or whose birth
    date is not on record (``TooYoung``, ``BirthDateUnknown``)."""
    if policy.min_withdraw_age == 0:
        return
    if birth_date is None:
        raise errors.BirthDateUnknown()
    if age_on(birth_date, today) < policy.min_withdraw_age:
        raise errors.TooYoung(policy.min_withdraw_age)


@ledger_service
def timebank_withdraw(
    *,
    member: User,
    region: Region | str,
    minutes: int,
    note: str,
    key: str,
    relative: Relative | None = None,
    http_request: HttpRequest | None = None,
    tell_admins: bool = True,
) -> Withdrawal:
    """Spend credit to ask for service for oneself or a registered relative.

    The beneficiary must have reached the region's withdrawal age. The credit returns to the
    issuer; the volunteer who serves earns new credit by their own deposit. The region's
    administrators are told a request waits for them to arrange (``tell_admins``; a need paid
    with credit goes to the dispatchers instead, through the needs flow).
    """
    check_key(key)
    region_code = region if isinstance(region, str) else region.pk
    request = {
        "op": "withdraw",
        "member": member.pk,
        "region": region_code,
        "minutes": minutes,
        "note": note,
        "relative": relative.pk if relative else None,
    }
    policy = timebank_policy_for(region_code)
    own = user_account(member, Asset.TIME_MINUTES)
    mint = mint_account(policy.region_id, Asset.TIME_MINUTES)
    # Row locks on the member's and the issuer's accounts, in pk order, with the replay check.
    done, locked = replay_and_lock(key, request, [own, mint])
    if done is not None:
        return Withdrawal.objects.get(transaction=done)
    _positive_minutes(minutes)
    if relative is not None and (relative.member_id != member.pk or relative.removed_at):
        raise errors.LedgerRefused(
            _("This person is not one of your registered relatives."), code="not_a_relative"
        )
    birth = relative.birth_date if relative else member_birth_date(member)
    withdrawal_age_check(birth, policy, timezone.localdate())
    source = f"withdrawal:{key[:60]}"
    made: list[Withdrawal] = []

    def record_request(tx: Transaction) -> None:
        made.append(
            Withdrawal.objects.create(
                member=member,
                relative=relative,
                region_id=region_code,
                minutes=minutes,
                note=note,
                transaction=tx,
            )
        )

    book(
        kind=TransactionKind.WITHDRAWAL,
        key=key,
        request=request,
        legs=[Leg(own, mint, minutes, source)],
        locked=locked,
        region_id=region_code,
        actor=member,
        http_request=http_request,
        then=record_request,
    )
    if tell_admins:
        _tell_withdrawal_admins(made[0])
    return made[0]


def _tell_withdrawal_admins(withdrawal: Withdrawal) -> None:
    """The region administrators over the request's region: a request waits to be arranged
    (in their language; no personal data in the message, the list shows whose it is)."""
    from django.urls import reverse
    from django.utils.translation import gettext_lazy

    from zhiyuan.accounts.roles import Role
    from zhiyuan.accounts.selectors import role_holders_over
    from zhiyuan.notifications.services import notify

    notify(
        users=role_holders_over(Role.REGION_ADMIN, withdrawal.region_id),
        kind="ledger.withdrawal_requested",
        title=gettext_lazy("A time-bank request waits to be arranged"),
        body=gettext_lazy(
            "A member asks for %(minutes)s minutes of service. Agree it with them, then mark it "
            "served, or cancel it to give the credit back."
        ),
        url=reverse("ledger:admin_withdrawals"),
        params={"minutes": withdrawal.minutes},
    )


@ledger_service
def timebank_withdrawal_cancel(
    *,
    withdrawal: Withdrawal,
    actor: User,
    http_request: HttpRequest | None = None,
    by_need: bool = False,
) -> Withdrawal:
    """Cancel a withdrawal that has not been served: the credit comes back by reversal.

    The member cancels their own; a region administrator one made in their region. Credit
    held for a posted need comes back only when the need ends unserved (the needs app passes
    ``by_need``); the member cancels the need, not its withdrawal."""
    if not by_need and actor.pk != withdrawal.member_id:
        require(actor, "ledger.manage", withdrawal, request=http_request)
    # Row lock on the withdrawal: a double click cancels once.
    withdrawal = Withdrawal.objects.select_for_update().get(pk=withdrawal.pk)
    if not by_need and hasattr(withdrawal, "need_time_bank"):
        raise errors.WithdrawalHeldByNeed()
    if withdrawal.status != WithdrawalStatus.REQUESTED:
        return withdrawal
    ledger_reverse(
        original=withdrawal.transaction,
        key=f"cancel:{withdrawal.transaction.idempotency_key}"[:100],
        actor=actor,
        http_request=http_request,
    )
    withdrawal.status = WithdrawalStatus.CANCELLED
    withdrawal.save(update_fields=["status"])
    return withdrawal


def timebank_withdrawal_arranged(
    *, withdrawal: Withdrawal, actor: User, http_request: HttpRequest | None = None
) -> bool:
    """A region administrator arranged the service a member's free-standing request asked for:
    the credit is spent. False when the request was cancelled meanwhile (its credit is back).
    Requests held by a need are settled by the needs flow, not here."""
    require(actor, "ledger.manage", withdrawal, request=http_request)
    if hasattr(withdrawal, "need_time_bank"):
        raise errors.WithdrawalHeldByNeed()
    from zhiyuan.ledger.timebank_needs import timebank_withdrawal_settle

    return timebank_withdrawal_settle(
        withdrawal=withdrawal, actor=actor, http_request=http_request
    ).spent


def timebank_transfer(
    *,
    member: User,
    relative: Relative,
    minutes: int,
    key: str,
    http_request: HttpRequest | None = None,
) -> Transaction:
    """Give credit to a registered direct relative who has an account of their own.

    In one statement when it can be (:func:`book_at_once`), else by the full service."""
    check_key(key)
    if (
        relative.account_user_id is not None
        and relative.member_id == member.pk
        and relative.removed_at is None
        and relative.is_direct
        and not isinstance(minutes, bool)
        and isinstance(minutes, int)
        and minutes > 0
    ):
        request = _transfer_request(member, relative, minutes)
        own = user_account(member, Asset.TIME_MINUTES)
        theirs = user_account(relative.account_user_id, Asset.TIME_MINUTES)
        done = book_at_once(
            kind=TransactionKind.TRANSFER,
            key=key,
            request=request,
            legs=[Leg(own, theirs, minutes, f"relative:{relative.pk}")],
            region_id=relative.region_id,
            actor=member,
            http_request=http_request,
        )
        if done is not None:
            return done
    return _timebank_transfer(
        member=member, relative=relative, minutes=minutes, key=key, http_request=http_request
    )


def _transfer_request(member: User, relative: Relative, minutes: Any) -> dict[str, Any]:
    return {"op": "transfer", "member": member.pk, "relative": relative.pk, "minutes": minutes}


@ledger_service
def _timebank_transfer(
    *,
    member: User,
    relative: Relative,
    minutes: int,
    key: str,
    http_request: HttpRequest | None = None,
) -> Transaction:
    request = _transfer_request(member, relative, minutes)
    if relative.account_user_id is None:
        if (done := replay(key, request)) is not None:
            return done
        _positive_minutes(minutes)
        raise errors.NotADirectRelative()
    own = user_account(member, Asset.TIME_MINUTES)
    theirs = user_account(relative.account_user_id, Asset.TIME_MINUTES)
    # Row locks on both accounts, in pk order (lock_accounts), with the replay check.
    done, locked = replay_and_lock(key, request, [own, theirs])
    if done is not None:
        return done
    _positive_minutes(minutes)
    if relative.member_id != member.pk or relative.removed_at is not None or not relative.is_direct:
        raise errors.NotADirectRelative()
    return book(
        kind=TransactionKind.TRANSFER,
        key=key,
        request=request,
        legs=[Leg(own, theirs, minutes, f"relative:{relative.pk}")],
        locked=locked,
        region_id=relative.region_id,
        actor=member,
        http_request=http_request,
    )


@ledger_service
def timebank_donate(
    *,
    member: User,
    region: Region | str,
    minutes: int,
    key: str,
    elder: Elder | None = None,
    http_request: HttpRequest | None = None,
) -> Transaction:
    """Donate credit to the region's public fund, or to a named elder in difficulty."""
    check_key(key)
    region_code = region if isinstance(region, str) else region.pk
    request = {
        "op": "donate",
        "member": member.pk,
        "region": region_code,
        "minutes": minutes,
        "elder": elder.pk if elder else None,
    }
    own = user_account(member, Asset.TIME_MINUTES)
    if elder is not None:
        target = user_account(elder.user_id, Asset.TIME_MINUTES)
        source = f"elder:{elder.pk}"
    else:
        policy = timebank_policy_for(region_code)
        target = fund_account(policy.region_id, Asset.TIME_MINUTES)
        source = f"fund:{policy.region_id}"
    # Row locks on both accounts, in pk order, with the replay check.
    done, locked = replay_and_lock(key, request, [own, target])
    if done is not None:
        return done
    _positive_minutes(minutes)
    if elder is not None and (not elder.active or elder.user_id == member.pk):
        raise errors.NotEligible()
    return book(
        kind=TransactionKind.DONATION,
        key=key,
        request=request,
        legs=[Leg(own, target, minutes, source)],
        locked=locked,
        region_id=elder.region_id if elder else region_code,
        actor=member,
        http_request=http_request,
    )


@ledger_service
def timebank_fund_seed(
    *,
    elder: Elder,
    minutes: int,
    decided_by: User,
    decision: str,
    key: str,
    http_request: HttpRequest | None = None,
) -> Transaction:
    """Credit an eligible elder from the public fund, by an administrator's recorded decision."""
    require(decided_by, "ledger.manage", elder, request=http_request)
    check_key(key)
    request = {"op": "seed", "elder": elder.pk, "minutes": minutes, "decision": decision}
    if (done := replay(key, request)) is not None:
        return done
    _positive_minutes(minutes)
    if not elder.active:
        raise errors.NotEligible()
    if not decision.strip():
        raise errors.LedgerRefused(
            _("Write down the decision this credit is given under."), code="decision_missing"
        )
    policy = timebank_policy_for(elder.region_id)
    fund = fund_account(policy.region_id, Asset.TIME_MINUTES)
    theirs = user_account(elder.user_id, Asset.TIME_MINUTES)
    locked = lock_accounts([fund, theirs])
    return book(
        kind=TransactionKind.FUND_SEED,
        key=key,
        request=request,
        legs=[Leg(fund, theirs, minutes, f"elder:{elder.pk}")],
        locked=locked,
        region_id=elder.region_id,
        actor=decided_by,
        memo=decision[:200],
        http_request=http_request,
    )


@transaction.atomic
def relative_register(
    *,
    member: User,
    relation: Relation,
    name: str,
    birth_date: dt.date,
    region: Region,
    registered_by: User,
    account_user: User | None = None,
    http_request: HttpRequest | None = None,
) -> Relative:
    """Record a member's relative after the community checked the household register."""
    require(registered_by, "ledger.manage", region, request=http_request)
    name = name.strip()
    if not name:
        raise errors.LedgerRefused(_("Give the relative's name."), code="name_missing")
    if account_user is not None and account_user.pk == member.pk:
        raise errors.LedgerRefused(_("A person is not their own relative."), code="self")
    relative = Relative.objects.create(
        member=member,
        relation=Relation(relation),
        name=name,
        birth_date=birth_date,
        account_user=account_user,
        region=region,
        registered_by=registered_by,
    )
    audit_record(
        action=LedgerAudit.RELATIVE_REGISTERED,
        actor=registered_by,
        target=relative,
        request=http_request,
        detail={
            "member": member.pk,
            "relation": relation,
            "account": account_user and account_user.pk,
        },
    )
    return relative


@transaction.atomic
def relative_remove(
    *, relative: Relative, removed_by: User, http_request: HttpRequest | None = None
) -> None:
    require(removed_by, "ledger.manage", relative, request=http_request)
    if relative.removed_at is None:
        relative.removed_at = timezone.now()
        relative.save(update_fields=["removed_at"])
        audit_record(
            action=LedgerAudit.RELATIVE_REMOVED,
            actor=removed_by,
            target=relative,
            request=http_request,
        )


@transaction.atomic
def elder_register(
    *,
    user: User,
    region: Region,
    birth_date: dt.date,
    reason: ElderReason,
    registered_by: User,
    http_request: HttpRequest | None = None,
) -> Elder:
    """Register an elder in difficulty, who may then receive donations and fund credit."""
    require(registered_by, "ledger.manage", region, request=http_request)
    elder, _created = Elder.objects.update_or_create(
        user=user,
        defaults={
            "region": region,
            "birth_date": birth_date,
            "reason": ElderReason(reason),
            "registered_by": registered_by,
            "active": True,
        },
    )
    audit_record(
        action=LedgerAudit.ELDER_REGISTERED,
        actor=registered_by,
        target=elder,
        request=http_request,
        detail={"region": region.pk, "reason": reason},
    )
    return elder


@transaction.atomic
def timebank_item_save(
    *,
    region: Region,
    code: str,
    name: str,
    minutes: int,
    actor: User,
    http_request: HttpRequest | None = None,
) -> TimeBankItem:
    """Price a service item in minutes of credit, for regions that price items."""
    require(actor, "ledger.manage", region, request=http_request)
    _positive_minutes(minutes)
    item, _created = TimeBankItem.objects.update_or_create(
        region=region, code=code, defaults={"name": name, "minutes": minutes}
    )
    audit_record(
        action=LedgerAudit.ITEM_SAVED,
        actor=actor,
        target=item,
        request=http_request,
        detail={"code": code, "minutes": minutes},
    )
    return item


@transaction.atomic
def timebank_item_withdraw(
    *, item: TimeBankItem, actor: User, http_request: HttpRequest | None = None
) -> TimeBankItem | None:
    """Take a priced service item off its region's price list (audited, with what it was).

    Deposits already made keep their credit: the list only says what future deposits of an
    item credit. Returns the item that prices the same code there from now on — a region
    above's item of that code — or None when the code is priced nowhere above.
    """
    require(actor, "ledger.manage", item.region, request=http_request)
    # Row lock on the item: a concurrent re-pricing of it waits, then finds it gone.
    locked = TimeBankItem.objects.select_for_update().filter(pk=item.pk).first()
    if locked is None:
        return None
    audit_record(
        action=LedgerAudit.ITEM_WITHDRAWN,
        actor=actor,
        target=locked,
        request=http_request,
        detail={"code": locked.code, "minutes": locked.minutes, "region": locked.region_id},
    )
    locked.delete()
    above = [c for c in ancestor_codes(item.region_id) if c != item.region_id]
    return (
        TimeBankItem.objects.filter(region_id__in=above, code=item.code)
        .select_related("region")
        .order_by("-region_id")
        .first()
    )


@transaction.atomic
def timebank_policy_set(
    *,
    region: Region,
    cap_minutes: int,
    min_withdraw_age: int,
    priced_items: bool,
    actor: User,
    http_request: HttpRequest | None = None,
) -> TimeBankPolicy:
    """Set a region's time-bank cap, withdrawal age and pricing mode."""
    require(actor, "ledger.manage", region, request=http_request)
    if cap_minutes <= 0 or not 0 <= min_withdraw_age <= 120:
        raise errors.LedgerRefused(
            _("The cap must be above zero and the age between 0 and 120."), code="invalid_policy"
        )
    policy, _created = TimeBankPolicy.objects.update_or_create(
        region=region,
        defaults={
            "cap_minutes": cap_minutes,
            "min_withdraw_age": min_withdraw_age,
            "priced_items": priced_items,
            "updated_at": timezone.now(),
        },
    )
    audit_record(
        action=LedgerAudit.POLICY_CHANGED,
        actor=actor,
        target=policy,
        request=http_request,
        detail={"cap": cap_minutes, "age": min_withdraw_age, "priced": priced_items},
    )
    return policy


# --- sealing -----------------------------------------------------------------------------------


def seal_hash(prev_hash: str, number: int, key_from: int, key_to: int, digests: list[str]) -> str:
    digest = hashlib.sha256(f"{prev_hash}|{number}|{key_from}|{key_to}|{len(digests)}".encode())
    for item in digests:
        digest.update(b"|" + item.encode())
    return digest.hexdigest()


def ledger_seal() -> Seal | None:
    """Seal every transaction committed since the last seal into the next link of the chain.

    Writers never wait for this: only sealers lock the chain head. On PostgreSQL the batch ends
    below the oldest transaction still running anywhere, so nothing can later commit inside a
    sealed range; on SQLite, where writers take turns, it ends after the newest row.
    """
    with transaction.atomic():
        watermark = commit_watermark("ledger_transaction")
        # Row lock on the chain head: one sealer at a time extends the chain.
        head, _created = SealHead.objects.select_for_update().get_or_create(pk=1)
        if watermark <= head.last_key:
            return None
        column = chain_key_column()
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT digest, audit_at_seal FROM ledger_transaction "  # noqa: S608 — column is one of two fixed names
                f"WHERE {column} >= %s AND {column} < %s ORDER BY {column}, id",
                [head.last_key, watermark],
            )
            rows = cursor.fetchall()
        if not rows:
            return None
        digests = [row[0] for row in rows]
        # The audit entries of the bookings that left theirs to this seal (ADR 0009), written in
        # the same transaction as the seal: a sealed booking always has its entry.
        entries = 0
        if any(r[1] for r in rows):
            for chunk in _booking_entries(column, head.last_key, watermark):
                entries += audit_record_many(chunk)
        number = head.last_number + 1
        seal = Seal.objects.create(
            number=number,
            key_from=head.last_key,
            key_to=watermark,
            count=len(digests),
            prev_hash=head.last_hash,
            hash=seal_hash(head.last_hash, number, head.last_key, watermark, digests),
        )
        head.last_number, head.last_hash, head.last_key = number, seal.hash, watermark
        head.save(update_fields=["last_number", "last_hash", "last_key"])
        audit_record(
            action=LedgerAudit.SEALED,
            target=seal,
            detail={
                "number": number,
                "count": seal.count,
                "hash": seal.hash,
                "booking_entries": entries,
            },
        )
        return seal


def at_seal_mac(digest: str) -> str:
    """The mark of a booking whose audit entry is left to the seal: its digest (which covers
    the actor, the time, the address and the mark itself) under the audit key."""
    return keyed_mac("ledger-at-seal", digest)


_ENTRIES_AT_ONCE = 5000


def _booking_entries(column: str, key_from: int, key_to: int) -> Iterator[list[Any]]:
    """The audit entries, drafted, of the bookings in ``[key_from, key_to)`` of the chain that
    left theirs to the seal: what ``book()`` would have written, at the booking's own time.
    A few thousand at a time (a long-held watermark can make one seal cover many bookings),
    each batch read whole before it is written: the connection cannot read while it copies.
    A row whose mark was not made with this deployment's key gets no entry: it was not
    booked by this software, and ``ledger verify`` names it."""
    after: tuple[int, int] | None = None
    while True:
        booked = Transaction.objects.filter(
            audit_at_seal=True, **{f"{column}__gte": key_from, f"{column}__lt": key_to}
        )
        if after is not None:
            # Keyset paging in chain order: past the last row of the batch before.
            booked = booked.filter(
                Q(**{f"{column}__gt": after[0]}) | Q(**{column: after[0], "id__gt": after[1]})
            )
        rows = list(
            booked.annotate(legs=Count("postings"))
            .order_by(column, "id")
            .values_list(
                column,
                "id",
                "kind",
                "idempotency_key",
                "created_at",
                "actor_id",
                "audit_ip",
                "reverses_id",
                "legs",
                "digest",
                "audit_mac",
            )[:_ENTRIES_AT_ONCE]
        )
        if not rows:
            return
        after = (rows[-1][0], rows[-1][1])
        entries = []
        for _key, tx_id, kind, key, at, actor_id, ip, reverses_id, legs, digest, mark in rows:
            if not hmac.compare_digest(mark, at_seal_mac(digest)):
                logger.error(
                    "ledger transaction #%s asks for an audit entry without this deployment's "
                    "mark: none written (ledger verify names it)",
                    tx_id,
                )
                continue
            entries.append(
                audit_entry(
                    at=at,
                    actor_id=actor_id,
                    ip=ip,
                    action=_AUDIT_OF_KIND[TransactionKind(kind)],
                    object_type=Transaction._meta.label_lower,
                    object_id=str(tx_id),
                    detail=_booking_detail(key, TransactionKind(kind), legs, reverses_id, None),
                )
            )
        yield entries
        if len(rows) < _ENTRIES_AT_ONCE:
            return


SEAL_EVERY_SECONDS = 5.0


def schedule_seal() -> None:
    """Ask the worker to seal, at most once every few seconds from this process."""
    from zhiyuan.ledger.tasks import ledger_seal_task

    enqueue_soon(ledger_seal_task, SEAL_EVERY_SECONDS)
