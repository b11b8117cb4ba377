"""The aiohttp application and the sockets it listens on.

One application is served on TCP (``server.host``:``server.port``, loopback by default) and on a
Unix socket in a user-only folder (mode 0600, ``engine.unix_socket``), the plugin's default
transport on Linux/macOS. Every request passes ``engine.http.guard`` first, and steering routes
need the install's token on TCP (``engine.http.auth``):

- ``Host`` must be one of the engine's own names (127.0.0.1, localhost, [::1], ``server.host``,
  ``server.allowed_hosts``), so a web page that rebinds its DNS name to 127.0.0.1 is refused.
  Requests over the Unix socket are not checked: only this user can open it.
- Browser requests from other origins are refused (an ``Origin`` not allowed, ``Origin: null``,
  ``Sec-Fetch-Site: cross-site`` or ``same-site``), so a page the streamer visits, or a page on
  another local port, cannot make the stream speak or listen to it.
- Every error becomes a JSON reply; a client's fault is a 4xx, and nothing a client sends makes
  a traceback in the log (a hang-up is logged at DEBUG).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from .. import config_reload
from . import connlimits
from . import unix_socket
from ..config import EngineConfig
from . import synth as routes
from . import ws
from . import auth, dashboard, events, monitor, openai, openapi, overlay, settings_api
from .guard import guard, own_hosts
from .keys import BOUND_KEY, CONFIG_KEY, ENGINE_KEY, HOSTS_KEY
from ..service import Engine

_LOGGER = logging.getLogger(__name__)
MAX_LINE_BYTES = 8190
"""Longest request line or header line accepted (aiohttp answers 400 beyond it)."""
MAX_HEADERS = 64
"""Most header fields accepted in one request."""
LINGER_S = 2.0
"""After an early reply (408, 413), how long the rest of an unread body is drained before the
connection closes (so the client reads the reply instead of a reset)."""


class _ConnectionLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp's connection log: a client's fault (a malformed request, a hang-up) is one DEBUG
    line; anything else keeps its traceback."""

    def exception(self, msg: Any, *args: Any, exc_info: Any = True, **kwargs: Any) -> None:
        exc = exc_info if isinstance(exc_info, BaseException) else sys.exc_info()[1]
        if exc is None or isinstance(exc, (HttpProcessingError, ConnectionError)):
            self.debug("%s: %s", msg % args if args else msg, exc)
        else:
            self.error(msg, *args, exc_info=exc_info, **kwargs)


def create_app(config: EngineConfig, *, engine: Engine | None = None) -> web.Application:
    """The application; it starts and stops its own ``Engine`` unless one is given."""
    limits = config.server
    handler_args = {  # per connection: idle/unfinished-head timeout, header caps, quiet client faults
        "keepalive_timeout": limits.idle_timeout_s, "max_line_size": MAX_LINE_BYTES,
        "max_field_size": MAX_LINE_BYTES, "max_headers": MAX_HEADERS, "lingering_time": LINGER_S,
        "logger": _ConnectionLog(logging.getLogger("aiohttp.server"), {}),
    }
    app = web.Application(middlewares=[guard], client_max_size=limits.max_body_bytes,
                          handler_args=handler_args)
    app[CONFIG_KEY] = config
    app[HOSTS_KEY] = own_hosts(limits)
    app[BOUND_KEY] = {}
    app.cleanup_ctx.append(_engine_ctx(engine))
    routes.setup(app)
    openapi.setup(app)  # GET /openapi.json: the API's description (of every route, at request time)
    openai.setup(app)  # POST /v1/audio/speech, OpenAI-compatible
    ws.setup(app)
    events.setup(app)
    monitor.setup(app)  # /v1/status, /v1/history; starts after the hub
    auth.setup(app)  # the per-install token (steering, announcement readers); before the next
    dashboard.setup(app)  # /, /static, /v1/recent, /v1/replay
    overlay.setup(app)  # /overlay, /v1/captions
    settings_api.setup(app)  # /v1/settings; merges <data_dir>/config.local.yaml
    return app


def _engine_ctx(given: Engine | None) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        engine = given or Engine(app[CONFIG_KEY])
        if given is None:
            await engine.start()
        app[ENGINE_KEY] = engine
        yield
        if given is None:
            await engine.close()
    return ctx


def socket_path(config: EngineConfig) -> Path | None:
    """Where the Unix socket goes (``None``: disabled or unsupported)."""
    value = config.server.unix_socket
    if not value or not hasattr(socket, "AF_UNIX"):
        return None
    if value == "auto":
        return default_socket_path()
    return Path(os.path.expanduser(value))


def default_socket_path() -> Path:
    """``$XDG_RUNTIME_DIR/streamer-tts/engine.sock``, else a user-only folder in the temp dir.
    The OBS plugin computes the same path (``obs_plugin/engine_client.py``)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) if runtime else Path(tempfile.gettempdir()) / f"streamer-tts-{os.getuid()}"
    return (base / "streamer-tts" if runtime else base) / "engine.sock"


class _UnixSite(web.SockSite):
    """The Unix socket this engine bound; stopping it removes the socket file, if still ours."""

    def __init__(self, runner: web.BaseRunner, owned: unix_socket.OwnedSocket) -> None:
        super().__init__(runner, owned.sock)
        self.owned = owned

    async def stop(self) -> None:
        try:
            await super().stop()
        finally:
            self.owned.release()


async def start_sites(runner: web.AppRunner, config: EngineConfig) -> dict[str, str]:
    """Listen on the Unix socket, then TCP; returns the addresses actually bound. A live engine
    on the socket path, or anything else there, raises ``unix_socket.SocketInUse``; stopping the
    runner (``runner.cleanup()``) removes only the socket this call bound."""
    bound = {}
    connlimits.install(runner, config.server.max_connections_per_client)
    path = socket_path(config)
    if path is not None:
        owned = await unix_socket.claim(path)
        site = _UnixSite(runner, owned)
        try:
            await site.start()
        except BaseException:
            owned.release()
            raise
        bound["unix"] = str(path)
    tcp = web.TCPSite(runner, config.server.host, config.server.port)
    await tcp.start()
    host, port = tcp._server.sockets[0].getsockname()[:2]  # type: ignore[union-attr]
    bound["tcp"] = f"{host}:{port}"
    return {"tcp": bound["tcp"], **bound}


async def serve(config: EngineConfig, *, ready: Callable[[dict[str, str]], None] | None = None,
                config_path: Path | None = None) -> None:
    """Run until cancelled (Ctrl-C or SIGTERM). A live engine on the same socket is detected
    before any backend loads (``SocketInUse``, the CLI exits non-zero). ``config_path``: reload
    it on SIGHUP (``engine.config_reload``)."""
    path = socket_path(config)
    if path is not None:
        await unix_socket.check_free(path)
    connlimits.quiet_accept_errors(asyncio.get_running_loop())  # out of descriptors: no flood
    app = create_app(config)
    if config_path is not None:
        config_reload.install(app, config_path, config)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        bound = await start_sites(runner, config)
        app[BOUND_KEY].update(bound)
        _LOGGER.info("Engine listening on http://%s%s", bound["tcp"],
                     f" and unix:{bound['unix']}" if "unix" in bound else "")
        if ready is not None:
            ready(bound)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
