"""An asyncio event loop in a daemon thread, so the synchronous OBS tests can run the async
protocol fakes of tests/ (Bilibili, StreamLabs) on loopback beside OBS and the engine."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    """``with LoopThread() as loop: loop.run(fake.start(), timeout_s=10)``."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="e2e-fakes", daemon=True)

    def __enter__(self) -> LoopThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):  # best effort: the loop stops either way
            self.run(_cancel_others(), timeout_s=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()

    def run(self, coro: Coroutine[Any, Any, T], *, timeout_s: float) -> T:
        """Run ``coro`` on the loop and wait for its result (at most ``timeout_s``)."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=timeout_s)


async def _cancel_others() -> None:
    """Cancel what the fakes left running (their servers' tasks), so none is destroyed pending."""
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in others:
        task.cancel()
    if others:
        await asyncio.wait(others, timeout=5)
