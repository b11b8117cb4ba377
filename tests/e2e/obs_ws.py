"""A small obs-websocket v5 client (JSON protocol over aiohttp's WebSocket), with a blocking API.

The aiohttp session lives on a private event loop in a thread, so module-scoped pytest fixtures
and the benchmark can call ``request()`` without an event loop of their own. Events of the
subscribed categories are kept with the monotonic time they arrived.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import aiohttp

_LOGGER = logging.getLogger(__name__)
OP_HELLO, OP_IDENTIFY, OP_IDENTIFIED, OP_EVENT, OP_REQUEST, OP_RESPONSE = 0, 1, 2, 5, 6, 7
EVENTS_SCENES, EVENTS_OUTPUTS, EVENTS_MEDIA_INPUTS = 1 << 2, 1 << 6, 1 << 8


class ObsRequestError(RuntimeError):
    """OBS answered a request with a failure status (the message has its code and comment)."""


@dataclass(frozen=True)
class ObsEvent:
    type: str
    data: dict[str, Any]
    received: float
    """``time.monotonic()`` when it arrived."""


class ObsWebSocket:
    def __init__(self, port: int, *, host: str = "127.0.0.1",
                 events: int = EVENTS_SCENES | EVENTS_OUTPUTS | EVENTS_MEDIA_INPUTS) -> None:
        self.url = f"ws://{host}:{port}"
        self.event_mask = events
        self.events: list[ObsEvent] = []
        self._events_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="obs-ws", daemon=True)
        self._thread.start()
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None

    # -- blocking API ----------------------------------------------------------------------------
    def connect(self, *, timeout_s: float) -> dict[str, Any]:
        """Retry until OBS's server answers and identifies us; returns the Hello data."""
        deadline = time.monotonic() + timeout_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                return self._run(self._connect(), timeout_s=10)
            except (OSError, aiohttp.ClientError, asyncio.TimeoutError, ObsRequestError) as exc:
                last = exc
                time.sleep(0.25)
        raise ObsRequestError(f"obs-websocket at {self.url} did not answer within {timeout_s:g} s: {last!r}")

    def request(self, request_type: str, data: dict[str, Any] | None = None, *,
                timeout_s: float = 15) -> dict[str, Any]:
        """Send one request; returns its ``responseData`` ({} when none) or raises ``ObsRequestError``."""
        return self._run(self._request(request_type, data or {}), timeout_s=timeout_s)

    def events_since(self, since: float, event_type: str | None = None) -> list[ObsEvent]:
        with self._events_lock:
            return [e for e in self.events if e.received >= since
                    and (event_type is None or e.type == event_type)]

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._run(self._close(), timeout_s=5)
        except Exception as exc:  # closing is best effort: OBS may already be gone
            _LOGGER.debug("closing obs-websocket: %r", exc)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    # -- on the private loop ---------------------------------------------------------------------
    def _run(self, coro: Any, *, timeout_s: float) -> Any:
        if self._loop.is_closed():
            coro.close()
            raise ObsRequestError("the obs-websocket client is closed")
        future: Future[Any] = asyncio.run_coroutine_threadsafe(
            asyncio.wait_for(coro, timeout_s), self._loop)
        return future.result(timeout_s + 1)

    async def _connect(self) -> dict[str, Any]:
        await self._close()
        self._session = aiohttp.ClientSession()
        ws = await self._session.ws_connect(self.url, protocols=("obswebsocket.json",),
                                            max_msg_size=16 * 2**20)
        hello = await ws.receive_json(timeout=5)
        if hello.get("op") != OP_HELLO:
            raise ObsRequestError(f"expected Hello, got {hello!r}")
        if "authentication" in hello["d"]:
            raise ObsRequestError("obs-websocket asks for a password; the test config sets "
                                  "AuthRequired=false")
        await ws.send_json({"op": OP_IDENTIFY, "d": {"rpcVersion": 1, "eventSubscriptions": self.event_mask}})
        identified = await ws.receive_json(timeout=5)
        if identified.get("op") != OP_IDENTIFIED:
            raise ObsRequestError(f"expected Identified, got {identified!r}")
        self._ws = ws
        self._reader = asyncio.get_running_loop().create_task(self._read(ws))
        return dict(hello["d"])

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = msg.json()
            body = frame.get("d", {})
            if frame.get("op") == OP_RESPONSE:
                waiter = self._pending.pop(body.get("requestId", ""), None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(body)
            elif frame.get("op") == OP_EVENT:
                event = ObsEvent(body.get("eventType", ""), body.get("eventData") or {}, time.monotonic())
                with self._events_lock:
                    self.events.append(event)
        for waiter in self._pending.values():
            if not waiter.done():
                waiter.set_exception(ObsRequestError("obs-websocket connection closed"))
        self._pending.clear()

    async def _request(self, request_type: str, data: dict[str, Any]) -> dict[str, Any]:
        if self._ws is None or self._ws.closed:
            raise ObsRequestError("not connected to obs-websocket")
        request_id = str(next(self._ids))
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = waiter
        await self._ws.send_json({"op": OP_REQUEST, "d": {"requestType": request_type,
                                                         "requestId": request_id, "requestData": data}})
        body = await waiter
        status = body.get("requestStatus", {})
        if not status.get("result"):
            raise ObsRequestError(f"{request_type} failed: code {status.get('code')} "
                                  f"{status.get('comment', '')}".strip())
        return dict(body.get("responseData") or {})

    async def _close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
            self._ws = None
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
            self._reader = None
        if self._session is not None:
            await self._session.close()
            self._session = None
