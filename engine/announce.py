"""Announcements spoken in OBS: ``POST /v1/say`` and the plugin's subscription.

``POST /v1/say`` ``{"text": ..., "voice"?, "backend"?, "priority"? (default "announcement")}``
validates the request as ``/v1/synthesize`` would (text, voice, backend) and sends a ``say`` event
to every subscriber; the plugin then synthesizes it the way it speaks everything (long texts in
sentence parts, so playback starts after the first). The engine starts no job of its own here:
one for the whole text would compete for the CPU with the plugin's first part (measured: the
first part of a 5-sentence announcement took 833 ms instead of 259 ms).

``GET /v1/subscribe`` (alias ``/v1/events``) is a long-lived response of newline-delimited JSON
events::

    {"type": "hello", "listeners": 1, "heartbeat_s": 10.0}
    {"type": "say", "id": "...", "text": "...", "voice": null, "backend": null,
     "priority": "announcement", "ts": 1700000000.0}
    {"type": "heartbeat", "ts": 1700000000.0}

With nobody subscribed, events wait in a small backlog (``BACKLOG_MAX`` events, ``BACKLOG_TTL_S``
seconds) and are delivered to the next subscriber. The seed's ``/ws`` example reaches the same
code with ``{"type": "say", ...}``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .server import ENGINE_KEY
import contextlib

_LOGGER = logging.getLogger(__name__)
BACKLOG_MAX = 20
BACKLOG_TTL_S = 120.0
SUBSCRIBER_QUEUE_MAX = 100
CONTENT_TYPE = "application/x-ndjson"


@dataclass
class Announcer:
    """Subscribers, the backlog and counters; one per application."""

    heartbeat_s: float = 10.0
    backlog_max: int = BACKLOG_MAX
    backlog_ttl_s: float = BACKLOG_TTL_S
    subscribers: set[asyncio.Queue[dict[str, Any] | None]] = field(default_factory=set)
    backlog: deque[tuple[float, dict[str, Any]]] = field(default_factory=deque)
    said: int = 0
    dropped_backlog: int = 0
    dropped_slow: int = 0

    def publish(self, event: dict[str, Any]) -> int:
        """Send to every subscriber; returns how many got it (0: kept in the backlog)."""
        self.said += 1
        delivered = 0
        for q in list(self.subscribers):
            if q.full():  # a subscriber that stopped reading loses its oldest event, not the newest
                q.get_nowait()
                self.dropped_slow += 1
            q.put_nowait(event)
            delivered += 1
        if not delivered:
            self._prune(time.monotonic())
            if len(self.backlog) >= self.backlog_max:
                self.backlog.popleft()
                self.dropped_backlog += 1
            self.backlog.append((time.monotonic(), event))
        return delivered

    def _prune(self, now: float) -> None:
        while self.backlog and now - self.backlog[0][0] > self.backlog_ttl_s:
            self.backlog.popleft()
            self.dropped_backlog += 1

    def subscribe(self) -> asyncio.Queue[dict[str, Any] | None]:
        q: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=SUBSCRIBER_QUEUE_MAX)
        self._prune(time.monotonic())
        while self.backlog:
            q.put_nowait(self.backlog.popleft()[1])
        self.subscribers.add(q)
        return q

    def close_all(self) -> None:
        for q in self.subscribers:
            if q.full():
                q.get_nowait()
            q.put_nowait(None)

    def status(self) -> dict[str, Any]:
        return {
            "listeners": len(self.subscribers),
            "backlog": len(self.backlog),
            "said": self.said,
            "dropped_backlog": self.dropped_backlog,
            "dropped_slow": self.dropped_slow,
        }


ANNOUNCER_KEY = web.AppKey("announcer", Announcer)


async def say(app: web.Application, data: dict[str, Any]) -> dict[str, Any]:
    """Queue ``data`` (a /v1/say body) for OBS: validate it, publish the event; the reply body."""
    engine = app[ENGINE_KEY]
    request = engine.make_request({**data, "priority": data.get("priority", "announcement")})
    assert engine.router is not None
    await engine.router.plan(request)  # an unknown voice or backend is refused here, not in OBS
    event = {
        "type": "say",
        "id": uuid.uuid4().hex,
        "text": request.text,
        "voice": request.voice,
        "backend": request.backend,
        "priority": request.priority,
        "ts": time.time(),
    }
    announcer = app[ANNOUNCER_KEY]
    delivered = announcer.publish(event)
    if delivered:
        note = f"sent to {delivered} listener(s)"
    else:
        note = (
            f"no listener is connected (is the OBS script loaded?); kept for {announcer.backlog_ttl_s:g} s "
            "and delivered when one subscribes"
        )
    return {
        "id": event["id"],
        "delivered": delivered,
        "listeners": len(announcer.subscribers),
        "queued_for_later": not delivered,
        "message": note,
    }


async def post_say(request: web.Request) -> web.Response:
    from .routes import read_json

    return web.json_response(await say(request.app, await read_json(request)), status=202)


async def subscribe(request: web.Request) -> web.StreamResponse:
    announcer = request.app[ANNOUNCER_KEY]
    resp = web.StreamResponse(headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"})
    await resp.prepare(request)
    q = announcer.subscribe()
    _LOGGER.info("Announcement listener connected (%d now)", len(announcer.subscribers))
    try:
        await _write(
            resp,
            {"type": "hello", "listeners": len(announcer.subscribers), "heartbeat_s": announcer.heartbeat_s},
        )
        while True:
            try:
                event = await asyncio.wait_for(q.get(), timeout=announcer.heartbeat_s)
            except asyncio.TimeoutError:
                event = {"type": "heartbeat", "ts": time.time()}
            if event is None:
                break
            await _write(resp, event)
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        announcer.subscribers.discard(q)
        _LOGGER.info("Announcement listener disconnected (%d left)", len(announcer.subscribers))
    with contextlib.suppress(ConnectionError):
        await resp.write_eof()
    return resp


async def _write(resp: web.StreamResponse, event: dict[str, Any]) -> None:
    await resp.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n")


async def _close_subscribers(app: web.Application) -> None:
    app[ANNOUNCER_KEY].close_all()


def setup(app: web.Application) -> None:
    """Add ``POST /v1/say`` and ``GET /v1/subscribe`` (``/v1/events``)."""
    app[ANNOUNCER_KEY] = Announcer()
    app.on_shutdown.append(_close_subscribers)
    app.router.add_post("/v1/say", post_say)
    app.router.add_get("/v1/subscribe", subscribe)
    app.router.add_get("/v1/events", subscribe)
