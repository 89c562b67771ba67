"""``zhiyuan bench ledger [--transfers N] [--verify-postings N] [--writers K]``: the ledger on
PostgreSQL.

Starts its own throw-away PostgreSQL cluster (tests/pgcluster.py), migrates a fresh database and
measures, in one run and on that one cluster (its settings are printed and put in the JSON):

1. postings per second through the real public service (``timebank_transfer``: replay check,
   account locks, balance check, the booking, the database's own triggers, the audit entry;
   one posting per transaction, one commit each) with 1 writer and with K writers (separate
   processes, each with its own connection), over 80 members, and the seal that follows them
   inside the measured time (it writes the audit entries of the bookings made in one
   statement, ADR 0009); then the same with only the seal's own audit entry
   (``ZHIYUAN_LEDGER_AUDIT_EACH = False``);
2. the raw insert rate of the same rows (the transaction row, its posting and the audit entry,
   one commit each, triggers included) through plain SQL, on 1 and on K connections: as three
   statements in a transaction (what a plain application sends), and as one prepared statement
   committed on its own (the least a client can send; the service's one-statement booking,
   ``book_at_once``, writes the same rows with the account locks, the replay check and
   Python's digests, its audit entry coming from the seal);
3. the time ``ledger verify`` takes over at least a million postings (bulk-loaded with COPY as a
   restore would, then sealed).

The last line printed is one JSON object; docs/ledger.md explains each figure. The machine's
load average is printed before and after: figures taken while other work runs are noisy, the
ratios to the plain-SQL figures of the same run less so.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import multiprocessing
import os
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

MEMBERS = 80


def _setup_django(url: str) -> None:
    os.environ["ZHIYUAN_DATABASE_URL"] = url
    os.environ.setdefault("ZHIYUAN_ENV", "test")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zhiyuan.settings")
    import django

    django.setup()


def _prepare() -> dict[str, Any]:
    """80 members, each with 10,000 minutes and their next neighbour registered as a child."""
    from django.core.management import call_command

    from zhiyuan.accounts.models import User
    from zhiyuan.accounts.roles import Role
    from zhiyuan.accounts.services import role_grant, user_create
    from zhiyuan.ledger import services
    from zhiyuan.ledger.models import Relation, Relative
    from zhiyuan.regions.models import Region
    from zhiyuan.regions.services import region_import_csv

    call_command("migrate", verbosity=0)
    region_import_csv(
        text="110000000000,北京市,\n110100000000,市辖区,110000000000\n"
        "110101000000,东城区,110100000000\n110101001000,一街道,110101000000\n"
        "110101001001,一社区,110101001000\n"
    )
    district = Region.objects.get(pk="110101000000")
    community = Region.objects.get(pk="110101001001")
    admin = user_create(phone="13900000001", password=None, name="admin")
    role_grant(user=admin, role=Role.REGION_ADMIN, region=district)
    members = [
        user_create(phone=f"1390000{1000 + i}", password=None, name=f"m{i}") for i in range(MEMBERS)
    ]
    relatives = []
    for i, member in enumerate(members):
        services.ledger_import_opening_balance(
            user=member, region=district, minutes=10_000, reference=f"bench-{i}"
        )
        relatives.append(
            services.relative_register(
                member=member,
                relation=Relation.CHILD,
                name=f"r{i}",
                birth_date=dt.date(1990, 1, 1),
                region=community,
                registered_by=admin,
                account_user=members[(i + 1) % MEMBERS],
            ).pk
        )
    assert User.objects.count() == MEMBERS + 1 and Relative.objects.count() == MEMBERS
    return {"relatives": relatives}


def _writer(
    url: str, relatives: list[int], count: int, seed: int, start: Any, out: Any, audit_each: bool
) -> None:
    """One writer process: ``count`` transfers of one minute between random neighbours."""
    import random

    _setup_django(url)
    from django.conf import settings

    settings.ZHIYUAN_LEDGER_AUDIT_EACH = audit_each
    from django.db import connection

    from zhiyuan.ledger import services
    from zhiyuan.ledger.models import Relative

    rng = random.Random(seed)
    rows = {r.pk: r for r in Relative.objects.select_related("member").filter(pk__in=relatives)}
    plan = [rows[rng.choice(relatives)] for _ in range(count)]
    connection.ensure_connection()
    backend = connection.connection.info.backend_pid
    start.wait()
    began, client, server = time.perf_counter(), time.process_time(), _backend_cpu(backend)
    for relative in plan:
        services.timebank_transfer(
            member=relative.member, relative=relative, minutes=1, key=f"bench-{uuid.uuid4().hex}"
        )
    elapsed = time.perf_counter() - began
    out.put((count, elapsed, time.process_time() - client, _backend_cpu(backend) - server))
    connection.close()


def _backend_cpu(pid: int) -> float:
    """CPU seconds a server process has used (Linux, cluster on this machine), else NaN."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Rate:
    """Bookings per second (wall clock, from a common start) and the CPU they cost: client
    processes plus their PostgreSQL server processes, in microseconds per booking. On a
    saturated machine throughput is about cores / CPU per booking, so the CPU figure is the
    one other people's work on the machine disturbs least."""

    per_s: float
    cpu_us: float
    # Of ``cpu_us``: the client processes' and their server processes' shares.
    client_us: float = 0.0
    server_us: float = 0.0
    # Of the wall time: the seal run after the writers (its CPU is in the figures above).
    seal_s: float = 0.0


def _collect(procs: list[Any], start: Any, out: Any, what: str, then: Any = None) -> Rate:
    """Start ``procs``, wait for their results, then run ``then()`` (the seal: wall seconds,
    client and server CPU seconds) inside the measured time."""
    for proc in procs:
        proc.start()
    start.wait()
    began = time.perf_counter()
    results = [out.get() for _ in procs]
    for proc in procs:
        proc.join()
        if proc.exitcode != 0:
            raise SystemExit(f"a {what} failed (exit code {proc.exitcode})")
    seal_s, seal_client, seal_server = then() if then is not None else (0.0, 0.0, 0.0)
    elapsed = time.perf_counter() - began
    done = sum(r[0] for r in results)
    client = (sum(r[2] for r in results) + seal_client) / done * 1e6
    server = (sum(r[3] for r in results) + seal_server) / done * 1e6
    return Rate(done / elapsed, client + server, client, server, seal_s)


def _seal_now() -> tuple[float, float, float]:
    """Seal what the writers booked, as the worker does every few seconds: with the audit
    entry per booking on, the seal writes the entries of the bookings made in one statement
    (ADR 0009), so their cost belongs in the writers' figure. Wall, client and server seconds."""
    from django.db import connection

    from zhiyuan.ledger.services import ledger_seal

    connection.ensure_connection()
    backend = connection.connection.info.backend_pid
    began, client, server = time.perf_counter(), time.process_time(), _backend_cpu(backend)
    ledger_seal()
    wall = time.perf_counter() - began
    with connection.cursor() as cursor:
        # Every booking of the phase must be in this seal, or some entries would be written
        # after the measurement (another session holding the watermark back, say).
        cursor.execute(
            "SELECT count(*) FROM ledger_transaction WHERE xid >= "
            "(SELECT last_key FROM ledger_sealhead WHERE id = 1)"
        )
        left = cursor.fetchone()[0]
    if left:
        raise SystemExit(f"the seal after the writers left {left} bookings unsealed")
    return (
        wall,
        time.process_time() - client,
        _backend_cpu(backend) - server,
    )


def _run_writers(
    url: str, relatives: list[int], writers: int, per_writer: int, audit_each: bool = True
) -> Rate:
    """Postings per second with ``writers`` processes, wall clock from a common start."""
    from django.db import connections

    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    start, out = ctx.Barrier(writers + 1), ctx.Queue()
    procs = [
        ctx.Process(target=_writer, args=(url, relatives, per_writer, seed, start, out, audit_each))
        for seed in range(writers)
    ]
    return _collect(procs, start, out, "writer", then=_seal_now)


RAW_MARK = "bench-raw"


# The rows of one transfer in one statement, committed on its own (autocommit): the least a
# client can send for them.
RAW_ONE_STATEMENT = (
    "WITH t AS (INSERT INTO ledger_transaction (idempotency_key, request_hash, kind, created_at, "
    "region_id, memo, digest) VALUES (%s, %s, 'transfer', now(), '110101001001', '', %s) "
    "RETURNING id), "
    "p AS (INSERT INTO ledger_posting (transaction_id, leg, asset, debit_id, credit_id, amount, "
    "source, digest) SELECT t.id, 1, 'time_minutes', %s::bigint, %s::bigint, 1, 'relative:0', "
    "%s::varchar FROM t) "
    "INSERT INTO core_auditevent (at, action, object_type, object_id, result, detail, mac) "
    "SELECT now(), %s::varchar, 'ledger.transaction', t.id::text, 'ok', %s::jsonb, %s::varchar "
    "FROM t"
)


def _raw_sql_writer(
    conninfo: str, accounts: list[int], count: int, start: Any, out: Any, one_statement: bool
) -> None:
    """One plain-SQL writer: ``count`` times the rows of one transfer, one commit each; as
    three statements in a transaction, or as one prepared statement on its own.

    Each writer moves money among its own slice of the accounts: plain inserts lock nothing
    first (the service locks in pk order), so writers sharing accounts could deadlock in the
    balance trigger. This is the upper bound: no writer ever waits for another."""
    import psycopg

    with psycopg.connect(conninfo, autocommit=one_statement) as conn:
        backend = conn.info.backend_pid
        start.wait()
        began, client, server = time.perf_counter(), time.process_time(), _backend_cpu(backend)
        for i in range(count):
            debit, credit = accounts[i % len(accounts)], accounts[(i + 1) % len(accounts)]
            key = f"{RAW_MARK}-{uuid.uuid4().hex}"
            if one_statement:
                conn.execute(
                    RAW_ONE_STATEMENT,
                    (
                        key,
                        "0" * 64,
                        "0" * 64,
                        debit,
                        credit,
                        "0" * 64,
                        RAW_MARK,
                        json.dumps({"key": key, "kind": "transfer", "postings": 1}),
                        "0" * 64,
                    ),
                    prepare=True,
                )
                continue
            with conn.transaction():
                tx_id = conn.execute(
                    "INSERT INTO ledger_transaction (idempotency_key, request_hash, kind, "
                    "created_at, region_id, memo, digest) VALUES (%s, %s, 'transfer', now(), "
                    "'110101001001', '', %s) RETURNING id",
                    (key, "0" * 64, "0" * 64),
                ).fetchone()[0]  # type: ignore[index]
                conn.execute(
                    "INSERT INTO ledger_posting (transaction_id, leg, asset, debit_id, "
                    "credit_id, amount, source, digest) "
                    "VALUES (%s, 1, 'time_minutes', %s, %s, 1, 'relative:0', %s)",
                    (tx_id, debit, credit, "0" * 64),
                )
                conn.execute(
                    "INSERT INTO core_auditevent (at, action, object_type, object_id, result, "
                    "detail, mac) "
                    "VALUES (now(), %s, 'ledger.transaction', %s, 'ok', %s::jsonb, %s)",
                    (
                        RAW_MARK,
                        str(tx_id),
                        json.dumps({"key": key, "kind": "transfer", "postings": 1}),
                        "0" * 64,
                    ),
                )
        elapsed = time.perf_counter() - began
        out.put((count, elapsed, time.process_time() - client, _backend_cpu(backend) - server))


def _raw_sql_rate(url: str, count: int, connections: int = 1, one_statement: bool = False) -> Rate:
    """The rows a transfer writes (transaction, posting, audit entry; one commit each)
    through plain SQL on ``connections`` connections (processes). Rows are bookings."""
    import psycopg
    from django.db import connections as django_connections

    from zhiyuan.ledger.models import Account

    accounts = list(
        Account.objects.filter(kind="user", asset="time_minutes").values_list("pk", flat=True)
    )
    django_connections.close_all()
    conninfo = url.replace("postgres://", "postgresql://")
    ctx = multiprocessing.get_context("fork")
    start, out = ctx.Barrier(connections + 1), ctx.Queue()
    per = max(1, count // connections)
    size = len(accounts) // connections
    procs = [
        ctx.Process(
            target=_raw_sql_writer,
            args=(
                conninfo,
                accounts[seed * size : (seed + 1) * size],
                per,
                start,
                out,
                one_statement,
            ),
        )
        for seed in range(connections)
    ]
    rate = _collect(procs, start, out, "plain-SQL writer")
    with psycopg.connect(conninfo) as conn:
        # The rows were for timing only: take them out again (as a superuser may, triggers off).
        conn.execute("SET session_replication_role = replica")
        conn.execute(
            "DELETE FROM ledger_posting WHERE transaction_id IN "
            "(SELECT id FROM ledger_transaction WHERE idempotency_key LIKE 'bench-raw-%%')"
        )
        conn.execute("DELETE FROM ledger_transaction WHERE idempotency_key LIKE 'bench-raw-%%'")
        conn.execute("DELETE FROM core_auditevent WHERE action = %s", (RAW_MARK,))
        conn.execute(
            "UPDATE ledger_account a SET balance = COALESCE((SELECT sum(amount) FROM "
            "ledger_posting WHERE credit_id = a.id), 0) - COALESCE((SELECT sum(amount) FROM "
            "ledger_posting WHERE debit_id = a.id), 0)"
        )
        conn.commit()
    return rate


SETTINGS = (
    "server_version",
    "fsync",
    "synchronous_commit",
    "full_page_writes",
    "wal_level",
    "shared_buffers",
    "max_connections",
    "plan_cache_mode",
)


def _cluster_settings(url: str) -> dict[str, str]:
    """The settings that decide commit cost, as the server reports them (one cluster serves
    every measurement of the run, so they are the same for the service and plain SQL)."""
    import psycopg

    with psycopg.connect(url.replace("postgres://", "postgresql://")) as conn:
        return {
            name: str(conn.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]
            for name in SETTINGS
        }


def _load() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def _bulk_load(url: str, postings: int) -> float:
    """Load ``postings`` deposits (issuer → member, one posting each) with COPY, digests and
    all, as a restore would; the balances follow in one statement. Rows per second."""
    from zhiyuan.ledger.models import Account
    from zhiyuan.ledger.services import (
        micros,
        posting_digest,
        request_hash,
        transaction_digest,
    )

    mint = Account.objects.get(kind="mint", asset="time_minutes").pk
    members = list(
        Account.objects.filter(kind="user", asset="time_minutes").values_list("pk", flat=True)
    )
    import psycopg

    conninfo = url.replace("postgres://", "postgresql://")
    began = time.perf_counter()
    with psycopg.connect(conninfo) as conn:
        conn.execute("SET session_replication_role = replica")
        xid = conn.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()[0]  # type: ignore[index]
        first = conn.execute("SELECT COALESCE(max(id), 0) + 1 FROM ledger_transaction").fetchone()[
            0
        ]  # type: ignore[index]
        req = request_hash({"op": "bulk"})
        at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        created_us = micros(at)
        tx_buf, p_buf = io.StringIO(), io.StringIO()
        for n in range(postings):
            tx_id = first + n
            key = f"bulk-{n:09d}"
            credit = members[n % len(members)]
            pd = posting_digest(key, 1, "time_minutes", mint, credit, 1, "import:bulk", None)
            td = transaction_digest(
                key=key,
                request_hash=req,
                kind="deposit",
                created_us=created_us,
                region_id="110101000000",
                organization_id=None,
                actor_id=None,
                reverses_id=None,
                memo="",
                posting_digests=[pd],
            )
            tx_buf.write(
                f"{tx_id}\t{key}\t{req}\tdeposit\t{at.isoformat()}\t110101000000\t\t{xid}\t{td}\n"
            )
            p_buf.write(f"{tx_id}\t1\ttime_minutes\t{mint}\t{credit}\t1\timport:bulk\t{pd}\n")
        with conn.cursor() as cur:
            with cur.copy(
                "COPY ledger_transaction (id, idempotency_key, request_hash, kind, created_at, "
                "region_id, memo, xid, digest) FROM STDIN"
            ) as copy:
                copy.write(tx_buf.getvalue())
            with cur.copy(
                "COPY ledger_posting (transaction_id, leg, asset, debit_id, credit_id, amount, "
                "source, digest) FROM STDIN"
            ) as copy:
                copy.write(p_buf.getvalue())
            cur.execute(
                "SELECT setval(pg_get_serial_sequence('ledger_transaction', 'id'), "
                "(SELECT max(id) FROM ledger_transaction))"
            )
            cur.execute(
                "UPDATE ledger_account a SET balance = balance + s.n FROM (SELECT credit_id, "
                "count(*) AS n FROM ledger_posting WHERE source = 'import:bulk' GROUP BY "
                "credit_id) s WHERE a.id = s.credit_id"
            )
            cur.execute(
                "UPDATE ledger_account SET balance = balance - %s WHERE id = %s", (postings, mint)
            )
        conn.commit()
    return 2 * postings / (time.perf_counter() - began)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="zhiyuan bench ledger", description=__doc__)
    parser.add_argument("--transfers", type=int, default=4000, help="per measurement")
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--verify-postings", type=int, default=1_000_000)
    args = parser.parse_args(argv)

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from tests.pgcluster import Cluster

    cluster = Cluster().start()
    try:
        import psycopg

        with psycopg.connect(
            cluster.url().replace("postgres://", "postgresql://"), autocommit=True
        ) as c:
            c.execute("CREATE DATABASE zhiyuan_bench")
        url = cluster.url("zhiyuan_bench")
        _setup_django(url)
        prepared = _prepare()
        relatives = prepared["relatives"]
        load_before = _load()
        pg_settings = _cluster_settings(url)
        print(
            f"PostgreSQL cluster at {cluster.root}; {os.cpu_count()} CPUs; load {load_before}",
            flush=True,
        )
        print("cluster: " + ", ".join(f"{k}={v}" for k, v in pg_settings.items()), flush=True)

        k = args.writers
        per = max(1, args.transfers // k)

        def show(label: str, rate: Rate, unit: str = "postings/s") -> None:
            sealing = f"; sealing {rate.seal_s:.2f} s of it" if rate.seal_s else ""
            print(
                f"{label:<44}{rate.per_s:8.0f} {unit}, {rate.cpu_us:6.0f} us CPU each "
                f"({rate.client_us:.0f} client + {rate.server_us:.0f} server){sealing}",
                flush=True,
            )

        rate_1 = _run_writers(url, relatives, 1, args.transfers)
        show("service, 1 writer:", rate_1)
        rate_k = _run_writers(url, relatives, k, per)
        show(f"service, {k} writers:", rate_k)
        batch_1 = _run_writers(url, relatives, 1, args.transfers, audit_each=False)
        show("service, 1 writer, audit per seal:", batch_1)
        batch_k = _run_writers(url, relatives, k, per, audit_each=False)
        show(f"service, {k} writers, audit per seal:", batch_k)
        raw = _raw_sql_rate(url, args.transfers)
        show("plain SQL, same rows, 1 connection:", raw, "bookings/s")
        raw_k = _raw_sql_rate(url, args.transfers, k)
        show(f"plain SQL, same rows, {k} connections:", raw_k, "bookings/s")
        one = _raw_sql_rate(url, args.transfers, one_statement=True)
        show("plain SQL, one statement, 1 connection:", one, "bookings/s")
        one_k = _raw_sql_rate(url, args.transfers, k, one_statement=True)
        show(f"plain SQL, one statement, {k} connections:", one_k, "bookings/s")

        from zhiyuan.ledger.services import ledger_seal
        from zhiyuan.ledger.verify import ledger_verify

        ledger_seal()
        bulk = _bulk_load(url, args.verify_postings)
        print(f"bulk COPY of {args.verify_postings} postings: {bulk:8.0f} rows/s", flush=True)
        began = time.perf_counter()
        seal = ledger_seal()
        seal_seconds = time.perf_counter() - began
        print(f"sealing {seal.count if seal else 0} transactions: {seal_seconds:.1f} s", flush=True)
        began = time.perf_counter()
        report = ledger_verify()
        verify_seconds = time.perf_counter() - began
        print(
            f"ledger verify: {report.postings} postings, {report.transactions} transactions, "
            f"{report.seals} seals in {verify_seconds:.1f} s; problem: {report.problem}",
            flush=True,
        )
        result = {
            "postings_per_s_1": round(rate_1.per_s, 1),
            "postings_per_s_8": round(rate_k.per_s, 1),
            "writers": k,
            "postings_per_s_1_audit_per_seal": round(batch_1.per_s, 1),
            "postings_per_s_8_audit_per_seal": round(batch_k.per_s, 1),
            "raw_sql_rows_per_s": round(raw.per_s, 1),
            "raw_sql_rows_per_s_8": round(raw_k.per_s, 1),
            "service_vs_raw_sql_1": round(rate_1.per_s / raw.per_s, 3),
            "service_vs_raw_sql_8": round(rate_k.per_s / raw_k.per_s, 3),
            "cpu_us_per_posting_1": round(rate_1.cpu_us),
            "cpu_us_per_posting_8": round(rate_k.cpu_us),
            # Of which the writer processes (Python) and their PostgreSQL backends.
            "client_cpu_us_per_posting_1": round(rate_1.client_us),
            "server_cpu_us_per_posting_1": round(rate_1.server_us),
            "client_cpu_us_per_posting_8": round(rate_k.client_us),
            "server_cpu_us_per_posting_8": round(rate_k.server_us),
            "cpu_us_per_posting_8_audit_per_seal": round(batch_k.cpu_us),
            # Wall seconds of the seal inside each measurement of the service.
            "sealing_seconds_1": round(rate_1.seal_s, 3),
            "sealing_seconds_8": round(rate_k.seal_s, 3),
            "cpu_us_per_raw_sql_row_8": round(raw_k.cpu_us),
            "raw_one_statement_rows_per_s": round(one.per_s, 1),
            "raw_one_statement_rows_per_s_8": round(one_k.per_s, 1),
            "service_vs_raw_one_statement_1": round(rate_1.per_s / one.per_s, 3),
            "service_vs_raw_one_statement_8": round(rate_k.per_s / one_k.per_s, 3),
            "cpu_us_per_raw_one_statement_row_8": round(one_k.cpu_us),
            "bulk_copy_rows_per_s": round(bulk, 1),
            "verify_seconds_1m": round(verify_seconds, 2),
            "verify_postings": report.postings,
            "verify_ok": report.problem is None,
            "seal_seconds": round(seal_seconds, 2),
            "cpus": os.cpu_count(),
            "load_before": load_before,
            "load_after": _load(),
            "cluster_settings": pg_settings,
            "postings_per_transaction": 1,
            "targets": {"postings_per_s_8": 3000, "verify_seconds_1m": 30},
        }
        from django.db import connections

        connections.close_all()
    finally:
        cluster.stop()
    print(json.dumps(result))
    return 0 if result["verify_ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
