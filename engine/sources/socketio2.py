"""A minimal Socket.IO v2 client (Engine.IO protocol 3) over aiohttp's WebSocket, read only.

StreamLabs' socket API speaks Socket.IO v2; clients of other major versions cannot talk to it.
This speaks just what a listener needs, over the ``websocket`` transport only (no long polling):

- connect to ``<base>/socket.io/?EIO=3&transport=websocket&<query>``;
- read the Engine.IO open packet ``0{"sid", "pingInterval", "pingTimeout", ...}``;
- read the Socket.IO connect packet ``40`` for the default namespace (``44<data>`` is a refusal);
- send ping ``2`` every ``pingInterval``; the server answers pong ``3`` within ``pingTimeout``;
- yield each event ``42["name", arg, ...]``; ``41`` (the server disconnected us) and ``1``
  (Engine.IO close) end the session.

The URL carries the caller's token, so it is never put in an exception or a log line here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

MAX_MESSAGE_BYTES = 1 << 20
"""Longest WebSocket message accepted (StreamLabs events are a few kilobytes)."""
MAX_PING_INTERVAL_S = 300.0
MAX_PING_TIMEOUT_S = 300.0


class SocketIOError(Exception):
    """The session ended; ``reason`` is safe to show (it never holds the URL)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Refused(SocketIOError):
    """The server refused us: HTTP 401/403 on the handshake, or a Socket.IO error packet."""


class ServerDisconnect(SocketIOError):
    """The server sent Socket.IO ``41`` (disconnect) or Engine.IO ``1`` (close)."""


@dataclass(frozen=True)
class Handshake:
    """Engine.IO's open packet."""

    sid: str
    ping_interval_s: float
    ping_timeout_s: float


@dataclass(frozen=True)
class SocketIOEvent:
    """One ``42["name", ...]`` packet of the default namespace."""

    name: str
    args: tuple[Any, ...]


def endpoint(base_url: str, query: Mapping[str, str]) -> URL:
    """``https://host`` -> ``wss://host/socket.io/?EIO=3&transport=websocket&...``."""
    url = URL(base_url)
    scheme = {"https": "wss", "http": "ws"}.get(url.scheme, url.scheme)
    if scheme not in ("ws", "wss") or not url.host:
        raise ValueError("expected an http(s) or ws(s) URL with a host")
    path = url.path.rstrip("/") + "/socket.io/"
    return url.with_scheme(scheme).with_path(path).with_query(
        {"EIO": "3", "transport": "websocket", **query})


def parse_handshake(text: str) -> Handshake:
    if not text.startswith("0"):
        raise SocketIOError(f"expected the Engine.IO open packet, got type {text[:1]!r}")
    try:
        data = json.loads(text[1:])
        interval = float(data["pingInterval"]) / 1000
        timeout = float(data["pingTimeout"]) / 1000
        sid = str(data["sid"])
    except (ValueError, KeyError, TypeError):
        raise SocketIOError("malformed Engine.IO open packet") from None
    if not (0 < interval <= MAX_PING_INTERVAL_S and 0 < timeout <= MAX_PING_TIMEOUT_S):
        raise SocketIOError("Engine.IO ping settings out of range")
    return Handshake(sid, interval, timeout)


def parse_socketio(payload: str) -> tuple[str, str, Any]:
    """A Socket.IO v2 packet (the body of Engine.IO message ``4``): ``(type, namespace, data)``.
    ``type`` is one digit; ``data`` is the decoded JSON or ``None``. Binary packets are refused."""
    if not payload or not payload[0].isdigit():
        raise SocketIOError("malformed Socket.IO packet")
    kind, rest = payload[0], payload[1:]
    if kind in ("5", "6"):
        raise SocketIOError("binary Socket.IO packets are not supported")
    namespace = "/"
    if rest.startswith("/"):
        namespace, _, rest = rest.partition(",")
    digits = len(rest) - len(rest.lstrip("0123456789"))
    rest = rest[digits:]  # an ack id: we never acknowledge, so it is dropped
    if not rest:
        return kind, namespace, None
    try:
        return kind, namespace, json.loads(rest)
    except ValueError:
        raise SocketIOError("malformed JSON in a Socket.IO packet") from None


class Connection:
    """One Socket.IO session; ``async with Connection.open(...)`` then ``async for ev in conn``."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, handshake: Handshake) -> None:
        self._ws = ws
        self.handshake = handshake

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, session: aiohttp.ClientSession, url: URL, *,
                   timeout_s: float) -> AsyncIterator[Connection]:
        """Connect, read the handshake and the namespace's connect packet within ``timeout_s``."""
        try:
            ws = await asyncio.wait_for(
                session.ws_connect(url, autoclose=True, autoping=True, max_msg_size=MAX_MESSAGE_BYTES,
                                   heartbeat=None),
                timeout_s)
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status in (401, 403):
                raise Refused(f"the server refused the token (HTTP {exc.status})") from None
            raise SocketIOError(f"WebSocket handshake failed (HTTP {exc.status})") from None
        except aiohttp.ClientConnectorError as exc:
            raise SocketIOError(f"cannot connect ({exc.strerror or type(exc).__name__})") from None
        except aiohttp.ClientError as exc:
            raise SocketIOError(f"cannot connect ({type(exc).__name__})") from None
        try:
            deadline = time.monotonic() + timeout_s
            handshake = parse_handshake(await _receive_text(ws, deadline - time.monotonic()))
            conn = cls(ws, handshake)
            await conn._await_connect(deadline)
            yield conn
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 1.0)

    async def _await_connect(self, deadline: float) -> None:
        while True:
            text = await _receive_text(self._ws, deadline - time.monotonic())
            if text == "2":  # a server ping (Engine.IO 4 style); harmless to answer
                await self._ws.send_str("3")
                continue
            if not text.startswith("4"):
                continue
            kind, namespace, data = parse_socketio(text[1:])
            if namespace != "/":
                continue
            if kind == "0":
                return
            if kind == "4":
                raise Refused(f"the server refused the connection: {str(data)[:200]}")
            if kind == "1":
                raise ServerDisconnect("the server disconnected us while connecting")

    async def events(self, *, on_malformed: Callable[[str], None] | None = None
                     ) -> AsyncIterator[SocketIOEvent]:
        """Events until the session ends (raises ``SocketIOError`` then). Pings as it reads. A
        malformed packet is handed to ``on_malformed`` (a reason) and skipped."""
        interval, pong_timeout = self.handshake.ping_interval_s, self.handshake.ping_timeout_s
        next_ping = time.monotonic() + interval
        pong_due: float | None = None
        while True:
            now = time.monotonic()
            if pong_due is not None and now >= pong_due:
                raise SocketIOError(f"no pong within {pong_timeout:g} s")
            if pong_due is None and now >= next_ping:
                await self._ws.send_str("2")
                pong_due, next_ping = now + pong_timeout, now + interval
                continue
            wait = (pong_due if pong_due is not None else next_ping) - now
            try:
                text = await _receive_text(self._ws, wait)
            except TimeoutError:
                continue
            if text == "3":
                pong_due = None
            elif text == "2":
                await self._ws.send_str("3")
            elif text.startswith("1"):
                raise ServerDisconnect("the server closed the session")
            elif text.startswith("4"):
                try:
                    event = self._message(text[1:])
                except (Refused, ServerDisconnect):
                    raise
                except SocketIOError as exc:
                    if on_malformed is not None:
                        on_malformed(exc.reason)
                    continue
                if event is not None:
                    yield event

    @staticmethod
    def _message(payload: str) -> SocketIOEvent | None:
        kind, namespace, data = parse_socketio(payload)
        if namespace != "/":
            return None
        if kind == "1":
            raise ServerDisconnect("the server disconnected us")
        if kind == "4":
            raise Refused(f"the server sent an error: {str(data)[:200]}")
        if kind != "2":
            return None
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            raise SocketIOError("malformed Socket.IO event")
        return SocketIOEvent(data[0], tuple(data[1:]))


async def _receive_text(ws: aiohttp.ClientWebSocketResponse, timeout_s: float) -> str:
    """The next text message; raises ``TimeoutError`` when none comes in time and
    ``SocketIOError`` when the WebSocket ends or sends something else."""
    if timeout_s <= 0:
        raise TimeoutError
    msg = await asyncio.wait_for(ws.receive(), timeout_s)
    if msg.type == aiohttp.WSMsgType.TEXT:
        return str(msg.data)
    if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
        raise SocketIOError("the server closed the WebSocket")
    if msg.type == aiohttp.WSMsgType.ERROR:
        raise SocketIOError(f"WebSocket error ({type(ws.exception()).__name__})")
    raise SocketIOError("unexpected binary WebSocket message")
