"""Joining the plugin's threads, on a thread of its own: OBS's threads never wait for them.

``close_later(threads, then=...)`` returns at once; a daemon ``tts-reaper`` thread joins each
thread (bounded) and then runs the clean-up steps (remove a temp folder, stop an engine process).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

_LOGGER = logging.getLogger("streamer_tts.reaper")
JOIN_TIMEOUT_S = 5.0
_REAPERS: list[threading.Thread] = []


def close_later(
    threads: Iterable[threading.Thread],
    *,
    then: Iterable[Callable[[], None]] = (),
    join_timeout_s: float = JOIN_TIMEOUT_S,
) -> threading.Thread:
    """Join ``threads`` and run ``then`` on a new reaper thread; returns that thread."""
    todo, steps = list(threads), list(then)

    def reap() -> None:
        for thread in todo:
            if thread.ident is not None and thread is not threading.current_thread():
                thread.join(timeout=join_timeout_s)
                if thread.is_alive():
                    _LOGGER.warning("Thread %s did not stop within %.0f s", thread.name, join_timeout_s)
        for step in steps:
            try:
                step()
            except Exception:  # one failed clean-up step must not stop the others
                _LOGGER.exception("A clean-up step failed")

    reaper = threading.Thread(target=reap, name="tts-reaper", daemon=True)
    _REAPERS[:] = [r for r in _REAPERS if r.is_alive()] + [reaper]
    reaper.start()
    return reaper


def pending() -> list[threading.Thread]:
    """Reapers still running (tests wait on them, bounded)."""
    return [r for r in _REAPERS if r.is_alive()]
