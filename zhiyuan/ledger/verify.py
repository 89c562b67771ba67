"""``zhiyuan ledger verify``: replay every posting and recompute every balance and the chain.

Reads the tables with plain cursors (streamed from the server on PostgreSQL), so a million
postings take seconds. Checks, in this order, and names the first discrepancy:

1. each posting against its own digest (an edited amount, account, source…);
2. each transaction against its digest, which covers its postings (a removed or added posting);
3. the sealed chain: every seal links to the one before and covers exactly the transactions in
   its range (a removed, added or re-ordered transaction);
4. every cached balance against the replay, and no ordinary account below zero;
5. every sealed booking that left its audit entry to the seal (ADR 0009) has it.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from zhiyuan.core.db import chain_key_column
from zhiyuan.ledger.models import Transaction
from zhiyuan.ledger.services import (
    GENESIS,
    at_seal_mac,
    micros,
    posting_digest,
    seal_hash,
    transaction_digest,
)

CHUNK = 20_000
_TX_COLUMNS = (
    "region_id, organization_id, actor_id, reverses_id, memo, digest, id, idempotency_key, "
    "request_hash, kind"
)
# PostgreSQL hands over the booking time as whole microseconds since 1970 (cheaper to read than
# a timestamp) and the chain key is the writer's transaction id; SQLite gives the stored text
# and the row id.
TX_SQL_PG = (
    f"SELECT {_TX_COLUMNS}, (extract(epoch FROM created_at) * 1000000)::bigint, xid, "  # noqa: S608
    "audit_at_seal, host(audit_ip), audit_mac FROM ledger_transaction ORDER BY id"
)
TX_SQL_SQLITE = (
    f"SELECT {_TX_COLUMNS}, created_at, id, audit_at_seal, audit_ip, audit_mac "  # noqa: S608
    "FROM ledger_transaction ORDER BY id"
)


@dataclass(frozen=True)
class Problem:
    what: str  # "posting", "transaction", "seal", "account"
    id: int
    reason: str

    def __str__(self) -> str:
        names = {
            "posting": _("posting"),
            "transaction": _("transaction"),
            "seal": _("seal"),
            "account": _("account"),
        }
        return f"{names.get(self.what, self.what)} #{self.id}: {self.reason}"


@dataclass
class VerifyReport:
    postings: int = 0
    transactions: int = 0
    seals: int = 0
    unsealed: int = 0
    accounts: int = 0
    totals: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def add(self, problem: Problem) -> None:
        if len(self.problems) < 50:
            self.problems.append(problem)


def _stream(sql: str, name: str) -> Iterator[tuple[Any, ...]]:
    """Rows of ``sql``, fetched in chunks (a server-side cursor on PostgreSQL)."""
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        raw = connection.connection
        with raw.cursor(name=name) as cursor:
            cursor.itersize = CHUNK
            cursor.execute(sql)
            yield from cursor
        return
    with connection.cursor() as cursor:
        cursor.execute(sql)
        while rows := cursor.fetchmany(CHUNK):
            yield from rows


def _as_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    parsed = parse_datetime(str(value))
    assert parsed is not None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def ledger_verify() -> VerifyReport:
    """Replay the whole ledger in one consistent snapshot and report what does not add up."""
    report = VerifyReport()
    # One snapshot for every read: on PostgreSQL REPEATABLE READ, so that bookings committed
    # while the replay runs are either wholly seen or not at all.
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if connection.vendor == "postgresql" and outermost:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        _verify(report)
    return report


def _verify(report: VerifyReport) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, asset, is_system, balance FROM ledger_account")
        accounts = {row[0]: (row[1], bool(row[2]), int(row[3])) for row in cursor.fetchall()}
    report.accounts = len(accounts)
    replayed: dict[int, int] = defaultdict(int)
    chain: list[tuple[int, int, str]] = []  # (chain key, id, stored digest)

    postings = _stream(
        "SELECT transaction_id, leg, asset, debit_id, credit_id, amount, source, "
        "rule_version_id, digest, id FROM ledger_posting ORDER BY transaction_id, leg",
        "ledger_verify_postings",
    )
    pending = next(postings, None)
    tx_sql = TX_SQL_PG if connection.vendor == "postgresql" else TX_SQL_SQLITE
    for tx in _stream(tx_sql, "ledger_verify_transactions"):
        region_id, org_id, actor_id, reverses_id, memo, stored, tx_id, key, req, kind = tx[:10]
        created, chain_key, audit_at_seal, audit_ip, mark = tx[10:15]
        audit_at_seal = bool(audit_at_seal)
        report.transactions += 1
        while pending is not None and pending[0] < tx_id:
            report.add(Problem("posting", pending[9], _("belongs to no transaction")))
            pending = next(postings, None)
        digests: list[str] = []
        expected_leg = 1
        while pending is not None and pending[0] == tx_id:
            _t, leg, asset, debit, credit, amount, source, rule, digest, posting_id = pending
            report.postings += 1
            if leg != expected_leg:
                report.add(
                    Problem(
                        "transaction",
                        tx_id,
                        _("posting %(leg)d is missing") % {"leg": expected_leg},
                    )
                )
            expected_leg = leg + 1
            if posting_digest(key, leg, asset, debit, credit, amount, source, rule) != digest:
                report.add(Problem("posting", posting_id, _("contents altered after booking")))
            if amount <= 0 or debit == credit:
                report.add(
                    Problem("posting", posting_id, _("not a positive move between two accounts"))
                )
            if accounts.get(debit, ("",))[0] != asset or accounts.get(credit, ("",))[0] != asset:
                report.add(
                    Problem("posting", posting_id, _("moves between accounts of another asset"))
                )
            replayed[debit] -= amount
            replayed[credit] += amount
            digests.append(digest)
            pending = next(postings, None)
        if not digests:
            report.add(Problem("transaction", tx_id, _("has no postings")))
        recomputed = transaction_digest(
            key=key,
            request_hash=req,
            kind=kind,
            created_us=created if isinstance(created, int) else micros(_as_datetime(created)),
            region_id=region_id,
            organization_id=org_id,
            actor_id=actor_id,
            reverses_id=reverses_id,
            memo=memo,
            posting_digests=digests,
            audit_at_seal=audit_at_seal,
            audit_ip=audit_ip,
        )
        if recomputed != stored:
            report.add(
                Problem("transaction", tx_id, _("contents or postings altered after booking"))
            )
        elif audit_at_seal and not hmac.compare_digest(mark, at_seal_mac(stored)):
            report.add(
                Problem(
                    "transaction",
                    tx_id,
                    _("asks the seal for its audit entry without this deployment's mark"),
                )
            )
        chain.append((chain_key if chain_key is not None else tx_id, tx_id, stored))
    while pending is not None:
        report.add(Problem("posting", pending[9], _("belongs to no transaction")))
        pending = next(postings, None)

    sealed_below = _verify_chain(report, chain)
    _verify_booking_entries(report, sealed_below)

    totals: dict[str, int] = defaultdict(int)
    for account_id, (asset, is_system, cached) in sorted(accounts.items()):
        balance = replayed.get(account_id, 0)
        totals[asset] += balance
        if balance != cached:
            report.add(
                Problem(
                    "account",
                    account_id,
                    _("cached balance %(cached)d, postings give %(replayed)d")
                    % {"cached": cached, "replayed": balance},
                )
            )
        if balance < 0 and not is_system:
            report.add(Problem("account", account_id, _("an ordinary account below zero")))
    for account_id in set(replayed) - set(accounts):
        report.add(Problem("account", account_id, _("postings name an account that is missing")))
    report.totals = dict(totals)
    for asset, total in totals.items():
        if total != 0:
            report.add(
                Problem("account", 0, _("%(asset)s does not sum to zero") % {"asset": asset})
            )


def _verify_chain(report: VerifyReport, chain: list[tuple[int, int, str]]) -> int:
    """Check the seals against the transactions; the chain key below which all is sealed."""
    chain.sort()
    position, prev_hash, prev_to, expected_number = 0, GENESIS, 0, 1
    for number, key_from, key_to, count, stored_prev, stored_hash in _stream(
        "SELECT number, key_from, key_to, count, prev_hash, hash FROM ledger_seal ORDER BY number",
        "ledger_verify_seals",
    ):
        report.seals += 1
        if number != expected_number:
            report.add(Problem("seal", expected_number, _("missing from the chain")))
            return prev_to
        if stored_prev != prev_hash or key_from != prev_to:
            report.add(Problem("seal", number, _("does not link to the seal before it")))
            return prev_to
        digests = []
        while position < len(chain) and chain[position][0] < key_to:
            digests.append(chain[position][2])
            position += 1
        if (
            len(digests) != count
            or seal_hash(prev_hash, number, key_from, key_to, digests) != stored_hash
        ):
            report.add(
                Problem(
                    "seal",
                    number,
                    _("its transactions were altered, removed or added after sealing"),
                )
            )
            return prev_to
        prev_hash, prev_to, expected_number = stored_hash, key_to, number + 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_number FROM ledger_sealhead WHERE id = 1")
        row = cursor.fetchone()
    if row is not None and row[0] != expected_number - 1:
        report.add(Problem("seal", expected_number, _("seals missing at the end of the chain")))
    report.unsealed = len(chain) - position
    return prev_to


def _verify_booking_entries(report: VerifyReport, sealed_below: int) -> None:
    """Every sealed booking that left its audit entry to the seal (ADR 0009) has it."""
    column = chain_key_column()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT t.id FROM ledger_transaction t WHERE t.audit_at_seal AND t.{column} < %s "  # noqa: S608 — column is one of two fixed names
            "AND NOT EXISTS (SELECT 1 FROM core_auditevent a WHERE a.object_type = %s "
            "AND a.object_id = CAST(t.id AS varchar(64)) AND a.action = 'ledger.' || t.kind) "
            "ORDER BY t.id LIMIT 50",
            [sealed_below, Transaction._meta.label_lower],
        )
        for (tx_id,) in cursor.fetchall():
            report.add(Problem("transaction", tx_id, _("sealed without its audit entry")))
