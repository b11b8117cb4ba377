"""Alerts: hysteresis and logging with scripted values, then a real engine whose GPU (scripted NVML),
speech queue and Piper latency raise and clear them in ``/health``, ``/v1/status`` and ``/metrics``."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from engine.monitor.alerts import Alerts
from engine.config import AlertsConfig
from engine.http.auth import HEADER, TOKEN_KEY
from engine.http.monitor import MONITOR_KEY
from tests.conftest import make_config, running_engine
from tests.fake_nvml import FakeNvml


def logged(caplog: pytest.LogCaptureFixture, level: int, text: str) -> int:
    return len([r for r in caplog.records if r.levelno == level and text in r.getMessage()])


def test_an_alert_is_raised_and_cleared_once_with_hysteresis(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="engine.monitor.alerts")
    alerts = Alerts(AlertsConfig(), clock=lambda: 1000.0)
    states = []
    for temperature in (70, 80, 81, 79, 82, 76, 75.5, 75, 80, 81):
        alerts.update({"gpu_temperature": temperature})
        states.append(bool(alerts.active()))
    assert states == [False, False, True, True, True, True, True, False, False, True]
    assert alerts.raised["gpu_temperature"] == 2
    assert logged(caplog, logging.WARNING, "GPU temperature") == 2
    assert logged(caplog, logging.INFO, "Alert cleared: GPU temperature is back to 75") == 1
    [alert] = alerts.to_list()
    assert alert["name"] == "gpu_temperature" and alert["limit"] == 80 and alert["clear_at"] == 75
    assert alert["message"] == "GPU temperature 81 °C is over the 80 °C limit (clears at 75 °C)"


def test_every_rule_has_the_user_guides_default_and_missing_values_keep_the_state() -> None:
    alerts = Alerts(AlertsConfig())
    limits = {name: (r.limit, r.clear_at) for name, r in alerts.rules.items()}
    assert limits == {"gpu_temperature": (80, 75), "gpu_memory": (90, 85), "queue_length": (20, 15),
                      "latency_p95": (1500, 1200)}
    alerts.update({"gpu_memory": 95.0, "queue_length": 25, "latency_p95": 2000})
    assert {a.name for a in alerts.active()} == {"gpu_memory", "queue_length", "latency_p95"}
    alerts.update({"gpu_memory": None, "queue_length": 16, "latency_p95": 1200})  # GPU not read now
    assert {a.name for a in alerts.active()} == {"gpu_memory", "queue_length"}
    assert next(a for a in alerts.active() if a.name == "queue_length").value == 16


async def status_of(running: Any) -> tuple[list[str], list[str], str]:
    """Active alert names in /health and /v1/status, and the /metrics text, after one sample."""
    running.app[MONITOR_KEY].sample()
    async with aiohttp.ClientSession() as http:
        async with http.get(running.url + "/health") as resp:
            health = [a["name"] for a in (await resp.json())["alerts"]]
        async with http.get(running.url + "/v1/status") as resp:
            status = [a["name"] for a in (await resp.json())["alerts"]]
        async with http.get(running.url + "/metrics") as resp:
            text = await resp.text()
    return health, status, text


async def test_a_hot_gpu_raises_and_clears_the_alert_in_health_status_and_metrics(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="engine.monitor.alerts")
    nvml = FakeNvml(temperature_c=84)
    config = make_config(tmp_path, performance={"gpu": {"enabled": True}})
    async with running_engine(config, extra={"nvml": nvml}) as running:
        running.engine.gpu.max_age_s = 0  # every sample reads the board
        health, status, text = await status_of(running)
        assert health == status == ["gpu_temperature"]
        assert 'tts_alert_active{alert="gpu_temperature"} 1.0' in text
        assert "tts_gpu_temperature_celsius 84.0" in text
        nvml.temperature_c = 77  # under the limit, above the clearing point
        assert (await status_of(running))[0] == ["gpu_temperature"]
        nvml.temperature_c = 74
        health, status, text = await status_of(running)
        assert health == status == [] and 'tts_alert_active{alert="gpu_temperature"} 0.0' in text
    assert logged(caplog, logging.WARNING, "GPU temperature 84 °C is over") == 1
    assert logged(caplog, logging.INFO, "Alert cleared: GPU temperature") == 1


async def test_a_long_speech_queue_and_slow_first_audio_raise_alerts(tmp_path: Path) -> None:
    config = make_config(tmp_path, chat={"mode": "all", "user_cooldown_s": 0},
                         alerts={"queue_length": 2, "queue_length_margin": 1, "latency_p95_ms": 1})
    async with running_engine(config) as running:
        headers = {HEADER: running.app[TOKEN_KEY]}
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.post(running.url + "/v1/control", json={"command": "pause"}) as resp:
                assert resp.status == 200
            for i in range(3):  # nobody listens and the queue is paused: they wait
                body = {"type": "chat", "source": "twitch", "text": f"line number {i} waits",
                        "login": f"viewer{i}", "id": uuid.uuid4().hex}
                async with http.post(running.url + "/v1/events", json=body) as resp:
                    assert resp.status == 202, await resp.text()
            health, _, _ = await status_of(running)
            assert health == ["queue_length"]
            async with http.post(running.url + "/v1/control", json={"command": "clear"}) as resp:
                assert resp.status == 200
            async with http.post(running.url + "/v1/synthesize", json={"text": "Slow enough.",
                                                                      "format": "wav"}) as resp:
                assert resp.status == 200 and len(await resp.read()) > 10_000
            health, status, text = await status_of(running)  # real Piper takes more than 1 ms
    assert health == status == ["latency_p95"]
    assert 'tts_alert_active{alert="latency_p95"} 1.0' in text
