"""The queue: concurrency cap, bound, priorities, deadlines, deduplication."""

from __future__ import annotations

import asyncio

import pytest

from engine.errors import Busy, EngineError, Expired
from engine.speech.jobs import Job, SynthesisRequest
from engine.speech.scheduler import Scheduler


class GatedRunner:
    """Runs jobs only when the test opens their gate; records start order and concurrency."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}
        self.active = 0
        self.peak = 0

    async def __call__(self, job: Job) -> None:
        self.started.append(job.request.text)
        self.active += 1
        self.peak = max(self.peak, self.active)
        await self.gates.setdefault(job.request.text, asyncio.Event()).wait()
        self.active -= 1
        job.begin("test", "v")
        job.append(b"\x00\x00" * 480)
        job.finish("done")

    def release(self, text: str) -> None:
        self.gates.setdefault(text, asyncio.Event()).set()


def job(text: str, priority: str = "chat", deadline_ms: int | None = None) -> Job:
    return Job(SynthesisRequest(text, priority=priority, deadline_ms=deadline_ms), key=text)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_concurrency_cap_and_priority_order() -> None:
    runner = GatedRunner()
    sched = Scheduler(runner, max_concurrent=2, max_queued=10)
    for j in [job("c1"), job("c2"), job("chat"), job("event", "event"), job("ann", "announcement")]:
        sched.submit(j)
    await settle()
    assert runner.started == ["c1", "c2"] and sched.running == 2 and sched.queued == 3
    runner.release("c1")
    await settle()
    runner.release("c2")
    await settle()
    assert runner.started[2:] == ["ann", "event"]
    for t in ("ann", "event", "chat"):
        runner.release(t)
        await settle()
    assert runner.started[-1] == "chat" and runner.peak == 2
    await sched.close()


async def test_a_full_queue_answers_busy_at_once() -> None:
    runner = GatedRunner()
    sched = Scheduler(runner, max_concurrent=1, max_queued=2)
    sched.submit(job("run"))
    await settle()
    sched.submit(job("w1"))
    sched.submit(job("w2"))
    with pytest.raises(Busy, match="max_queued = 2"):
        sched.submit(job("w3"))
    assert sched.status()["refused_busy"] == 1
    for t in ("run", "w1", "w2"):
        runner.release(t)
    await sched.close()


async def test_stale_chat_is_dropped_with_a_reason() -> None:
    runner = GatedRunner()
    sched = Scheduler(runner, max_concurrent=1, max_queued=5)
    sched.submit(job("busy"))
    stale = sched.submit(job("late chat", deadline_ms=50))
    await asyncio.wait_for(stale.wait_begun(), timeout=5)
    assert stale.state == "expired" and isinstance(stale.error, Expired)
    assert "deadline of 50 ms" in stale.error.message
    with pytest.raises(Expired):
        async for _ in stale.chunks():
            pass
    runner.release("busy")
    await settle()
    assert "late chat" not in runner.started and sched.expired == 1
    await sched.close()


async def test_identical_requests_in_flight_share_one_job() -> None:
    runner = GatedRunner()
    sched = Scheduler(runner, max_concurrent=1, max_queued=5)
    first = sched.submit(job("same"))
    assert sched.find("same") is first
    consumers = [asyncio.create_task(_collect(first)) for _ in range(3)]
    await settle()
    runner.release("same")
    results = await asyncio.wait_for(asyncio.gather(*consumers), timeout=5)
    assert all(r == results[0] and r for r in results)
    assert runner.started == ["same"] and sched.deduplicated == 1
    await settle()
    assert sched.find("other") is None
    await sched.close()


async def _collect(j: Job) -> bytes:
    return b"".join([c async for c in j.chunks()])


async def test_a_crashed_job_fails_with_a_reason_its_listeners_receive() -> None:
    async def crash(job: Job) -> None:
        raise RuntimeError("boom")

    scheduler = Scheduler(crash, max_concurrent=1, max_queued=4)
    job = scheduler.submit(Job(SynthesisRequest("hello"), "key"))
    await asyncio.wait_for(job.wait_begun(), 5)
    assert job.state == "failed" and job.error is not None and "RuntimeError" in job.error.message
    with pytest.raises(EngineError, match="stopped unexpectedly"):
        async for _ in job.chunks():
            pass
    await scheduler.close()
