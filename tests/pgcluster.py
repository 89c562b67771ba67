"""A throw-away PostgreSQL cluster from the machine's own binaries, for tests and benchmarks.

``initdb`` refuses to run as root, so as root the cluster belongs to the ``postgres`` user. The
socket lives in the cluster's temporary directory (no TCP port, nothing to collide with), fsync
is off (the data is thrown away), and ``stop()`` removes everything.

Usable on its own: ``python -m tests.pgcluster`` starts one, prints its URL and waits.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

INSTALL_HINT = (
    "PostgreSQL's server binaries were not found. Install them with "
    "`apt-get install postgresql` (Debian) or run `make system-deps` as root."
)


class ClusterError(RuntimeError):
    pass


def find_bindir() -> Path:
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
    )
    for path in reversed(candidates):
        if (Path(path) / "initdb").exists():
            return Path(path)
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:
        return Path(os.path.realpath(pg_ctl)).parent
    raise ClusterError(INSTALL_HINT)


@dataclass
class Cluster:
    bindir: Path = field(default_factory=find_bindir)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="zhiyuan-pg-")))
    max_connections: int = 200
    running: bool = False

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    def _as_owner(self, *args: str) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *args]
        return list(args)

    def start(self) -> Cluster:
        self.socket_dir.mkdir()
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise ClusterError(
                    "running as root needs a `postgres` user: " + INSTALL_HINT
                ) from exc
            os.chmod(self.root, 0o755)  # noqa: S103 — the postgres user must reach its socket
            for path in (self.root, self.socket_dir):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        run = lambda cmd: subprocess.run(  # noqa: E731
            self._as_owner(*cmd), check=True, capture_output=True, text=True
        )
        try:
            run(
                [
                    str(self.bindir / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ]
            )
            options = (
                f"-k {self.socket_dir} -c listen_addresses='' -c fsync=off "
                f"-c synchronous_commit=off -c full_page_writes=off "
                f"-c max_connections={self.max_connections} -c shared_buffers=128MB"
            )
            run(
                [
                    str(self.bindir / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "-l",
                    str(self.root / "server.log"),
                    "start",
                ]
            )
        except subprocess.CalledProcessError as exc:
            log = self.root / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            self.stop()
            raise ClusterError(f"could not start PostgreSQL: {exc.stderr or exc}\n{tail}") from exc
        self.running = True
        return self

    def url(self, database: str = "postgres") -> str:
        host = urllib.parse.quote(str(self.socket_dir), safe="")
        return f"postgres://postgres@{host}/{database}"

    def stop(self) -> None:
        if self.running:
            subprocess.run(
                self._as_owner(
                    str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"
                ),
                check=False,
                capture_output=True,
            )
            self.running = False
        shutil.rmtree(self.root, ignore_errors=True)


if __name__ == "__main__":
    cluster = Cluster().start()
    print(cluster.url(), flush=True)
    try:
        input("PostgreSQL is running; press Enter to stop and remove it.\n")
    finally:
        cluster.stop()
