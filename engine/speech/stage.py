"""The stage: plays the speech queue through whoever listens (the OBS plugin), one part at a time.

It takes the next utterance from the ``SpeechQueue``, submits each part as a synthesis job and
publishes a ``play`` event per part, in order, to every listener of ``GET /v1/subscribe``. At
most ``outstanding`` parts are published and not yet reported ended, so the plugin can fetch the
next part while the current one plays, and a skip or clear has little to take back. Playback
reports (``POST /v1/playback``) move it on and update the journal; captions and the dashboard
follow those reports, not the synthesizer (see docs/hub.md).

With no listener nothing is published: the queue waits, chat expires at its deadline with a
reason, and journaled announcements wait for OBS (and survive an engine restart).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import EngineError
from .journal import Journal
from .queue import SpeechQueue
from .utterance import Utterance

_LOGGER = logging.getLogger(__name__)
LISTENER_QUEUE_MAX = 200
PART_GRACE_S = 30.0
"""A part not reported ended this long after its audio would have finished is given up."""

Submit = Callable[[Utterance, int], Awaitable[dict[str, Any]]]
"""Starts synthesis of part i of an utterance; returns the ``play`` event's job fields
(``job``, ``wav_url``) or raises ``EngineError`` (the utterance is then dropped with the reason)."""


@dataclass
class Published:
    """A part handed to the listeners and not yet reported ended."""

    utterance: Utterance
    part: int
    since: float = field(default_factory=time.monotonic)
    started: float | None = None


@dataclass
class PlaybackReport:
    """``POST /v1/playback``: what OBS did with one part."""

    utterance: str
    part: int
    state: str
    """``started``, ``ended`` or ``failed``."""
    reason: str = ""

    STATES = ("started", "ended", "failed")


class Stage:
    def __init__(self, queue: SpeechQueue, submit: Submit, *, journal: Journal | None,
                 outstanding: int = 2, part_timeout_s: float = 120.0) -> None:
        self.queue = queue
        self.journal = journal
        self.outstanding = outstanding
        self.part_timeout_s = part_timeout_s
        self._submit = submit
        self._listeners: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self._published: list[Published] = []
        self._current: Utterance | None = None
        """The utterance whose parts are being published."""
        self._next_part = 0
        self.resume_from: dict[str, int] = {}
        """Utterance id -> first part to publish (journal replay after a crash)."""
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.counters: Counter[str] = Counter()
        self.now_playing: Published | None = None
        self.observers: list[Callable[[str, dict[str, Any]], None]] = []
        """Each is called with ``(kind, event)`` for every ``play``/``cancel`` published and every
        ``started``/``ended`` report (captions, the dashboard, metrics). One that raises is logged."""

    # -- listeners ---------------------------------------------------------------------------------
    def subscribe(self) -> asyncio.Queue[dict[str, Any] | None]:
        q: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=LISTENER_QUEUE_MAX)
        self._listeners.add(q)
        self.wake()
        return q

    def unsubscribe(self, q: asyncio.Queue[dict[str, Any] | None]) -> None:
        self._listeners.discard(q)
        if not self._listeners:
            self._take_back("OBS disconnected before it played it")

    @property
    def listeners(self) -> int:
        return len(self._listeners)

    def _publish(self, event: dict[str, Any]) -> None:
        for q in list(self._listeners):
            if q.full():  # a listener that stopped reading: cut it off rather than block everyone
                _LOGGER.warning("A playback listener stopped reading; disconnecting it")
                self._listeners.discard(q)
                with contextlib.suppress(asyncio.QueueEmpty):
                    q.get_nowait()
                q.put_nowait(None)
                continue
            q.put_nowait(event)
        self._notify(event["type"], event)

    def _notify(self, kind: str, event: dict[str, Any]) -> None:
        for observer in self.observers:
            try:
                observer(kind, event)
            except Exception:  # an observer's bug must not stop playback
                _LOGGER.exception("A stage observer failed on %s", kind)

    # -- the loop ----------------------------------------------------------------------------------
    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="speech-stage")

    def disconnect_all(self) -> None:
        """End every listener's stream (the server is shutting down)."""
        for q in list(self._listeners):
            with contextlib.suppress(asyncio.QueueEmpty):
                if q.full():
                    q.get_nowait()
            q.put_nowait(None)

    async def close(self) -> None:
        self.disconnect_all()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=1.0)
            self._wake.clear()
            try:
                self._expire_published()
                while self._listeners and len(self._published) < self.outstanding:
                    if not await self._publish_next():
                        break
            except Exception:  # one bad utterance must not stop the stage
                _LOGGER.exception("The speech stage failed on an utterance; going on")

    async def _publish_next(self) -> bool:
        """Publish one more part; False when there is nothing to publish now."""
        if self._current is None or self._next_part >= len(self._current.parts):
            if self.queue.paused:
                return False
            utterance = self.queue.pop(time.time())
            if utterance is None:
                return False
            self._current = utterance
            self._next_part = self.resume_from.pop(utterance.id, 0)
            if self._next_part >= len(utterance.parts):
                self._finish(utterance)
                self._current = None
                return True
        utterance, part = self._current, self._next_part
        try:
            job = await self._submit(utterance, part)
        except EngineError as exc:
            self._drop_current(f"{exc.code}: {exc.message}")
            return True
        if self._current is not utterance:  # skipped or cleared while the job was being made
            return True
        self._next_part += 1
        self._published.append(Published(utterance, part))
        self._publish({"type": "play", "utterance": utterance.id, "part": part,
                       "parts": len(utterance.parts), "text": utterance.parts[part],
                       "priority": utterance.priority, "source": utterance.source,
                       "user": utterance.user, **job})
        self.counters["parts_published"] += 1
        return True

    # -- playback reports --------------------------------------------------------------------------
    def report(self, report: PlaybackReport) -> bool:
        """Apply a playback report; False when the part is not (or no longer) outstanding."""
        entry = next((p for p in self._published
                      if p.utterance.id == report.utterance and p.part == report.part), None)
        if entry is None:
            return False
        if report.state == "started":
            entry.started = time.monotonic()
            self.now_playing = entry
            self._notify("started", {"utterance": entry.utterance.id, "part": entry.part,
                                           "text": entry.utterance.parts[entry.part],
                                           "user": entry.utterance.user,
                                           "source": entry.utterance.source})
            return True
        self._published.remove(entry)
        if self.now_playing is entry:
            self.now_playing = None
        if report.state == "failed":
            self.counters["parts_failed"] += 1
            _LOGGER.warning("OBS could not play part %d of %s from %s: %s", entry.part + 1,
                            entry.utterance.priority, entry.utterance.source, report.reason or "no reason")
        else:
            self.counters["parts_played"] += 1
        self._notify("ended", {"utterance": entry.utterance.id, "part": entry.part})
        self._part_done(entry)
        self.wake()
        return True

    def _part_done(self, entry: Published) -> None:
        u = entry.utterance
        if self.journal is not None and u.journaled:
            self.journal.played(u.id, entry.part)
        last = entry.part == len(u.parts) - 1
        if last:
            self._finish(u)

    def _finish(self, u: Utterance) -> None:
        self.counters["utterances_played"] += 1
        if self.journal is not None and u.journaled:
            self.journal.done(u.id)

    def _expire_published(self) -> None:
        """Give up parts that OBS never reported (a plugin that hung or lost the event)."""
        now = time.monotonic()
        for entry in list(self._published):
            if now - entry.since > self.part_timeout_s:
                _LOGGER.warning("No playback report for part %d of %s after %.0f s; moving on",
                                entry.part + 1, entry.utterance.id[:8], now - entry.since)
                self.report(PlaybackReport(entry.utterance.id, entry.part, "failed", "no report"))

    # -- steering ----------------------------------------------------------------------------------
    def skip(self) -> str | None:
        """Stop what is playing now (its remaining parts too); returns its id."""
        target = self._published[0].utterance if self._published else self._current
        if target is None:
            return None
        self._cancel(target, "skipped")
        return target.id

    def cancel(self, utterance_id: str, reason: str) -> bool:
        """Take back an utterance that is queued, being published or playing."""
        for u in [p.utterance for p in self._published] + ([self._current] if self._current else []):
            if u.id == utterance_id:
                self._cancel(u, reason)
                return True
        removed = self.queue.remove(utterance_id, reason)
        if removed is not None and self.journal is not None and removed.journaled:
            self.journal.dropped(removed.id, reason)
        return removed is not None

    def clear(self, reason: str = "cleared") -> int:
        removed = self.queue.clear(reason)
        if self.journal is not None:
            for u in removed:
                if u.journaled:
                    self.journal.dropped(u.id, reason)
        active = {p.utterance.id: p.utterance for p in self._published}
        if self._current is not None:
            active[self._current.id] = self._current
        for u in active.values():
            self._cancel(u, reason)
        return len(removed) + len(active)

    def _cancel(self, u: Utterance, reason: str) -> None:
        self._published = [p for p in self._published if p.utterance.id != u.id]
        if self.now_playing is not None and self.now_playing.utterance.id == u.id:
            self.now_playing = None
        if self._current is not None and self._current.id == u.id:
            self._current = None
        if self.journal is not None and u.journaled:
            self.journal.dropped(u.id, reason)
        self.counters[f"cancelled_{reason.split(':')[0].replace(' ', '_')}"] += 1
        _LOGGER.info("Stopped %s from %s: %s", u.priority, u.source, reason)
        self._publish({"type": "cancel", "utterance": u.id, "reason": reason})
        self.wake()

    def _drop_current(self, reason: str) -> None:
        u = self._current
        assert u is not None
        self._current = None
        self.counters["dropped_unspeakable"] += 1
        _LOGGER.info("Dropped %s from %s before synthesis: %s", u.priority, u.source, reason)
        if self.journal is not None and u.journaled:
            self.journal.dropped(u.id, reason)
        if any(p.utterance.id == u.id for p in self._published):
            self._cancel(u, reason)

    def _take_back(self, reason: str) -> None:
        """The last listener left: parts it had not played go back (journaled ones resume from
        the first unplayed part), chat is dropped."""
        pending = {p.utterance.id: p for p in reversed(self._published)}
        self._published.clear()
        self.now_playing = None
        current = self._current
        self._current = None
        seen: set[str] = set()
        for u in [p.utterance for p in pending.values()] + ([current] if current else []):
            if u.id in seen:
                continue
            seen.add(u.id)
            first = min((p.part for p in pending.values() if p.utterance.id == u.id),
                        default=self._next_part)
            if u.journaled:
                self.resume_from[u.id] = first
                self.queue.requeue(u)
            else:
                _LOGGER.info("Dropped chat from %s: %s", u.source, reason)
                self.counters["dropped_disconnected"] += 1

    def active(self) -> list[Utterance]:
        """Utterances with parts published (playing or about to), oldest first."""
        return list({p.utterance.id: p.utterance for p in self._published}.values())

    def status(self) -> dict[str, Any]:
        playing = self.now_playing
        return {
            "listeners": len(self._listeners),
            "paused": self.queue.paused,
            "queued": len(self.queue),
            "outstanding": [{"utterance": p.utterance.id, "part": p.part,
                             "started": p.started is not None} for p in self._published],
            "now_playing": None if playing is None else {
                "utterance": playing.utterance.id, "part": playing.part,
                "text": playing.utterance.parts[playing.part], "source": playing.utterance.source,
                "user": playing.utterance.user},
            "counters": dict(self.counters),
        }
