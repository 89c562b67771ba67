"""The site's gunicorn worker (zhiyuan/gunicorn_worker.py): a whole response, then a close that
waits on the client only when the client might still be sending."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from gunicorn import util
from gunicorn.config import Config
from gunicorn.glogging import Logger

from zhiyuan import gunicorn_conf, gunicorn_worker

BODY = "答复".encode() * 2000  # larger than one segment, so a corked socket holds some back


def _app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    if environ.get("HTTP_X_READ_BODY"):
        environ["wsgi.input"].read()
    start_response(
        "200 OK",
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(BODY)))],
    )
    return [BODY[: len(BODY) // 2], BODY[len(BODY) // 2 :]]


@pytest.fixture
def served(monkeypatch) -> Iterator[Any]:
    """One request through the site's worker class on a real loopback connection. Returns
    what the client read and whether gunicorn's own graceful close found the connection still
    open (it then waits for the client to hang up; here it closes at once instead)."""
    listener = socket.create_server(("127.0.0.1", 0))
    seen: dict[str, Any] = {}

    def graceful(sock: socket.socket, *args: Any, **kwargs: Any) -> None:
        seen.setdefault("open_at_graceful_close", sock.fileno() != -1)
        sock.close()

    monkeypatch.setattr(util, "close_graceful", graceful)
    cfg = Config()
    worker = gunicorn_worker.SyncWorker(0, 0, [listener], None, 30, cfg, Logger(cfg))
    worker.wsgi = _app

    def serve(raw: bytes) -> tuple[bytes, bool]:
        client = socket.create_connection(listener.getsockname())
        try:
            client.sendall(raw)
            server_side, addr = listener.accept()
            server_side.setblocking(True)
            worker.handle(listener, server_side, addr)
            client.settimeout(10)
            chunks = []
            while chunk := client.recv(65536):
                chunks.append(chunk)
            return b"".join(chunks), seen.pop("open_at_graceful_close")
        finally:
            client.close()

    yield serve
    worker.tmp.close()
    listener.close()


def test_the_site_serves_with_this_worker() -> None:
    assert gunicorn_conf.worker_class == "zhiyuan.gunicorn_worker.SyncWorker"


def test_a_client_done_sending_gets_the_whole_answer_and_no_wait(served) -> None:
    raw, lingered = served(b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"Connection: close" in head
    assert body == BODY
    assert lingered is False  # closed by the worker before gunicorn's graceful close


def test_a_body_read_to_its_end_still_closes_at_once(served) -> None:
    payload = b'{"code": "abc"}'
    raw, lingered = served(
        b"POST /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Read-Body: 1\r\n"
        b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload
    )
    assert raw.partition(b"\r\n\r\n")[2] == BODY
    assert lingered is False


@pytest.mark.parametrize(
    "request_bytes",
    [
        # Keep-alive: the client may send its next request before it reads "Connection: close".
        b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n",
        # A body the application never read: more of it may still be on its way.
        b"POST /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 5\r\n\r\nabcde",
        # A chunked body: where it ends is not known without reading it.
        b"POST /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nabcde\r\n0\r\n\r\n",
    ],
    ids=["keep-alive", "unread-body", "chunked-body"],
)
def test_a_client_that_may_still_be_sending_is_closed_gracefully(served, request_bytes) -> None:
    raw, lingered = served(request_bytes)
    assert raw.partition(b"\r\n\r\n")[2] == BODY
    assert lingered is True  # gunicorn's own close: it waits for the client to hang up


def test_a_tcp_connection_is_corked_and_a_unix_socket_left_alone() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server_side, _ = listener.accept()
    a, b = socket.socketpair()
    try:
        gunicorn_worker.cork(server_side)
        if hasattr(socket, "TCP_CORK"):
            assert server_side.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK) == 1
        gunicorn_worker.cork(a)  # AF_UNIX: no TCP options, and no error either
    finally:
        for s in (server_side, client, listener, a, b):
            s.close()


def test_gunicorn_serves_the_site_with_its_own_worker(tmp_path) -> None:
    """A real gunicorn with the site's settings file (as ``zhiyuan serve`` starts it): its
    worker class loads, and both kinds of client get a whole answer and the end of the stream.
    (The database here is empty, so the health check answers 503 with what is missing.)"""
    import json
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "zhiyuan.settings",
        "ZHIYUAN_ENV": "test",
        "ZHIYUAN_VAR_DIR": str(tmp_path),
        "ZHIYUAN_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}",
        "ZHIYUAN_WORKERS": "1",
    }
    env.pop("ZHIYUAN_DATABASE_URL_TEST", None)
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "zhiyuan.wsgi",
            "--config",
            "python:zhiyuan.gunicorn_conf",
            "--bind",
            f"127.0.0.1:{port}",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )

    host = f"Host: 127.0.0.1:{port}\r\n".encode()

    def ask(head: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
            client.sendall(head)
            chunks = []
            while chunk := client.recv(65536):
                chunks.append(chunk)
            return b"".join(chunks)

    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                closing = ask(b"GET /healthz HTTP/1.1\r\n" + host + b"Connection: close\r\n\r\n")
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        keeping = ask(b"GET /healthz HTTP/1.1\r\n" + host + b"\r\n")
    finally:
        server.terminate()
        log = server.communicate(timeout=30)[0].decode(errors="replace")
    assert "Using worker: zhiyuan.gunicorn_worker.SyncWorker" in log, log
    for raw in (closing, keeping):
        head, _, body = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503"), raw[:200]
        assert json.loads(body)["status"] == "unhealthy"
