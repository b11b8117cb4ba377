"""Prometheus metrics (``GET /metrics``) and the request accounting behind ``GET /v1/status``.

One source of truth: ``Metrics.snapshot()`` is the JSON of ``/v1/status`` (the engine's status, the
hub's, request counts, alerts, cost, the process), and ``/metrics`` renders that same snapshot
(``engine.metrics_families``) plus the latency histograms observed as jobs finish. Each engine has
its own registry, so several engines in one process (tests, scale-out) never mix their numbers.

Label values are bounded: backends come from config, sources from the known source names
(anything else is ``other``), outcomes from the error codes; no user name or text is a label.
"""

from __future__ import annotations

import os
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import Metric

from .history import LatencyWindow
from .families import families

if TYPE_CHECKING:
    from ..speech.jobs import Job


class HasStatus(Protocol):
    """What the metrics read of the engine: its ``/health`` status."""

    def status(self) -> dict[str, Any]: ...

_BUCKETS = (0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0, 10.0)
TRACKED_JOBS = 4096
"""Jobs awaiting their outcome at most (older ones are counted as they are pushed out)."""
SWEEP_AT = 64
"""Finished jobs are counted and let go once this many are tracked, so no job's audio is kept
alive here between scrapes (the monitor also sweeps every sample)."""
KNOWN_SOURCES = frozenset({"api", "hotkey", "scene", "test", "obs", "speakerbot"})
"""Sources that are not event sources of ``engine.sources`` but may name an utterance's origin."""
_SKIP_CLASSES = (("rate limited", "rate_limited"), ("circuit", "breaker_open"), ("breaker", "breaker_open"),
                 ("GPU", "gpu_busy"), ("no voice", "no_voice"), ("failed", "failed"),
                 ("not installed", "unavailable"), ("disabled", "disabled"))


class Metrics:
    def __init__(self, engine: HasStatus) -> None:
        self.engine = engine
        self.registry = CollectorRegistry()
        self.registry.register(_SnapshotCollector(self))
        self.first_audio = Histogram(
            "tts_time_to_first_audio_seconds", "Request arrival to first audio", ["backend", "cached"],
            buckets=_BUCKETS, registry=self.registry)
        self.synthesis = Histogram(
            "tts_synthesis_seconds", "Synthesis start to last audio (cache misses)", ["backend"],
            buckets=_BUCKETS, registry=self.registry)
        self.queue_wait = Histogram(
            "tts_queue_wait_seconds", "Time a request waited in the synthesis queue", ["priority"],
            buckets=_BUCKETS, registry=self.registry)
        self.latencies = LatencyWindow()
        """Recent times to first audio, for p50/p95 over an interval (history, alerts)."""
        self.requests: Counter[tuple[str, str, str]] = Counter()
        """(source, backend, outcome) -> finished requests."""
        self.fallbacks: Counter[tuple[str, str]] = Counter()
        """(backend, reason class) -> times a backend was skipped or failed over."""
        self.status_source: Callable[[], dict[str, Any]] | None = None
        """The monitor's full status (``engine.http.monitor``); without it, the engine's own."""
        self._tracked: OrderedDict[str, Job] = OrderedDict()
        self._sources: OrderedDict[str, str] = OrderedDict()
        self._known = KNOWN_SOURCES | _event_sources()

    # -- fed by the engine and the monitor ----------------------------------------------------------
    def track(self, job: Job) -> None:
        """A new job (``Engine``): counted by outcome once it is done."""
        self._tracked[job.id] = job
        if len(self._tracked) >= SWEEP_AT:
            self.sweep()
        while len(self._tracked) > TRACKED_JOBS:
            _, old = self._tracked.popitem(last=False)
            self._count(old)

    @property
    def pending(self) -> int:
        """Jobs tracked and not yet counted."""
        return len(self._tracked)

    def note_source(self, job_id: str, source: str) -> None:
        """The hub published a job for an utterance from ``source`` (the speech stage's play event)."""
        self._sources[job_id] = source if source in self._known else "other"
        while len(self._sources) > TRACKED_JOBS:
            self._sources.popitem(last=False)

    def observe(self, job: Job) -> None:
        """A job that finished with audio (``Engine``): its latencies."""
        if job.backend is None or job.first_audio is None or job.finished is None:
            return
        first = job.first_audio - job.created
        self.first_audio.labels(job.backend, str(job.cached).lower()).observe(first)
        self.latencies.add(job.first_audio, first)
        if not job.cached and job.started is not None:
            self.synthesis.labels(job.backend).observe(job.finished - job.started)

    def sweep(self) -> None:
        """Count the tracked jobs that are done."""
        for job_id, job in list(self._tracked.items()):
            if job.done:
                del self._tracked[job_id]
                self._count(job)

    def _count(self, job: Job) -> None:
        if job.state == "done":
            outcome = "cached" if job.cached else "served"
        elif job.state == "expired":
            outcome = "expired"
        else:
            outcome = job.error.code if job.error is not None else "failed"
        source = self._sources.pop(job.id, "api")
        self.requests[(source, job.backend or "none", outcome)] += 1
        for skip in job.skipped:
            self.fallbacks[(skip.backend, skip_class(skip.reason))] += 1
        if job.started is not None and not job.cached:
            self.queue_wait.labels(job.request.priority).observe(max(0.0, job.started - job.created))

    # -- read ----------------------------------------------------------------------------------------
    def accounting(self) -> dict[str, Any]:
        """Request outcomes, fallbacks and the process: the parts of the status the engine lacks."""
        self.sweep()
        now = time.monotonic()
        p50 = self.latencies.percentile(0.5, since=now - 60)
        p95 = self.latencies.percentile(0.95, since=now - 60)
        return {
            "requests": [{"source": s, "backend": b, "outcome": o, "count": n}
                         for (s, b, o), n in sorted(self.requests.items())],
            "fallbacks": [{"backend": b, "reason": r, "count": n}
                          for (b, r), n in sorted(self.fallbacks.items())],
            "rate_limited": {b: n for (b, r), n in sorted(self.fallbacks.items()) if r == "rate_limited"},
            "latency": {"first_audio_p50_ms": _ms(p50), "first_audio_p95_ms": _ms(p95), "window_s": 60},
            "process": process_status(),
        }

    def snapshot(self) -> dict[str, Any]:
        """What ``/v1/status`` shows and ``/metrics`` renders."""
        if self.status_source is not None:
            return self.status_source()
        return {**self.engine.status(), **self.accounting()}

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _SnapshotCollector:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield from families(self.metrics.snapshot())


def skip_class(reason: str) -> str:
    """A router skip reason as a label: ``rate_limited``, ``breaker_open``, ``gpu_busy`` ..."""
    for needle, label in _SKIP_CLASSES:
        if needle in reason:
            return label
    return "other"


def process_status() -> dict[str, Any]:
    """This process's CPU seconds (user + system) and resident memory."""
    times = os.times()
    return {"cpu_seconds": round(times.user + times.system, 3), "rss_bytes": _rss_bytes(),
            "pid": os.getpid()}


def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        try:
            import resource
        except ImportError:
            return None
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # peak, in KiB on Linux


def _event_sources() -> frozenset[str]:
    try:
        from ..sources import REGISTRY
    except ImportError:  # pragma: no cover
        return frozenset()
    return frozenset(REGISTRY)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)

