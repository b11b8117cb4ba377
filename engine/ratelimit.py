"""A sliding-window rate limit per backend (``max_requests_per_hour`` in the user guide)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class RateLimiter:
    def __init__(self, max_requests: int, *, window_s: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_requests = max_requests
        self.window_s = window_s
        self._clock = clock
        self._stamps: deque[float] = deque()

    def _trim(self) -> None:
        horizon = self._clock() - self.window_s
        while self._stamps and self._stamps[0] <= horizon:
            self._stamps.popleft()

    def blocked_reason(self) -> str | None:
        if self.max_requests <= 0:
            return None
        self._trim()
        if len(self._stamps) < self.max_requests:
            return None
        wait = self._stamps[0] + self.window_s - self._clock()
        return (f"rate limited ({self.max_requests} requests per {self.window_s:.0f} s; "
                f"next slot in {wait:.0f} s)")

    def record(self) -> None:
        if self.max_requests > 0:
            self._stamps.append(self._clock())

    def status(self) -> dict[str, object]:
        self._trim()
        return {"max_requests": self.max_requests, "window_s": self.window_s,
                "used": len(self._stamps)}
