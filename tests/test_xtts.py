"""The XTTS backend on a tiny random-weight XTTS-v2 saved as a real model folder, on the CPU.

The model loads through coqui's own ``Xtts.load_checkpoint``; the only fakes are the clock, a
hook that raises CUDA's out-of-memory error once, and NVML (see tests/fake_nvml.py).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from aiohttp import web

from engine import audio
from engine.backends import BackendContext
from engine.backends import xtts_model
from engine.backends.xtts import XttsBackend, XttsOptions
from engine.errors import BackendUnavailable, UnknownVoice
from engine.ratelimit import RateLimiter
from engine.server import BOUND_KEY, create_app, start_sites
from engine.service import Engine
from tests.conftest import RunningEngine, make_config, post_unix
from tests.fake_nvml import Clock
from tests.xtts_fixture import SPEAKER, build_xtts, write_reference_wav

pytestmark = pytest.mark.xtts
TWO_SENTENCES = "Big raid incoming. Welcome everyone!"
STEP_TIMEOUT_S = 120


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_xtts(tmp_path_factory.mktemp("xtts") / "model", max_audio_tokens=16)


@pytest.fixture(scope="session")
def voices(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("xtts-voices")
    write_reference_wav(folder / "streamer.wav")
    return folder


def make_backend(tiny_model: Path, voices: Path, data_dir: Path, *, gpu: Any = None,
                 extra: dict[str, Any] | None = None, **options: Any) -> XttsBackend:
    opts = XttsOptions(enabled=True, model_dir=str(tiny_model), voices_dir=str(voices),
                       voice="streamer", stream_chunk_size=5, idle_unload_s=0, **options)
    return XttsBackend(opts, BackendContext(data_dir=data_dir, gpu=gpu, extra=extra or {}))


async def collect(stream: AsyncIterator[bytes]) -> list[bytes]:
    async with asyncio.timeout(STEP_TIMEOUT_S):
        return [chunk async for chunk in stream]


async def test_loads_lazily_and_streams_sentence_by_sentence(tiny_model: Path, voices: Path,
                                                             tmp_path: Path) -> None:
    first_chunk_seen = threading.Event()
    sentences_started: list[float] = []

    def before_inference() -> None:
        sentences_started.append(time.monotonic())
        if len(sentences_started) == 2:  # the second sentence waits until the first one was heard
            assert first_chunk_seen.wait(STEP_TIMEOUT_S), "no audio left before the second sentence"

    backend = make_backend(tiny_model, voices, tmp_path, extra={"xtts_before_inference": before_inference})
    await backend.start()
    assert backend.status()["loaded"] is False
    assert await backend.resolve_voice(None) == "streamer"

    chunks: list[bytes] = []
    async with asyncio.timeout(STEP_TIMEOUT_S):
        async for pcm in backend.stream(TWO_SENTENCES, "streamer"):
            chunks.append(pcm)
            first_chunk_seen.set()
    status = backend.status()
    assert status["loaded"] and status["device"] == "cpu" and status["loads"] == 1
    assert status["device_reason"] == "performance.gpu.enabled is false"
    assert len(sentences_started) == 2
    # 13 audio tokens per sentence in chunks of 5: three chunks each, all 48 kHz s16le
    assert len(chunks) == 6
    total_s = sum(map(len, chunks)) / audio.BYTES_PER_SECOND
    assert 0.8 < total_s < 2.0, total_s
    assert all(len(c) % 2 == 0 and len(c) > 0 for c in chunks)
    await backend.close()
    assert backend.status()["loaded"] is False


async def test_latents_are_computed_once_then_cached_in_memory_and_on_disk(
        tiny_model: Path, voices: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    computed: list[Path] = []
    real = xtts_model.compute_latents

    def counting(loaded: Any, wav: Path) -> Any:
        computed.append(wav)
        return real(loaded, wav)

    monkeypatch.setattr(xtts_model, "compute_latents", counting)
    backend = make_backend(tiny_model, voices, tmp_path)
    await backend.start()
    await collect(backend.stream("One.", "streamer"))
    await collect(backend.stream("Two.", "streamer"))
    assert computed == [voices / "streamer.wav"]
    files = list((tmp_path / "xtts-latents").glob("*.pt"))
    assert len(files) == 1
    await backend.close()

    again = make_backend(tiny_model, voices, tmp_path)  # a new process: latents come from disk
    await again.start()
    await collect(again.stream("Three.", "streamer"))
    assert computed == [voices / "streamer.wav"]
    assert again.status()["voices_with_latents"] == 1
    await again.close()

    other = tmp_path / "other-voices"  # another clip: other latents, computed once
    other.mkdir()
    write_reference_wav(other / "streamer.wav", seconds=2.0)
    third = make_backend(tiny_model, other, tmp_path)
    await third.start()
    await collect(third.stream("Four.", "streamer"))
    assert computed == [voices / "streamer.wav", other / "streamer.wav"]
    assert len(list((tmp_path / "xtts-latents").glob("*.pt"))) == 2
    await third.close()


async def test_builtin_speakers_and_unknown_voices(tiny_model: Path, voices: Path, tmp_path: Path) -> None:
    backend = make_backend(tiny_model, voices, tmp_path)
    await backend.start()
    names = {v.name: v.description for v in await backend.list_voices()}
    assert names == {"streamer": "XTTS clone of streamer.wav", SPEAKER: "XTTS built-in speaker"}
    with pytest.raises(UnknownVoice, match="nobody.wav"):
        await backend.resolve_voice("nobody")
    chunks = await collect(backend.stream("Hi.", SPEAKER))
    assert chunks and backend.status()["voices_with_latents"] == 0  # built-in: no cloning needed
    assert backend.cache_identity(SPEAKER) != backend.cache_identity("streamer")
    await backend.close()


async def test_idle_unload_frees_the_model_and_the_next_request_reloads(
        tiny_model: Path, voices: Path, tmp_path: Path) -> None:
    backend = make_backend(tiny_model, voices, tmp_path)
    backend.options = XttsOptions(**{**backend.options.__dict__, "idle_unload_s": 0.3})
    await backend.start()
    await collect(backend.stream("Hello.", "streamer"))
    assert backend.status()["loaded"]
    async with asyncio.timeout(30):
        while backend.status()["loaded"]:
            await asyncio.sleep(0.05)
    await collect(backend.stream("Hello again.", "streamer"))
    assert backend.status()["loads"] == 2
    await backend.close()


async def test_missing_model_is_reported_and_download_fails_fast_offline(
        voices: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nowhere = tmp_path / "no-model"
    backend = make_backend(nowhere, voices, tmp_path)
    with pytest.raises(BackendUnavailable, match="missing config.json, model.pth, vocab.json"):
        await backend.start()

    import huggingface_hub.constants as hf  # offline for sure, and no cached copy to find

    monkeypatch.setattr(hf, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hf, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    backend = make_backend(nowhere, voices, tmp_path, download_model=True)
    await backend.start()
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match="cannot fetch XTTS-v2 through coqui's model manager"):
        await collect(backend.stream("Hello.", "streamer"))
    assert time.monotonic() - started < 30
    assert "cannot fetch XTTS-v2" in (backend.unavailable_reason() or "")
    await backend.close()


# -- through the real server, with Piper as the fallback --------------------------------------

@pytest.fixture
async def start_xtts_engine(tmp_path: Path, tiny_model: Path, voices: Path
                            ) -> AsyncIterator[Callable[..., Any]]:
    """Like conftest's ``start_engine``, with XTTS first, Piper as fallback and ``extra`` seams."""
    started: list[tuple[web.AppRunner, Engine]] = []

    async def start(*, extra: dict[str, Any] | None = None, xtts: dict[str, Any] | None = None,
                    **overrides: Any) -> RunningEngine:
        xtts_opts = {"enabled": True, "model_dir": str(tiny_model), "voices_dir": str(voices),
                     "voice": "streamer", "stream_chunk_size": 5, "idle_unload_s": 0, **(xtts or {})}
        cfg = make_config(tmp_path, tts={"primary_backend": "xtts", "fallback_backends": ["piper"],
                                         "backends": {"xtts": xtts_opts}}, **overrides)
        engine = Engine(cfg, extra=extra)
        await engine.start()
        app = create_app(cfg, engine=engine)
        runner = web.AppRunner(app)
        await runner.setup()
        started.append((runner, engine))
        bound = await start_sites(runner, cfg)
        app[BOUND_KEY].update(bound)
        return RunningEngine(app, bound["tcp"], bound.get("unix", ""))

    yield start
    for runner, engine in started:
        await runner.cleanup()
        await engine.close()


async def say(engine: RunningEngine, text: str) -> tuple[str, list[dict[str, str]]]:
    """POST /v1/synthesize (WAV); the backend that served it and the skip reasons."""
    async with asyncio.timeout(STEP_TIMEOUT_S):
        status, headers, body = await post_unix(engine.unix, "/v1/synthesize",
                                                {"text": text, "format": "wav"})
    assert status == 200, body[:300]
    assert len(body) > 44 + audio.BYTES_PER_SECOND // 10
    return headers["X-TTS-Backend"], json.loads(headers["X-TTS-Skipped"])


async def health(engine: RunningEngine) -> dict[str, Any]:
    return engine.engine.status()  # the same dict GET /health serves


async def test_out_of_memory_falls_back_to_piper_and_xtts_recovers(start_xtts_engine: Any) -> None:
    raised: list[int] = []

    def oom_once() -> None:
        if not raised:
            raised.append(1)
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    engine = await start_xtts_engine(extra={"xtts_before_inference": oom_once})
    backend, skipped = await say(engine, "The GPU is full right now.")
    assert backend == "piper"
    assert skipped == [{"backend": "xtts", "reason": "failed: gpu out of memory"}]
    xtts = (await health(engine))["backends"]["xtts"]
    assert xtts["out_of_memory_events"] == 1 and xtts["failed"] == 1

    backend, skipped = await say(engine, "And now it has room again.")
    assert (backend, skipped) == ("xtts", [])
    assert (await health(engine))["backends"]["xtts"]["served"] == 1


async def test_rate_limit_window_falls_back_and_shows_in_health(start_xtts_engine: Any) -> None:
    engine = await start_xtts_engine(xtts={"max_requests_per_hour": 1})
    clock = Clock()
    router = engine.engine.router
    router.limiters["xtts"] = RateLimiter(1, clock=clock)  # the engine's limiter, on a test clock

    assert await say(engine, "First announcement.") == ("xtts", [])
    backend, skipped = await say(engine, "Second announcement.")
    assert backend == "piper"
    assert skipped[0]["backend"] == "xtts" and skipped[0]["reason"].startswith("rate limited")
    limit = (await health(engine))["backends"]["xtts"]["rate_limit"]
    assert limit["max_requests"] == 1 and limit["used"] == 1 and limit["window_s"] == 3600
    assert limit["next_slot_in_s"] == 3600

    clock.advance(3600.5)  # the window slides past the first request
    assert await say(engine, "Third announcement.") == ("xtts", [])
