"""``zhiyuan bench checkin [--people N] [--workers W] [--concurrency C] [--signups S]``:
check-in and sign-up under load, on PostgreSQL, through gunicorn, from a second process.

1. Starts its own throw-away PostgreSQL (tests/pgcluster.py), migrates a fresh database and
   bulk-loads N volunteers (default 10,000) with API tokens, all confirmed for one shift of one
   large event, plus a big activity for sign-ups and a 10-seat shift for the race.
2. Serves the real site with gunicorn (W of the site's sync workers, default one per core, on
   127.0.0.1) with the benchmark's own URL map, which adds one baseline endpoint that only
   inserts a row.
3. From a second process (threads writing HTTP/1.1 on raw sockets, a new connection per
   request as phones make them): every person checks in by scanning the rotating code
   (fetched by the organiser's app every few seconds through the API); a share of them scan
   twice at the same moment and a share retry after their answer; then the same number of
   requests to the baseline endpoint; then S distinct people sign up for the big activity;
   then 50 people race for the 10 seats (on a server with 8 workers, ``--race-workers``).
4. Counts in the database: check-in sessions against distinct people (lost, duplicated),
   baseline rows, sign-ups, and seats taken beyond capacity.

The last line is one JSON object (docs/activities.md explains each figure). Loopback only; every
loop is bounded by the number of people.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import secrets
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from queue import Empty, Queue
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SEED = 2026
# What the baseline requests carry in their Authorization header, like a phone's check-in, so
# that both take the same handler lane; the baseline endpoint never reads it.
BASELINE_TOKEN = "zy_baseline-endpoint-reads-no-token"  # noqa: S105 — not a secret


# --- the load generator (runs in its own process) ----------------------------------------------


def _request(
    port: int, method: str, path: str, token: str | None, body: dict[str, Any] | None
) -> tuple[int, bytes, float]:
    """One HTTP/1.1 request on a new connection (as a phone makes it), closed by the server.

    Written on the socket directly rather than through ``http.client``: the load generator
    shares the two cores with the server, and the less it spends per request the more is left
    for what is measured (the same for every phase, the baseline included)."""
    started = time.perf_counter()
    payload = json.dumps(body).encode() if body is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
    if token:
        head += f"Authorization: Bearer {token}\r\n"
    if body is not None:
        head += "Content-Type: application/json\r\n"
    head += f"Content-Length: {len(payload)}\r\n\r\n"
    chunks = []
    try:
        # A blocking socket with kernel time-outs, to the address as it is: no name look-up
        # (``create_connection`` asks getaddrinfo every time) and no poll() before each recv
        # (what a Python-level time-out adds), ~15 % of the driver's CPU per request.
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _SOCKET_TIMEOUT)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _SOCKET_TIMEOUT)
            sock.connect(("127.0.0.1", port))
            sock.sendall(head.encode() + payload)
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        raw = b"".join(chunks)
        headers, _, data = raw.partition(b"\r\n\r\n")
        status = int(headers[9:12])
        if b"transfer-encoding: chunked" in headers.lower():
            data = _unchunk(data)
    except (OSError, ValueError):
        status, data = 599, b""
    return status, data, (time.perf_counter() - started) * 1000


# 60 s for any one send or receive (struct timeval), as the time-out the driver always had.
_SOCKET_TIMEOUT = struct.pack("ll", 60, 0)


def _unchunk(data: bytes) -> bytes:
    out = []
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out.append(rest[:size])
        data = rest[size + 2 :]
    return b"".join(out)


def _client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _percentiles(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {"p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0}
    ordered = sorted(latencies)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {"p50_ms": at(0.50), "p95_ms": at(0.95), "p99_ms": at(0.99)}


class CodeBoard:
    """The organiser's app: fetches the current check-in code every few seconds."""

    def __init__(self, port: int, shift: int, token: str) -> None:
        self.port, self.shift, self.token = port, shift, token
        self.code = ""
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.refresh()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def refresh(self) -> str:
        status, data, _ = _request(
            self.port, "GET", f"/api/v1/activities/shifts/{self.shift}/code", self.token, None
        )
        if status == 200:
            with self.lock:
                self.code = json.loads(data)["code"]
        return self.code

    def _run(self) -> None:
        while not self.stopping.wait(5):
            self.refresh()

    def current(self) -> str:
        with self.lock:
            return self.code


def _run_pool(tasks: list[Any], concurrency: int, work: Any) -> float:
    queue: Queue[Any] = Queue()
    for task in tasks:
        queue.put(task)
    started = time.perf_counter()

    def worker() -> None:
        while True:
            try:
                task = queue.get_nowait()
            except Empty:
                return
            work(task)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def drive_checkins(plan: dict[str, Any]) -> dict[str, Any]:
    port, shift = plan["port"], plan["shift"]
    rng = random.Random(SEED)
    board = CodeBoard(port, shift, plan["organiser_token"])
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    landed: set[int] = set()
    # Each task is a group of scans by one person sent at the same moment (a double scan is
    # two threads of one group); a retry is sent after the answer, as a phone that lost it.
    tasks = []
    for person, token in plan["people"]:
        copies = 2 if rng.random() < plan["duplicate_share"] else 1
        tasks.append((person, token, copies, rng.random() < plan["retry_share"]))

    def scan(person: int, token: str) -> None:
        for _attempt in range(3):
            status, data, ms = _request(
                port, "POST", "/api/v1/activities/checkins", token, {"code": board.current()}
            )
            with lock:
                latencies.append(ms)
                statuses[status] += 1
                if status in (200, 201):
                    landed.add(person)
            if status == 422 and b'"expired"' in data:
                board.refresh()  # the code turned over between reading and sending
                continue
            return

    def work(task: tuple[int, str, int, bool]) -> None:
        person, token, copies, retry = task
        if copies == 2:
            twin = threading.Thread(target=scan, args=(person, token))
            twin.start()
            scan(person, token)
            twin.join()
        else:
            scan(person, token)
        if retry:
            scan(person, token)

    elapsed = _run_pool(tasks, plan["concurrency"], work)
    board.stopping.set()
    ok = statuses[200] + statuses[201]
    return {
        "requests": sum(statuses.values()),
        "ok": ok,
        "created": statuses[201],
        "repeated": statuses[200],
        "errors": {str(k): v for k, v in statuses.items() if k not in (200, 201)},
        "elapsed_s": round(elapsed, 3),
        "per_s": round(ok / elapsed, 1),
        "people": len(plan["people"]),
        "people_landed": len(landed),
        **_percentiles(latencies),
    }


def drive_baseline(plan: dict[str, Any]) -> dict[str, Any]:
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: Counter[int] = Counter()

    def work(person: int) -> None:
        # With a bearer token (which it never reads), as the check-in: the same handler lane.
        status, _, ms = _request(
            plan["port"], "POST", f"/api/bench/insert?p={person + 1}", BASELINE_TOKEN, None
        )
        with lock:
            latencies.append(ms)
            statuses[status] += 1

    elapsed = _run_pool(list(range(plan["requests"])), plan["concurrency"], work)
    return {
        "requests": plan["requests"],
        "ok": statuses[201],
        "errors": {str(k): v for k, v in statuses.items() if k != 201},
        "elapsed_s": round(elapsed, 3),
        "per_s": round(statuses[201] / elapsed, 1),
        **_percentiles(latencies),
    }


def drive_signups(plan: dict[str, Any]) -> dict[str, Any]:
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    barrier = threading.Barrier(plan["concurrency"]) if plan.get("race") else None

    def work(task: tuple[int, str]) -> None:
        if barrier is not None:
            barrier.wait()
        status, _, ms = _request(
            plan["port"],
            "POST",
            f"/api/v1/activities/shifts/{plan['shift']}/signups",
            task[1],
            {"waitlist": True},
        )
        with lock:
            latencies.append(ms)
            statuses[status] += 1

    elapsed = _run_pool([tuple(p) for p in plan["people"]], plan["concurrency"], work)
    return {
        "requests": len(plan["people"]),
        "ok": statuses[201],
        "errors": {str(k): v for k, v in statuses.items() if k != 201},
        "elapsed_s": round(elapsed, 3),
        "per_s": round(statuses[201] / elapsed, 1),
        **_percentiles(latencies),
    }


def drive_warmup(plan: dict[str, Any]) -> dict[str, Any]:
    """Read-only requests until every worker has imported and built what it builds on its
    first requests (URL map, API schema, translation catalogues); nothing is timed."""
    port = plan["port"]
    paths = [
        (f"/api/v1/activities/shifts/{plan['shift']}/code", plan["organiser_token"]),
        (f"/api/v1/activities/shifts/{plan['shift']}/eligibility", plan["volunteer_token"]),
        (f"/api/v1/activities/shifts/{plan['big']}/eligibility", plan["volunteer_token"]),
        ("/api/bench/insert?p=0", BASELINE_TOKEN),
    ]
    statuses: Counter[int] = Counter()

    def work(index: int) -> None:
        path, token = paths[index % len(paths)]
        method = "POST" if path.startswith("/api/bench/") else "GET"
        statuses[_request(port, method, path, token, None)[0]] += 1

    _run_pool(list(range(plan["requests"])), plan["concurrency"], work)
    return {"requests": plan["requests"], "statuses": {str(k): v for k, v in statuses.items()}}


DRIVERS = {
    "checkins": drive_checkins,
    "baseline": drive_baseline,
    "signups": drive_signups,
    "warmup": drive_warmup,
}


def _drive_main() -> int:
    plan = json.load(sys.stdin)
    before = _client_cpu()
    result = DRIVERS[plan["kind"]](plan)
    # The load generator's own CPU per request: it shares the machine with what it measures.
    result["client_cpu_ms_per_request"] = round(
        (_client_cpu() - before) * 1000 / max(1, result.get("requests", 1)), 3
    )
    print(json.dumps(result))
    return 0


def _drive(plan: dict[str, Any]) -> dict[str, Any]:
    """Run one phase of load in a second process and read back its figures."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.checkin", "--drive"],
        input=json.dumps(plan),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=1800,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- setting up the event --------------------------------------------------------------------


def _setup_django(url: str, var_dir: str) -> None:
    os.environ["ZHIYUAN_DATABASE_URL"] = url
    os.environ["ZHIYUAN_ENV"] = "test"
    os.environ["ZHIYUAN_VAR_DIR"] = var_dir
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.checkin_settings"
    import django

    django.setup()


def _prepare(people: int, signups: int) -> dict[str, Any]:
    """The event: N volunteers confirmed for one shift, a big activity, a 10-seat shift."""
    from decimal import Decimal

    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from zhiyuan.accounts.models import ApiToken, RoleGrant, User, phone_index
    from zhiyuan.accounts.roles import Role
    from zhiyuan.accounts.services import _hash_key, role_grant, user_create
    from zhiyuan.activities import services
    from zhiyuan.activities.models import Shift, Signup, SignupStatus
    from zhiyuan.organizations.models import Organization, OrganizationStatus
    from zhiyuan.people.models import VolunteerProfile
    from zhiyuan.people.numbers import new_volunteer_number
    from zhiyuan.regions.models import Region
    from zhiyuan.regions.services import region_import_csv
    from zhiyuan.safeguards.models import ActivityType, CoverBasis
    from zhiyuan.safeguards.services import insurance_policy_create

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE bench_baseline (id bigserial PRIMARY KEY, person integer, "
            "at timestamptz NOT NULL)"
        )
    region_import_csv(
        text="110000000000,北京市,\n110100000000,市辖区,110000000000\n"
        "110101000000,东城区,110100000000\n110101001000,东华门街道,110101000000\n"
        "110101001001,多福巷社区,110101001000\n"
    )
    community = Region.objects.get(pk="110101001001")
    org = Organization.objects.create(
        name="东城区马拉松志愿者服务队",
        kind="social_group",
        region=community,
        status=OrganizationStatus.VERIFIED,
    )
    organiser = user_create(phone="13900000100", password=None, name="organiser")
    role_grant(user=organiser, role=Role.ORG_ADMIN, organization=org)
    today = timezone.localdate()
    insurance_policy_create(
        organization=org,
        insurer="中国人寿",
        policy_number="BENCH-1",
        starts_on=today,
        ends_on=today + dt.timedelta(days=30),
        cover_death=Decimal(500000),
        cover_disability=Decimal(500000),
        cover_medical=Decimal(50000),
        basis=CoverBasis.PARTICIPANTS,
        activity_types=[t.value for t in ActivityType],
        actor=organiser,
    )
    rng = random.Random(SEED)
    unusable = make_password(None)
    total = people + 50
    users = [
        User(
            phone=f"1{(3_800_000_000 + i):010d}",
            phone_index=phone_index(f"1{(3_800_000_000 + i):010d}"),
            name=f"跑者{i}",
            password=unusable,
        )
        for i in range(total)
    ]
    users = User.objects.bulk_create(users, batch_size=1000)
    RoleGrant.objects.bulk_create(
        [RoleGrant(user=u, role=Role.VOLUNTEER, region=community) for u in users],
        batch_size=2000,
    )
    numbers: set[str] = set()
    profiles = []
    for user in users:
        number = new_volunteer_number(rng)
        while number in numbers:
            number = new_volunteer_number(rng)
        numbers.add(number)
        profiles.append(VolunteerProfile(user=user, volunteer_number=number, region=community))
    VolunteerProfile.objects.bulk_create(profiles, batch_size=2000)
    keys = [f"zy_{secrets.token_urlsafe(32)}" for _ in users]
    ApiToken.objects.bulk_create(
        [
            ApiToken(user=u, name="bench", prefix=k[:9], key_hash=_hash_key(k))
            for u, k in zip(users, keys, strict=True)
        ],
        batch_size=2000,
    )
    _, organiser_key = _token_for(organiser)
    now = timezone.now()

    def shift_of(title: str, start: dt.datetime, hours: int, seats: int) -> Shift:
        activity = services.activity_create(
            organization=org,
            actor=organiser,
            title=title,
            region=community,
            place_name="天安门东侧起点",
            lat=39.9087,
            lng=116.4010,
            shifts=[services.ShiftSpec(start, start + dt.timedelta(hours=hours), seats)],
        )
        services.activity_publish(activity=activity, actor=organiser)
        return Shift.objects.get(activity=activity)

    event = shift_of("北京马拉松补给站", now + dt.timedelta(minutes=10), 5, people + 100)
    Signup.objects.bulk_create(
        [
            Signup(shift=event, volunteer=u, status=SignupStatus.CONFIRMED, signed_up_by=u)
            for u in users[:people]
        ],
        batch_size=2000,
    )
    Shift.objects.filter(pk=event.pk).update(seats_taken=people)
    big = shift_of("城市志愿者大招募", now + dt.timedelta(days=3), 4, 100_000)
    race = shift_of("十个名额的讲解员", now + dt.timedelta(days=5), 2, 10)
    with connection.cursor() as cursor:
        # Statistics, as autovacuum keeps them on a live database: without them the planner
        # takes the freshly bulk-loaded tables for empty ones.
        cursor.execute("ANALYZE")
    pairs = [[u.pk, k] for u, k in zip(users, keys, strict=True)]
    return {
        "event": event.pk,
        "big": big.pk,
        "race": race.pk,
        "organiser_token": organiser_key,
        "people": pairs[:people],
        "signup_people": pairs[: min(signups, people)],
        "racers": pairs[people : people + 50],
    }


def _token_for(user: Any) -> tuple[Any, str]:
    from zhiyuan.accounts.services import token_create

    return token_create(user=user, name="bench organiser")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _start_server(url: str, var_dir: str, workers: int) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    env = {
        **os.environ,
        "ZHIYUAN_DATABASE_URL": url,
        "ZHIYUAN_ENV": "test",
        "ZHIYUAN_VAR_DIR": var_dir,
        "ZHIYUAN_CONN_MAX_AGE": "600",
        "ZHIYUAN_LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "bench.checkin_settings",
    }
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    server = subprocess.Popen(
        [
            gunicorn,
            "zhiyuan.wsgi:application",
            # The site's own worker settings (zhiyuan/gunicorn_conf.py: its worker class, and the
            # garbage collector leaving what lives as long as the worker alone), for every phase
            # alike.
            "--config",
            "python:zhiyuan.gunicorn_conf",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--backlog",
            "4096",
            # A machine busy with other work can take a while over a worker's first request.
            "--timeout",
            "120",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, _, _ = _request(port, "GET", "/healthz", None, None)
        if status == 200:
            return server, port
        time.sleep(0.2)
    server.terminate()
    raise RuntimeError("gunicorn did not become healthy within 60 s")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time used so far by these processes (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


class CpuMeter:
    """CPU spent by the gunicorn workers and by PostgreSQL during one phase: a per-request
    cost that does not depend on what else the machine is doing."""

    def __init__(self, server_pid: int, cluster: Any) -> None:
        self.server_pid = server_pid
        postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
        self.postmaster = postmaster

    def pids(self) -> tuple[list[int], list[int], list[int]]:
        """The workers; PostgreSQL's backends (serving connections); its background processes
        (postmaster, autovacuum, WAL writer, checkpointer...)."""
        backends: list[int] = []
        background = [self.postmaster]
        for pid in _children(self.postmaster):
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            (backends if title.startswith(b"postgres: postgres ") else background).append(pid)
        return _children(self.server_pid), backends, background

    def start(self) -> None:
        app, backends, background = self.pids()
        self.app0, self.load0 = _cpu_seconds(app), time.time()
        self.backends0, self.background0 = _cpu_seconds(backends), _cpu_seconds(background)

    def stop(self, requests: int) -> dict[str, float]:
        app, backends, background = self.pids()
        per = max(1, requests)
        served = (_cpu_seconds(backends) - self.backends0) * 1000 / per
        behind = (_cpu_seconds(background) - self.background0) * 1000 / per
        return {
            "app_cpu_ms_per_request": round((_cpu_seconds(app) - self.app0) * 1000 / per, 2),
            "db_cpu_ms_per_request": round(served + behind, 2),
            # Of which PostgreSQL's background processes (autovacuum, WAL writer...).
            "db_background_cpu_ms_per_request": round(behind, 2),
            "load_average_1m": round(os.getloadavg()[0], 2),
        }


def _count(event: int, big: int, race: int, people: list[int]) -> dict[str, int]:
    from django.db import connection
    from django.db.models import Count

    from zhiyuan.activities.models import ServiceSession, Shift, Signup, SignupStatus

    sessions = ServiceSession.objects.filter(shift_id=event)
    per_person = dict(
        sessions.values("volunteer_id").annotate(n=Count("id")).values_list("volunteer_id", "n")
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM bench_baseline WHERE person > 0")
        baseline_rows = cursor.fetchone()[0]
    race_shift = Shift.objects.get(pk=race)
    confirmed = Signup.objects.filter(shift_id=race, status=SignupStatus.CONFIRMED).count()
    return {
        "records": sessions.count(),
        "distinct": len(per_person),
        "lost": sum(1 for p in people if p not in per_person),
        "duplicated": sum(n - 1 for n in per_person.values()),
        "baseline_rows": baseline_rows,
        "signups": Signup.objects.filter(shift_id=big).count(),
        "race_confirmed": confirmed,
        "race_waitlisted": Signup.objects.filter(
            shift_id=race, status=SignupStatus.WAITLISTED
        ).count(),
        "race_seats_taken": race_shift.seats_taken,
        "overbooked": max(0, confirmed - race_shift.capacity),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="zhiyuan bench checkin", description=__doc__)
    parser.add_argument("--people", type=int, default=10_000)
    # As many sync workers as cores, as the site's own gunicorn settings (zhiyuan/gunicorn_conf.py
    # explains why); the race runs on its own server with eight.
    from zhiyuan.gunicorn_conf import worker_count

    parser.add_argument("--workers", type=int, default=worker_count(), help="gunicorn sync workers")
    parser.add_argument(
        "--race-workers", type=int, default=8, help="gunicorn sync workers for the race"
    )
    parser.add_argument("--concurrency", type=int, default=32, help="client threads")
    parser.add_argument("--signups", type=int, default=5_000)
    parser.add_argument("--duplicates", type=float, default=0.2, help="share scanning twice")
    parser.add_argument("--retries", type=float, default=0.1, help="share retrying")
    parser.add_argument("--drive", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.drive:
        return _drive_main()
    if not 1 <= args.people <= 100_000 or not 1 <= args.concurrency <= 256:
        parser.error("people is 1–100,000 and concurrency 1–256")
    sys.path.insert(0, str(ROOT))
    from tests.pgcluster import Cluster

    cluster = Cluster().start()
    server = None
    var_dir = tempfile.mkdtemp(prefix="zhiyuan-bench-var-")
    try:
        url = cluster.url()
        _setup_django(url, var_dir)
        started = time.perf_counter()
        data = _prepare(args.people, args.signups)
        print(f"prepared {args.people} people in {time.perf_counter() - started:.1f} s", flush=True)
        server, port = _start_server(url, var_dir, args.workers)
        warm_plan = {
            "kind": "warmup",
            "shift": data["event"],
            "big": data["big"],
            "organiser_token": data["organiser_token"],
            "volunteer_token": data["racers"][0][1],
            "concurrency": 2 * args.workers,
        }
        warm = _drive({**warm_plan, "port": port, "requests": 60 * args.workers})
        print(f"warm-up (not timed): {json.dumps(warm)}", flush=True)
        meter = CpuMeter(server.pid, cluster)
        meter.start()
        checkins = _drive(
            {
                "kind": "checkins",
                "port": port,
                "shift": data["event"],
                "organiser_token": data["organiser_token"],
                "people": data["people"],
                "duplicate_share": args.duplicates,
                "retry_share": args.retries,
                "concurrency": args.concurrency,
            }
        )
        checkins.update(meter.stop(checkins["requests"]))
        print(f"check-in: {json.dumps(checkins)}", flush=True)
        meter.start()
        baseline = _drive(
            {
                "kind": "baseline",
                "port": port,
                "requests": checkins["requests"],
                "concurrency": args.concurrency,
            }
        )
        baseline.update(meter.stop(baseline["requests"]))
        print(f"baseline insert: {json.dumps(baseline)}", flush=True)
        meter.start()
        signups = _drive(
            {
                "kind": "signups",
                "port": port,
                "shift": data["big"],
                "people": data["signup_people"],
                "concurrency": args.concurrency,
            }
        )
        signups.update(meter.stop(signups["requests"]))
        print(f"sign-up: {json.dumps(signups)}", flush=True)
        if args.race_workers != args.workers:
            server.terminate()
            server.wait(timeout=20)
            server, port = _start_server(url, var_dir, args.race_workers)
            _drive(
                {
                    **warm_plan,
                    "port": port,
                    "requests": 60 * args.race_workers,
                    "concurrency": 2 * args.race_workers,
                }
            )
        race = _drive(
            {
                "kind": "signups",
                "port": port,
                "shift": data["race"],
                "people": data["racers"],
                "concurrency": 50,
                "race": True,
            }
        )
        print(f"race for 10 seats: {json.dumps(race)}", flush=True)
        counts = _count(data["event"], data["big"], data["race"], [p for p, _ in data["people"]])
        print(f"database: {json.dumps(counts)}", flush=True)
        summary = {
            "checkins_per_s": checkins["per_s"],
            "p50_ms": checkins["p50_ms"],
            "p95_ms": checkins["p95_ms"],
            "p99_ms": checkins["p99_ms"],
            "people": args.people,
            "requests": checkins["requests"],
            "records": counts["records"],
            "lost": counts["lost"],
            "duplicated": counts["duplicated"],
            "checkin_errors": checkins["errors"],
            "baseline_inserts_per_s": baseline["per_s"],
            "checkins_to_baseline": round(checkins["per_s"] / max(0.1, baseline["per_s"]), 3),
            "baseline_p50_ms": baseline["p50_ms"],
            "baseline_p95_ms": baseline["p95_ms"],
            "baseline_p99_ms": baseline["p99_ms"],
            "baseline_rows": counts["baseline_rows"],
            "signups_per_s": signups["per_s"],
            "signups": counts["signups"],
            "signup_p50_ms": signups["p50_ms"],
            "signup_p99_ms": signups["p99_ms"],
            "overbooked": counts["overbooked"],
            "race_confirmed": counts["race_confirmed"],
            "race_waitlisted": counts["race_waitlisted"],
            "checkin_app_cpu_ms": checkins["app_cpu_ms_per_request"],
            "checkin_db_cpu_ms": checkins["db_cpu_ms_per_request"],
            "baseline_app_cpu_ms": baseline["app_cpu_ms_per_request"],
            "baseline_db_cpu_ms": baseline["db_cpu_ms_per_request"],
            "signup_app_cpu_ms": signups["app_cpu_ms_per_request"],
            "signup_db_cpu_ms": signups["db_cpu_ms_per_request"],
            "checkin_client_cpu_ms": checkins["client_cpu_ms_per_request"],
            "baseline_client_cpu_ms": baseline["client_cpu_ms_per_request"],
            "load_average_1m": checkins["load_average_1m"],
            "workers": args.workers,
            "race_workers": args.race_workers,
            "concurrency": args.concurrency,
        }
        print(json.dumps(summary))
        return 0
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        from django.db import connections

        connections.close_all()
        cluster.stop()
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
