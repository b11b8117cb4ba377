"""Faults, end to end through the real engine server: a backend that crashes or hangs (the
per-request timeouts fire and the request falls back), a missing Piper voice file (the engine
refuses to start, naming the key). Edge is the real edge-tts code talking to tests/edge_fake.py;
Piper is the real Piper with its bundled voice."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from bench.common import REPO
from engine import preflight
from engine.errors import ConfigError
from tests.conftest import RunningEngine, make_config
from tests.edge_fake import FakeEdge, piper_speech_mp3, point_edge_tts_at

SLOW_EDGE = {"enabled": True, "connect_timeout_s": 5.0, "receive_timeout_s": 60.0}
"""Edge's own timeouts far away, so only the router's per-request timeouts can fire."""


@pytest.fixture
async def fake() -> AsyncIterator[FakeEdge]:
    server = await FakeEdge(piper_speech_mp3()[0]).start()
    with point_edge_tts_at(server.ws_url, server.voices_url):
        yield server
    await server.stop()


async def synthesize(engine: RunningEngine, body: dict[str, Any]) -> tuple[int, dict[str, Any], bytes]:
    """POST /v1/synthesize as WAV: status, the job's metadata (``GET /v1/jobs/<id>``), audio."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        async with http.post(f"{engine.url}/v1/synthesize", json={**body, "format": "wav"}) as resp:
            try:
                audio = await resp.read()
            except aiohttp.ClientPayloadError:
                audio = b""  # cut on purpose: the job says why
            job_id = resp.headers.get("X-TTS-Request-Id", "")
        if not job_id:
            return resp.status, json.loads(audio), b""
        async with http.get(f"{engine.url}/v1/jobs/{job_id}") as meta:
            return resp.status, await meta.json(), audio


async def test_a_hanging_backend_hits_the_first_audio_timeout_and_falls_back(
        fake: FakeEdge, start_engine: Any, tmp_path: Path) -> None:
    fake.behaviour = "held"  # the service accepts the request and never answers
    engine = await start_engine(make_config(
        tmp_path, performance={"cache": {"enabled": False}},
        tts={"routing": {"chat": "edge"}, "first_audio_timeout_s": 1.0, "backends": {"edge": SLOW_EDGE}}))
    started = time.monotonic()
    status, job, audio = await synthesize(engine, {"text": "Is anyone there?", "priority": "chat"})
    took = time.monotonic() - started
    assert status == 200 and job["backend"] == "piper" and len(audio) > 44 + 24_000
    assert job["skipped"] == [{"backend": "edge", "reason": "failed: timeout"}]
    assert 1.0 <= took < 15, took  # the timeout, then Piper; not Edge's 60 s receive timeout
    assert engine.engine.router.stats["edge"].failed == 1


async def test_a_backend_stalling_mid_stream_hits_the_request_timeout(
        fake: FakeEdge, start_engine: Any, tmp_path: Path) -> None:
    fake.behaviour = "stall_mid_stream"  # a third of the audio, then silence for good
    engine = await start_engine(make_config(
        tmp_path, performance={"cache": {"enabled": False}},
        tts={"routing": {"chat": "edge"}, "request_timeout_s": 2.0,
             "backends": {"edge": {**SLOW_EDGE, "chunk_ms": 100}}}))
    started = time.monotonic()
    status, job, _audio = await synthesize(engine, {"text": "This one stalls.", "priority": "chat"})
    assert status == 200 and job["backend"] == "edge"  # audio had left: no fallback, no repeat
    assert job["state"] == "failed" and "tts.request_timeout_s" in job["error"]["message"]
    assert time.monotonic() - started < 15


async def test_a_crashing_backend_falls_back(fake: FakeEdge, start_engine: Any, tmp_path: Path) -> None:
    voices = tmp_path / "voices"
    voices.mkdir()
    (voices / "en_US-broken-medium.onnx").write_bytes(b"\x08\x07garbage, not an ONNX model" * 50)
    (voices / "en_US-broken-medium.onnx.json").write_text(json.dumps(
        {"audio": {"sample_rate": 22050}, "language": {"code": "en_US"}, "espeak": {"voice": "en-us"},
         "inference": {"noise_scale": 0.667, "length_scale": 1, "noise_w": 0.8},
         "phoneme_type": "espeak", "phoneme_id_map": {"_": [0]}, "num_symbols": 1}))
    engine = await start_engine(make_config(
        tmp_path, performance={"cache": {"enabled": False}},
        tts={"fallback_backends": ["edge"], "backends": {"edge": SLOW_EDGE}}))
    status, job, audio = await synthesize(engine, {"text": "Broken voice, please.",
                                                   "voice": "en_US-broken-medium"})
    assert status == 200 and job["backend"] == "edge" and len(audio) > 44
    assert job["skipped"] == [{"backend": "piper", "reason": "failed: load failed"}]
    status, job, audio = await synthesize(engine, {"text": "And the default voice still works."})
    assert status == 200 and job["backend"] == "piper" and len(audio) > 44


def write_config(tmp_path: Path, **piper: Any) -> Path:
    path = tmp_path / "config.yaml"
    data = {"server": {"port": 0, "unix_socket": str(tmp_path / "run" / "engine.sock")},
            "performance": {"cache": {"dir": str(tmp_path / "cache")}}, "data_dir": str(tmp_path / "data"),
            "tts": {"primary_backend": "piper",
                    "backends": {"piper": {"voices_dir": str(tmp_path / "voices"), **piper}}}}
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("voice", ["~/no-such-dir/en_US-gone-medium.onnx", "en_US-notinstalled-medium"])
def test_a_missing_piper_voice_refuses_to_start_naming_the_key(tmp_path: Path, voice: str) -> None:
    path = write_config(tmp_path, voice=voice)
    proc = subprocess.run([sys.executable, "-m", "engine", "serve", "--config", str(path)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "tts.backends.piper.voice" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "run" / "engine.sock").exists()


def test_preflight_accepts_the_bundled_voice_and_an_existing_file(tmp_path: Path) -> None:
    from engine import config as config_mod
    preflight.check(config_mod.load(write_config(tmp_path)))  # en_US-joe-medium ships with pip
    model = tmp_path / "mine.onnx"
    model.write_bytes(b"x")
    with pytest.raises(ConfigError, match=r"tts.backends.piper.voice: .*mine.onnx.json"):
        preflight.check(config_mod.load(write_config(tmp_path, voice=str(model))))
    Path(f"{model}.json").write_text("{}")
    preflight.check(config_mod.load(write_config(tmp_path, voice=str(model))))
