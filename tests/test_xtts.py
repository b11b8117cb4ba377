"""The XTTS backend on a tiny random-weight XTTS-v2 saved as a real model folder, on the CPU.

The model loads through coqui's own ``Xtts.load_checkpoint``; the only fakes are the clock, a
hook that raises CUDA's out-of-memory error once, and NVML (see tests/fake_nvml.py).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import torch
from engine import audio
from engine.backends import BackendContext
from engine.backends import xtts_model
from engine.backends.xtts import XttsBackend, XttsOptions
from engine.errors import BackendUnavailable, UnknownVoice
from engine.speech.ratelimit import RateLimiter
from tests.conftest import RunningEngine, make_config, post_unix, running_engine
from tests.fake_nvml import Clock, FakeNvml
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
                       voice="streamer", cpu_stream_chunk_size=5, idle_unload_s=0, **options)
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
    with pytest.raises(UnknownVoice, match=r"nobody\.wav"):
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
    with pytest.raises(BackendUnavailable, match=r"missing config\.json, model\.pth, vocab\.json"):
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

def xtts_config(tmp_path: Path, tiny_model: Path, voices: Path, *, xtts: dict[str, Any] | None = None,
                **overrides: Any) -> Any:
    """XTTS first (the tiny model, CPU), Piper as the fallback."""
    xtts_opts = {"enabled": True, "model_dir": str(tiny_model), "voices_dir": str(voices),
                 "voice": "streamer", "cpu_stream_chunk_size": 5, "idle_unload_s": 0, **(xtts or {})}
    return make_config(tmp_path, tts={"primary_backend": "xtts", "fallback_backends": ["piper"],
                                      "backends": {"xtts": xtts_opts}}, **overrides)


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


async def test_out_of_memory_falls_back_to_piper_and_xtts_recovers(tiny_model: Path, voices: Path,
                                                                   tmp_path: Path) -> None:
    raised: list[int] = []

    def oom_once() -> None:
        if not raised:
            raised.append(1)
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    config = xtts_config(tmp_path, tiny_model, voices, performance={"gpu": {"enabled": True}})
    async with running_engine(config, extra={"xtts_before_inference": oom_once, "nvml": FakeNvml()}
                              ) as engine:
        await check_out_of_memory_path(engine)


async def check_out_of_memory_path(engine: RunningEngine) -> None:
    backend, skipped = await say(engine, "The GPU is full right now.")
    assert backend == "piper"
    assert skipped == [{"backend": "xtts", "reason": "failed: gpu out of memory"}]
    status = await health(engine)
    assert status["backends"]["xtts"]["out_of_memory_events"] == 1
    assert status["backends"]["xtts"]["failed"] == 1 and status["gpu"]["out_of_memory_events"] == 1

    backend, skipped = await say(engine, "And now it has room again.")
    assert (backend, skipped) == ("xtts", [])
    assert (await health(engine))["backends"]["xtts"]["served"] == 1


async def test_rate_limit_window_falls_back_and_shows_in_health(tiny_model: Path, voices: Path,
                                                                 tmp_path: Path) -> None:
    config = xtts_config(tmp_path, tiny_model, voices, xtts={"max_requests_per_hour": 1})
    async with running_engine(config) as engine:
        await check_rate_limit_window(engine)


async def check_rate_limit_window(engine: RunningEngine) -> None:
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


async def test_gpu_guards_skip_xtts_until_the_gpu_recovers_then_it_runs_on_the_cpu(
        tiny_model: Path, voices: Path, tmp_path: Path) -> None:
    nvml = FakeNvml(temperature_c=85)
    config = xtts_config(tmp_path, tiny_model, voices, performance={"gpu": {"enabled": True}})
    async with running_engine(config, extra={"nvml": nvml}) as engine:
        backend, skipped = await say(engine, "It is hot in here.")
        assert backend == "piper"
        assert skipped == [{"backend": "xtts", "reason": "GPU temperature 85 °C over the 80 °C limit "
                                                         "(resumes at 75 °C)"}]
        gpu = (await health(engine))["gpu"]
        assert gpu["mode"] == "gpu" and gpu["temperature_c"] == 85 and gpu["guards"]["temperature"]["tripped"]
        assert gpu["name"] == nvml.name and gpu["power_w"] == 60.0
        assert (await health(engine))["backends"]["xtts"]["loaded"] is False

        nvml.temperature_c, nvml.memory_used_bytes = 60, 23 * 2**30  # cool, but VRAM nearly full
        await asyncio.sleep(engine.engine.gpu.max_age_s + 0.1)  # let the cached reading expire
        backend, skipped = await say(engine, "Now memory is short.")
        assert backend == "piper"
        assert skipped[0]["reason"] == "GPU memory use 96 % over the 90 % limit (resumes at 85 %)"

        nvml.memory_used_bytes = 4 * 2**30
        await asyncio.sleep(engine.engine.gpu.max_age_s + 0.1)
        # the guards clear; torch here has no CUDA device, so XTTS falls back to the CPU
        assert await say(engine, "All clear.") == ("xtts", [])
        status = await health(engine)
        assert status["gpu"]["mode"] == "cpu-fallback"
        assert "torch sees no CUDA device" in status["gpu"]["reason"]
        assert status["backends"]["xtts"]["device"] == "cpu"


async def test_no_gpu_and_no_cpu_fallback_disables_xtts_with_a_reason(tiny_model: Path, voices: Path,
                                                                       tmp_path: Path) -> None:
    config = xtts_config(tmp_path, tiny_model, voices,
                         performance={"gpu": {"enabled": True, "fallback_to_cpu": False}})
    async with running_engine(config, extra={"nvml": FakeNvml(library_present=False)}) as engine:
        backend, skipped = await say(engine, "Nobody home.")
        assert backend == "piper"
        assert skipped == [{"backend": "xtts", "reason": "GPU unavailable (NVML unavailable: NVML Shared "
                            "Library Not Found) and performance.gpu.fallback_to_cpu is false"}]
        status = await health(engine)
        assert status["gpu"]["mode"] == "disabled" and status["backends"]["xtts"]["loaded"] is False


async def test_cache_identity_reads_no_file_on_the_event_loop(
        tiny_model: Path, voices: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The identity is worked out once by ``resolve_voice`` (on a worker thread) and at start;
    the per-request call on the event loop then touches no file."""
    backend = make_backend(tiny_model, voices, tmp_path)
    await backend.start()
    assert await backend.resolve_voice("streamer") == "streamer"
    before = backend.cache_identity("streamer")

    def no_disk(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("cache_identity touched the disk")

    monkeypatch.setattr(Path, "read_bytes", no_disk)
    monkeypatch.setattr(Path, "stat", no_disk)
    monkeypatch.setattr(Path, "glob", no_disk)
    assert backend.cache_identity("streamer") == before
    assert "clip:" in before and "download" not in before
    monkeypatch.undo()
    await backend.close()
