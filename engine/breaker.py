"""A circuit breaker per backend: stop calling a backend that keeps failing, probe it later.

closed -> (``failure_threshold`` failures in a row) -> open -> (``cooldown_s`` later) ->
half-open: one probe request goes through; success closes, failure re-opens.
While open, ``blocked_reason()`` answers at once, so requests reach the fallback with no wait.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

_LOGGER = logging.getLogger(__name__)


class CircuitBreaker:
    def __init__(self, name: str, *, failure_threshold: int = 2, cooldown_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self._probing = False
        self.last_error = ""

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        if self._clock() - self.opened_at >= self.cooldown_s:
            return "half-open"
        return "open"

    def blocked_reason(self) -> str | None:
        """``None`` if a request may try the backend now (claims the probe when half-open)."""
        state = self.state
        if state == "closed":
            return None
        if state == "half-open" and not self._probing:
            self._probing = True
            return None
        left = max(0.0, self.cooldown_s - (self._clock() - (self.opened_at or 0.0)))
        return f"breaker open ({self.last_error}; next probe in {left:.0f} s)"

    def record_success(self) -> None:
        if self.opened_at is not None:
            _LOGGER.info("Backend %s recovered; breaker closed", self.name)
        self.failures, self.opened_at, self._probing = 0, None, False

    def record_failure(self, reason: str) -> None:
        self.failures += 1
        self.last_error = reason
        was_probe, self._probing = self._probing, False
        if was_probe or self.failures >= self.failure_threshold:
            if was_probe or self.opened_at is None:
                _LOGGER.warning("Backend %s failed %d times (%s); skipping it for %.0f s",
                                self.name, self.failures, reason, self.cooldown_s)
            self.opened_at = self._clock()

    def status(self) -> dict[str, object]:
        return {"state": self.state, "consecutive_failures": self.failures,
                "last_error": self.last_error}
