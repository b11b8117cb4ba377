"""A stand-in for the ``pynvml`` module (nvidia-ml-py) with scripted GPU readings.

It has the functions and errors ``engine.gpu`` calls, by the same names; tests set
``temperature_c``, ``memory_used_bytes``, ``power_mw`` ... and count the calls made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

NVML_TEMPERATURE_GPU = 0


class NVMLError(Exception):
    pass


class NVMLError_LibraryNotFound(NVMLError):
    pass


class NVMLError_NotSupported(NVMLError):
    pass


@dataclass
class FakeNvml:
    temperature_c: float = 55.0
    memory_used_bytes: int = 2 * 2**30
    memory_total_bytes: int = 24 * 2**30
    power_mw: int = 60_000
    utilization_percent: int = 5
    name: str = "Fake GeForce RTX 4090"
    library_present: bool = True
    device_count: int = 1
    fail_reads: bool = False
    energy_mj: int | None = None
    """The board's total energy counter (mJ); ``None``: not supported, as on pre-Volta boards."""
    calls: dict[str, int] = field(default_factory=dict)

    NVMLError = NVMLError
    NVMLError_LibraryNotFound = NVMLError_LibraryNotFound
    NVML_TEMPERATURE_GPU = NVML_TEMPERATURE_GPU

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        if self.fail_reads and name.startswith("nvmlDeviceGet") and name != "nvmlDeviceGetHandleByIndex":
            raise NVMLError("GPU is lost")

    def nvmlInit(self) -> None:
        self._count("nvmlInit")
        if not self.library_present:
            raise NVMLError_LibraryNotFound("NVML Shared Library Not Found")

    def nvmlShutdown(self) -> None:
        self._count("nvmlShutdown")

    def nvmlDeviceGetHandleByIndex(self, index: int) -> object:
        self._count("nvmlDeviceGetHandleByIndex")
        if index >= self.device_count:
            raise NVMLError("Invalid Argument")
        return ("handle", index)

    def nvmlDeviceGetName(self, handle: object) -> str:
        self._count("nvmlDeviceGetName")
        return self.name

    def nvmlDeviceGetTemperature(self, handle: object, sensor: int) -> int:
        self._count("nvmlDeviceGetTemperature")
        return int(self.temperature_c)

    def nvmlDeviceGetMemoryInfo(self, handle: object) -> SimpleNamespace:
        self._count("nvmlDeviceGetMemoryInfo")
        return SimpleNamespace(used=self.memory_used_bytes, total=self.memory_total_bytes,
                               free=self.memory_total_bytes - self.memory_used_bytes)

    def nvmlDeviceGetPowerUsage(self, handle: object) -> int:
        self._count("nvmlDeviceGetPowerUsage")
        return self.power_mw

    def nvmlDeviceGetUtilizationRates(self, handle: object) -> SimpleNamespace:
        self._count("nvmlDeviceGetUtilizationRates")
        return SimpleNamespace(gpu=self.utilization_percent, memory=0)

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: object) -> int:
        self._count("nvmlDeviceGetTotalEnergyConsumption")
        if self.energy_mj is not None:
            return self.energy_mj
        raise NVMLError_NotSupported("Not Supported")  # as on pre-Volta boards: power is integrated


class Clock:
    """A settable monotonic clock."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
