"""The speech queue: utterances waiting to be played, in priority order.

Announcements play before stream events, stream events before chat, first in first out within a
priority. The queue drops identical lines, stale ones (past their deadline) and, when full, the
oldest chat; every drop is logged once at INFO with its reason, counted in ``drops`` by kind and
kept in ``recent_drops``. Pure logic: ``now`` is wall-clock seconds (``time.time()``), the clock of
``Utterance.created`` and ``deadline``. Not thread-safe: use it from one thread (the event loop).
"""

from __future__ import annotations

import collections
import logging
import re
from collections.abc import Callable, Iterator

from ..pipeline.pipeline import Drop
from .utterance import PRIORITIES, Utterance

_LOGGER = logging.getLogger(__name__)
RECENT_DROPS = 100
_SPACES = re.compile(r"\s+")
TEXT_DEDUPED = frozenset({"announcement", "chat"})
"""Priorities deduped by text; stream events are deduped by id only (two equal donations are
two donations)."""


class SpeechQueue:
    def __init__(self, *, max_items: int, dedupe_window_s: float,
                 on_drop: Callable[[Drop], None] | None = None) -> None:
        """``on_drop``: called with each drop after it is logged and counted (dashboards)."""
        if max_items < 1:
            raise ValueError("max_items must be at least 1")
        self.max_items = max_items
        self.dedupe_window_s = dedupe_window_s
        self.on_drop = on_drop
        self.drops: collections.Counter[str] = collections.Counter()
        self.recent_drops: collections.deque[Drop] = collections.deque(maxlen=RECENT_DROPS)
        self._lanes: dict[str, collections.deque[Utterance]] = {p: collections.deque()
                                                                for p in PRIORITIES}
        self._recent: dict[tuple[str, str, str], tuple[float, str]] = {}
        """(priority, normalized text, voice) -> (wall-clock time it was put, utterance id), within the
        dedupe window."""
        self._queued: dict[str, tuple[tuple[str, str, str], Utterance]] = {}
        """id -> (dedupe key, utterance) of everything waiting."""
        self._paused = False

    # -- input -----------------------------------------------------------------------------------
    def put(self, u: Utterance, now: float) -> Drop | None:
        """Queue ``u``; a ``Drop`` (already logged and counted) if it is refused."""
        self._forget_recent(now)
        if u.id in self._queued:
            return self._drop(u, "duplicate", "duplicate of a queued utterance with the same id")
        key = _dedupe_key(u)
        if u.priority in TEXT_DEDUPED:
            earlier = self._recent.get(key) or next(  # else still queued, put before the window
                ((q.created, q.id) for k, q in self._queued.values() if k == key), None)
            if earlier is not None and earlier[1] != u.id:
                ago = max(0.0, now - earlier[0])
                return self._drop(u, "duplicate", f"duplicate of a line queued {ago:.0f} s ago")
        if len(self) >= self.max_items:
            chat = self._lanes["chat"]
            if chat:
                self._drop(chat.popleft(), "queue_full", f"queue full ({self.max_items} waiting)")
            elif u.priority == "chat":
                return self._drop(u, "queue_full", f"queue full ({self.max_items} waiting, "
                                  "none of them chat)")
        self._lanes[u.priority].append(u)
        self._queued[u.id] = (key, u)
        if u.priority in TEXT_DEDUPED and key not in self._recent:
            self._recent[key] = (now, u.id)
        return None

    def requeue(self, u: Utterance) -> None:
        """Put back an utterance that was popped but not finished (OBS went away): at the front
        of its priority, never deduped or dropped for a full queue."""
        if u.id not in self._queued:
            self._lanes[u.priority].appendleft(u)
            self._queued[u.id] = (_dedupe_key(u), u)

    # -- output ----------------------------------------------------------------------------------
    def pop(self, now: float) -> Utterance | None:
        """The next utterance to play (stale ones are dropped first); None while paused or empty."""
        self.expire(now)
        if self._paused:
            return None
        for lane in self._lanes.values():
            if lane:
                u = lane.popleft()
                del self._queued[u.id]
                return u
        return None

    def expire(self, now: float) -> list[Utterance]:
        """Drop every utterance past its deadline."""
        stale = [u for u in self if u.deadline is not None and now > u.deadline]
        for u in stale:
            self._lanes[u.priority].remove(u)
            waited = now - u.created
            allowed = u.deadline - u.created if u.deadline is not None else 0.0
            self._drop(u, "stale", f"stale: waited {waited:.0f} s, past its deadline of {allowed:.0f} s")
        return stale

    # -- control ---------------------------------------------------------------------------------
    def remove(self, utterance_id: str, reason: str, *, kind: str = "removed") -> Utterance | None:
        found = self._queued.get(utterance_id)
        if found is None:
            return None
        u = found[1]
        self._lanes[u.priority].remove(u)
        self._drop(u, kind, reason)
        return u

    def remove_user(self, login: str, reason: str, *, kind: str = "muted") -> list[Utterance]:
        """Every queued line of ``login`` (a mute); announcements have no login and stay."""
        name = login.strip().lstrip("@").lower()
        gone = [u for u in self if u.login and u.login.lower() == name]
        for u in gone:
            self._lanes[u.priority].remove(u)
            self._drop(u, kind, reason)
        return gone

    def clear(self, reason: str) -> list[Utterance]:
        gone = list(self)
        for lane in self._lanes.values():
            lane.clear()
        for u in gone:
            self._drop(u, "cleared", reason)
        return gone

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False

    @property
    def paused(self) -> bool:
        return self._paused

    def items(self) -> list[Utterance]:
        """Everything waiting, in play order."""
        return list(self)

    def __iter__(self) -> Iterator[Utterance]:
        for lane in self._lanes.values():
            yield from lane

    def __len__(self) -> int:
        return sum(len(lane) for lane in self._lanes.values())

    # -- internals -------------------------------------------------------------------------------
    def _drop(self, u: Utterance, kind: str, reason: str) -> Drop:
        drop = Drop(event_id=u.id, source=u.source, user=u.user, reason=reason, text=u.text,
                    kind=kind)
        _LOGGER.info("Dropped %s from %s: %s", f"{u.priority} {u.id}", u.user or u.source, reason)
        if u.id in self._queued and self._queued[u.id][1] is u:
            del self._queued[u.id]
        self.drops[kind] += 1
        self.recent_drops.append(drop)
        if self.on_drop is not None:
            self.on_drop(drop)
        return drop

    def _forget_recent(self, now: float) -> None:
        limit = now - self.dedupe_window_s
        if self._recent and next(iter(self._recent.values()))[0] < limit:
            self._recent = {k: v for k, v in self._recent.items() if v[0] >= limit}


def _dedupe_key(u: Utterance) -> tuple[str, str, str]:
    """A viewer repeating the streamer's announcement does not cancel it, nor the reverse."""
    return u.priority, _SPACES.sub(" ", u.text).strip().casefold(), u.voice or ""

