"""The site's gunicorn worker: gunicorn's sync worker, finishing each connection sooner.

A sync worker serves one connection at a time and closes it after the answer. Two things about
that close cost the site throughput:

* **Waiting for the client to hang up.** gunicorn closes gracefully (RFC 9112, section 9.6):
  it half-closes, then reads until the client closes its side too, for up to two seconds, so
  that bytes still arriving cannot make the kernel reset the connection and destroy an answer
  the client has not read yet. Meanwhile the worker serves nobody. This worker closes at once
  when nothing can be lost that way: the client said it sends nothing more
  (``Connection: close``, or HTTP/1.0 without keep-alive; never a ``CONNECT``), its whole
  body was read, and the kernel has sent every byte of the answer and its end (not so when
  the client's receive window holds part of a large answer back). What the client sent
  beyond its request is drained from the buffer first, so the connection ends cleanly. Any
  other connection (keep-alive, a chunked or unread body, an answer still on its way) is
  closed gracefully as before. Left alone: bytes that arrive after the worker closed (a stray
  CRLF that an old client writes separately after its body, which RFC 9112 section 2.2 asks
  servers to tolerate) get a reset, and a reset stops the retransmission of any segment of the
  answer the network lost, so on a lossy network such a client can get its answer cut short.
  Behind a proxy on the same machine or network (docs/operations.md) nothing is lost; a
  client talking to the workers directly over a mobile network is the case to avoid.
  Measured with ``zhiyuan bench checkin`` (docs/activities.md, "Session 5"): the worker's
  voluntary context switches fall from 1.3 to 0.4 a request and check-ins per second rise by
  about a tenth.
* **Two segments per answer.** gunicorn writes the status line and headers, then the body,
  each sent at once (``TCP_NODELAY``): on a small answer two segments and two wake-ups of the
  client. The worker corks the connection (``TCP_CORK``, Linux), so the kernel sends full
  segments only, and the rest when the connection is closed, which a sync worker does right
  after the answer. Not for a request that expects ``100 Continue`` (gunicorn sends that interim
  answer before the application runs: corked, it would wait 200 ms). An application that
  streams small pieces with pauses between them would see each piece held up to 200 ms; the
  site streams nothing that way (files go out with ``sendfile``, in full segments).

Nothing else differs from gunicorn's ``sync`` worker: ``zhiyuan/gunicorn_conf.py`` names this
class, so ``zhiyuan serve`` and ``zhiyuan bench checkin`` use it.
"""

from __future__ import annotations

import contextlib
import fcntl
import socket
import struct
import sys
from typing import Any

from gunicorn.http.body import LengthReader
from gunicorn.workers.sync import SyncWorker as GunicornSyncWorker

_TCP_FAMILIES = (socket.AF_INET, socket.AF_INET6)

# Bytes read and dropped before closing at once: what a client sent beyond its request, if
# anything, is already in the kernel's buffer (it said it would send nothing more).
_DRAIN_LIMIT = 65536


class SyncWorker(GunicornSyncWorker):
    """gunicorn's sync worker, which closes a finished connection without waiting on the
    client when the client has nothing more to send, and corks each response."""

    def handle_request(self, listener: Any, req: Any, client: socket.socket, addr: Any) -> None:
        if not expects_continue(req):
            cork(client)
        super().handle_request(listener, req, client, addr)
        # Reached only when the answer went out whole (gunicorn raises otherwise, and then
        # closes gracefully itself). When this closes, gunicorn's close finds the socket closed
        # and returns; when it does not, gunicorn's close lingers as always.
        if client_is_done(req):
            close_if_delivered(client)


def cork(client: socket.socket) -> None:
    """Hold back partial segments until the connection is closed (TCP on Linux; elsewhere,
    and on a Unix socket, nothing happens)."""
    option = getattr(socket, "TCP_CORK", None)
    if option is None or client.family not in _TCP_FAMILIES:
        return
    with contextlib.suppress(OSError):  # a socket that cannot be corked is served all the same
        client.setsockopt(socket.IPPROTO_TCP, option, 1)


def expects_continue(req: Any) -> bool:
    """The request asks for ``100 Continue`` before it sends its body."""
    return any(
        name == "EXPECT" and value.strip().lower() == "100-continue" for name, value in req.headers
    )


def client_is_done(req: Any) -> bool:
    """The client said it sends nothing after this request, and all of its body was read."""
    reader = req.body.reader
    return (
        bool(req.should_close())
        and getattr(req, "method", None) != "CONNECT"  # tunnel bytes may follow a CONNECT
        and isinstance(reader, LengthReader)
        and reader.length == 0
    )


# Linux's SIOCOUTQNSD: bytes in a TCP socket's send queue not yet sent (linux/sockios.h).
_SIOCOUTQNSD = 0x894B


def unsent(client: socket.socket) -> int | None:
    """Bytes of what was written to ``client`` that the kernel has not sent yet, the end of the
    stream included (held back by the client's receive window, say), or None where that cannot
    be asked (not Linux, not a TCP socket)."""
    if not sys.platform.startswith("linux") or client.family not in _TCP_FAMILIES:
        return None
    try:
        raw = fcntl.ioctl(client.fileno(), _SIOCOUTQNSD, b"\0" * 4)
    except (OSError, ValueError):
        return None
    queued: int = struct.unpack("i", raw)[0]
    return queued


def close_if_delivered(client: socket.socket) -> bool:
    """Send what is left and the end of the stream; if the kernel could send it all, drop what
    the client may have sent beyond its request (unread bytes at the close make the kernel
    reset the connection after ending it) and close: True. Otherwise (part of the answer still
    waits for room in the client's window) leave the socket open, half-closed, for gunicorn's
    graceful close: False."""
    try:
        client.shutdown(socket.SHUT_WR)
    except OSError:
        return False  # gone already: gunicorn's close finds out the same way
    if unsent(client) != 0:
        return False
    drained = 0
    try:
        client.setblocking(False)
        while drained < _DRAIN_LIMIT and (data := client.recv(_DRAIN_LIMIT)):
            drained += len(data)
    except OSError:
        pass  # nothing buffered (EAGAIN), or the client is gone: nothing left to do
    if drained >= _DRAIN_LIMIT:
        # More than stray bytes: closing now would reset the connection. gunicorn's graceful
        # close reads on, for as long as it allows.
        client.setblocking(True)
        return False
    client.close()
    return True
