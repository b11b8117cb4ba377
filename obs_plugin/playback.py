"""The queue of messages to speak, played one at a time through a ``Player`` (the Media Source).

Pure logic, driven by the timer on OBS's side: ``tick(now)`` starts the next message when the
current one has ended, cuts one that runs past the maximum length, and drops chat older than its
deadline. Messages are sent to the engine ahead of their turn (``to_submit``) so their audio is
ready by the time they play. A long text is several parts (one per sentence group, see
``split_sentences``) that share a ``group``: they stay together in the queue, play back to back,
and are skipped, dropped or cut together.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol
from collections.abc import Callable
import contextlib

# obs_media_state values (libobs obs.h)
NONE, PLAYING, OPENING, BUFFERING, PAUSED, STOPPED, ENDED, ERROR = range(8)
ACTIVE = (PLAYING, OPENING, BUFFERING, PAUSED)
FINISHED = (NONE, STOPPED, ENDED, ERROR)
PRIORITY_RANK = {"announcement": 0, "event": 1, "chat": 2}
OPEN_TIMEOUT_S = 10.0
"""A message whose media never starts within this long is given up."""
_ids = itertools.count(1)
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")
MIN_PART_CHARS = 40
"""Sentences shorter than this are joined to the next one (fewer gaps, natural phrasing)."""


def split_sentences(text: str, *, min_chars: int = MIN_PART_CHARS) -> list[str]:
    """``"One. Two three four. Five."`` -> parts of at least ``min_chars`` (the last may be shorter)."""
    parts: list[str] = []
    for piece in _SENTENCE_END.split(text.strip()):
        if parts and len(parts[-1]) < min_chars:
            parts[-1] += " " + piece
        elif piece:
            parts.append(piece)
    return parts or [text]


@dataclass
class Message:
    text: str
    voice: str = ""
    backend: str = ""
    priority: str = "chat"
    """``announcement``, ``event`` or ``chat`` (the engine's priorities)."""
    origin: str = "chat"
    """Where it came from: chat, hotkey, scene, say, test."""
    created: float = field(default_factory=time.monotonic)
    received_wall: float = field(default_factory=time.time)
    id: int = field(default_factory=lambda: next(_ids))
    group: int = 0
    """Parts of one text share a group (0: the message's own id)."""
    part: int = 0
    parts: int = 1
    state: str = "new"
    """new (to submit), submitting, ready (job known), playing."""
    job_id: str = ""
    wav_url: str = ""
    """Engine route of the job's WAV (``/v1/jobs/<id>.wav``)."""
    local_path: str = ""
    """The downloaded WAV the Media Source plays; deleted when the message leaves the queue."""
    attempts: int = 0
    retry_at: float = 0.0

    def __post_init__(self) -> None:
        if not self.group:
            self.group = self.id


class Player(Protocol):
    def play(self, message: Message) -> bool: ...
    def state(self) -> int: ...
    def stop(self) -> None: ...
    def set_paused(self, paused: bool) -> None: ...
    def ended_count(self) -> int: ...


@dataclass
class Counters:
    played: int = 0
    dropped_late: int = 0
    """Chat older than its deadline, dropped unspoken."""
    dropped_full: int = 0
    skipped: int = 0
    cut: int = 0
    failed: int = 0


class PlaybackQueue:
    def __init__(
        self,
        player: Player,
        *,
        max_queue: int = 50,
        chat_deadline_s: float = 30.0,
        max_playback_s: float = 30.0,
        on_event: Callable[[str, Message, str], None] | None = None,
    ) -> None:
        self.player = player
        self.max_queue = max_queue
        self.chat_deadline_s = chat_deadline_s
        self.max_playback_s = max_playback_s
        self.on_event = on_event or (lambda kind, msg, detail: None)
        self.items: deque[Message] = deque()
        self.current: Message | None = None
        self.paused = False
        self.counters = Counters()
        self._started = 0.0
        self._played_s = 0.0
        self._last_tick = 0.0
        self._seen_active = False
        self._ended_mark = 0
        self._last_state = -1
        self.playing_since: float | None = None
        """Monotonic time the current message's media first reported PLAYING."""

    def __len__(self) -> int:
        return len(self.items)

    # -- input -----------------------------------------------------------------------------------
    def enqueue(self, msg: Message) -> bool:
        """Add by priority (announcements first, FIFO within a priority); chat is refused when full."""
        if len(self.items) >= self.max_queue:
            victim = next((m for m in reversed(self.items) if m.priority == "chat"), None)
            if msg.priority == "chat" or victim is None:
                self.counters.dropped_full += 1
                self._leave(msg, "dropped", "queue full")
                return False
            self.items.remove(victim)
            self.counters.dropped_full += 1
            self._leave(victim, "dropped", "queue full")
        rank = PRIORITY_RANK.get(msg.priority, 2)
        index = len(self.items)
        if msg.part == 0:  # later parts follow their first part; a new text never splits a group
            index = next(
                (
                    i
                    for i, m in enumerate(self.items)
                    if PRIORITY_RANK.get(m.priority, 2) > rank
                    and m.part == 0
                    and m.group != self._playing_group
                ),
                len(self.items),
            )
        self.items.insert(index, msg)
        return True

    def enqueue_parts(self, parts: list[Message]) -> bool:
        """Enqueue the parts of one text together; all or nothing."""
        if not parts:
            return False
        if not self.enqueue(parts[0]):
            return False
        index = self.items.index(parts[0])
        for offset, msg in enumerate(parts[1:], start=1):
            self.items.insert(index + offset, msg)
        return True

    @property
    def _playing_group(self) -> int:
        return self.current.group if self.current is not None else -1

    def find(self, msg_id: int) -> Message | None:
        if self.current is not None and self.current.id == msg_id:
            return self.current
        return next((m for m in self.items if m.id == msg_id), None)

    def to_submit(self, now: float, *, ahead: int = 3) -> list[Message]:
        """Messages among the next ``ahead`` that need an engine job now; marked ``submitting``."""
        out = []
        for msg in list(self.items)[:ahead]:
            if msg.state == "new" and msg.retry_at <= now:
                msg.state = "submitting"
                msg.attempts += 1
                out.append(msg)
        return out

    def submitted(self, msg_id: int, *, job_id: str, wav_url: str, local_path: str = "") -> None:
        msg = self.find(msg_id)
        if msg is None:  # cleared meanwhile
            _remove_file(local_path)
            return
        msg.state, msg.job_id, msg.wav_url, msg.local_path = "ready", job_id, wav_url, local_path

    def submit_failed(self, msg_id: int, reason: str, *, retry_in: float | None, now: float) -> None:
        """``retry_in`` None: give the message up (the engine refused it for good)."""
        msg = self.find(msg_id)
        if msg is None or msg is self.current:
            return
        if retry_in is None:
            self.items.remove(msg)
            self.counters.failed += 1
            self._leave(msg, "failed", reason)
            return
        msg.state, msg.retry_at = "new", now + retry_in

    # -- controls --------------------------------------------------------------------------------
    def skip(self, reason: str = "skipped by hotkey") -> bool:
        """Stop the current text (all its parts)."""
        if self.current is None:
            return False
        self.player.stop()
        self.counters.skipped += 1
        self._drop_group(self.current.group, "skipped", reason)
        self._finish("skipped", reason)
        return True

    def _drop_group(self, group: int, kind: str, reason: str) -> None:
        for msg in [m for m in self.items if m.group == group]:
            self.items.remove(msg)
            self._leave(msg, kind, reason)

    def clear(self, reason: str = "queue cleared") -> int:
        n = len({m.group for m in self.items})
        for msg in list(self.items):
            self._leave(msg, "cleared", reason)
        self.items.clear()
        self.skip(reason)
        return n

    def set_paused(self, paused: bool) -> None:
        if paused == self.paused:
            return
        self.paused = paused
        if self.current is not None:
            self.player.set_paused(paused)

    # -- the timer -------------------------------------------------------------------------------
    def tick(self, now: float) -> None:
        dt, self._last_tick = (now - self._last_tick if self._last_tick else 0.0), now
        self._drop_late(now)
        if self.current is not None:
            self._watch(now, dt)
        if self.current is None and not self.paused:
            self._start_next(now)

    def _drop_late(self, now: float) -> None:
        if not self.chat_deadline_s:
            return
        late = {
            m.group
            for m in self.items
            if m.priority == "chat" and m.part == 0 and now - m.created > self.chat_deadline_s
        }
        for group in late:
            self.counters.dropped_late += 1
            self._drop_group(group, "dropped", f"older than {self.chat_deadline_s:g} s")

    def _watch(self, now: float, dt: float) -> None:
        state = self.player.state()
        if state != self._last_state:
            self._last_state = state
            self.on_event("state", self.current, str(state))  # type: ignore[arg-type]
        if state in ACTIVE:
            self._seen_active = True
            if state == PLAYING and self.playing_since is None:
                self.playing_since = now
                self.on_event("playing", self.current, "")  # type: ignore[arg-type]
        if not self.paused and self.playing_since is not None:
            self._played_s += dt
        if self.player.ended_count() > self._ended_mark or (self._seen_active and state in FINISHED):
            if state == ERROR and self.playing_since is None:
                self.counters.failed += 1
                self._finish("failed", "the Media Source could not play it")
            else:
                if self.current is not None and self.current.part == self.current.parts - 1:
                    self.counters.played += 1
                self._finish("ended", "")
        elif (state == ERROR and now - self._started > 2.0) or (
            now - self._started > OPEN_TIMEOUT_S and not self._seen_active
        ):
            self.player.stop()
            self.counters.failed += 1
            self._finish("failed", "the Media Source did not start playing")
        elif self.max_playback_s and self._played_s > self.max_playback_s:
            self.player.stop()
            self.counters.cut += 1
            self.counters.played += 1
            reason = f"longer than {self.max_playback_s:g} s"
            self._drop_group(self.current.group, "cut", reason)  # type: ignore[union-attr]
            self._finish("cut", reason)

    def _start_next(self, now: float) -> None:
        if not self.items or self.items[0].state != "ready":
            return
        msg = self.items.popleft()
        self._ended_mark = self.player.ended_count()
        if msg.part == 0:
            self._played_s = 0.0  # the length limit counts a whole text, all its parts
        self.current, self._started = msg, now
        self._seen_active, self.playing_since, self._last_state = False, None, -1
        msg.state = "playing"
        if not self.player.play(msg):
            self.counters.failed += 1
            self._finish("failed", "no Media Source to play into")
            return
        self.on_event("started", msg, "")

    def _finish(self, kind: str, detail: str) -> None:
        msg, self.current = self.current, None
        if msg is not None:
            self._leave(msg, kind, detail)

    def _leave(self, msg: Message, kind: str, detail: str) -> None:
        _remove_file(msg.local_path)
        msg.local_path = ""
        self.on_event(kind, msg, detail)


def _remove_file(path: str) -> None:
    if path:
        with contextlib.suppress(OSError):
            os.unlink(path)
