"""Monitoring: ``GET /v1/status`` (everything ``/metrics`` shows, as JSON, with active alerts and the
electricity cost) and ``GET /v1/history?minutes=60`` (one sample every few seconds for charts).

``Monitor`` is started and stopped with the application (a cleanup context after the hub's): a
background task calls ``sample()`` every ``interval_s`` seconds, which feeds the energy meter, the
alerts and the one-hour ring buffer. ``/metrics`` renders ``Monitor.status`` too
(``Metrics.status_source``), so the JSON and the Prometheus text never disagree.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from ..monitor.alerts import Alerts
from ..config import EngineConfig
from ..monitor.cost import EnergyMeter, Rapl
from ..errors import BadRequest
from ..monitor.history import History, Sample
from ..hub import Hub
from .keys import CONFIG_KEY, ENGINE_KEY, HUB_KEY
from ..service import Engine

_LOGGER = logging.getLogger(__name__)
SAMPLE_INTERVAL_S = 5.0
HISTORY_S = 3600.0
ALERT_LATENCY_WINDOW_S = 60.0
"""The p95 latency alert looks at the last minute of requests."""


class Monitor:
    def __init__(self, config: EngineConfig, engine: Engine, hub: Hub | None = None, *,
                 interval_s: float = SAMPLE_INTERVAL_S, clock: Callable[[], float] = time.time) -> None:
        self.config, self.engine, self.hub = config, engine, hub
        self.interval_s = interval_s
        self.alerts = Alerts(config.alerts, clock=clock)
        self.history = History(interval_s=interval_s, keep_s=HISTORY_S)
        self.energy = EnergyMeter(config.cost, gpu=engine.gpu, rapl=Rapl.open(config.cost.rapl_dir),
                                  clock=clock)
        self._clock = clock
        self._last_mono = time.monotonic()
        self._last_cache = self._cache_counts()
        self._task: asyncio.Task[None] | None = None

    # -- the snapshot ------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """``GET /v1/status``; ``/metrics`` renders the same."""
        out = {**self.engine.status(), **self.engine.metrics.accounting()}
        out["speech"] = self.hub.status() if self.hub is not None else None
        out["alerts"] = self.alerts.to_list()
        out["alert_rules"] = list(self.alerts.rules)
        out["cost"] = self.energy.status()
        out["queue_length"] = self.queue_length()
        return out

    def queue_length(self) -> int:
        """Utterances waiting to be spoken plus requests waiting for synthesis."""
        speech = len(self.hub.queue) if self.hub is not None else 0
        return speech + self.engine.scheduler.queued

    def _cache_counts(self) -> tuple[int, int]:
        cache = self.engine.cache
        return (cache.stats.hits, cache.stats.misses) if cache is not None else (0, 0)

    # -- sampling ----------------------------------------------------------------------------------
    def sample(self) -> Sample:
        """Take one sample: energy, alerts and the history (the background task calls this)."""
        now_mono = time.monotonic()
        metrics = self.engine.metrics
        metrics.sweep()  # count finished jobs and let their audio go
        p50 = metrics.latencies.percentile(0.5, since=self._last_mono)
        p95 = metrics.latencies.percentile(0.95, since=self._last_mono)
        p95_alert = metrics.latencies.percentile(0.95, since=now_mono - ALERT_LATENCY_WINDOW_S)
        metrics.latencies.forget_before(min(self._last_mono, now_mono - ALERT_LATENCY_WINDOW_S))
        self._last_mono = now_mono
        hits, misses = self._cache_counts()
        d_hits, d_misses = hits - self._last_cache[0], misses - self._last_cache[1]
        self._last_cache = (hits, misses)
        router = self.engine.router
        stats = router.stats if router is not None else {}
        self.energy.tick(busy={n: s.synth_seconds for n, s in stats.items()},
                         served={n: s.served for n, s in stats.items()})
        gpu = self.engine.gpu
        reading = gpu.reading() if gpu is not None and gpu.mode == "gpu" else None
        queue = self.queue_length()
        self.alerts.update({
            "gpu_temperature": reading.temperature_c if reading is not None else None,
            "gpu_memory": reading.memory_percent if reading is not None else None,
            "queue_length": float(queue),
            "latency_p95": p95_alert * 1000 if p95_alert is not None else 0.0,
        })
        sample = Sample(
            t=round(self._clock(), 3), latency_p50_ms=_ms(p50), latency_p95_ms=_ms(p95),
            queue_length=queue,
            cache_hit_rate=round(d_hits / (d_hits + d_misses), 4) if d_hits + d_misses else None,
            gpu_temperature_c=reading.temperature_c if reading is not None else None,
            vram_used_bytes=reading.memory_used_bytes if reading is not None else None,
            gpu_power_w=reading.power_w if reading is not None else None,
            power_w=None if self.energy.power_w is None else round(self.energy.power_w, 2))
        self.history.add(sample)
        return sample

    def start(self) -> None:
        self.sample()  # the energy meter's baseline
        self._task = asyncio.get_running_loop().create_task(self._run(), name="monitor-sampler")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                self.sample()
            except Exception:  # a bad reading must not end the charts
                _LOGGER.exception("Monitoring sample failed; going on")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def on_stage(self, kind: str, event: dict[str, Any]) -> None:
        """A stage observer: notes each played job's source for the per-source metrics."""
        if kind == "play" and isinstance(event.get("job"), str):
            self.engine.metrics.note_source(event["job"], str(event.get("source", "")))


MONITOR_KEY = web.AppKey("monitor", Monitor)


def active_alerts(app: web.Application) -> list[dict[str, object]]:
    """The ``alerts`` of ``GET /health`` (the OBS plugin's status line)."""
    return app[MONITOR_KEY].alerts.to_list() if MONITOR_KEY in app else []


async def get_status(request: web.Request) -> web.Response:
    return web.json_response(request.app[MONITOR_KEY].status())


async def get_history(request: web.Request) -> web.Response:
    raw = request.query.get("minutes", "60")
    if not raw.isdigit() or not 1 <= int(raw) <= HISTORY_S / 60:
        raise BadRequest(f"'minutes' must be a whole number from 1 to {HISTORY_S / 60:.0f}")
    monitor = request.app[MONITOR_KEY]
    samples = monitor.history.since(time.time() - int(raw) * 60)
    return web.json_response({"interval_s": monitor.interval_s, "minutes": int(raw),
                              "samples": [s.to_dict() for s in samples]})


async def _monitor_ctx(app: web.Application) -> AsyncIterator[None]:
    engine, hub = app[ENGINE_KEY], app.get(HUB_KEY)
    monitor = Monitor(app[CONFIG_KEY], engine, hub)
    if hub is not None:
        hub.stage.observers.append(monitor.on_stage)
    engine.metrics.status_source = monitor.status
    monitor.start()
    app[MONITOR_KEY] = monitor
    yield
    await monitor.close()
    engine.metrics.status_source = None


def setup(app: web.Application) -> None:
    """Add ``/v1/status`` and ``/v1/history``; the monitor starts after the hub."""
    app.cleanup_ctx.append(_monitor_ctx)
    app.router.add_get("/v1/status", get_status)
    app.router.add_get("/v1/history", get_history)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)
