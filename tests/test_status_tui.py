"""``python -m engine status --once`` against a real engine (real Piper, scripted NVML): one frame
over the Unix socket and over TCP, with the queue, backends, cache, GPU, alert and cost in it."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import aiohttp
import yaml

from engine.http.monitor import MONITOR_KEY
from tests.conftest import make_config, running_engine
from tests.fake_nvml import FakeNvml

ROOT = Path(__file__).resolve().parent.parent


async def status_once(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "engine", "status", "--once", *args, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "140", "NO_COLOR": "1"})
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode or 0, out.decode()


async def test_one_frame_shows_the_engine(tmp_path: Path) -> None:
    nvml = FakeNvml(temperature_c=86, memory_used_bytes=6 * 2**30, power_mw=95_000)
    config = make_config(tmp_path, performance={"gpu": {"enabled": True}})
    client_config = tmp_path / "client.yaml"
    client_config.write_text(yaml.safe_dump({"server": {"unix_socket": config.server.unix_socket}}))
    async with running_engine(config, extra={"nvml": nvml}) as running:
        running.engine.gpu.max_age_s = 0
        async with aiohttp.ClientSession() as http:
            for _ in range(2):  # a miss, then a cache hit
                async with http.post(running.url + "/v1/synthesize",
                                     json={"text": "Status view check.", "format": "wav"}) as resp:
                    assert resp.status == 200 and len(await resp.read()) > 10_000
        running.app[MONITOR_KEY].sample()
        code, unix_frame = await status_once("--config", str(client_config))
        tcp_code, tcp_frame = await status_once("--url", running.url)
    assert code == 0, unix_frame
    assert tcp_code == 0, tcp_frame
    for frame in (unix_frame, tcp_frame):
        assert "Now playing: nothing" in frame and "Speech queue: 0" in frame
        assert "piper" in frame and "yes" in frame  # the backend row: available
        assert "Cache: hit rate 50 %  (1 hits, 1 misses), 1 clips" in frame
        assert "GPU: Fake GeForce RTX 4090 86 °C, VRAM 6144/24576 MiB (25 %), 95 W" in frame
        assert "! GPU temperature 86 °C is over the 80 °C limit (clears at 75 °C)" in frame
        assert "Projected per day: $" in frame and "at $0.12/kWh (gpu: nvml-power)" in frame
        assert "no sources enabled" in frame


async def test_no_engine_is_one_line_and_exit_1(tmp_path: Path) -> None:
    code, out = await status_once("--url", "http://127.0.0.1:9")
    assert code == 1 and out.startswith("error: no engine at http://127.0.0.1:9")
