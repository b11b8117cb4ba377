"""A circuit breaker per backend: stop calling a backend that keeps failing, probe it later.

closed -> (``failure_threshold`` failures in a row, or one failure whose reason is in
``trip_reasons``) -> open -> (``cooldown_s`` later) -> half-open: one probe request goes
through; success closes, failure re-opens with the cool-down doubled (up to ``max_cooldown_s``).
While open, and while the probe is out, ``blocked_reason()`` answers at once, so requests reach
the fallback with no wait. A probe that never reports back (its request was cancelled or served
from the cache) is given up after ``probe_timeout_s`` and another request may probe.

A backend sets its own numbers through its options (``breaker_failures``, ``breaker_cooldown_s``,
``breaker_max_cooldown_s``) and its ``breaker_trip_reasons`` class attribute; see ``for_backend``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

_LOGGER = logging.getLogger(__name__)


class CircuitBreaker:
    def __init__(self, name: str, *, failure_threshold: int = 2, cooldown_s: float = 30.0,
                 max_cooldown_s: float | None = None, trip_reasons: Iterable[str] = (),
                 probe_timeout_s: float = 120.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.failure_threshold = max(1, failure_threshold)
        self.base_cooldown_s = cooldown_s
        self.cooldown_s = cooldown_s
        """The current cool-down in seconds (doubled after each failed probe)."""
        self.max_cooldown_s = max(cooldown_s, max_cooldown_s or cooldown_s)
        self.trip_reasons = frozenset(trip_reasons)
        self.probe_timeout_s = probe_timeout_s
        self._clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self._probe_at: float | None = None
        self.last_error = ""
        self.times_opened = 0

    @classmethod
    def for_backend(cls, name: str, backend: Any, **kwargs: Any) -> CircuitBreaker:
        """A breaker with the backend's own settings, where it has any."""
        options = getattr(backend, "options", None)
        settings = {
            "failure_threshold": getattr(options, "breaker_failures", None),
            "cooldown_s": getattr(options, "breaker_cooldown_s", None),
            "max_cooldown_s": getattr(options, "breaker_max_cooldown_s", None),
            "trip_reasons": getattr(backend, "breaker_trip_reasons", None),
        }
        return cls(name, **{k: v for k, v in settings.items() if v is not None}, **kwargs)

    @property
    def _probing(self) -> bool:
        return self._probe_at is not None and self._clock() - self._probe_at < self.probe_timeout_s

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        if self._clock() - self.opened_at >= self.cooldown_s:
            return "half-open"
        return "open"

    def blocked_reason(self, *, claim: bool = True) -> str | None:
        """``None`` if a request may try the backend now. When half-open this claims the one
        probe, unless ``claim`` is false (a look that will not call the backend itself)."""
        state = self.state
        if state == "closed":
            return None
        if state == "half-open":
            if not self._probing:
                if claim:
                    self._probe_at = self._clock()
                return None
            return f"breaker half-open ({self.last_error}; a probe request is trying it)"
        left = max(0.0, self.cooldown_s - (self._clock() - (self.opened_at or 0.0)))
        return f"breaker open ({self.last_error}; next probe in {left:.0f} s)"

    def record_success(self) -> None:
        if self.opened_at is not None:
            _LOGGER.info("Backend %s recovered; breaker closed", self.name)
        self.failures, self.opened_at, self._probe_at = 0, None, None
        self.cooldown_s = self.base_cooldown_s

    def record_failure(self, reason: str) -> None:
        self.failures += 1
        self.last_error = reason
        was_probe = self._probe_at is not None and self.opened_at is not None
        self._probe_at = None
        if was_probe:
            self.cooldown_s = min(self.cooldown_s * 2, self.max_cooldown_s)
            self._open(f"probe failed ({reason})")
        elif self.opened_at is None and (self.failures >= self.failure_threshold
                                         or reason in self.trip_reasons):
            self._open(f"{self.failures} failure(s) in a row, last: {reason}")

    def _open(self, why: str) -> None:
        self.opened_at = self._clock()
        self.times_opened += 1
        _LOGGER.warning("Backend %s: %s; skipping it for %g s", self.name, why, self.cooldown_s)

    def status(self) -> dict[str, object]:
        state = self.state
        out: dict[str, object] = {"state": state, "consecutive_failures": self.failures,
                                  "last_error": self.last_error, "cooldown_s": self.cooldown_s,
                                  "times_opened": self.times_opened}
        if state == "open" and self.opened_at is not None:
            out["next_probe_in_s"] = round(self.cooldown_s - (self._clock() - self.opened_at), 1)
        return out
