"""The GPU budget: NVML readings, temperature and memory guards, energy.

``GpuMonitor`` reads the NVIDIA GPU named by ``performance.gpu.device`` through NVML (the
``pynvml`` module of nvidia-ml-py): temperature, memory in use, power draw and utilization.
GPU backends (``Backend.uses_gpu``) are skipped while the GPU is above ``max_temperature_c`` or
``max_memory_percent`` and resume once it is back 5 °C / 5 points under the limit; each such
episode is logged once. Readings are cached for ``max_age_s`` so a request costs no NVML call.

With no NVML library or no GPU, the monitor never fails: its mode is ``"cpu-fallback"``
(GPU backends run on the CPU) or ``"disabled"`` (they are skipped), per ``fallback_to_cpu``.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .config import GpuConfig

_LOGGER = logging.getLogger(__name__)

TEMPERATURE_HYSTERESIS_C = 5.0
"""A hot GPU is used again once it is this many °C under ``max_temperature_c``."""
MEMORY_HYSTERESIS_PERCENT = 5.0
"""A full GPU is used again once its memory use is this many points under the limit."""


@dataclass(frozen=True)
class GpuReading:
    at: float
    """Monotonic time of the reading, in seconds."""
    temperature_c: float
    memory_used_bytes: int
    memory_total_bytes: int
    power_w: float | None
    """Power draw in watts (``None`` when the board does not report it)."""
    utilization_percent: float | None

    @property
    def memory_percent(self) -> float:
        return 100.0 * self.memory_used_bytes / self.memory_total_bytes if self.memory_total_bytes else 0.0


class Guard:
    """Trips above ``limit``, clears at or below ``resume``; logs each episode once."""

    def __init__(self, what: str, limit: float, resume: float, unit: str) -> None:
        self.what, self.limit, self.resume, self.unit = what, limit, resume, unit
        self.tripped = False
        self.episodes = 0
        self.value: float | None = None

    def update(self, value: float) -> None:
        self.value = value
        if not self.tripped and value > self.limit:
            self.tripped = True
            self.episodes += 1
            _LOGGER.warning("GPU %s %.0f%s is above the limit of %.0f%s: GPU backends are skipped "
                            "until it is back to %.0f%s", self.what, value, self.unit, self.limit,
                            self.unit, self.resume, self.unit)
        elif self.tripped and value <= self.resume:
            self.tripped = False
            _LOGGER.info("GPU %s is back to %.0f%s: GPU backends resume", self.what, value, self.unit)

    def reason(self) -> str:
        return (f"GPU {self.what} {self.value:.0f}{self.unit} over the {self.limit:.0f}{self.unit} limit "
                f"(resumes at {self.resume:.0f}{self.unit})")

    def status(self) -> dict[str, Any]:
        return {"limit": self.limit, "resume": self.resume, "tripped": self.tripped,
                "episodes": self.episodes}


def nvml_index(device: str) -> int | None:
    """The NVML index of a torch device name (``cuda``, ``cuda:1``), or ``None`` if not CUDA.

    torch numbers the GPUs listed in ``CUDA_VISIBLE_DEVICES``; NVML numbers all of them."""
    match = re.fullmatch(r"cuda(?::(\d+))?", device.strip())
    if match is None:
        return None
    index = int(match.group(1) or 0)
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    if visible and all(v.isdigit() for v in visible) and index < len(visible):
        return int(visible[index])
    return index


class GpuMonitor:
    """Watches one GPU; see the module docstring. Build it with ``GpuMonitor.create``."""

    def __init__(self, config: GpuConfig, *, nvml: Any = None, handle: Any = None, mode: str,
                 reason: str = "", name: str = "", clock: Callable[[], float] = time.monotonic,
                 max_age_s: float = 1.0) -> None:
        self.config = config
        self.mode = mode
        """``"gpu"``, ``"cpu-fallback"`` or ``"disabled"``."""
        self.reason = reason
        """Why the mode is not ``"gpu"``."""
        self.name = name
        self.max_age_s = max_age_s
        self.out_of_memory_events = 0
        self._nvml, self._handle, self._clock = nvml, handle, clock
        self._lock = threading.Lock()
        self._reading: GpuReading | None = None
        self._read_error = ""
        self._energy_j = 0.0
        self._counter_start_mj: int | None = None
        self.energy_method = ""
        """``"nvml-counter"`` (the board's total energy), ``"nvml-power"`` (power integrated) or
        ``""`` (nothing read yet)."""
        self.temperature = Guard("temperature", config.max_temperature_c,
                                 config.max_temperature_c - TEMPERATURE_HYSTERESIS_C, " °C")
        self.memory = Guard("memory use", config.max_memory_percent,
                            config.max_memory_percent - MEMORY_HYSTERESIS_PERCENT, " %")
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None

    @classmethod
    def create(cls, config: GpuConfig, *, nvml: Any = None, clock: Callable[[], float] = time.monotonic,
               max_age_s: float = 1.0, sample_interval_s: float = 5.0) -> GpuMonitor:
        """Open the GPU through NVML (``nvml``: the ``pynvml`` module or a stand-in).

        Never raises: without a usable GPU the monitor is in ``cpu-fallback`` or ``disabled`` mode.
        With ``sample_interval_s > 0`` a daemon thread reads the GPU that often, so the energy
        estimate covers the time between requests."""
        def without(reason: str) -> GpuMonitor:
            mode = "cpu-fallback" if config.fallback_to_cpu else "disabled"
            _LOGGER.warning("No usable GPU (%s): GPU backends %s", reason,
                            "run on the CPU" if mode == "cpu-fallback" else "are disabled")
            return cls(config, mode=mode, reason=reason, clock=clock, max_age_s=max_age_s)

        index = nvml_index(config.device)
        if index is None:
            return without(f"performance.gpu.device {config.device!r} is not a CUDA device")
        if nvml is None:
            try:
                nvml = importlib.import_module("pynvml")
            except ImportError:
                return without("nvidia-ml-py is not installed")
        nvml_error: Any = getattr(nvml, "NVMLError", OSError)
        try:
            nvml.nvmlInit()
        except (nvml_error, OSError) as exc:
            return without(f"NVML unavailable: {exc}")
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            name = nvml.nvmlDeviceGetName(handle) if hasattr(nvml, "nvmlDeviceGetName") else ""
        except (nvml_error, OSError) as exc:
            _shutdown(nvml)
            return without(f"no GPU {config.device} ({exc})")
        name = name.decode() if isinstance(name, bytes) else str(name)
        monitor = cls(config, nvml=nvml, handle=handle, mode="gpu", name=name, clock=clock,
                      max_age_s=max_age_s)
        _LOGGER.info("Watching GPU %s (%s) through NVML", config.device, name or "unnamed")
        if sample_interval_s > 0:
            monitor.start_sampler(sample_interval_s)
        return monitor

    # -- what the engine and backends ask ------------------------------------------------------

    def torch_device(self) -> str | None:
        """Where GPU backends should run: the CUDA device, ``"cpu"``, or ``None`` (disabled)."""
        return {"gpu": self.config.device, "cpu-fallback": "cpu"}.get(self.mode)

    def fall_back(self, reason: str) -> None:
        """A backend found the GPU unusable (e.g. torch sees no CUDA device): stop using it."""
        if self.mode != "gpu":
            return
        self.mode = "cpu-fallback" if self.config.fallback_to_cpu else "disabled"
        self.reason = reason
        _LOGGER.warning("GPU %s unusable (%s): GPU backends %s", self.config.device, reason,
                        "run on the CPU" if self.mode == "cpu-fallback" else "are disabled")

    def record_out_of_memory(self) -> None:
        self.out_of_memory_events += 1

    def blocked_reason(self) -> str | None:
        """Why GPU backends should be skipped right now (``None``: go ahead)."""
        if self.mode == "disabled":
            return f"GPU unavailable ({self.reason}) and performance.gpu.fallback_to_cpu is false"
        if self.mode != "gpu":
            return None
        self.reading()
        for guard in (self.temperature, self.memory):
            if guard.tripped:
                return guard.reason()
        return None

    def reading(self) -> GpuReading | None:
        """The latest reading, at most ``max_age_s`` old (``None`` if the GPU cannot be read)."""
        if self.mode != "gpu":
            return None
        with self._lock:
            last = self._reading
            if last is not None and self._clock() - last.at < self.max_age_s:
                return last
            return self._sample()

    def _sample(self) -> GpuReading | None:
        nvml, handle = self._nvml, self._handle
        try:
            temp = nvml.nvmlDeviceGetTemperature(handle, getattr(nvml, "NVML_TEMPERATURE_GPU", 0))
            mem = nvml.nvmlDeviceGetMemoryInfo(handle)
            power = _optional(nvml, lambda: nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0)
            util = _optional(nvml, lambda: float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu))
            counter = _optional(nvml, lambda: int(nvml.nvmlDeviceGetTotalEnergyConsumption(handle)))
        except Exception as exc:  # an NVML error must never fail a request
            if not self._read_error:
                _LOGGER.warning("Cannot read GPU %s through NVML: %s", self.config.device, exc)
            self._read_error = str(exc) or type(exc).__name__
            return self._reading
        if self._read_error:
            _LOGGER.info("GPU %s readable again", self.config.device)
            self._read_error = ""
        reading = GpuReading(self._clock(), float(temp), int(mem.used), int(mem.total), power, util)
        self._add_energy(reading, counter)
        self._reading = reading
        self.temperature.update(reading.temperature_c)
        self.memory.update(reading.memory_percent)
        return reading

    def _add_energy(self, reading: GpuReading, counter_mj: int | None) -> None:
        """Energy since start: the board's own counter when it has one (Volta and later),
        otherwise the power draw integrated over time (trapezoids between readings)."""
        if counter_mj is not None:
            if self._counter_start_mj is None:
                self._counter_start_mj = counter_mj
            self._energy_j = (counter_mj - self._counter_start_mj) / 1000.0
            self.energy_method = "nvml-counter"
            return
        last = self._reading
        if reading.power_w is not None:
            self.energy_method = "nvml-power"
        if last is not None and reading.power_w is not None and last.power_w is not None:
            self._energy_j += (reading.at - last.at) * (reading.power_w + last.power_w) / 2.0

    @property
    def energy_j(self) -> float:
        """GPU energy since the monitor started, in joules (priced by ``engine.cost``)."""
        return self._energy_j

    @property
    def energy_wh(self) -> float:
        return self._energy_j / 3600.0

    def status(self) -> dict[str, Any]:
        """The GPU section of ``GET /health``."""
        out: dict[str, Any] = {"enabled": True, "mode": self.mode, "device": self.config.device,
                               "memory_fraction": self.config.memory_fraction,
                               "out_of_memory_events": self.out_of_memory_events}
        if self.mode != "gpu":
            return {**out, "reason": self.reason}
        blocked = self.blocked_reason()
        r = self._reading
        out.update({"name": self.name, "blocked": blocked, "read_error": self._read_error or None,
                    "guards": {"temperature": self.temperature.status(), "memory": self.memory.status()},
                    "energy_wh": round(self.energy_wh, 4), "energy_method": self.energy_method})
        if r is not None:
            out.update({"temperature_c": r.temperature_c, "power_w": r.power_w,
                        "utilization_percent": r.utilization_percent,
                        "memory_used_bytes": r.memory_used_bytes,
                        "memory_total_bytes": r.memory_total_bytes,
                        "memory_used_mb": round(r.memory_used_bytes / 2**20),
                        "memory_total_mb": round(r.memory_total_bytes / 2**20),
                        "memory_percent": round(r.memory_percent, 1),
                        "reading_age_s": round(self._clock() - r.at, 2)})
        return out

    # -- background sampling and shutdown ------------------------------------------------------

    def start_sampler(self, interval_s: float) -> None:
        def run() -> None:
            while not self._stop.wait(interval_s):
                with self._lock:
                    self._sample()

        self._sampler = threading.Thread(target=run, name="gpu-sampler", daemon=True)
        self._sampler.start()

    def close(self) -> None:
        self._stop.set()
        if self._sampler is not None:
            self._sampler.join(timeout=2.0)
        if self._nvml is not None:
            _shutdown(self._nvml)
            self._nvml = None
            self.mode, self.reason = "disabled", "closed"


def _optional(nvml: Any, read: Callable[[], Any]) -> Any:
    """A reading some boards lack (power, utilization, energy counter): ``None`` if unsupported."""
    try:
        return read()
    except (getattr(nvml, "NVMLError", OSError), AttributeError):
        return None


def _shutdown(nvml: Any) -> None:
    try:
        nvml.nvmlShutdown()
    except Exception as exc:  # shutting down must not fail the engine's close
        _LOGGER.debug("nvmlShutdown failed: %s", exc)
