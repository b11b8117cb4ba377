"""The aiohttp application and the sockets it listens on.

One application is served on TCP (``server.host``:``server.port``, loopback by default) and on a
Unix socket in a user-only folder (mode 0600), the plugin's default transport on Linux/macOS.
Browser cross-origin requests are refused: the API has no authentication, so a web page the
streamer visits must not be able to make the stream speak.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiohttp import web

from .config import EngineConfig
from .errors import EngineError
from .service import Engine

_LOGGER = logging.getLogger(__name__)
ENGINE_KEY = web.AppKey("engine", Engine)
CONFIG_KEY = web.AppKey("config", EngineConfig)
BOUND_KEY = web.AppKey("bound", dict)
"""Addresses actually listened on: ``{"tcp": "127.0.0.1:8000", "unix": "/run/..."}``."""
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse cross-origin browser requests; turn engine errors into JSON error replies."""
    origin = request.headers.get("Origin")
    allowed = request.app[CONFIG_KEY].server.allowed_origins
    if origin is not None and origin not in allowed:
        return error_response(403, "cross_origin",
                              f"requests from web pages ({origin}) are refused; "
                              "add the origin to server.allowed_origins to allow it")
    if request.headers.get("Sec-Fetch-Site") == "cross-site" and origin not in allowed:
        return error_response(403, "cross_origin", "cross-site browser requests are refused")
    try:
        return await handler(request)
    except EngineError as exc:
        return error_response(exc.status, exc.code, exc.message)
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[CONFIG_KEY].server.max_body_bytes
        return error_response(413, "body_too_large",
                              f"the request body is over {limit} bytes (server.max_body_bytes)")


def create_app(config: EngineConfig, *, engine: Engine | None = None) -> web.Application:
    """The application; it starts and stops its own ``Engine`` unless one is given."""
    from . import announce, routes, ws

    app = web.Application(middlewares=[guard], client_max_size=config.server.max_body_bytes)
    app[CONFIG_KEY] = config
    app[BOUND_KEY] = {}
    app.cleanup_ctx.append(_engine_ctx(engine))
    routes.setup(app)
    ws.setup(app)
    announce.setup(app)
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
    if not value or not hasattr(__import__("socket"), "AF_UNIX"):
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


def _prepare_socket_dir(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = path.parent.stat()
    if info.st_uid != os.getuid():
        raise EngineError(f"{path.parent} belongs to another user; refusing to put the socket there")
    if stat.S_IMODE(info.st_mode) & 0o077 and path.parent.name.startswith("streamer-tts"):
        os.chmod(path.parent, 0o700)
    if path.exists() or path.is_symlink():
        path.unlink()


async def start_sites(runner: web.AppRunner, config: EngineConfig) -> dict[str, str]:
    """Listen on TCP and the Unix socket; returns the addresses actually bound."""
    bound = {}
    tcp = web.TCPSite(runner, config.server.host, config.server.port)
    await tcp.start()
    host, port = tcp._server.sockets[0].getsockname()[:2]  # type: ignore[union-attr]
    bound["tcp"] = f"{host}:{port}"
    path = socket_path(config)
    if path is not None:
        _prepare_socket_dir(path)
        old = os.umask(0o177)
        try:
            await web.UnixSite(runner, str(path)).start()
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        bound["unix"] = str(path)
    return bound


async def serve(config: EngineConfig, *, ready: Callable[[dict[str, str]], None] | None = None) -> None:
    """Run until cancelled (Ctrl-C or SIGTERM)."""
    app = create_app(config)
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
        path = socket_path(config)
        if path is not None and path.is_socket():
            path.unlink(missing_ok=True)
