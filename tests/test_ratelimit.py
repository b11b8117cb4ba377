"""The sliding-window rate limit (``max_requests_per_hour``) on a test clock."""

from __future__ import annotations

from engine.speech.ratelimit import RateLimiter
from tests.fake_nvml import Clock


def test_the_window_slides_request_by_request() -> None:
    clock = Clock(0.0)
    limiter = RateLimiter(3, clock=clock)
    for at in (0, 600, 1200):
        clock.now = at
        assert limiter.blocked_reason() is None
        limiter.record()
    clock.now = 1800
    assert limiter.blocked_reason() == ("rate limited (3 requests per 3600 s (max_requests_per_hour); "
                                        "next slot in 1800 s)")
    assert limiter.status() == {"max_requests": 3, "window_s": 3600.0, "used": 3, "next_slot_in_s": 1800.0}
    clock.now = 3600  # the first request leaves the window: one slot, not three
    assert limiter.blocked_reason() is None
    limiter.record()
    assert limiter.next_slot_in_s() == 600  # the 600 s request is the next to leave
    assert limiter.status()["used"] == 3


def test_zero_means_unlimited() -> None:
    limiter = RateLimiter(0, clock=Clock())
    for _ in range(1000):
        limiter.record()
    assert limiter.blocked_reason() is None
    assert limiter.status() == {"max_requests": 0, "window_s": 3600.0, "used": 0, "next_slot_in_s": 0.0}
