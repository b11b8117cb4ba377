"""Connection limits: a cap on connections per client, and quiet descriptor exhaustion.

- ``ConnectionCap`` wraps the aiohttp server's protocol factory: a client (a TCP peer address,
  or the Unix socket) with ``server.max_connections_per_client`` connections open gets a ``503``
  JSON reply on the next one, which is then closed, so one client cannot take every descriptor.
- ``quiet_accept_errors`` replaces the event loop's traceback for ``accept()`` failing with
  ``EMFILE``/``ENFILE`` (out of descriptors) by one WARNING line, then at most one summary per
  ``LOG_EVERY_S``. The loop itself pauses accepting for a second each time and retries, so the
  engine keeps serving the connections it has and accepts again once descriptors are free.

Both log through ``RateLimitedLog``: the first event at once, then counts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from typing import Any

from aiohttp import web

_LOGGER = logging.getLogger(__name__)
LOG_EVERY_S = 30.0
"""At most one log line per this many seconds for each kind of refused or failed connection."""


class RateLimitedLog:
    """One WARNING now, then at most one per ``every_s`` saying how many happened since."""

    def __init__(self, every_s: float = LOG_EVERY_S, *, clock: Any = time.monotonic) -> None:
        self.every_s = every_s
        self.clock = clock
        self.total = 0
        self._unlogged = 0
        self._last: float | None = None

    def warning(self, msg: str, *args: Any) -> None:
        self.total += 1
        now = self.clock()
        if self._last is not None and now - self._last < self.every_s:
            self._unlogged += 1
            return
        more = f" ({self._unlogged} more since the last line)" if self._unlogged else ""
        _LOGGER.warning(msg + "%s", *args, more)
        self._last, self._unlogged = now, 0


def _refusal(limit: int) -> bytes:
    body = json.dumps({"error": {"code": "too_many_connections", "message":
                                 f"this client already has {limit} connections open "
                                 "(server.max_connections_per_client); close some first"}}).encode()
    return (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nRetry-After: 1\r\nContent-Length: %d\r\n\r\n" % len(body)) + body


class ConnectionCap:
    """A protocol factory in front of aiohttp's ``web.Server`` that counts connections per client.
    Every other attribute is the server's, so the runner shuts it down as before."""

    def __init__(self, server: web.Server, limit: int) -> None:
        self.server = server
        self.limit = limit
        self.open: Counter[str] = Counter()
        """Connections open now, by client."""
        self.refused = RateLimitedLog()

    def __call__(self) -> asyncio.Protocol:
        return _Counted(self, self.server())

    def __getattr__(self, name: str) -> Any:
        return getattr(self.server, name)


def client_of(transport: asyncio.BaseTransport) -> str:
    """The client a connection counts against: its TCP address, or ``unix``."""
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return "unix"


class _Counted(asyncio.Protocol):
    """aiohttp's request handler, counted against its client (or refused before it sees a byte)."""

    def __init__(self, cap: ConnectionCap, inner: asyncio.Protocol) -> None:
        self.cap, self.inner = cap, inner
        self.client: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        client = client_of(transport)
        if self.cap.open[client] >= self.cap.limit:
            self.cap.refused.warning("Refused a connection from %s: %d open already "
                                     "(server.max_connections_per_client)", client, self.cap.limit)
            if isinstance(transport, asyncio.WriteTransport):
                transport.write(_refusal(self.cap.limit))
            transport.close()
            return
        self.client = client
        self.cap.open[client] += 1
        self.inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.client is None:
            return
        self.cap.open[self.client] -= 1
        if self.cap.open[self.client] <= 0:
            del self.cap.open[self.client]
        self.inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.client is not None:
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.client is not None else None

    def pause_writing(self) -> None:
        if self.client is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.client is not None:
            self.inner.resume_writing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def install(runner: web.BaseRunner, limit: int) -> ConnectionCap:
    """Put a ``ConnectionCap`` in front of a set-up runner's server (before its sites start)."""
    server = runner.server
    assert server is not None, "runner.setup() first"
    cap = server if isinstance(server, ConnectionCap) else ConnectionCap(server, limit)
    runner._server = cap  # type: ignore[assignment]  # the sites read runner.server at start
    return cap


_ACCEPT_MESSAGE = "socket.accept() out of system resource"


def quiet_accept_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Log ``accept()`` running out of descriptors as rate-limited lines without a traceback;
    every other loop error goes to the handler that was there before."""
    previous = loop.get_exception_handler()
    log = RateLimitedLog()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") == _ACCEPT_MESSAGE:
            exc = context.get("exception")
            log.warning("Cannot accept connections: %s; new clients wait until descriptors are "
                        "free (close idle connections, or raise the limit: ulimit -n)",
                        getattr(exc, "strerror", None) or exc)
        elif previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
