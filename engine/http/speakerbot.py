"""A Speaker.bot-compatible API, so Streamer.bot's built-in Speaker.bot actions speak through us.

Streamer.bot connects to Speaker.bot's WebSocket server (``ws://127.0.0.1:7580/``), asks
``GetInfo``, ``Commands`` and ``Subscribe`` when it connects, then sends requests
``{"id": "<nonce>", "request": "Speak", "voice": "<alias>", "message": "...", "badWordFilter": true}``,
``Stop``, ``Pause``, ``Resume``, ``Clear``, ``On``/``Off`` (``Enable``/``Disable``). Each is
answered ``{"id", "status": "ok", "result": {...}}`` or ``{"id", "status": "error", "error"}``.
Speaker.bot also takes the same commands as UDP datagrams on port 6669 (``{"command": "speak",
"voice", "message"}``, ``{"command": "stop"}``, ...), which get no answer.

``Speak`` becomes ``Announcement(source="api")`` with the alias mapped through
``speakerbot.voice_aliases`` (an alias not in the map uses the default voice) and goes through
``Hub.accept``; ``Stop`` skips what is playing, ``Clear`` empties the queue, ``Pause``/``Resume``
hold and release it, ``Off`` refuses ``Speak`` until ``On``. Both listeners bind 127.0.0.1 only;
a WebSocket request with an ``Origin`` (a web page) or a non-loopback ``Host`` is refused.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web

from ..errors import ConfigError, EngineError
from ..hub import Hub
from ..pipeline.events import Announcement
from ..pipeline.pipeline import Drop
from .guard import LOOPBACK_NAMES
from .speakerbot_options import SpeakerbotOptions

_LOGGER = logging.getLogger(__name__)
__all__ = ["SpeakerbotApi", "SpeakerbotError", "SpeakerbotOptions"]
HOST = "127.0.0.1"
MAX_REQUEST_CHARS = 10_000
"""Longest WebSocket message or UDP datagram read (Speaker.bot's own clients send far less)."""
INSTANCE_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "streamer-tts/speakerbot"))
SUBSCRIBABLE = {"application": ["startedspeaking", "stoppedspeaking"],
                "texttospeech": ["textqueued", "engineprocessed", "playing", "finished", "deleted",
                                 "error"],
                "voicegate": ["profileactivated"]}
"""The event groups Speaker.bot 0.1.4 lists; subscriptions are accepted, no events are sent yet."""
ACKNOWLEDGED = frozenset({"Events", "Mode", "Unsubscribe", "UnSubscribe", "GetVoiceGateProfiles",
                          "ActivateVoiceGateProfile"})
"""Requests Streamer.bot may send that have no meaning here: answered ``ok`` so its actions go on."""


class SpeakerbotError(Exception):
    """A request we answer with ``status: error``; the message is shown to Streamer.bot."""


class SpeakerbotApi:
    """``api = SpeakerbotApi(options)``, ``await api.start(hub)``, ``await api.close()``."""

    def __init__(self, options: SpeakerbotOptions) -> None:
        self.options = options
        self.enabled = True
        """False after ``Off``/``Disable``: ``Speak`` is refused until ``On``/``Enable``."""
        self.ws_port = 0
        self.udp_port = 0
        self.requests = 0
        self._hub: Hub | None = None
        self._runner: web.AppRunner | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unknown_aliases: set[str] = set()
        self._handlers: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]] = {
            "speak": self._speak, "stop": self._stop, "clear": self._clear, "pause": self._pause,
            "resume": self._resume, "on": self._on, "enable": self._on, "off": self._off,
            "disable": self._off, "getinfo": self._info, "commands": self._commands,
            "getevents": self._events, "getaliases": self._aliases, "getstate": self._state,
        }

    # -- life cycle --------------------------------------------------------------------------------
    async def start(self, hub: Hub) -> None:
        """Listen on 127.0.0.1; ``ConfigError`` when a port is taken (it closes what it opened)."""
        if not self.options.path.startswith("/"):
            raise ConfigError("speakerbot.path: must start with / (Speaker.bot's default is /)")
        self._hub = hub
        app = web.Application(middlewares=[_loopback_only], client_max_size=64 * 1024)
        app.router.add_get(self.options.path or "/", self._websocket)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        self._runner = runner
        try:
            await web.TCPSite(runner, HOST, self.options.port).start()
        except OSError as exc:
            await self.close()
            raise ConfigError(f"speakerbot.port: cannot listen on {HOST}:{self.options.port} "
                              f"({exc.strerror}); is Speaker.bot itself running?") from None
        self.ws_port = runner.addresses[0][1]
        if self.options.udp:
            loop = asyncio.get_running_loop()
            try:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _Udp(self), local_addr=(HOST, self.options.udp_port))
            except OSError as exc:
                await self.close()
                raise ConfigError(f"speakerbot.udp_port: cannot listen on {HOST}:{self.options.udp_port} "
                                  f"({exc.strerror}); is Speaker.bot itself running?") from None
            self._udp = transport
            self.udp_port = transport.get_extra_info("sockname")[1]
        _LOGGER.info("Speaker.bot API on ws://%s:%d%s%s", HOST, self.ws_port, self.options.path,
                     f" and udp://{HOST}:{self.udp_port}" if self._udp else "")

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        for ws in list(self._sockets):
            await ws.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def status(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "ws": f"{HOST}:{self.ws_port}",
                "udp": f"{HOST}:{self.udp_port}" if self._udp else None,
                "clients": len(self._sockets), "requests": self.requests}

    # -- transports --------------------------------------------------------------------------------
    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_REQUEST_CHARS * 4, heartbeat=None)
        await ws.prepare(request)
        self._sockets.add(ws)
        _LOGGER.info("Speaker.bot client connected (%d now)", len(self._sockets))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await ws.send_str(json.dumps(await self.handle_text(msg.data)))
                elif msg.type == WSMsgType.BINARY:
                    await ws.send_str(json.dumps({"status": "error", "error": "expected JSON text"}))
        finally:
            self._sockets.discard(ws)
            _LOGGER.info("Speaker.bot client disconnected (%d left)", len(self._sockets))
        return ws

    async def handle_text(self, text: str) -> dict[str, Any]:
        """One WebSocket request -> its answer."""
        request = _parse(text)
        if request is None:
            return {"status": "error", "error": "malformed command"}
        ident = request.get("id")
        name = request.get("request")
        if not isinstance(name, str) or not isinstance(ident, (str, int)) or isinstance(ident, bool):
            return {"status": "error", "error": "'request' and 'id' are required"}
        try:
            result = await self.handle(name, request)
        except SpeakerbotError as exc:
            return {"id": ident, "status": "error", "error": str(exc)}
        return {"id": ident, "status": "ok", "result": result}

    def handle_datagram(self, data: bytes) -> None:
        """One UDP command; there is no answer, so faults are only logged."""
        try:
            request = _parse(data.decode("utf-8"))
        except UnicodeDecodeError:
            request = None
        command = request.get("command") if request is not None else None
        if request is None or not isinstance(command, str):
            _LOGGER.debug("Speaker.bot UDP: not a command (%d bytes)", len(data))
            return
        task = asyncio.get_running_loop().create_task(self._udp_command(command, request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _udp_command(self, command: str, request: dict[str, Any]) -> None:
        try:
            await self.handle(command, request)
        except SpeakerbotError as exc:
            _LOGGER.info("Speaker.bot UDP %s refused: %s", command[:40], exc)

    async def handle(self, name: str, request: dict[str, Any]) -> dict[str, Any]:
        """Run request ``name`` (any case); raises ``SpeakerbotError`` for an error answer."""
        self.requests += 1
        if name == "Subscribe":
            return self._subscribe(request)
        if name in ACKNOWLEDGED or name.lower() in ("events", "profile", "reg", "set", "assign"):
            _LOGGER.debug("Speaker.bot %s: acknowledged, nothing to do here", name[:40])
            return {}
        handler = self._handlers.get(name.lower())
        if handler is None:
            raise SpeakerbotError(f"unknown request {name[:40]!r}")
        return await handler(request)

    # -- requests ----------------------------------------------------------------------------------
    async def _speak(self, request: dict[str, Any]) -> dict[str, Any]:
        if not self.enabled:
            raise SpeakerbotError("TTS is off (send On to enable it)")
        message = request.get("message")
        if not isinstance(message, str) or not message.strip():
            raise SpeakerbotError("'message' must be a non-empty string")
        alias = request.get("voice") if isinstance(request.get("voice"), str) else ""
        voice = self.voice_for(alias or "")
        try:
            result = await self.hub.accept(Announcement(text=message.strip(), source="api", voice=voice))
        except EngineError as exc:
            raise SpeakerbotError(exc.message) from None
        if isinstance(result, Drop):
            raise SpeakerbotError(f"not spoken: {result.reason}")
        return {"speechId": result.id, "text": result.text, "voiceName": alias or "",
                "voice": voice}

    def voice_for(self, alias: str) -> str:
        """Our voice for a Speaker.bot alias ("" for the default voice)."""
        aliases = self.options.voice_aliases
        if alias in aliases:
            return aliases[alias]
        lowered = {k.lower(): v for k, v in aliases.items()}
        if alias.lower() in lowered:
            return lowered[alias.lower()]
        if alias and alias not in self._unknown_aliases and len(self._unknown_aliases) < 100:
            self._unknown_aliases.add(alias)
            _LOGGER.warning("Speaker.bot voice alias %r is not in speakerbot.voice_aliases; "
                            "using the default voice", alias[:60])
        return ""

    async def _stop(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"stopped": self.hub.stage.skip()}

    async def _clear(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"cleared": self.hub.stage.clear("cleared by Streamer.bot")}

    async def _pause(self, request: dict[str, Any]) -> dict[str, Any]:
        self.hub.queue.pause()
        return {"paused": True}

    async def _resume(self, request: dict[str, Any]) -> dict[str, Any]:
        self.hub.queue.resume()
        self.hub.stage.wake()
        return {"paused": False}

    async def _on(self, request: dict[str, Any]) -> dict[str, Any]:
        self.enabled = True
        return {"enabled": True}

    async def _off(self, request: dict[str, Any]) -> dict[str, Any]:
        self.enabled = False
        return {"enabled": False}

    async def _info(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"instanceId": INSTANCE_ID, "name": "Speaker.bot", "version": "0.1.4",
                "os": "windows", "apiVersion": 2, "engine": "streamer-tts"}

    async def _commands(self, request: dict[str, Any]) -> dict[str, Any]:
        names = ["Speak", "Stop", "Pause", "Resume", "Clear", "On", "Off", "Enable", "Disable",
                 "GetInfo", "Commands", "GetEvents", "GetAliases", "GetState", "Subscribe",
                 *sorted(ACKNOWLEDGED)]
        return {"commands": names}

    async def _events(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"events": SUBSCRIBABLE}

    async def _aliases(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"aliases": [{"id": voice, "name": alias, "voiceCount": 1}
                            for alias, voice in self.options.voice_aliases.items()]}

    async def _state(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"enabled": self.enabled, "paused": self.hub.queue.paused, "queued": len(self.hub.queue)}

    def _subscribe(self, request: dict[str, Any]) -> dict[str, Any]:
        events = request.get("events")
        if not isinstance(events, dict):
            raise SpeakerbotError("'events' must be an object of event lists")
        return {"events": events}

    @property
    def hub(self) -> Hub:
        if self._hub is None:
            raise SpeakerbotError("the engine is still starting")
        return self._hub


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, api: SpeakerbotApi) -> None:
        self.api = api

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.api.handle_datagram(data)


def _parse(text: str) -> dict[str, Any] | None:
    if len(text) > MAX_REQUEST_CHARS:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


@web.middleware
async def _loopback_only(request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                         ) -> web.StreamResponse:
    """Only programs on this machine: no web page (any ``Origin``), no other ``Host`` name."""
    host = (request.headers.get("Host") or "").strip().lower()
    if host and _host_name(host) not in LOOPBACK_NAMES:
        return web.json_response({"error": "unknown host"}, status=403)
    if "Origin" in request.headers or request.headers.get("Sec-Fetch-Site") not in (None, "none"):
        return web.json_response({"error": "requests from web pages are refused"}, status=403)
    return await handler(request)


def _host_name(host: str) -> str:
    """``"[::1]:7580"`` -> ``"[::1]"``, ``"localhost:7580"`` -> ``"localhost"``."""
    if host.startswith("["):
        return host[:host.find("]") + 1] if "]" in host else host
    return host.split(":", 1)[0] if host.count(":") == 1 else host


SPEAKERBOT_KEY = web.AppKey("speakerbot", SpeakerbotApi)
"""Present while the Speaker.bot-compatible API runs (``speakerbot.enabled``)."""
