"""Shared fixtures: a real engine on a temp Unix socket and on 127.0.0.1:0."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bench.common import UnixHTTPConnection
from engine import config as config_mod
from engine.http.app import BOUND_KEY, create_app, start_sites
from engine.service import Engine


def make_config(tmp_path: Path, **overrides: Any) -> config_mod.EngineConfig:
    """A config on loopback port 0, a temp socket and a temp cache; ``overrides`` are merged
    into the mapping (``{"performance": {"queue": {"max_concurrent": 1}}}``)."""
    data: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": 0, "unix_socket": str(tmp_path / "run" / "engine.sock")},
        "performance": {"cache": {"dir": str(tmp_path / "cache")}},
        "tts": {"primary_backend": "piper", "fallback_backends": [], "routing": {},
                "backends": {"piper": {"voices_dir": str(tmp_path / "voices")}}},
        "data_dir": str(tmp_path / "data"),
    }
    _merge(data, overrides)
    return config_mod.parse(data)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


@dataclass
class RunningEngine:
    app: web.Application
    tcp: str
    """``host:port`` actually bound."""
    unix: str
    """Unix socket path."""

    @property
    def url(self) -> str:
        return f"http://{self.tcp}"

    @property
    def token(self) -> str:
        """The engine's per-install API token (``engine.http.auth``)."""
        from engine.http.auth import TOKEN_KEY
        return self.app[TOKEN_KEY]

    @property
    def headers(self) -> dict[str, str]:
        """What a TCP client sends to steer the engine: ``aiohttp.ClientSession(headers=...)``."""
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def engine(self) -> Any:
        from engine.http.app import ENGINE_KEY
        return self.app[ENGINE_KEY]


@asynccontextmanager
async def running_engine(config: config_mod.EngineConfig, *, extra: dict[str, Any] | None = None
                         ) -> AsyncIterator[RunningEngine]:
    """A real engine served on the config's TCP address and Unix socket. ``extra`` injects
    collaborators into ``Engine(config, extra=...)`` (fake NVML, XTTS test hooks)."""
    engine = Engine(config, extra=extra)
    await engine.start()
    runner: web.AppRunner | None = None
    try:
        app = create_app(config, engine=engine)
        runner = web.AppRunner(app, access_log=None)  # as serve(): no access log (a ?token= URL)
        await runner.setup()
        bound = await start_sites(runner, config)
        app[BOUND_KEY].update(bound)
        yield RunningEngine(app, bound["tcp"], bound.get("unix", ""))
    finally:
        if runner is not None:
            await runner.cleanup()
        await engine.close()


@pytest.fixture
async def start_engine(tmp_path: Path) -> AsyncIterator[Any]:
    """``await start_engine(**overrides)`` -> ``RunningEngine``; stopped after the test."""
    async with AsyncExitStack() as stack:

        async def start(config: config_mod.EngineConfig | None = None, **overrides: Any) -> RunningEngine:
            cfg = config or make_config(tmp_path, **overrides)
            return await stack.enter_async_context(running_engine(cfg))

        yield start


def post_json_unix(path: str, route: str, body: Any) -> tuple[int, dict[str, str], bytes]:
    """Blocking POST over the Unix socket; run it with ``asyncio.to_thread`` from async tests."""
    conn = UnixHTTPConnection(path)
    try:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        conn.request("POST", route, payload, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


async def post_unix(path: str, route: str, body: Any) -> tuple[int, dict[str, str], bytes]:
    return await asyncio.to_thread(post_json_unix, path, route, body)
