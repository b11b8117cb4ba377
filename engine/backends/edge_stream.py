"""Talking to the Edge service through edge-tts with bounded time and classified failures.

edge-tts on its own can wait forever (a server that goes silent after the WebSocket upgrade) and
raises a zoo of exceptions (aiohttp's, OSError, its own ``EdgeTTSException``). Here every wait is
bounded: the service's first byte must arrive within ``connect_timeout_s`` and the first audio
within the same deadline, then each next message within ``receive_timeout_s``. Every failure
becomes a ``BackendError`` whose ``reason`` is one of ``REASONS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import aiohttp

from ..errors import BackendError

if sys.version_info >= (3, 11):
    from asyncio import timeout as _timeout
else:  # pragma: no cover - aiohttp depends on async-timeout before 3.11
    from async_timeout import timeout as _timeout

_LOGGER = logging.getLogger(__name__)
T = TypeVar("T")
_QUERY = re.compile(r"\?[^\s'\"),]*")
"""URL query strings (the service's client token and per-request hashes) are kept out of messages."""

REASONS: Final = ("dns", "connect refused", "connect failed", "connect timeout", "http 403",
                  "http 429", "http error", "receive timeout", "broken stream", "no audio",
                  "bad audio")
"""Every failure reason this backend reports (in responses' ``skipped`` and in /health)."""
UNREACHABLE: Final = frozenset({"dns", "connect refused", "connect failed", "connect timeout",
                                "http 403", "http 429"})
"""Reasons that mean the service cannot be used now; one of them opens the breaker at once."""


@dataclass
class Progress:
    """How far one exchange with the service got, for telling failures apart."""

    started: float
    connected: bool = False
    """The TCP (and TLS) connection is up."""
    first_byte: bool = False
    """The service sent something (the handshake reply)."""


class WatchedConnector(aiohttp.TCPConnector):
    """An aiohttp connector that notes when the connection is up and the first byte arrives."""

    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self._progress = progress

    async def connect(self, req: Any, traces: Any, timeout: Any) -> Any:
        conn = await super().connect(req, traces, timeout)
        self._progress.connected = True
        proto = conn.protocol
        if proto is not None:
            self._watch_first_byte(proto)
        return conn

    async def close(self, *, abort_ssl: bool = False) -> None:
        """Kept open when a session ends: on a 403, edge-tts retries in a second session on the
        same connector. ``shutdown`` closes it."""

    async def shutdown(self) -> None:
        await super().close()

    def _watch_first_byte(self, proto: Any) -> None:
        original = proto.data_received
        progress = self._progress

        def data_received(data: bytes) -> None:
            progress.first_byte = True
            with contextlib.suppress(AttributeError):
                del proto.data_received  # back to the class's own method
            original(data)

        try:
            proto.data_received = data_received
        except AttributeError:  # a protocol without __dict__: classify by "connected" only
            progress.first_byte = True


def edge_timeout(seconds: float) -> int:
    """edge-tts's own timeouts are whole seconds; set them just past ours so ours decide first."""
    return math.ceil(seconds) + 1


async def bounded(agen: AsyncIterator[T], progress: Progress, *, connect_timeout_s: float,
                  receive_timeout_s: float) -> AsyncIterator[T]:
    """Items of ``agen``; the first within ``connect_timeout_s`` of ``progress.started``, each
    next within ``receive_timeout_s``. Failures are raised as classified ``BackendError``."""
    first = True
    try:
        while True:
            budget = (connect_timeout_s - (time.monotonic() - progress.started) if first
                      else receive_timeout_s)
            try:
                async with _timeout(max(budget, 0.0)):
                    item = await anext(agen)
            except StopAsyncIteration:
                return
            except asyncio.TimeoutError as exc:
                raise timeout_error(progress, connect_timeout_s, receive_timeout_s,
                                    first=first) from exc
            except BackendError:
                raise
            except Exception as exc:
                raise classify(exc, progress) from exc
            first = False
            yield item
    finally:
        aclose: Callable[[], Awaitable[None]] | None = getattr(agen, "aclose", None)
        if aclose is not None:
            await aclose()


def timeout_error(progress: Progress, connect_timeout_s: float, receive_timeout_s: float,
                  *, first: bool) -> BackendError:
    if not progress.first_byte:
        stage = "connecting" if not progress.connected else "waiting for the handshake reply"
        return BackendError(f"Edge did not answer within {connect_timeout_s:g} s ({stage})",
                            reason="connect timeout")
    if first:
        return BackendError(f"Edge sent no audio within {connect_timeout_s:g} s of the request",
                            reason="receive timeout")
    return BackendError(f"Edge went silent for {receive_timeout_s:g} s mid-stream",
                        reason="receive timeout")


def classify(exc: BaseException, progress: Progress) -> BackendError:
    """The ``BackendError`` for anything edge-tts, aiohttp or the OS raised."""
    from edge_tts import exceptions as edge_exc

    detail = _QUERY.sub("?…", f"{type(exc).__name__}: {exc}")[:300]
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        detail = f"{exc.host}: {exc.os_error.strerror or exc.os_error}"
        return BackendError(f"cannot resolve the Edge service's host name ({detail})", reason="dns")
    if isinstance(exc, aiohttp.ClientConnectorError):
        detail = f"{exc.host}:{exc.port}: {exc.os_error.strerror or exc.os_error}"
        if isinstance(exc.os_error, ConnectionRefusedError):
            return BackendError(f"the Edge service refused the connection ({detail})",
                                reason="connect refused")
        return BackendError(f"cannot connect to the Edge service ({detail})", reason="connect failed")
    if isinstance(exc, aiohttp.ConnectionTimeoutError) or (
            isinstance(exc, aiohttp.ServerTimeoutError) and not progress.first_byte):
        return BackendError(f"Edge did not answer in time ({detail})", reason="connect timeout")
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return BackendError(f"Edge went silent ({detail})", reason="receive timeout")
    if isinstance(exc, aiohttp.ClientResponseError):
        return http_error(exc.status, detail)
    if isinstance(exc, edge_exc.SkewAdjustmentError):  # a 403 edge-tts could not retry
        return http_error(403, detail)
    if isinstance(exc, edge_exc.NoAudioReceived):
        return BackendError(f"Edge ended the turn without audio ({detail})", reason="no audio")
    if isinstance(exc, (edge_exc.EdgeTTSException, aiohttp.ClientError, OSError)):
        if not progress.connected:
            return BackendError(f"cannot connect to the Edge service ({detail})",
                                reason="connect failed")
        return BackendError(f"the Edge stream broke ({detail})", reason="broken stream")
    return BackendError(f"Edge failed unexpectedly ({detail})", reason="broken stream")


def http_error(status: int, detail: str) -> BackendError:
    if status == 403:
        return BackendError("Edge refused the request (HTTP 403; the service may have changed "
                            f"its token scheme: update edge-tts) ({detail})", reason="http 403")
    if status == 429:
        return BackendError(f"Edge is rate limiting this address (HTTP 429) ({detail})",
                            reason="http 429")
    return BackendError(f"Edge answered HTTP {status} ({detail})", reason="http error")
