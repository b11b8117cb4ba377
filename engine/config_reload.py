"""Reloading config.yaml while the engine runs: ``kill -HUP <engine pid>``.

The file is read and checked as at start (``engine.config.load``, ``engine.preflight``, the
dashboard's ``config.local.yaml`` merged over it). A file that does not pass keeps the last good
config: the reason is logged once and shown in ``GET /health`` under ``config.error`` until a
reload succeeds. A good file applies the chat filters and the sources at once (as the dashboard's
settings do); other sections that changed are listed in ``config.restart_needed`` (backends,
server, cache and queue are built once at start).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from aiohttp import web

from . import config as config_mod
from . import preflight, validate
from .errors import ConfigError
from .http.keys import HUB_KEY

_LOGGER = logging.getLogger(__name__)
LIVE_SECTIONS = ("chat", "sources")
"""Sections a reload applies at once; a change anywhere else needs a restart."""


@dataclass
class ReloadState:
    path: str
    loaded_at: float
    """Wall-clock time the config in use was read."""
    reloads: int = 0
    """Reloads that applied a new config."""
    failed: int = 0
    error: str | None = None
    """Why the last reload was refused (``None``: it applied, or none was tried)."""
    failed_at: float | None = None
    restart_needed: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "loaded_at": self.loaded_at, "reloads": self.reloads,
                "failed": self.failed, "error": self.error, "failed_at": self.failed_at,
                "restart_needed": list(self.restart_needed)}


class ConfigReloader:
    """Reloads one config file into a running app (``reload``), keeping the last good config."""

    def __init__(self, app: web.Application, path: Path, current: config_mod.EngineConfig) -> None:
        self.app = app
        self.path = path
        self.current = current
        """The last good config (as read from the file, before the dashboard's overrides)."""
        self.state = ReloadState(str(path), time.time())
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def read(self) -> config_mod.EngineConfig:
        """The file, checked as at start; ``ConfigError`` naming the key when it does not pass."""
        config = config_mod.load(self.path)
        preflight.check(config)
        return config

    async def reload(self) -> bool:
        """Read the file again; apply it (True) or keep the last good config (False)."""
        from .http import settings_api

        try:
            new = await asyncio.to_thread(self.read)
            merged = settings_api.with_local(new)
        except ConfigError as exc:
            self.state.failed += 1
            self.state.error, self.state.failed_at = exc.message, time.time()
            _LOGGER.error("Config reload refused, keeping the last good config: %s", exc.message)
            return False
        changed = [f.name for f in fields(new) if f.name not in LIVE_SECTIONS
                   and validate.to_mapping(getattr(new, f.name))
                   != validate.to_mapping(getattr(self.current, f.name))]
        if HUB_KEY in self.app:
            await settings_api.apply(self.app, merged.chat, merged.sources, set())
        self.current = new
        self.state.reloads += 1
        self.state.loaded_at, self.state.error = time.time(), None
        self.state.restart_needed = tuple(sorted(set(self.state.restart_needed) | set(changed)))
        _LOGGER.info("Config reloaded from %s: chat and sources applied%s", self.path,
                     f"; restart to apply {', '.join(changed)}" if changed else "")
        return True

    def request(self) -> None:
        """Reload soon (the signal handler): one reload at a time; a request during one runs
        one more reload after it."""
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name="config-reload")

    async def _run(self) -> None:
        self._again = True
        while self._again:
            self._again = False
            await self.reload()


RELOAD_KEY = web.AppKey("config_reload", ConfigReloader)


def install(app: web.Application, path: Path, current: config_mod.EngineConfig) -> ConfigReloader:
    """Reload ``path`` into ``app`` on SIGHUP while the app runs (where the platform has it)."""
    reloader = ConfigReloader(app, path, current)
    app[RELOAD_KEY] = reloader
    hup = getattr(signal, "SIGHUP", None)

    async def listen(app: web.Application) -> None:
        if hup is not None:
            asyncio.get_running_loop().add_signal_handler(hup, reloader.request)

    async def stop(app: web.Application) -> None:
        if hup is not None:
            asyncio.get_running_loop().remove_signal_handler(hup)

    app.on_startup.append(listen)
    app.on_cleanup.append(stop)
    return reloader


def status(app: web.Application) -> dict[str, Any] | None:
    """``/health``'s ``config``: where the config came from and the last reload's outcome."""
    return app[RELOAD_KEY].state.to_dict() if RELOAD_KEY in app else None
