"""The circuit breaker's states on a hand-driven clock: closed, open, half-open (one probe)."""

from __future__ import annotations

from pathlib import Path

from engine.backends.base import BackendContext
from engine.backends.edge import EdgeBackend, EdgeOptions
from engine.backends.edge_stream import UNREACHABLE
from engine.speech.breaker import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(clock: Clock, **kw: object) -> CircuitBreaker:
    args: dict = {"failure_threshold": 3, "cooldown_s": 10.0, "max_cooldown_s": 35.0,
                  "trip_reasons": {"dns"}, "probe_timeout_s": 60.0, **kw}
    return CircuitBreaker("edge", clock=clock, **args)


def test_opens_after_repeated_failures_and_blocks_at_once() -> None:
    clock = Clock()
    b = make(clock)
    for _ in range(2):
        b.record_failure("broken stream")
        assert b.state == "closed" and b.blocked_reason() is None
    b.record_failure("broken stream")
    assert b.state == "open"
    reason = b.blocked_reason()
    assert reason is not None and "breaker open" in reason and "broken stream" in reason
    assert b.status()["next_probe_in_s"] == 10.0


def test_a_success_resets_the_count() -> None:
    b = make(Clock())
    b.record_failure("no audio")
    b.record_failure("no audio")
    b.record_success()
    b.record_failure("no audio")
    assert b.state == "closed" and b.failures == 1


def test_a_trip_reason_opens_on_the_first_failure() -> None:
    b = make(Clock())
    b.record_failure("dns")
    assert b.state == "open" and b.times_opened == 1


def test_half_open_lets_exactly_one_probe_through() -> None:
    clock = Clock()
    b = make(clock)
    b.record_failure("dns")
    clock.now += 9.9
    assert b.state == "open" and b.blocked_reason() is not None
    clock.now += 0.1
    assert b.state == "half-open"
    assert b.blocked_reason() is None  # this request is the probe
    second = b.blocked_reason()
    assert second is not None and "probe" in second  # others fall back meanwhile
    b.record_success()
    assert b.state == "closed" and b.blocked_reason() is None and b.failures == 0


def test_a_failed_probe_reopens_with_a_doubled_cooldown_up_to_the_cap() -> None:
    clock = Clock()
    b = make(clock)
    b.record_failure("dns")
    for expected in (20.0, 35.0, 35.0):
        clock.now += b.cooldown_s
        assert b.blocked_reason() is None
        b.record_failure("http 403")
        assert b.state == "open" and b.cooldown_s == expected
    assert b.status()["last_error"] == "http 403"
    clock.now += b.cooldown_s
    assert b.blocked_reason() is None
    b.record_success()
    assert b.cooldown_s == 10.0  # back to the base after recovering


def test_a_lost_probe_is_given_up_after_the_probe_timeout() -> None:
    """A probe claimed by a request that never reports (cancelled, or served from the cache)."""
    clock = Clock()
    b = make(clock, probe_timeout_s=5.0)
    b.record_failure("dns")
    clock.now += 10
    assert b.blocked_reason() is None
    clock.now += 4.9
    assert b.blocked_reason() is not None
    clock.now += 0.1
    assert b.blocked_reason() is None  # a new probe


def test_failures_while_open_do_not_extend_the_cooldown() -> None:
    clock = Clock()
    b = make(clock)
    b.record_failure("dns")
    clock.now += 5
    b.record_failure("dns")  # a request that started before the breaker opened
    clock.now += 5
    assert b.state == "half-open"


def test_for_backend_takes_the_backends_own_settings(tmp_path: Path) -> None:
    options = EdgeOptions(breaker_failures=4, breaker_cooldown_s=2.5, breaker_max_cooldown_s=9)
    backend = EdgeBackend(options, BackendContext(data_dir=tmp_path))
    b = CircuitBreaker.for_backend("edge", backend)
    assert (b.failure_threshold, b.cooldown_s, b.max_cooldown_s) == (4, 2.5, 9)
    assert b.trip_reasons == UNREACHABLE

    class Plain:
        options = object()

    plain = CircuitBreaker.for_backend("piper", Plain())
    assert (plain.failure_threshold, plain.cooldown_s, plain.trip_reasons) == (2, 30.0, frozenset())


def test_a_look_without_claim_leaves_the_probe_for_the_request_that_calls() -> None:
    """The engine looks at the breaker before its cache lookup (claim=False)."""
    clock = Clock()
    b = make(clock)
    b.record_failure("dns")
    assert b.blocked_reason(claim=False) is not None  # open: blocked either way
    clock.now += 10
    assert b.blocked_reason(claim=False) is None
    assert b.blocked_reason(claim=False) is None
    assert b.blocked_reason() is None  # the probe is still there to take
    assert b.blocked_reason() is not None
