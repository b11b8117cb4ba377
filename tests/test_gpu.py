"""The GPU budget (engine/gpu.py): guards, caching, energy and modes, driven by scripted NVML
readings (tests/fake_nvml.py); plus the real nvidia-ml-py on this GPU-less machine."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from engine.config import GpuConfig
from engine.gpu import GpuMonitor, nvml_index
from tests.conftest import make_config, running_engine
from tests.fake_nvml import Clock, FakeNvml

GIB = 2**30


def monitor(nvml: FakeNvml, clock: Clock, **config: object) -> GpuMonitor:
    return GpuMonitor.create(GpuConfig(enabled=True, **config), nvml=nvml, clock=clock,  # type: ignore[arg-type]
                             sample_interval_s=0)


def test_real_nvml_without_a_gpu_means_cpu_fallback_and_never_raises() -> None:
    mon = GpuMonitor.create(GpuConfig(enabled=True), sample_interval_s=0)  # the real pynvml module
    try:
        if mon.mode == "gpu":  # a developer's machine with an NVIDIA GPU: readings are real
            assert mon.reading() is not None and mon.status()["memory_total_mb"] > 0
            return
        assert mon.mode == "cpu-fallback"
        assert mon.reason.startswith("NVML unavailable")
        assert mon.blocked_reason() is None and mon.torch_device() == "cpu"
        assert mon.status() == {"enabled": True, "mode": "cpu-fallback", "device": "cuda:0",
                                "memory_fraction": 0.7, "out_of_memory_events": 0, "reason": mon.reason}
    finally:
        mon.close()


def test_without_nvml_and_no_cpu_fallback_gpu_backends_are_disabled() -> None:
    mon = monitor(FakeNvml(library_present=False), Clock(), fallback_to_cpu=False)
    assert mon.mode == "disabled" and mon.torch_device() is None
    assert mon.blocked_reason() == ("GPU unavailable (NVML unavailable: NVML Shared Library Not Found) "
                                    "and performance.gpu.fallback_to_cpu is false")
    assert mon.status()["mode"] == "disabled"


def test_a_missing_or_non_cuda_device_falls_back() -> None:
    mon = monitor(FakeNvml(device_count=1), Clock(), device="cuda:3")
    assert (mon.mode, mon.reason) == ("cpu-fallback", "no GPU cuda:3 (Invalid Argument)")
    mon = monitor(FakeNvml(), Clock(), device="cpu")
    assert mon.mode == "cpu-fallback" and "not a CUDA device" in mon.reason


def test_nvml_index_follows_cuda_visible_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert (nvml_index("cuda"), nvml_index("cuda:1"), nvml_index("cpu")) == (0, 1, None)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert (nvml_index("cuda:0"), nvml_index("cuda:1")) == (2, 3)


def test_readings_are_cached_for_a_second() -> None:
    nvml, clock = FakeNvml(), Clock()
    mon = monitor(nvml, clock)
    for _ in range(50):
        assert mon.blocked_reason() is None
        clock.advance(0.01)
    assert nvml.calls["nvmlDeviceGetTemperature"] == 1
    clock.advance(1.0)
    mon.blocked_reason()
    assert nvml.calls["nvmlDeviceGetTemperature"] == 2


def test_temperature_guard_has_hysteresis_and_logs_once_per_episode(caplog: pytest.LogCaptureFixture) -> None:
    nvml, clock = FakeNvml(temperature_c=70), Clock()
    mon = monitor(nvml, clock)
    caplog.set_level(logging.INFO, logger="engine.gpu")

    def check(temp: float) -> str | None:
        nvml.temperature_c = temp
        clock.advance(1.5)
        return mon.blocked_reason()

    assert check(80) is None  # at the limit is fine
    reasons = [check(84) for _ in range(20)]
    assert set(reasons) == {"GPU temperature 84 °C over the 80 °C limit (resumes at 75 °C)"}
    assert check(77) is not None  # cooler, but not yet 5 °C under the limit
    assert check(75) is None
    assert check(90) is not None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    recoveries = [r for r in caplog.records if "GPU backends resume" in r.getMessage()]
    assert len(warnings) == 2 and len(recoveries) == 1
    assert mon.status()["guards"]["temperature"] == {"limit": 80.0, "resume": 75.0, "tripped": True,
                                                     "episodes": 2}


def test_memory_guard_uses_the_configured_percentage() -> None:
    nvml, clock = FakeNvml(memory_total_bytes=24 * GIB), Clock()
    mon = monitor(nvml, clock, max_memory_percent=90)

    def check(used_gib: float) -> str | None:
        nvml.memory_used_bytes = int(used_gib * GIB)
        clock.advance(1.5)
        return mon.blocked_reason()

    assert check(21) is None  # 87.5 %
    assert check(22) == "GPU memory use 92 % over the 90 % limit (resumes at 85 %)"
    assert check(21) is not None
    assert check(20) is None  # 83.3 %
    status = mon.status()
    memory = (status["memory_used_mb"], status["memory_total_mb"], status["memory_percent"])
    assert memory == (20480, 24576, 83.3)


def test_energy_is_power_integrated_over_time() -> None:
    nvml, clock = FakeNvml(power_mw=100_000), Clock()
    mon = monitor(nvml, clock)
    mon.reading()
    for _ in range(36):  # 36 s at 100 W = 1 Wh
        clock.advance(1.0)
        mon.reading()
    nvml.power_mw = 300_000  # a 300 W burst for 12 s: trapezoids give (100+300)/2 W for the first s
    for _ in range(12):
        clock.advance(1.0)
        mon.reading()
    expected_wh = 1.0 + (200 + 11 * 300) / 3600
    assert mon.energy_wh == pytest.approx(expected_wh)
    status = mon.status()
    assert status["power_w"] == 300.0 and status["energy_wh"] == round(expected_wh, 4)
    assert status["energy_method"] == "nvml-power"  # priced in engine.cost (tests/test_cost.py)


def test_the_boards_energy_counter_is_preferred_when_present() -> None:
    class CountingBoard(FakeNvml):
        millijoules = 5_000_000

        def nvmlDeviceGetTotalEnergyConsumption(self, handle: object) -> int:
            return self.millijoules

    nvml, clock = CountingBoard(), Clock()
    mon = monitor(nvml, clock)
    mon.reading()
    nvml.millijoules += 7_200_000  # 7.2 kJ = 2 Wh
    clock.advance(2)
    mon.reading()
    assert mon.energy_wh == pytest.approx(2.0)


def test_read_errors_never_fail_a_request_and_are_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    nvml, clock = FakeNvml(temperature_c=60), Clock()
    mon = monitor(nvml, clock)
    nvml.fail_reads = True
    for _ in range(5):
        clock.advance(2)
        assert mon.blocked_reason() is None
    assert mon.status()["read_error"] == "GPU is lost"
    assert len([r for r in caplog.records if "Cannot read GPU" in r.getMessage()]) == 1


def test_the_sampler_thread_reads_between_requests_and_close_stops_it() -> None:
    nvml = FakeNvml()
    mon = GpuMonitor.create(GpuConfig(enabled=True), nvml=nvml, sample_interval_s=0.02)
    deadline = time.monotonic() + 10
    while nvml.calls.get("nvmlDeviceGetPowerUsage", 0) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert nvml.calls["nvmlDeviceGetPowerUsage"] >= 3 and mon.energy_wh > 0
    mon.close()
    assert nvml.calls["nvmlShutdown"] == 1
    reads = nvml.calls["nvmlDeviceGetPowerUsage"]
    time.sleep(0.1)
    assert nvml.calls["nvmlDeviceGetPowerUsage"] == reads


def test_out_of_memory_events_are_counted() -> None:
    mon = monitor(FakeNvml(), Clock())
    mon.record_out_of_memory()
    assert mon.status()["out_of_memory_events"] == 1


async def test_health_reports_the_gpu_mode_and_power(tmp_path: Path) -> None:
    config = make_config(tmp_path, performance={"gpu": {"enabled": True}})
    async with running_engine(config, extra={"nvml": FakeNvml(power_mw=42_500)}) as engine:
        gpu = engine.engine.status()["gpu"]
        assert gpu["mode"] == "gpu" and gpu["power_w"] == 42.5
        assert gpu["blocked"] is None and "energy_wh" in gpu
    async with running_engine(config, extra={"nvml": FakeNvml(library_present=False)}) as engine:
        assert engine.engine.status()["gpu"]["mode"] == "cpu-fallback"
    config = make_config(tmp_path)  # GPU support off (the default): no monitor at all
    async with running_engine(config) as engine:
        assert engine.engine.status()["gpu"] == {"enabled": False}
