"""The site's gunicorn worker (zhiyuan/gunicorn_worker.py): a whole answer, then a close that
waits on the client only when the client might still be sending or still has bytes of the
answer to take in; each answer corked, unless the client waits for ``100 Continue``."""

from __future__ import annotations

import contextlib
import fcntl
import select
import socket
import struct
import sys
import termios
import threading
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


def _worker(listener: socket.socket, app: Any = _app) -> Any:
    cfg = Config()
    worker = gunicorn_worker.SyncWorker(0, 0, [listener], None, 30, cfg, Logger(cfg))
    worker.wsgi = app
    return worker


@pytest.fixture
def served(monkeypatch) -> Iterator[Any]:
    """One request through the site's worker class on a real loopback connection. Returns
    what the client read, whether gunicorn's own graceful close found the connection still
    open (it then waits for the client to hang up; here the spy closes at once instead), and
    whether the worker corked the connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    seen: dict[str, Any] = {}
    real_cork = gunicorn_worker.cork

    def graceful(sock: socket.socket, *args: Any, **kwargs: Any) -> None:
        seen.setdefault("open_at_graceful_close", sock.fileno() != -1)
        sock.close()

    def cork(sock: socket.socket) -> None:
        seen["corked"] = True
        real_cork(sock)

    monkeypatch.setattr(util, "close_graceful", graceful)
    monkeypatch.setattr(gunicorn_worker, "cork", cork)
    worker = _worker(listener)

    def serve(raw: bytes) -> tuple[bytes, bool, bool]:
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
            return (
                b"".join(chunks),
                seen.pop("open_at_graceful_close"),
                seen.pop("corked", False),
            )
        finally:
            client.close()

    yield serve
    worker.tmp.close()
    listener.close()


def test_the_site_serves_with_this_worker() -> None:
    assert gunicorn_conf.worker_class == "zhiyuan.gunicorn_worker.SyncWorker"


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        b"GET /x HTTP/1.0\r\nHost: t\r\n\r\n",  # HTTP/1.0 closes unless asked to keep alive
        # A body read to its end, and a stray CRLF after it (old clients sent one): drained.
        b"POST /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Read-Body: 1\r\n"
        b'Content-Length: 15\r\n\r\n{"code": "abc"}\r\n',
    ],
    ids=["connection-close", "http-1.0", "body-read-and-a-stray-crlf"],
)
def test_a_client_done_sending_gets_the_whole_answer_and_no_wait(served, request_bytes) -> None:
    raw, lingered, corked = served(request_bytes)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith((b"HTTP/1.1 200 OK", b"HTTP/1.0 200 OK"))
    assert b"Connection: close" in head
    assert body == BODY
    assert corked is True
    assert lingered is False  # closed by the worker before gunicorn's graceful close


@pytest.mark.parametrize(
    "request_bytes",
    [
        # Keep-alive: the client may send its next request before it reads "Connection: close".
        b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /x HTTP/1.0\r\nHost: t\r\nConnection: keep-alive\r\n\r\n",
        # A body the application never read: more of it may still be on its way.
        b"POST /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 5\r\n\r\nabcde",
        # A chunked body: where it ends is not known without reading it.
        b"POST /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nabcde\r\n0\r\n\r\n",
        # A tunnel: whatever follows a CONNECT is not another request.
        b"CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\nConnection: close\r\n\r\n",
    ],
    ids=["keep-alive", "http-1.0-keep-alive", "unread-body", "chunked-body", "connect"],
)
def test_a_client_that_may_still_be_sending_is_closed_gracefully(served, request_bytes) -> None:
    raw, lingered, _ = served(request_bytes)
    assert raw.partition(b"\r\n\r\n")[2] == BODY
    assert lingered is True  # gunicorn's own close: it waits for the client to hang up


def test_a_client_waiting_for_100_continue_is_not_corked(served) -> None:
    """gunicorn sends ``100 Continue`` before the application runs; corked, that small
    segment would wait 200 ms for more."""
    raw, _, corked = served(
        b"POST /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\nExpect: 100-continue\r\n"
        b"X-Read-Body: 1\r\nContent-Length: 2\r\n\r\nab"
    )
    assert raw.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK")
    assert raw.partition(b"\r\n\r\n")[2].partition(b"\r\n\r\n")[2] == BODY
    assert corked is False


POST_AB = b"POST /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 2\r\n\r\nab"


def _serve_in_thread(
    monkeypatch: Any,
    app: Any,
    *,
    after_request: Any = None,
    after_decision: Any = None,
) -> tuple[bytes, list[bool]]:
    """``POST_AB`` through the site's worker, served in a thread of its own while the client
    acts: ``after_request(client, server_side)`` once the request is sent,
    ``after_decision(client)`` once the worker has answered and decided how to close (before
    gunicorn's own close, when the worker left it that); then the client reads to the end
    (a reset raises). Returns what it read and what the worker decided (True: closed at once).
    """
    decided = threading.Event()
    real = gunicorn_worker.close_if_delivered
    closed_at_once: list[bool] = []

    def deciding(sock: socket.socket) -> bool:
        closed_at_once.append(real(sock))
        decided.set()
        return closed_at_once[-1]

    monkeypatch.setattr(gunicorn_worker, "close_if_delivered", deciding)
    listener = socket.create_server(("127.0.0.1", 0))
    worker = _worker(listener, app)
    client = socket.create_connection(listener.getsockname())
    try:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        client.settimeout(30)
        client.sendall(POST_AB)
        server_side, addr = listener.accept()
        server_side.setblocking(True)
        # Room for the whole answer in the worker's send buffer, read or not.
        server_side.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        serving = threading.Thread(target=worker.handle, args=(listener, server_side, addr))
        serving.start()
        if after_request is not None:
            after_request(client, server_side)
        assert decided.wait(timeout=30)
        if after_decision is not None:
            after_decision(client)
        received = b""
        while chunk := client.recv(65536):
            received += chunk
        client.shutdown(socket.SHUT_WR)  # hanging up ends gunicorn's graceful close at once
        serving.join(timeout=30)
        assert not serving.is_alive()
        return received, closed_at_once
    finally:
        client.close()
        worker.tmp.close()
        listener.close()


def test_an_answer_the_client_has_not_taken_in_is_closed_gracefully(monkeypatch) -> None:
    """A quarter megabyte to a client that has read none of it yet, and that then sends a stray
    CRLF: closed at once, the connection would be reset by the CRLF and the answer still queued
    lost. The worker sees bytes not yet sent and leaves the close to gunicorn, which drains
    the CRLF and waits for the client: every byte arrives."""
    big = b"x" * (1 << 18)

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Length", str(len(big)))])
        return [big]

    received, closed_at_once = _serve_in_thread(
        monkeypatch, app, after_decision=lambda client: client.sendall(b"\r\n")
    )
    assert closed_at_once == [False]
    assert received.partition(b"\r\n\r\n")[2] == big


def _answer_after_extra_bytes(extra: bytes) -> tuple[Any, Any]:
    """An application that answers ``BODY`` only once ``extra`` waits unread in the worker's
    kernel buffer, and the client's part that sends it after gunicorn has read the request
    (sent earlier, gunicorn's own read could take it in with the request)."""
    body_read, arrived = threading.Event(), threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        environ["wsgi.input"].read()
        body_read.set()
        assert arrived.wait(timeout=30)
        start_response("200 OK", [("Content-Length", str(len(BODY)))])
        return [BODY]

    def send_extra(client: socket.socket, server_side: socket.socket) -> None:
        assert body_read.wait(timeout=30)
        # Readable only once all of ``extra`` is in the worker's kernel buffer (the receive
        # low-water mark), then back to the default for the worker's own reads.
        server_side.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, len(extra))
        client.sendall(extra)
        readable, _, _ = select.select([server_side], [], [], 30)
        server_side.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, 1)
        assert readable and _unread(server_side) == len(extra)
        arrived.set()

    return app, send_extra


def test_bytes_sent_beyond_the_request_are_drained_before_the_close(monkeypatch) -> None:
    """Bytes the client sent after its request, waiting unread when the worker closes, would
    make the kernel reset the connection after ending it: drained first, the connection just
    ends, and the client sees its whole answer and no error."""
    app, stray_bytes = _answer_after_extra_bytes(b"\r\n\r\n")
    errors: list[int] = []
    received, closed_at_once = _serve_in_thread(
        monkeypatch,
        app,
        after_request=stray_bytes,
        after_decision=lambda client: errors.append(
            client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        ),
    )
    assert closed_at_once == [True]
    assert received.partition(b"\r\n\r\n")[2] == BODY
    assert errors == [0]  # ended, not reset


def test_more_than_stray_bytes_leave_the_close_to_gunicorn(monkeypatch) -> None:
    """Beyond 64 KiB sent after the request the worker stops draining; closing then would
    reset the connection, so gunicorn's graceful close reads on."""
    app, flood = _answer_after_extra_bytes(b"\r\n" * 40_000)
    received, closed_at_once = _serve_in_thread(monkeypatch, app, after_request=flood)
    assert closed_at_once == [False]
    assert received.partition(b"\r\n\r\n")[2] == BODY


def _unread(sock: socket.socket) -> int:
    """Bytes waiting in the kernel to be read from ``sock``."""
    raw = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0" * 4)
    return int(struct.unpack("i", raw)[0])


def test_the_unsent_bytes_of_a_connection_are_read_from_the_kernel() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    server_side, _ = listener.accept()
    a, b = socket.socketpair()
    try:
        if not sys.platform.startswith("linux"):
            assert gunicorn_worker.unsent(server_side) is None
            return
        assert gunicorn_worker.unsent(server_side) == 0  # nothing written yet
        server_side.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            server_side.send(b"x" * (1 << 20))  # more than the client's window takes
        assert (gunicorn_worker.unsent(server_side) or 0) > 0
        assert gunicorn_worker.unsent(a) is None  # not TCP
        closed = socket.socket()
        closed.close()
        assert gunicorn_worker.unsent(closed) is None
    finally:
        for s in (server_side, client, listener, a, b):
            s.close()


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
    from pathlib import Path

    # A socket already listening, handed to gunicorn (``fd://``): a request sent before the
    # worker is up waits in its queue, so nothing has to wait for gunicorn to start.
    listener = socket.create_server(("127.0.0.1", 0))
    listener.set_inheritable(True)
    port = listener.getsockname()[1]
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
            f"fd://{listener.fileno()}",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        pass_fds=(listener.fileno(),),
    )
    host = f"Host: 127.0.0.1:{port}\r\n".encode()

    def ask(head: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=90) as client:
            client.sendall(head)
            chunks = []
            while chunk := client.recv(65536):
                chunks.append(chunk)
            return b"".join(chunks)

    try:
        closing = ask(b"GET /healthz HTTP/1.1\r\n" + host + b"Connection: close\r\n\r\n")
        keeping = ask(b"GET /healthz HTTP/1.1\r\n" + host + b"\r\n")
    finally:
        server.terminate()
        log = server.communicate(timeout=30)[0].decode(errors="replace")
        listener.close()
    assert "Using worker: zhiyuan.gunicorn_worker.SyncWorker" in log, log
    for raw in (closing, keeping):
        head, _, body = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503"), raw[:200]
        assert json.loads(body)["status"] == "unhealthy"
