"""Typed application keys and the JSON error reply, shared by every HTTP module.

It imports nothing of ``engine.http``, so any handler module can use it without a cycle; the
application (``engine.http.app``) imports the handler modules, never the reverse.
"""

from __future__ import annotations

from aiohttp import web

from ..config import EngineConfig
from ..hub import Hub
from ..service import Engine

ENGINE_KEY = web.AppKey("engine", Engine)
CONFIG_KEY = web.AppKey("config", EngineConfig)
BOUND_KEY = web.AppKey("bound", dict)
"""Addresses actually listened on: ``{"tcp": "127.0.0.1:8000", "unix": "/run/..."}``."""
HOSTS_KEY = web.AppKey("hosts", frozenset)
"""Accepted ``Host`` names: bare names (any allowed port) and ``name:port`` entries."""
HUB_KEY = web.AppKey("hub", Hub)


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)
