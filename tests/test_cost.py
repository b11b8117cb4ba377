"""Energy and electricity cost with scripted readings: NVML's energy counter (tests/fake_nvml.py), a
fake RAPL folder whose counters the test advances (and wraps), and the idle/load wattage model;
then the same through a real engine's ``/v1/status`` and ``/metrics``."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import aiohttp
import pytest

from engine.config import CostConfig, GpuConfig
from engine.monitor.cost import EnergyMeter, Rapl
from engine.gpu import GpuMonitor
from engine.http.monitor import MONITOR_KEY
from tests.conftest import make_config, running_engine
from tests.fake_nvml import Clock, FakeNvml

MAX_UJ = 262_143_328_850
"""``max_energy_range_uj`` of a real Intel package."""
NOON = datetime.datetime(2026, 12, 1, 12, 0).timestamp()


class FakeRapl:
    """A powercap folder: ``intel-rapl:N`` packages (and a core subzone that must be ignored)."""

    def __init__(self, root: Path, start_uj: tuple[int, ...] = (1_000_000, 5_000_000)) -> None:
        self.root = root
        for i, uj in enumerate(start_uj):
            zone = root / f"intel-rapl:{i}"
            zone.mkdir(parents=True)
            (zone / "max_energy_range_uj").write_text(f"{MAX_UJ}\n")
            self.set(i, uj)
        sub = root / "intel-rapl:0:0"
        sub.mkdir()
        (sub / "energy_uj").write_text("999999999\n")
        (sub / "max_energy_range_uj").write_text(f"{MAX_UJ}\n")

    def set(self, package: int, uj: int) -> None:
        (self.root / f"intel-rapl:{package}" / "energy_uj").write_text(f"{uj}\n")

    def get(self, package: int) -> int:
        return int((self.root / f"intel-rapl:{package}" / "energy_uj").read_text())

    def advance(self, package: int, uj: int) -> None:
        self.set(package, (self.get(package) + uj) % MAX_UJ)


def test_rapl_sums_the_packages_and_handles_wraparound(tmp_path: Path) -> None:
    rapl_dir = FakeRapl(tmp_path)
    rapl = Rapl.open(tmp_path)
    assert rapl is not None
    assert rapl.read_joules() == 0.0
    rapl_dir.advance(0, 12_500_000)
    rapl_dir.advance(1, 2_000_000)
    assert rapl.read_joules() == 14.5
    rapl_dir.set(0, MAX_UJ - 3_000_000)
    rapl.read_joules()
    rapl_dir.advance(0, 7_000_000)  # wraps to 4_000_000
    assert rapl_dir.get(0) == 4_000_000
    assert rapl.read_joules() == 7.0


def test_rapl_absent_or_unreadable_is_none(tmp_path: Path) -> None:
    assert Rapl.open(tmp_path / "missing") is None
    (tmp_path / "intel-rapl:0").mkdir()  # no energy_uj: as when only root may read it
    assert Rapl.open(tmp_path) is None


def test_gpu_counter_and_rapl_priced_attributed_and_projected(tmp_path: Path) -> None:
    clock = Clock(NOON)
    nvml = FakeNvml(energy_mj=50_000_000)
    gpu = GpuMonitor.create(GpuConfig(enabled=True), nvml=nvml, clock=clock, max_age_s=0,
                            sample_interval_s=0)
    rapl_dir = FakeRapl(tmp_path)
    meter = EnergyMeter(CostConfig(price_per_kwh=0.30, currency="€"), gpu=gpu,
                        rapl=Rapl.open(tmp_path), clock=clock)
    meter.tick(busy={"piper": 0.0, "xtts": 0.0}, served={"piper": 0, "xtts": 0})
    # 60 s: the GPU uses 18 kJ (300 W), the CPU 1.8 kJ (30 W); piper synthesized 15 s, xtts 30 s
    clock.advance(60)
    nvml.energy_mj = 68_000_000
    rapl_dir.advance(1, 1_800_000_000)
    meter.tick(busy={"piper": 15.0, "xtts": 30.0}, served={"piper": 10, "xtts": 2})
    status = meter.status()
    assert status["measured"] == {"gpu": "nvml-counter", "cpu": "rapl", "model": False}
    assert status["energy_today_j"] == {"gpu": 18000.0, "cpu": 1800.0, "model": 0.0, "total": 19800.0}
    assert status["power_w"] == 330.0
    assert status["energy_today_kwh"] == 0.0055  # 19.8 kJ / 3.6 MJ
    assert status["cost_today"] == pytest.approx(0.0055 * 0.30)
    assert status["cost_per_day_projected"] == pytest.approx(330 * 24 / 1000 * 0.30)
    piper, xtts = status["backends"]["piper"], status["backends"]["xtts"]
    assert piper["energy_j"] == 19800 * 15 / 60 and xtts["energy_j"] == 19800 * 30 / 60
    assert piper["messages"] == 10 and xtts["messages"] == 2
    assert piper["cost_per_1000_messages"] == pytest.approx(4950 / 10 * 1000 / 3.6e6 * 0.30)
    assert xtts["cost_per_1000_messages"] == pytest.approx(9900 / 2 * 1000 / 3.6e6 * 0.30)
    # the next 60 s idle: energy goes to no backend, and the projection follows the average power
    clock.advance(60)
    nvml.energy_mj = 69_800_000
    meter.tick(busy={"piper": 15.0, "xtts": 30.0}, served={"piper": 10, "xtts": 2})
    status = meter.status()
    assert status["energy_today_j"]["total"] == 21600.0 and status["power_w"] == 30.0
    assert status["backends"]["piper"]["energy_j"] == 4950.0
    assert status["cost_per_day_projected"] == pytest.approx(180 * 24 / 1000 * 0.30)
    gpu.close()


def test_without_readings_the_idle_and_load_wattages_are_used() -> None:
    clock = Clock(NOON)
    meter = EnergyMeter(CostConfig(), clock=clock)  # $0.12/kWh, 30 W idle, 400 W load
    meter.tick(busy={"piper": 0.0}, served={"piper": 0})
    clock.advance(10)
    meter.tick(busy={"piper": 2.5}, served={"piper": 4})  # a quarter of the 10 s synthesizing
    status = meter.status()
    assert status["measured"] == {"gpu": None, "cpu": None, "model": True}
    assert status["energy_today_j"]["model"] == 10 * 30 + 2.5 * 370  # 1225 J
    assert status["backends"]["piper"]["energy_j"] == 1225 * 0.25
    assert status["cost_today"] == round(1225 / 3.6e6 * 0.12, 6)
    clock.advance(10)
    meter.tick(busy={"piper": 40.0}, served={"piper": 5})  # busier than the interval: full load
    assert meter.status()["energy_today_j"]["model"] == 1225 + 4000


def test_today_starts_again_at_local_midnight() -> None:
    clock = Clock(datetime.datetime(2026, 12, 1, 23, 59, 50).timestamp())
    meter = EnergyMeter(CostConfig(idle_watts=100, load_watts=100), clock=clock)
    meter.tick(busy={}, served={})
    clock.advance(5)
    meter.tick(busy={}, served={})
    assert meter.status()["energy_today_j"]["total"] == 500
    clock.advance(10)  # 00:00:05 the next day
    meter.tick(busy={}, served={})
    status = meter.status()
    assert status["energy_today_j"]["total"] == 1000 and status["energy_total_j"]["total"] == 1500


async def test_cost_in_status_and_metrics_of_a_real_engine(tmp_path: Path) -> None:
    rapl_dir = FakeRapl(tmp_path / "powercap")
    nvml = FakeNvml(energy_mj=10_000_000)
    config = make_config(tmp_path, performance={"gpu": {"enabled": True}},
                         cost={"rapl_dir": str(tmp_path / "powercap"), "price_per_kwh": 0.5,
                               "currency": "€"})
    async with running_engine(config, extra={"nvml": nvml}) as running:
        running.engine.gpu.max_age_s = 0  # every sample reads the board
        nvml.energy_mj = 17_200_000  # 7.2 kJ on the GPU
        rapl_dir.advance(0, 3_600_000_000)  # 3.6 kJ on the CPU
        running.app[MONITOR_KEY].sample()
        async with aiohttp.ClientSession() as http:
            async with http.get(running.url + "/v1/status") as resp:
                cost = (await resp.json())["cost"]
            async with http.get(running.url + "/metrics") as resp:
                text = await resp.text()
    assert cost["measured"] == {"gpu": "nvml-counter", "cpu": "rapl", "model": False}
    assert cost["energy_total_j"]["gpu"] == 7200.0 and cost["energy_total_j"]["cpu"] == 3600.0
    assert cost["cost_today"] == pytest.approx(10_800 / 3.6e6 * 0.5) and cost["currency"] == "€"
    assert 'tts_energy_joules_total{part="gpu"} 7200.0' in text
    assert 'tts_energy_joules_total{part="cpu"} 3600.0' in text
    assert "tts_electricity_cost_today" in text and json.dumps(cost)

