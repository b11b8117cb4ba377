"""Events in, playback out: the hub's HTTP face (docs/hub.md).

- ``POST /v1/events``    a typed event (the OBS plugin's hotkeys, scenes and test button, or any
  program): ``202`` once it is queued (and journaled, for announcements and stream events),
  ``200 {"duplicate": true}`` for an id seen before, ``200 {"accepted": false, "reason"}`` when
  the pipeline drops it (a filtered chat line).
- ``POST /v1/say``       an announcement from any program (the seed's Streamer.bot use).
- ``POST /v1/control``   ``skip``, ``clear``, ``pause``, ``resume``, ``toggle_pause``.
- ``POST /v1/moderation`` ``mute``/``unmute`` a user, ``block_word``/``unblock_word``, ``remove``
  a queued utterance.
- ``POST /v1/playback``  OBS's report on one part: ``started``, ``ended`` or ``failed``.
- ``GET /v1/subscribe``  newline-delimited JSON: ``hello``, ``play``, ``cancel``, ``heartbeat``.
- ``GET /v1/queue``      what is playing, queued and recently dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from ..errors import BadRequest, ConfigError
from ..hub import Hub
from ..pipeline.events import Announcement, event_from_dict
from ..pipeline.pipeline import Drop
from .body import read_json
from ..speech.stage import PlaybackReport
from .keys import CONFIG_KEY, ENGINE_KEY, HUB_KEY
from .speakerbot import SPEAKERBOT_KEY
from .speakerbot import SpeakerbotApi

_LOGGER = logging.getLogger(__name__)
HEARTBEAT_S = 10.0
CONTENT_TYPE = "application/x-ndjson"
COMMANDS = ("skip", "clear", "pause", "resume", "toggle_pause")
MODERATION = ("mute", "unmute", "block_word", "unblock_word", "remove")


async def _accepted(hub: Hub, event: Any) -> web.Response:
    result = await hub.accept(event)
    if isinstance(result, Drop):
        duplicate = result.reason == "duplicate event id"
        return web.json_response({"id": event.id, "accepted": False, "duplicate": duplicate,
                                  "reason": result.reason}, status=200)
    return web.json_response({"id": result.id, "accepted": True, "parts": len(result.parts),
                              "queued": len(hub.queue), "listeners": hub.stage.listeners,
                              "journaled": result.journaled and hub.journal is not None},
                             status=202)


async def post_event(request: web.Request) -> web.Response:
    return await _accepted(request.app[HUB_KEY], event_from_dict(await read_json(request)))


async def say(app: web.Application, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """An announcement from ``POST /v1/say`` or the ``/ws`` ``say`` message: (status, body)."""
    app[ENGINE_KEY].make_request({**data, "priority": data.get("priority", "announcement")})
    event = Announcement(text=data["text"], source="api", voice=_str(data, "voice"),
                         backend=_str(data, "backend"),
                         **({"id": data["id"]} if isinstance(data.get("id"), str) else {}))
    resp = await _accepted(app[HUB_KEY], event)
    return resp.status, json.loads(resp.text or "{}")


async def post_say(request: web.Request) -> web.Response:
    status, body = await say(request.app, await read_json(request))
    return web.json_response(body, status=status)


async def post_control(request: web.Request) -> web.Response:
    hub, data = request.app[HUB_KEY], await read_json(request)
    command = data.get("command")
    if command not in COMMANDS:
        raise BadRequest(f"'command' must be one of {', '.join(COMMANDS)}")
    body: dict[str, Any] = {"command": command}
    if command == "skip":
        body["skipped"] = hub.stage.skip()
    elif command == "clear":
        body["cleared"] = hub.stage.clear("cleared")
    elif command == "pause" or (command == "toggle_pause" and not hub.queue.paused):
        hub.queue.pause()
    else:
        hub.queue.resume()
        hub.stage.wake()
    _LOGGER.info("Control: %s", command)
    return web.json_response({**body, **hub.stage.status()})


async def post_moderation(request: web.Request) -> web.Response:
    hub, data = request.app[HUB_KEY], await read_json(request)
    action = data.get("action")
    if action not in MODERATION:
        raise BadRequest(f"'action' must be one of {', '.join(MODERATION)}")
    body: dict[str, Any] = {"action": action}
    if action in ("mute", "unmute"):
        login = _required(data, "login").lower()
        if action == "mute":
            seconds = data.get("seconds")
            if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, (int, float))
                                        or not 0 < seconds <= 365 * 86400):
                raise BadRequest("'seconds' must be a number of seconds up to a year, or null for good")
            body["removed"] = hub.mute(login, None if seconds is None else float(seconds))
        else:
            hub.moderation.unmute(login)
    elif action in ("block_word", "unblock_word"):
        word = _required(data, "word")
        (hub.moderation.block_word if action == "block_word" else hub.moderation.unblock_word)(word)
    else:
        body["removed"] = hub.stage.cancel(_required(data, "utterance"), "removed by a moderator")
    _LOGGER.info("Moderation: %s", action)
    return web.json_response({**body, "moderation": hub.moderation.status()})


async def post_playback(request: web.Request) -> web.Response:
    data = await read_json(request)
    part, state = data.get("part"), data.get("state")
    if isinstance(part, bool) or not isinstance(part, int) or not 0 <= part < 10_000:
        raise BadRequest("'part' must be a part number")
    if state not in PlaybackReport.STATES:
        raise BadRequest(f"'state' must be one of {', '.join(PlaybackReport.STATES)}")
    reason = data.get("reason") or ""
    report = PlaybackReport(_required(data, "utterance"), part, state, str(reason)[:500])
    known = request.app[HUB_KEY].stage.report(report)
    return web.json_response({"known": known})


async def subscribe(request: web.Request) -> web.StreamResponse:
    stage = request.app[HUB_KEY].stage
    resp = web.StreamResponse(headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"})
    await resp.prepare(request)
    q = stage.subscribe()
    _LOGGER.info("Playback listener connected (%d now)", stage.listeners)
    try:
        await _write(resp, {"type": "hello", "listeners": stage.listeners, "heartbeat_s": HEARTBEAT_S})
        while True:
            try:
                event = await asyncio.wait_for(q.get(), timeout=HEARTBEAT_S)
            except asyncio.TimeoutError:
                event = {"type": "heartbeat", "ts": time.time()}
            if event is None:
                break
            await _write(resp, event)
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        stage.unsubscribe(q)
        _LOGGER.info("Playback listener disconnected (%d left)", stage.listeners)
    with contextlib.suppress(ConnectionError):
        await resp.write_eof()
    return resp


async def queue_view(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    items = [{"id": u.id, "priority": u.priority, "source": u.source, "user": u.user,
              "text": u.text, "parts": len(u.parts)} for u in hub.queue.items()]
    drops = [{"event_id": d.event_id, "source": d.source, "user": d.user, "reason": d.reason}
             for d in list(hub.queue.recent_drops)[-50:]]
    return web.json_response({**hub.status(), "items": items, "recent_drops": drops})


async def _write(resp: web.StreamResponse, event: dict[str, Any]) -> None:
    await resp.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")


def _str(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


def _required(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value or len(value) > 200:
        raise BadRequest(f"'{key}' must be a non-empty string")
    return value


async def _hub_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG_KEY]
    hub = Hub(config, app[ENGINE_KEY])
    await hub.start()
    app[HUB_KEY] = hub
    speakerbot: SpeakerbotApi | None = None
    if config.speakerbot.enabled:
        speakerbot = SpeakerbotApi(config.speakerbot)
        try:
            await speakerbot.start(hub)
        except ConfigError as exc:
            _LOGGER.error("The Speaker.bot API cannot start: %s", exc.message)
            speakerbot = None
        else:
            app[SPEAKERBOT_KEY] = speakerbot
    yield
    if speakerbot is not None:
        await speakerbot.close()
    await hub.close()


async def _end_listeners(app: web.Application) -> None:
    if HUB_KEY in app:
        app[HUB_KEY].stage.disconnect_all()


def setup(app: web.Application) -> None:
    """Add the hub's routes; the hub starts after the engine (cleanup contexts run in order)."""
    app.cleanup_ctx.append(_hub_ctx)
    app.on_shutdown.append(_end_listeners)
    app.router.add_post("/v1/events", post_event)
    app.router.add_post("/v1/say", post_say)
    app.router.add_post("/v1/control", post_control)
    app.router.add_post("/v1/moderation", post_moderation)
    app.router.add_post("/v1/playback", post_playback)
    app.router.add_get("/v1/subscribe", subscribe)
    app.router.add_get("/v1/events", subscribe)
    app.router.add_get("/v1/queue", queue_view)
