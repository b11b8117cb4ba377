"""The request queue: priorities, a concurrency cap, a bound, deadlines and deduplication.

- At most ``max_concurrent`` jobs run at once; up to ``max_queued`` more wait.
- A full queue refuses at once (``Busy``) instead of letting clients hang.
- Waiting jobs run announcement first, then stream events, then chat; FIFO within a class.
- Identical requests in flight share one job (the caller looks them up by key first).
- A job still waiting at its deadline is dropped with a stated reason: stale chat is worse
  than none.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import Awaitable, Callable

from ..errors import Busy, EngineError, Expired
from .jobs import Job

_LOGGER = logging.getLogger(__name__)

Runner = Callable[[Job], Awaitable[None]]


class Scheduler:
    def __init__(self, runner: Runner, *, max_concurrent: int, max_queued: int) -> None:
        self._runner = runner
        self.max_concurrent = max_concurrent
        self.max_queued = max_queued
        self._heap: list[tuple[int, int, Job]] = []
        self._in_flight: dict[str, Job] = {}
        self._running = 0
        self.expired = 0
        self.refused = 0
        self.deduplicated = 0
        self.completed = 0
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def queued(self) -> int:
        return sum(1 for _, _, job in self._heap if job.state == "queued")

    @property
    def running(self) -> int:
        return self._running

    def find(self, key: str) -> Job | None:
        """The in-flight job with this key, to share instead of synthesizing twice."""
        job = self._in_flight.get(key)
        if job is not None:
            self.deduplicated += 1
        return job

    def submit(self, job: Job) -> Job:
        """Queue the job, or raise and leave no trace of it: a job that cannot be scheduled
        (``Busy``, a bad deadline, anything else) is never left waiting in the queue."""
        if self.queued >= self.max_queued:
            self.refused += 1
            raise Busy(f"the engine is busy: {self.queued} requests are waiting "
                       f"(performance.queue.max_queued = {self.max_queued}); retry shortly")
        deadline = job.deadline()  # computed before the job is queued: it may raise
        loop = asyncio.get_running_loop()
        self._in_flight[job.key] = job
        heapq.heappush(self._heap, (job.rank, job.seq, job))
        try:
            if deadline is not None:
                loop.call_later(max(0.0, deadline - time.monotonic()), self._expire, job)
            self._pump()
        except BaseException:
            self.discard(job)
            raise
        return job

    def discard(self, job: Job) -> None:
        """Take a job that will not run out of the queue (its request failed after queueing);
        a job already running is left to finish."""
        if job.state == "queued":
            job.finish("failed", EngineError("the request was withdrawn before it started"))
            self._heap = [entry for entry in self._heap if entry[2] is not job]
            heapq.heapify(self._heap)
        if self._in_flight.get(job.key) is job and job.done:
            del self._in_flight[job.key]

    def _expire(self, job: Job) -> None:
        if job.state != "queued":
            return
        waited = round((time.monotonic() - job.created) * 1000)
        job.finish("expired", Expired(
            f"dropped unspoken: waited {waited} ms, past its deadline of "
            f"{job.request.deadline_ms} ms ({job.request.priority} is stale by then)"))
        self.expired += 1
        self._in_flight.pop(job.key, None)
        _LOGGER.info("Dropped %s request %s after %d ms in the queue", job.request.priority,
                     job.id[:8], waited)

    def _pump(self) -> None:
        while self._running < self.max_concurrent and self._heap:
            _, _, job = heapq.heappop(self._heap)
            if job.state != "queued":
                continue
            job.state = "running"
            job.started = time.monotonic()
            self._running += 1
            task = asyncio.get_running_loop().create_task(self._run(job))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, job: Job) -> None:
        crash = ""
        try:
            await self._runner(job)
        except Exception as exc:  # the runner finishes the job itself; this is a last guard
            crash = type(exc).__name__
            _LOGGER.exception("Job %s crashed", job.id[:8])
        finally:
            if not job.done:  # never "failed" without a reason: clients would take it for success
                job.finish("failed", EngineError(
                    f"synthesis stopped unexpectedly ({crash or 'cancelled'}); the engine log has details"))
            self._running -= 1
            self.completed += 1
            if self._in_flight.get(job.key) is job:
                del self._in_flight[job.key]
            self._pump()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def status(self) -> dict[str, int]:
        return {"running": self.running, "queued": self.queued, "max_concurrent": self.max_concurrent,
                "max_queued": self.max_queued, "expired": self.expired, "refused_busy": self.refused,
                "deduplicated": self.deduplicated, "completed": self.completed}
