"""A StreamLabs-like socket server on loopback: a real Socket.IO v2 server (python-socketio 4.x,
Engine.IO 3, the protocol version StreamLabs speaks) that checks the ``token`` query parameter and
emits StreamLabs-shaped ``event`` messages."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs

import socketio
from aiohttp import web


class _Manager(socketio.AsyncManager):  # type: ignore[misc]
    """python-socketio 4.6's ``AsyncManager.emit`` hands coroutines to ``asyncio.wait``, which
    Python 3.11 refuses; this emits to each participant in turn (same packets on the wire)."""

    async def emit(self, event: str, data: Any, namespace: str, room: str | None = None,
                   skip_sid: Any = None, callback: Any = None, **kwargs: Any) -> None:
        if namespace not in self.rooms or room not in self.rooms[namespace]:
            return
        for sid in list(self.get_participants(namespace, room)):
            if sid != skip_sid:
                await self.server._emit_internal(sid, event, data, namespace, None)


class FakeStreamLabs:
    """A Socket.IO v2 server with python-engineio 3's own ping defaults (25 s / 60 s): its server
    reads with ``ping_timeout`` as the receive timeout, so a shorter one closes a quiet but
    healthy connection."""

    def __init__(self, token: str, *, ping_interval_s: float = 25.0, ping_timeout_s: float = 60.0) -> None:
        self.token = token
        self.ping_interval_s, self.ping_timeout_s = ping_interval_s, ping_timeout_s
        self.port = 0
        self.connects = 0
        self.refused = 0
        self.connected: asyncio.Event = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._sio: socketio.AsyncServer | None = None
        self._sids: set[str] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        sio = socketio.AsyncServer(async_mode="aiohttp", client_manager=_Manager(),
                                   ping_interval=self.ping_interval_s,
                                   ping_timeout=self.ping_timeout_s)
        app = web.Application()
        sio.attach(app)
        sio.on("connect", self._on_connect)
        sio.on("disconnect", self._on_disconnect)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)  # the URL holds the token
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self.port = runner.addresses[0][1]
        self._runner, self._sio = runner, sio

    async def stop(self) -> None:
        """Stop serving; connected clients see their WebSocket close."""
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner, self._sio = None, None
        self._sids.clear()
        self.connected.clear()

    async def _on_connect(self, sid: str, environ: dict[str, Any]) -> bool:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        if query.get("token") != [self.token]:
            self.refused += 1
            return False  # python-socketio answers the handshake with HTTP 401
        self.connects += 1
        self._sids.add(sid)
        self.connected.set()
        return True

    async def _on_disconnect(self, sid: str) -> None:
        self._sids.discard(sid)

    async def emit(self, payload: dict[str, Any]) -> None:
        assert self._sio is not None
        await self._sio.emit("event", payload)

    async def send_raw(self, socketio_packet: str) -> None:
        """Send a Socket.IO packet as written (``'2{broken'``) to every client, as Engine.IO
        message ``4``."""
        assert self._sio is not None
        for sid in list(self._sids):
            await self._sio.eio.send(sid, socketio_packet)


def alert(sl_type: str, platform: str, **fields: Any) -> dict[str, Any]:
    """A StreamLabs ``event`` payload holding one alert."""
    return {"type": sl_type, "for": platform, "message": [fields],
            "event_id": "evt-" + str(fields.get("_id", ""))}

