"""Prometheus metrics (``GET /metrics``) for dashboards and alerts.

Counters and gauges are read from the engine's own status at scrape time (one source of truth
with ``/health``); latencies are histograms observed as jobs finish. Each engine has its own
registry, so several engines in one process (tests, scale-out) never mix their numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

if TYPE_CHECKING:
    from .jobs import Job
    from .service import Engine

_BUCKETS = (0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0)


class Metrics:
    def __init__(self, engine: Engine) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_StatusCollector(engine))
        self.first_audio = Histogram(
            "tts_time_to_first_audio_seconds", "Request arrival to first audio", ["backend", "cached"],
            buckets=_BUCKETS, registry=self.registry)
        self.total = Histogram(
            "tts_request_seconds", "Request arrival to last audio", ["backend", "cached"],
            buckets=_BUCKETS, registry=self.registry)

    def observe(self, job: Job) -> None:
        if job.backend is None or job.first_audio is None or job.finished is None:
            return
        labels = (job.backend, str(job.cached).lower())
        self.first_audio.labels(*labels).observe(job.first_audio - job.created)
        self.total.labels(*labels).observe(job.finished - job.created)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _StatusCollector:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        status: dict[str, Any] = self.engine.status()
        queue, cache, gpu = status["queue"], status["cache"], status["gpu"]
        yield _gauge("tts_queue_running", "Syntheses running now", queue["running"])
        yield _gauge("tts_queue_waiting", "Requests waiting in the queue", queue["queued"])
        for key in ("expired", "refused_busy", "deduplicated", "completed"):
            yield _counter(f"tts_queue_{key}", f"Requests {key.replace('_', ' ')}", queue[key])
        if cache.get("enabled"):
            yield _counter("tts_cache_hits", "Cache hits", cache["hits"])
            yield _counter("tts_cache_misses", "Cache misses", cache["misses"])
            yield _gauge("tts_cache_bytes", "Cache size on disk", cache["size_bytes"])
            yield _gauge("tts_cache_entries", "Clips in the cache", cache["entries"])
        served = CounterMetricFamily("tts_backend_requests", "Backend outcomes",
                                     labels=["backend", "outcome"])
        up = GaugeMetricFamily("tts_backend_available", "1 if the backend can take work", labels=["backend"])
        for name, b in status["backends"].items():
            up.add_metric([name], 1.0 if b.get("available") else 0.0)
            for outcome in ("served", "failed", "skipped"):
                served.add_metric([name, outcome], b.get(outcome, 0))
        yield served
        yield up
        for key, help_text in (("temperature_c", "GPU temperature"), ("power_w", "GPU power draw"),
                               ("memory_used_percent", "GPU memory in use"),
                               ("energy_wh", "GPU energy used since start"), ("cost", "Power cost so far")):
            if isinstance(gpu.get(key), (int, float)):
                yield _gauge(f"tts_gpu_{key}", help_text, gpu[key])


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)
