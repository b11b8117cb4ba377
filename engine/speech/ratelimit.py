"""A sliding-window rate limit per backend (``max_requests_per_hour`` in the user guide).

A request counts when a backend is tried. Once ``max_requests`` fall inside the last
``window_s`` seconds the backend is skipped, and the skip reason says when the oldest of them
leaves the window.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class RateLimiter:
    def __init__(self, max_requests: int, *, window_s: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_requests = max_requests
        """Requests allowed per window; 0 means unlimited."""
        self.window_s = window_s
        self._clock = clock
        self._stamps: deque[float] = deque()

    def _trim(self) -> None:
        horizon = self._clock() - self.window_s
        while self._stamps and self._stamps[0] <= horizon:
            self._stamps.popleft()

    def next_slot_in_s(self) -> float:
        """Seconds until a request may go through (0 when one may now)."""
        self._trim()
        if self.max_requests <= 0 or len(self._stamps) < self.max_requests:
            return 0.0
        return max(0.0, self._stamps[-self.max_requests] + self.window_s - self._clock())

    def blocked_reason(self) -> str | None:
        wait = self.next_slot_in_s()
        if wait <= 0:
            return None
        return (f"rate limited ({self.max_requests} requests per {self.window_s:.0f} s "
                f"(max_requests_per_hour); next slot in {wait:.0f} s)")

    def record(self) -> None:
        if self.max_requests > 0:
            self._stamps.append(self._clock())

    def status(self) -> dict[str, object]:
        self._trim()
        return {"max_requests": self.max_requests, "window_s": self.window_s,
                "used": len(self._stamps), "next_slot_in_s": round(self.next_slot_in_s(), 1)}
