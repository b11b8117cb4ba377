"""The guard in front of every route: foreign ``Host`` names (DNS rebinding) and browser requests
from other sites are refused, and every error becomes one JSON reply (an unexpected one a 500
with one log line, never a traceback per client)."""

from __future__ import annotations

import logging
import os
import socket
import traceback
from collections.abc import Awaitable, Callable

from aiohttp import web

from ..config import ServerConfig
from ..errors import EngineError
from .keys import CONFIG_KEY, HOSTS_KEY, error_response

_LOGGER = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


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
    if not via_unix_socket(request) and host is not None and not _host_allowed(request, host):
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


def via_unix_socket(request: web.Request) -> bool:
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
