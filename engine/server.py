"""The aiohttp application and the sockets it listens on.

One application is served on TCP (``server.host``:``server.port``, loopback by default) and on a
Unix socket in a user-only folder (mode 0600, ``engine.unix_socket``), the plugin's default
transport on Linux/macOS. The API has no authentication, so every request passes ``guard``:

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
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from . import config_reload, connlimits, unix_socket
from .config import EngineConfig, ServerConfig
from .errors import EngineError
from .service import Engine

_LOGGER = logging.getLogger(__name__)
ENGINE_KEY = web.AppKey("engine", Engine)
CONFIG_KEY = web.AppKey("config", EngineConfig)
BOUND_KEY = web.AppKey("bound", dict)
"""Addresses actually listened on: ``{"tcp": "127.0.0.1:8000", "unix": "/run/..."}``."""
HOSTS_KEY = web.AppKey("hosts", frozenset)
"""Accepted ``Host`` names: bare names (any allowed port) and ``name:port`` entries."""
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
MAX_LINE_BYTES = 8190
"""Longest request line or header line accepted (aiohttp answers 400 beyond it)."""
MAX_HEADERS = 64
"""Most header fields accepted in one request."""
LINGER_S = 2.0
"""After an early reply (408, 413), how long the rest of an unread body is drained before the
connection closes (so the client reads the reply instead of a reset)."""


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse foreign hosts and cross-origin browser requests; turn every error into a JSON
    reply (a last resort turns an unexpected exception into a 500 and one log line)."""
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    try:
        return await handler(request)
    except EngineError as exc:
        return error_response(exc.status, exc.code, exc.message)
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[CONFIG_KEY].server.max_body_bytes
        return error_response(413, "body_too_large",
                              f"the request body is over {limit} bytes (server.max_body_bytes)")
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "application/json":  # no route, no file,
            resp = error_response(exc.status, exc.reason.lower().replace(" ", "_"),  # a bad upgrade
                                  exc.text or exc.reason)
            if "Allow" in exc.headers:
                resp.headers["Allow"] = exc.headers["Allow"]
            return resp
        raise
    except ConnectionError as exc:  # the client hung up: nobody to answer, nothing to fix
        _LOGGER.debug("Client left during %s %s: %s", request.method, request.path, exc)
        raise
    except Exception as exc:
        where = traceback.extract_tb(exc.__traceback__)[-1]
        _LOGGER.error("Internal error on %s %s: %s: %s (%s:%d)", request.method, request.path,
                      type(exc).__name__, exc, os.path.basename(where.filename), where.lineno)
        if request.writer is not None and request.writer.output_size:
            raise ConnectionResetError("the reply had already started") from None
        return error_response(500, "internal", "the engine hit an internal error; it is logged")


def _refusal(request: web.Request) -> web.Response | None:
    server = request.app[CONFIG_KEY].server
    host = request.headers.get("Host")
    if not _via_unix_socket(request) and host is not None and not _host_allowed(request, host):
        return error_response(403, "unknown_host",
                              f"requests for the host {host[:100]!r} are refused; add it to "
                              "server.allowed_hosts if you reach the engine by that name")
    origin = request.headers.get("Origin")
    allowed = origin is not None and origin != "null" and (
        origin in server.allowed_origins or (host is not None and origin == f"http://{host}"))
    if origin is not None and not allowed:
        return error_response(403, "cross_origin",
                              f"requests from web pages ({origin[:100]}) are refused; "
                              "add the origin to server.allowed_origins to allow it")
    if request.headers.get("Sec-Fetch-Site") in ("cross-site", "same-site") and not allowed:
        return error_response(403, "cross_origin", "browser requests from other sites are refused")
    return None


def _via_unix_socket(request: web.Request) -> bool:
    sock = request.transport.get_extra_info("socket") if request.transport is not None else None
    return sock is not None and getattr(socket, "AF_UNIX", None) == sock.family


def _host_allowed(request: web.Request, host: str) -> bool:
    hosts = request.app[HOSTS_KEY]
    host = host.strip().lower()
    name, port = _split_host(host)
    if host in hosts or name in hosts:  # an allowed_hosts entry, exact or any port
        return True
    if f"{name}:*" not in hosts:
        return False
    sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
    own_port = str(sockname[1]) if isinstance(sockname, tuple) and len(sockname) > 1 else None
    return port is None or port == own_port


def _split_host(host: str) -> tuple[str, str | None]:
    """``"[::1]:8000"`` -> ``("[::1]", "8000")``, ``"localhost"`` -> ``("localhost", None)``."""
    name, sep, port = host.rpartition(":")
    if not sep or "]" in port or not name or (":" in name and not name.endswith("]")):
        return host, None
    return name, port


def own_hosts(server: ServerConfig) -> frozenset[str]:
    """``HOSTS_KEY``: the loopback names and ``server.host`` as ``name:*`` (bare or with the
    port a connection arrived on), ``server.allowed_hosts`` as written (a bare name: any port)."""
    names = {*LOOPBACK_NAMES}
    bound = server.host.strip().lower()
    if bound and bound not in ("0.0.0.0", "::", "[::]"):  # every interface names no host
        names.add(f"[{bound}]" if ":" in bound and not bound.startswith("[") else bound)
    return frozenset({f"{n}:*" for n in names} | {h.strip().lower() for h in server.allowed_hosts})


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
    from . import routes, ws
    from .http import openapi
    from .http import events, monitor, openai
    from .http import auth, dashboard, overlay, settings_api

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
