"""The site's gunicorn worker: gunicorn's sync worker, finishing each connection sooner.

A sync worker serves one connection at a time and closes it after the response. Two things about
that close cost the site throughput and change nothing a client sees:

* **Waiting for the client to hang up.** gunicorn closes gracefully (RFC 9112, section 9.6):
  it half-closes, then reads until the client closes its side too, for up to two seconds, so
  that a request still arriving cannot make the kernel reset the connection and destroy the
  response before the client read it. Meanwhile the worker serves nobody. When the client has
  said it sends nothing more (``Connection: close``, or HTTP/1.0 without keep-alive) and its
  whole body has been read, nothing can still arrive: this worker drains what is already
  buffered and closes at once. Any other request (keep-alive, a chunked or unread body) is
  closed gracefully as before. Measured with ``zhiyuan bench checkin`` (docs/activities.md,
  "Session 5"): the worker's voluntary context switches fall from 1.3 to 0.4 a request and
  check-ins per second rise by about a tenth. For a phone talking to the workers directly the
  wait is a whole round trip of its network; behind a proxy that closes at once, a few
  microseconds.
* **Two segments per response.** gunicorn writes the status line and headers, then the body,
  each sent at once (``TCP_NODELAY``): on a small answer two segments and two wake-ups of the
  client. The worker corks the connection (``TCP_CORK``, Linux), so the kernel sends full
  segments only, and the rest when the connection is closed, which a sync worker does right after
  the response.

Nothing else differs from gunicorn's ``sync`` worker: ``zhiyuan/gunicorn_conf.py`` names this
class, so ``zhiyuan serve`` and ``zhiyuan bench checkin`` use it.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

from gunicorn.http.body import LengthReader
from gunicorn.workers.sync import SyncWorker as GunicornSyncWorker

# Bytes read and dropped before closing at once: what a client sent beyond its request, if
# anything, is already in the kernel's buffer (it said it would send nothing more).
_DRAIN_LIMIT = 65536


class SyncWorker(GunicornSyncWorker):
    """gunicorn's sync worker, which closes a finished connection without waiting on the
    client when the client has nothing more to send, and corks each response."""

    def handle(self, listener: Any, client: socket.socket, addr: Any) -> None:
        cork(client)
        super().handle(listener, client, addr)

    def handle_request(self, listener: Any, req: Any, client: socket.socket, addr: Any) -> None:
        super().handle_request(listener, req, client, addr)
        # Reached only when the response went out whole (gunicorn raises otherwise, and then
        # closes gracefully itself). gunicorn's close then finds the socket closed, and returns.
        if client_is_done(req):
            close_at_once(client)


def cork(client: socket.socket) -> None:
    """Hold back partial segments until the connection is closed (TCP on Linux; elsewhere,
    and on a Unix socket, nothing happens)."""
    option = getattr(socket, "TCP_CORK", None)
    if option is None or client.family not in (socket.AF_INET, socket.AF_INET6):
        return
    with contextlib.suppress(OSError):  # a socket that cannot be corked is served all the same
        client.setsockopt(socket.IPPROTO_TCP, option, 1)


def client_is_done(req: Any) -> bool:
    """The client said it sends nothing after this request, and all of its body was read."""
    reader = req.body.reader
    return bool(req.should_close()) and isinstance(reader, LengthReader) and reader.length == 0


def close_at_once(client: socket.socket) -> None:
    """Send what is left and the end of the stream, drop what the client may have sent beyond
    its request (already buffered: so the kernel has no reason to reset the connection), close.
    """
    try:
        client.shutdown(socket.SHUT_WR)
        client.setblocking(False)
        drained = 0
        while drained < _DRAIN_LIMIT and (data := client.recv(_DRAIN_LIMIT)):
            drained += len(data)
    except OSError:
        pass  # nothing buffered (EAGAIN), or the client is gone: nothing left to do
    finally:
        client.close()
