"""Electricity cost, live: energy measured where the machine lets us, priced at ``cost.price_per_kwh``.

Where the energy comes from, per part of the machine:

- the GPU: NVML's total energy counter, or its power readings integrated over time, through
  ``engine.gpu.GpuMonitor`` (``energy_j``);
- the CPU package: RAPL's counters (``/sys/class/powercap/intel-rapl:N/energy_uj``, microjoules,
  wrapping at ``max_energy_range_uj``) where they are readable (root only on Linux >= 5.10);
- otherwise, when neither can be read, the configured wattages (``cost.idle_watts`` when idle,
  ``cost.load_watts`` while synthesizing: the user guide's RTX 4090 table).

``EnergyMeter.tick`` is called every few seconds (the monitor's sampler). Each interval's energy is
attributed to the backends by the share of the interval they spent synthesizing; the rest is idle.
That gives today's energy and cost, a projection per day at today's average power, and a cost per
1,000 messages per backend.
"""

from __future__ import annotations

import datetime
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import CostConfig

_LOGGER = logging.getLogger(__name__)
_PACKAGE = re.compile(r"intel-rapl:\d+")
"""Top-level RAPL zones are CPU packages; ``intel-rapl:0:0`` (cores) and the like are inside them."""
JOULES_PER_KWH = 3_600_000.0


@dataclass
class _Zone:
    path: Path
    max_range_uj: int
    last_uj: int


class Rapl:
    """The CPU packages' energy counters; see the module docstring. Build it with ``Rapl.open``."""

    def __init__(self, zones: list[_Zone]) -> None:
        self._zones = zones

    @classmethod
    def open(cls, root: str | Path) -> Rapl | None:
        """The readable package zones under ``root``; ``None`` when there are none."""
        zones = []
        base = Path(root)
        try:
            candidates = sorted(p for p in base.iterdir() if _PACKAGE.fullmatch(p.name))
        except OSError:
            return None
        for path in candidates:
            try:
                now = int((path / "energy_uj").read_text().strip())
                max_range = int((path / "max_energy_range_uj").read_text().strip())
            except (OSError, ValueError) as exc:
                _LOGGER.info("RAPL counter %s is not readable (%s); CPU energy not measured", path, exc)
                continue
            zones.append(_Zone(path, max_range, now))
        return cls(zones) if zones else None

    def read_joules(self) -> float | None:
        """Joules used by all packages since the last read (``None`` if a counter went unreadable)."""
        total_uj = 0
        for zone in self._zones:
            try:
                now = int((zone.path / "energy_uj").read_text().strip())
            except (OSError, ValueError):
                return None
            delta = now - zone.last_uj
            if delta < 0:  # the counter wrapped around
                delta += zone.max_range_uj
            zone.last_uj = now
            total_uj += delta
        return total_uj / 1e6


@dataclass
class BackendEnergy:
    """Energy attributed to one backend since the engine started."""

    joules: float = 0.0
    messages: int = 0


@dataclass
class EnergyTotals:
    gpu: float = 0.0
    cpu: float = 0.0
    model: float = 0.0
    """Joules estimated from ``idle_watts``/``load_watts`` (nothing could be read)."""

    @property
    def total(self) -> float:
        return self.gpu + self.cpu + self.model

    def add(self, gpu: float, cpu: float, model: float) -> None:
        self.gpu += gpu
        self.cpu += cpu
        self.model += model

    def to_dict(self) -> dict[str, float]:
        return {"gpu": round(self.gpu, 3), "cpu": round(self.cpu, 3), "model": round(self.model, 3),
                "total": round(self.total, 3)}


@dataclass
class _Baseline:
    at: float
    gpu_j: float | None
    busy: dict[str, float]
    served: dict[str, int]


@dataclass
class EnergyMeter:
    config: CostConfig
    gpu: Any = None
    """``engine.gpu.GpuMonitor`` (or ``None``): its ``energy_j``, ``energy_method`` and ``mode``."""
    rapl: Rapl | None = None
    clock: Callable[[], float] = time.time
    """Wall-clock seconds (today's energy restarts at local midnight)."""
    today: EnergyTotals = field(default_factory=EnergyTotals)
    total: EnergyTotals = field(default_factory=EnergyTotals)
    backends: dict[str, BackendEnergy] = field(default_factory=dict)
    power_w: float | None = None
    """Average power over the last interval."""
    _day: datetime.date | None = None
    _today_seconds: float = 0.0
    _last: _Baseline | None = None

    def _gpu_measured(self) -> bool:
        return (self.gpu is not None and getattr(self.gpu, "mode", "") == "gpu"
                and bool(getattr(self.gpu, "energy_method", "")))

    def tick(self, *, busy: dict[str, float], served: dict[str, int]) -> None:
        """Account the energy since the last tick. ``busy``: each backend's synthesis seconds since
        start; ``served``: each backend's messages served since start (both cumulative)."""
        now = self.clock()
        if self.gpu is not None and getattr(self.gpu, "mode", "") == "gpu":
            self.gpu.reading()  # fresh enough: at most the monitor's max_age old
        gpu_j = float(self.gpu.energy_j) if self._gpu_measured() else None
        cpu_j = self.rapl.read_joules() if self.rapl is not None else None
        last, self._last = self._last, _Baseline(now, gpu_j, dict(busy), dict(served))
        if last is None:
            return
        dt = now - last.at
        if dt <= 0:
            return
        busy_delta = {b: max(0.0, s - last.busy.get(b, 0.0)) for b, s in busy.items()}
        gpu_part = max(0.0, gpu_j - last.gpu_j) if gpu_j is not None and last.gpu_j is not None else 0.0
        cpu_part = cpu_j or 0.0
        model_part = 0.0
        if gpu_j is None and cpu_j is None:
            load = min(1.0, sum(busy_delta.values()) / dt)
            c = self.config
            model_part = dt * (c.idle_watts + (c.load_watts - c.idle_watts) * load)
        joules = gpu_part + cpu_part + model_part
        self._roll_day(now)
        self.today.add(gpu_part, cpu_part, model_part)
        self._today_seconds += dt
        self.total.add(gpu_part, cpu_part, model_part)
        self.power_w = joules / dt
        shares = {b: s / dt for b, s in busy_delta.items()}
        scale = 1.0 / max(1.0, sum(shares.values()))  # concurrent jobs share the interval's energy
        for name in set(busy) | set(served):
            entry = self.backends.setdefault(name, BackendEnergy())
            entry.joules += joules * shares.get(name, 0.0) * scale
            entry.messages += max(0, served.get(name, 0) - last.served.get(name, 0))

    def _roll_day(self, now: float) -> None:
        day = datetime.datetime.fromtimestamp(now).date()
        if day != self._day:
            self._day, self.today, self._today_seconds = day, EnergyTotals(), 0.0

    def cost(self, joules: float) -> float:
        return joules / JOULES_PER_KWH * self.config.price_per_kwh

    def status(self) -> dict[str, Any]:
        """The ``cost`` section of ``/v1/status``."""
        gpu = getattr(self.gpu, "energy_method", "") if self._gpu_measured() else None
        projected = None
        if self._today_seconds > 0:
            projected = self.cost(self.today.total / self._today_seconds * 86400.0)
        backends = {}
        for name, b in sorted(self.backends.items()):
            per_1000 = self.cost(b.joules / b.messages * 1000) if b.messages else None
            backends[name] = {"energy_j": round(b.joules, 3), "messages": b.messages,
                              "cost_per_1000_messages": _round(per_1000)}
        return {
            "price_per_kwh": self.config.price_per_kwh, "currency": self.config.currency,
            "measured": {"gpu": gpu or None, "cpu": "rapl" if self.rapl is not None else None,
                         "model": gpu is None and self.rapl is None},
            "power_w": None if self.power_w is None else round(self.power_w, 2),
            "energy_today_j": self.today.to_dict(), "energy_total_j": self.total.to_dict(),
            "energy_today_kwh": round(self.today.total / JOULES_PER_KWH, 6),
            "cost_today": _round(self.cost(self.today.total)),
            "cost_per_day_projected": _round(projected),
            "backends": backends,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
