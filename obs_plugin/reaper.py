"""Joining the plugin's threads on a thread of its own: OBS's threads never wait for them.

One long-lived daemon thread, ``tts-reaper``, started ahead of need (``start()``, at script
load), takes jobs from a queue: ``close_later(threads, then=...)`` only enqueues (no thread start,
which waits for the scheduler) and returns an event that is set when the reaper has joined each
thread (bounded) and run the clean-up steps (remove a temp folder, stop an engine process).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

_LOGGER = logging.getLogger("streamer_tts.reaper")
JOIN_TIMEOUT_S = 5.0


@dataclass
class _Job:
    threads: list[threading.Thread]
    steps: list[Callable[[], None]]
    join_timeout_s: float
    done: threading.Event = field(default_factory=threading.Event)


_JOBS: queue.Queue[_Job] = queue.Queue()
_THREAD: dict[str, threading.Thread] = {}
_START_LOCK = threading.Lock()


def start() -> None:
    """Start the reaper thread if it is not running (call where a short wait is harmless)."""
    with _START_LOCK:
        thread = _THREAD.get("reaper")
        if thread is None or not thread.is_alive():
            thread = threading.Thread(target=_run, name="tts-reaper", daemon=True)
            _THREAD["reaper"] = thread
            thread.start()


def close_later(
    threads: Iterable[threading.Thread],
    *,
    then: Iterable[Callable[[], None]] = (),
    join_timeout_s: float = JOIN_TIMEOUT_S,
) -> threading.Event:
    """Have the reaper join ``threads`` and then run ``then``; returns at once with an event
    that is set when that is done."""
    job = _Job(list(threads), list(then), join_timeout_s)
    _JOBS.put(job)
    if "reaper" not in _THREAD or not _THREAD["reaper"].is_alive():
        start()  # only if nobody started it ahead of need
    return job.done


def idle(*, timeout_s: float = 10.0) -> bool:
    """Wait until every job queued so far is done (tests); False on timeout."""
    marker = close_later(())
    return marker.wait(timeout_s)


def _run() -> None:
    while True:
        job = _JOBS.get()
        for thread in job.threads:
            if thread.ident is not None and thread is not threading.current_thread():
                thread.join(timeout=job.join_timeout_s)
                if thread.is_alive():
                    _LOGGER.warning("Thread %s did not stop within %.0f s", thread.name, job.join_timeout_s)
        for step in job.steps:
            try:
                step()
            except Exception:  # one failed clean-up step must not stop the others
                _LOGGER.exception("A clean-up step failed")
        job.done.set()
