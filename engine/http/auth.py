"""The per-install token: who may steer the engine, and who may read what it will announce.

The loopback Host/Origin checks (``engine.http.guard``) keep web pages out, but any local
program could still steer the stream over TCP. So steering endpoints and the announcement
readers need one of:

- the Unix socket (user-only folder, mode 0600: trusted);
- on TCP, the token of ``<data_dir>/api-token`` (created once, mode 0600, never logged) as
  ``Authorization: Bearer <token>``, ``X-TTS-Token: <token>``, or the ``tts_token`` cookie that
  opening ``http://127.0.0.1:8000/?token=<token>`` sets (HttpOnly, SameSite=Strict; the page
  then redirects to ``/`` without the token in the address). ``python -m engine dashboard-url``
  prints that address for the OBS Custom Browser Dock.

Anything else gets a 403 ``token_required`` that says how to get the token.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from ..errors import EngineError
from .guard import via_unix_socket
from .keys import CONFIG_KEY

_LOGGER = logging.getLogger(__name__)
TOKEN_FILE = "api-token"
COOKIE = "tts_token"
HEADER = "X-TTS-Token"
TOKEN_KEY = web.AppKey("api_token", str)
PROTECTED: frozenset[tuple[str, str]] = frozenset({
    ("POST", "/v1/events"), ("POST", "/v1/say"), ("POST", "/v1/control"),
    ("POST", "/v1/moderation"), ("POST", "/v1/playback"),
    ("GET", "/v1/subscribe"), ("GET", "/v1/events"), ("GET", "/v1/queue"),
})
"""(method, path) needing the token on TCP. Other modules add theirs with ``protect``."""
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class TokenRequired(EngineError):
    """A TCP request without the engine's token asked to steer or to read announcements."""

    status = 403
    code = "token_required"


def token_path(data_dir: Path) -> Path:
    return data_dir / TOKEN_FILE


def load_or_create(data_dir: Path) -> str:
    """The install's token, created on first use (``secrets.token_urlsafe``, mode 0600)."""
    path = token_path(data_dir)
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:  # another engine made it first
        return _read(path)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(token + "\n")
    _LOGGER.info("Created the engine's API token in %s", path)
    return token


def read_token(data_dir: Path) -> str | None:
    """The token if it exists (``None`` otherwise); never creates one."""
    try:
        return _read(token_path(data_dir))
    except (FileNotFoundError, EngineError):
        return None


def _read(path: Path) -> str:
    token = path.read_text(encoding="ascii").strip()
    if len(token) < 16:
        raise EngineError(f"the API token file {path} is empty or damaged; delete it to make a new one")
    return token


def dashboard_url(base: str, token: str) -> str:
    return f"{base.rstrip('/')}/?token={token}"


def authorized(request: web.Request) -> bool:
    """The Unix socket, or the token in a header or the cookie."""
    if via_unix_socket(request):
        return True
    token = request.app[TOKEN_KEY]
    auth = request.headers.get("Authorization", "")
    offered = [auth[7:].strip() if auth[:7].lower() == "bearer " else "",
               request.headers.get(HEADER, ""), request.cookies.get(COOKIE, "")]
    if request.method == "GET" and request.app[_EXPOSED_KEY]:  # an overlay URL in another room
        offered.append(request.query.get("token", ""))
    return any(o and hmac.compare_digest(o.encode(), token.encode()) for o in offered)


def require(request: web.Request) -> None:
    """Raise ``TokenRequired`` unless ``authorized``."""
    if not authorized(request):
        raise TokenRequired(
            "this needs the engine's token: open the dashboard from the address "
            "`python -m engine dashboard-url` prints, or send 'Authorization: Bearer <token>' "
            "with the token from the engine's data folder (api-token); the Unix socket needs none")


def protect(app: web.Application, method: str, path: str) -> None:
    """Require the token for one more route (call before the app starts)."""
    app[_EXTRA_KEY].add((method, path))


_EXTRA_KEY = web.AppKey("auth_protected", set)
_EXPOSED_KEY = web.AppKey("auth_everywhere", bool)


def exposed(host: str) -> bool:
    """Whether ``server.host`` reaches beyond this machine (anything but a loopback address)."""
    host = host.strip().strip("[]").lower()
    return not (host in ("localhost", "::1") or host.startswith("127."))


@web.middleware
async def token_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The token for steering and announcement routes; for every route when the engine listens
    beyond loopback (except the dashboard's landing page, which checks ``?token=`` itself)."""
    key = (request.method, request.path)
    everywhere = request.app[_EXPOSED_KEY] and key != ("GET", "/")
    if everywhere or key in PROTECTED or key in request.app[_EXTRA_KEY]:
        try:
            require(request)
        except TokenRequired as exc:
            return web.json_response({"error": {"code": exc.code, "message": exc.message}},
                                     status=exc.status)
    return await handler(request)


def setup(app: web.Application) -> None:
    """Load (or create) the token and guard the protected routes; after ``server.guard``."""
    data_dir = app[CONFIG_KEY].data_path()
    try:
        app[TOKEN_KEY] = load_or_create(data_dir)
    except (OSError, EngineError) as exc:
        _LOGGER.error("Cannot keep the API token in %s (%s); using one for this run only, so "
                      "the dashboard address changes at every start", data_dir, exc)
        app[TOKEN_KEY] = secrets.token_urlsafe(32)
    app[_EXTRA_KEY] = set()
    app[_EXPOSED_KEY] = exposed(app[CONFIG_KEY].server.host)
    if app[_EXPOSED_KEY]:
        _LOGGER.warning("server.host is %s, beyond loopback: every route needs the token",
                        app[CONFIG_KEY].server.host)
    app.middlewares.append(token_guard)
