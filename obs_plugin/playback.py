"""The parts the engine published, played one at a time through a ``Player`` (the Media Source).

Pure logic, driven by the timer on OBS's side. Parts arrive in playing order (``play`` events);
each plays once its WAV is downloaded, strictly in that order. ``tick(now)`` returns what the
engine must hear: ``started`` when the Media Source reaches PLAYING, ``ended``, or ``failed`` with
a reason. Temp files are deleted when their part leaves.
"""

from __future__ import annotations

import collections
import contextlib
import os
from dataclasses import dataclass
from typing import Protocol

from messages import PlayPart

# obs_media_state values (libobs obs.h)
NONE, PLAYING, OPENING, BUFFERING, PAUSED, STOPPED, ENDED, ERROR = range(8)
ACTIVE = (PLAYING, OPENING, BUFFERING, PAUSED)
FINISHED = (NONE, STOPPED, ENDED, ERROR)
OPEN_TIMEOUT_S = 10.0
"""A part whose media never starts within this long is given up."""
REMEMBER = 500
"""How many played parts are remembered, so a part published again is not played twice."""


class Player(Protocol):
    def play(self, path: str) -> bool: ...
    def state(self) -> int: ...
    def stop(self) -> None: ...
    def set_paused(self, paused: bool) -> None: ...
    def ended_count(self) -> int: ...


@dataclass
class Queued:
    part: PlayPart
    path: str = ""
    """The downloaded WAV; empty while it downloads."""


@dataclass(frozen=True)
class Outcome:
    """What happened to a part: ``started``, ``ended`` or ``failed`` (with ``reason``)."""

    part: PlayPart
    state: str
    reason: str = ""
    at: float = 0.0


@dataclass
class Counters:
    played: int = 0
    failed: int = 0
    cancelled: int = 0


class PartQueue:
    def __init__(self, player: Player, *, open_timeout_s: float = OPEN_TIMEOUT_S) -> None:
        self.player = player
        self.open_timeout_s = open_timeout_s
        self.waiting: collections.deque[Queued] = collections.deque()
        self.current: Queued | None = None
        self.paused = False
        self.counters = Counters()
        self._played: collections.OrderedDict[tuple[str, int], None] = collections.OrderedDict()
        self._started = 0.0
        self._seen_active = False
        self._reported_start = False
        self._ended_mark = 0

    def __len__(self) -> int:
        return len(self.waiting)

    # -- from the engine -------------------------------------------------------------------------
    def add(self, part: PlayPart) -> list[Outcome]:
        """A published part. One already played is reported ended at once, not played again;
        one published again (a new job) replaces the waiting one."""
        if self.current is not None and self.current.part.key == part.key:
            return []
        if part.key in self._played:
            return [Outcome(part, "ended", "already played")]
        for i, queued in enumerate(self.waiting):
            if queued.part.key == part.key:
                _remove(queued.path)
                self.waiting[i] = Queued(part)
                return []
        self.waiting.append(Queued(part))
        return []

    def fetched(self, key: tuple[str, int], job: str, path: str) -> None:
        queued = self._find(key, job)
        if queued is None:  # cancelled or replaced meanwhile
            _remove(path)
        else:
            queued.path = path

    def fetch_failed(self, key: tuple[str, int], job: str, reason: str) -> list[Outcome]:
        queued = self._find(key, job)
        if queued is None:
            return []
        self.waiting.remove(queued)
        self.counters.failed += 1
        return [Outcome(queued.part, "failed", f"download failed: {reason}")]

    def cancel(self, utterance: str) -> int:
        """Drop the utterance's waiting parts and stop it if it plays; returns how many went."""
        gone = [q for q in self.waiting if q.part.utterance == utterance]
        for queued in gone:
            self.waiting.remove(queued)
            _remove(queued.path)
        if self.current is not None and self.current.part.utterance == utterance:
            self.player.stop()
            self._finish()
            gone.append(Queued(PlayPart(utterance, 0, 1, "", "")))
        self.counters.cancelled += len(gone)
        return len(gone)

    def clear(self) -> None:
        """Unloading: stop, delete every file."""
        for queued in self.waiting:
            _remove(queued.path)
        self.waiting.clear()
        if self.current is not None:
            self.player.stop()
            self._finish()

    def set_paused(self, paused: bool) -> None:
        if paused != self.paused:
            self.paused = paused
            if self.current is not None:
                self.player.set_paused(paused)

    # -- the timer -------------------------------------------------------------------------------
    def tick(self, now: float) -> list[Outcome]:
        out: list[Outcome] = []
        if self.current is not None:
            out += self._watch(now)
        if self.current is None and not self.paused and self.waiting and self.waiting[0].path:
            out += self._start(now)
        return out

    def _watch(self, now: float) -> list[Outcome]:
        assert self.current is not None
        part, state = self.current.part, self.player.state()
        out: list[Outcome] = []
        if state in ACTIVE:
            self._seen_active = True
            if state == PLAYING and not self._reported_start:
                self._reported_start = True
                out.append(Outcome(part, "started", at=now))
        if self.player.ended_count() > self._ended_mark or (self._seen_active and state in FINISHED):
            if state == ERROR and not self._reported_start:
                out.append(self._fail("the Media Source could not play it"))
            else:
                if not self._reported_start:  # ended between two ticks: it did play
                    out.append(Outcome(part, "started", at=now))
                self.counters.played += 1
                self._played[part.key] = None
                while len(self._played) > REMEMBER:
                    self._played.popitem(last=False)
                self._finish()
                out.append(Outcome(part, "ended", at=now))
        elif not self._seen_active and (
            (state == ERROR and now - self._started > 2.0) or now - self._started > self.open_timeout_s
        ):
            self.player.stop()
            out.append(self._fail("the Media Source did not start playing"))
        return out

    def _start(self, now: float) -> list[Outcome]:
        queued = self.waiting.popleft()
        self.current, self._started = queued, now
        self._seen_active = self._reported_start = False
        self._ended_mark = self.player.ended_count()
        if not self.player.play(queued.path):
            return [self._fail("no Media Source to play into (is it named right?)")]
        return []

    def _fail(self, reason: str) -> Outcome:
        assert self.current is not None
        part = self.current.part
        self.counters.failed += 1
        self._finish()
        return Outcome(part, "failed", reason)

    def _finish(self) -> None:
        if self.current is not None:
            _remove(self.current.path)
        self.current = None

    def _find(self, key: tuple[str, int], job: str) -> Queued | None:
        return next((q for q in self.waiting if q.part.key == key and q.part.job == job), None)


def _remove(path: str) -> None:
    if path:
        with contextlib.suppress(OSError):
            os.unlink(path)
