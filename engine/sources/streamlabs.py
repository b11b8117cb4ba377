"""StreamLabs alerts over its socket API: donations, follows, subs, bits, raids, Super Chats, merch.

StreamLabs' socket API speaks Socket.IO v2 (Engine.IO 3), read here with the small client in
``socketio2``: ``<url>/socket.io/?EIO=3&transport=websocket&token=<socket token>``. Each ``event``
message becomes stream events (``streamlabs_events``); an alert StreamLabs resends (after a
reconnect, or twice in one payload) keeps its id and is emitted once. The token is the
``streamlabs_token`` secret; it is in the URL, so the URL is never logged or shown.

States: ``connected``; ``reconnecting`` with the reason; ``auth_failed`` when the server refuses
the token (HTTP 401/403, a Socket.IO error packet, or a disconnect right after connecting) or no
token is set. Reconnects with bounded exponential backoff and jitter; an auth failure waits the
longest delay before trying again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, ClassVar

import aiohttp
from yarl import URL

from ..secrets import Secrets
from .base import Emit, Source, require
from .socketio2 import Connection, Refused, ServerDisconnect, SocketIOError, endpoint
from .streamlabs_events import parse_event

_LOGGER = logging.getLogger(__name__)

RECENT_IDS = 1024
"""Alert ids remembered to emit a resent alert once."""
AUTH_GRACE_S = 5.0
"""A server disconnect this soon after connecting, before any event, counts as a refused token."""


@dataclass(frozen=True)
class StreamLabsOptions:
    enabled: bool = False
    url: str = "https://sockets.streamlabs.com"
    """The socket API's base URL (the token comes from the ``streamlabs_token`` secret)."""
    include_tests: bool = True
    """Speak the alerts sent by StreamLabs' "test alert" buttons (marked ``isTest``)."""
    reconnect_max_s: float = field(default=60.0, metadata={"min": 0.1, "max": 3600})
    """Longest wait between reconnect attempts (seconds); the wait doubles from 1 s, with jitter."""
    connect_timeout_s: float = field(default=10.0, metadata={"min": 0.1, "max": 300})
    """Time allowed to connect and complete the Socket.IO handshake, in seconds."""


class _End(Exception):
    def __init__(self, reason: str, *, state: str = "reconnecting") -> None:
        super().__init__(reason)
        self.reason, self.state = reason, state


class StreamLabsSource(Source):
    """Listens to one StreamLabs account's alerts and emits stream events."""

    name: ClassVar[str] = "streamlabs"
    Options: ClassVar[type] = StreamLabsOptions
    STABLE_S: ClassVar[float] = 30.0
    """A connection that lasted this long resets the backoff."""

    def __init__(self, options: StreamLabsOptions, *, emit: Emit, secrets: Secrets,
                 rng: random.Random | None = None) -> None:
        super().__init__(options, emit=emit, secrets=secrets)
        self.options: StreamLabsOptions = options
        self._rng = rng or random.Random()
        self._recent: OrderedDict[str, None] = OrderedDict()
        self.duplicates = 0
        """Alerts not emitted because their id was seen before."""
        self.skipped_tests = 0

    @classmethod
    def check_options(cls, options: Any, path: str) -> None:
        try:
            endpoint(options.url, {})
        except ValueError as exc:
            require(False, f"{path}.url", str(exc))

    @property
    def address(self) -> str:
        """The base URL, safe to show (the token is only ever added to the query)."""
        url = URL(self.options.url)
        return f"{url.scheme}://{url.host}" + (f":{url.explicit_port}" if url.explicit_port else "")

    async def start(self) -> None:
        if self._task is not None:
            return
        self.check_options(self.options, "sources.streamlabs")
        if not self.secrets.get("streamlabs_token"):
            self._set_state("auth_failed", "no streamlabs_token secret is set (secrets file or "
                            "STREAMER_TTS_STREAMLABS_TOKEN)")
            return
        self._set_state("connecting", f"connecting to {self.address}")
        self._task = asyncio.create_task(self._run(), name="source-streamlabs")

    async def close(self) -> None:
        await self._stop_task()
        self._set_state("off", "closed")

    # -- connection loop ---------------------------------------------------------------------------
    async def _run(self) -> None:
        attempt = 0
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.options.connect_timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                started: list[float] = []
                try:
                    await self._session(session, started)
                    end = _End("the connection ended")
                except _End as exc:
                    end = exc
                except Refused as exc:
                    end = _End(exc.reason, state="auth_failed")
                except SocketIOError as exc:
                    end = _End(exc.reason)
                except TimeoutError:
                    end = _End(f"no connection within {self.options.connect_timeout_s:g} s")
                except OSError as exc:
                    end = _End(f"disconnected ({exc.strerror or type(exc).__name__})")
                stable = bool(started) and time.monotonic() - started[0] >= self.STABLE_S
                attempt = 1 if stable else attempt + 1
                delay = self.backoff_s(attempt)
                if end.state == "auth_failed":
                    delay = self.options.reconnect_max_s
                self._set_state(end.state, f"{end.reason} ({self.address}); retrying in {delay:.1f} s")
                await asyncio.sleep(delay)
                self._set_state("reconnecting", f"reconnecting to {self.address}")

    async def _session(self, session: aiohttp.ClientSession, started: list[float]) -> None:
        token = self.secrets.get("streamlabs_token") or ""
        url = endpoint(self.options.url, {"token": token})
        async with Connection.open(session, url, timeout_s=self.options.connect_timeout_s) as conn:
            self._connects += 1
            started.append(time.monotonic())
            self._set_state("connected", f"listening to alerts on {self.address}")
            seen_event = False
            try:
                async for message in conn.events(on_malformed=self._error):
                    seen_event = True
                    if message.name == "event" and message.args:
                        self._handle(message.args[0])
            except ServerDisconnect as exc:
                if not seen_event and time.monotonic() - started[0] < AUTH_GRACE_S:
                    raise _End(f"{exc.reason} right after connecting; check the streamlabs_token "
                               "secret", state="auth_failed") from None
                raise

    def _handle(self, payload: Any) -> None:
        parsed = parse_event(payload, include_tests=self.options.include_tests)
        for _ in range(parsed.malformed):
            self._error(f"a malformed StreamLabs alert of type {_type(payload)}")
        self.skipped_tests += parsed.tests
        for event in parsed.events:
            if event.id in self._recent:
                self.duplicates += 1
                _LOGGER.debug("streamlabs: alert %s seen before; not repeated", event.id)
                continue
            self._recent[event.id] = None
            while len(self._recent) > RECENT_IDS:
                self._recent.popitem(last=False)
            self._emit(event)


def _type(payload: Any) -> str:
    value = payload.get("type") if isinstance(payload, dict) else None
    return repr(value[:40]) if isinstance(value, str) else "?"
