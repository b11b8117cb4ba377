"""A real engine and server, like conftest's ``start_engine``, but with injected ``extra``
collaborators (``Engine(config, extra=...)``: fake NVML, XTTS test hooks)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from engine.config import EngineConfig
from engine.server import BOUND_KEY, create_app, start_sites
from engine.service import Engine
from tests.conftest import RunningEngine


@asynccontextmanager
async def running_engine(config: EngineConfig, *, extra: dict[str, Any] | None = None
                         ) -> AsyncIterator[RunningEngine]:
    engine = Engine(config, extra=extra)
    await engine.start()
    runner: web.AppRunner | None = None
    try:
        app = create_app(config, engine=engine)
        runner = web.AppRunner(app)
        await runner.setup()
        bound = await start_sites(runner, config)
        app[BOUND_KEY].update(bound)
        yield RunningEngine(app, bound["tcp"], bound.get("unix", ""))
    finally:
        if runner is not None:
            await runner.cleanup()
        await engine.close()
