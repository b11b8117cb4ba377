"""Backend worker threads and the fair voice lock, with the real Piper voice: jobs take the voice
in the order they started even when an earlier job's model load finishes later, and a closed
backend leaves no worker pool behind."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from engine.backends import BackendContext
from engine.backends.piper import DEFAULT_VOICE, PiperBackend, PiperOptions


async def test_jobs_take_the_voice_in_start_order_even_when_loads_finish_out_of_order(
        tmp_path: Path) -> None:
    backend = PiperBackend(PiperOptions(voices_dir=str(tmp_path / "voices")),
                           BackendContext(data_dir=tmp_path))
    await backend.start()
    real_load = backend._load
    calls = 0

    def slow_first_load(voice: str) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:  # the first job's load finishes last
            time.sleep(0.5)
        return real_load(voice)

    backend._load = slow_first_load  # type: ignore[method-assign]
    order: list[str] = []

    async def speak(tag: str) -> None:
        async for _ in backend.stream(f"This is the {tag} job speaking.", DEFAULT_VOICE):
            order.append(tag)

    first = asyncio.create_task(speak("first"))
    second = asyncio.create_task(speak("second"))
    await asyncio.wait_for(asyncio.gather(first, second), 60)
    assert order == ["first", "second"]
    pool = backend.workers._pool
    assert pool is not None
    await backend.close()
    assert backend.workers._pool is None and pool._shutdown
