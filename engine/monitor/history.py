"""One hour of samples for the dashboard's charts (``GET /v1/history``), in bounded memory.

The monitor's sampler adds one ``Sample`` every ``interval_s`` seconds; the ring buffer keeps the
last ``keep_s`` seconds of them (720 samples at 5 s for an hour) and drops the oldest.
Latencies are kept as (monotonic time, seconds) in their own bounded window so each sample's
p50/p95 covers only the requests of its interval.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass

MAX_LATENCIES = 10_000
"""Most latencies kept between two samples (a flood is sampled by its latest requests)."""


@dataclass(frozen=True)
class Sample:
    t: float
    """Wall-clock seconds."""
    latency_p50_ms: float | None
    """Time to first audio over the interval (``None``: no request in it)."""
    latency_p95_ms: float | None
    queue_length: int
    cache_hit_rate: float | None
    """Hits / lookups over the interval (``None``: no lookup in it)."""
    gpu_temperature_c: float | None
    vram_used_bytes: int | None
    gpu_power_w: float | None
    power_w: float | None
    """All measured (or modelled) power: ``engine.cost``."""

    def to_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


class History:
    def __init__(self, *, interval_s: float = 5.0, keep_s: float = 3600.0) -> None:
        self.interval_s = interval_s
        self._samples: deque[Sample] = deque(maxlen=max(1, math.ceil(keep_s / interval_s)))

    @property
    def capacity(self) -> int:
        return self._samples.maxlen or 0

    def add(self, sample: Sample) -> None:
        self._samples.append(sample)

    def since(self, t: float) -> list[Sample]:
        return [s for s in self._samples if s.t >= t]

    def __len__(self) -> int:
        return len(self._samples)

    def latest(self) -> Sample | None:
        return self._samples[-1] if self._samples else None


class LatencyWindow:
    """Recent latencies: percentiles over the last interval or the last minute (alerts)."""

    def __init__(self, *, max_items: int = MAX_LATENCIES) -> None:
        self._items: deque[tuple[float, float]] = deque(maxlen=max_items)

    def add(self, at: float, seconds: float) -> None:
        self._items.append((at, seconds))

    def percentile(self, q: float, *, since: float) -> float | None:
        """The ``q`` quantile (0-1, nearest rank) of the latencies at or after ``since``."""
        values = sorted(v for at, v in self._items if at >= since)
        if not values:
            return None
        rank = max(1, math.ceil(q * len(values)))
        return values[rank - 1]

    def forget_before(self, t: float) -> None:
        while self._items and self._items[0][0] < t:
            self._items.popleft()
