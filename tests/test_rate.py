"""The speaking rate, end to end with the real Piper voice: a faster rate is a shorter clip at
the same pitch (Piper's own length scale), a separate cache entry, and a bounded, checked field."""

from __future__ import annotations

from typing import Any

import aiohttp

from engine import audio
from engine.backends.edge import scaled_rate

TEXT = "Thanks for the raid everyone, welcome to the stream tonight."


async def clip(running: Any, **extra: Any) -> tuple[int, dict[str, str], bytes]:
    body = {"text": TEXT, "format": "pcm", **extra}
    async with aiohttp.ClientSession() as http, http.post(f"{running.url}/v1/synthesize", json=body) as r:
        return r.status, dict(r.headers), await r.read()


async def test_a_faster_rate_is_a_shorter_clip_and_its_own_cache_entry(start_engine: Any) -> None:
    running = await start_engine()
    _, _, plain = await clip(running)
    status, fast_headers, fast = await clip(running, rate=1.5)
    assert status == 200 and fast_headers["X-TTS-Cached"] == "false"  # not the 1.0 clip
    ratio = (len(fast) / audio.BYTES_PER_SECOND) / (len(plain) / audio.BYTES_PER_SECOND)
    assert 0.55 < ratio < 0.78, ratio  # about 1/1.5 of the voice's own pace
    _, again, _ = await clip(running, rate=1.5)
    assert again["X-TTS-Cached"] == "true"


async def test_the_rate_is_bounded(start_engine: Any) -> None:
    running = await start_engine()
    for bad in (3, 0.1, "fast", True, [1]):
        status, _, body = await clip(running, rate=bad)
        assert status == 400 and b"rate" in body


def test_edge_rate_scales_the_configured_rate() -> None:
    assert scaled_rate("+0%", 1.5) == "+50%"
    assert scaled_rate("+10%", 1.5) == "+65%"
    assert scaled_rate("-20%", 1.0) == "-20%"
    assert scaled_rate("+0%", 0.5) == "-50%"
