"""Bursts that do not back up: what the queue does when chat arrives faster than it is spoken.

The backlog is the estimated speaking time of everything waiting. Past ``speedup_after_s`` chat
is read faster (a rate rising to ``max_rate`` at twice that backlog); past ``collapse_after_s`` a
chat line that repeats a waiting one is collapsed into it; past ``max_backlog_s`` the oldest
waiting chat is dropped. Every collapse and drop has a reason the queue logs and counts.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..pipeline.normalize import estimate_seconds
from ..pipeline.options import SpeechOptions
from .queue import SpeechQueue
from .utterance import Utterance


@dataclass(frozen=True)
class BurstPolicy:
    options: SpeechOptions

    def backlog_s(self, queue: SpeechQueue) -> float:
        """Estimated seconds of speech waiting in the queue."""
        return sum(estimate_seconds(u.text) for u in queue.items())

    def rate(self, backlog_s: float) -> float:
        """The speaking rate for chat under this backlog: 1.0 up to ``speedup_after_s``, then a
        straight ramp to ``max_rate`` at twice that."""
        o = self.options
        over = (backlog_s - o.speedup_after_s) / o.speedup_after_s
        return round(min(o.max_rate, max(1.0, 1.0 + over * (o.max_rate - 1.0))), 2)

    def collapse_into(self, queue: SpeechQueue, u: Utterance, backlog_s: float) -> Utterance | None:
        """A waiting chat line that ``u`` repeats, when the backlog is long enough to collapse."""
        if u.priority != "chat" or backlog_s <= self.options.collapse_after_s:
            return None
        key = _gist(u.message or u.text)
        if not key:
            return None
        return next((w for w in queue.items() if w.priority == "chat" and w.id != u.id
                     and _gist(w.message or w.text) == key), None)

    def trim(self, queue: SpeechQueue) -> list[Utterance]:
        """Drop the oldest waiting chat until the backlog is under ``max_backlog_s``."""
        limit = self.options.max_backlog_s
        dropped: list[Utterance] = []
        backlog = self.backlog_s(queue)
        while backlog > limit:
            oldest = next((u for u in sorted(queue.items(), key=lambda u: u.created)
                           if u.priority == "chat"), None)
            if oldest is None:
                break
            reason = f"backlog of {backlog:.0f} s of speech is over {limit:g} s: oldest chat dropped"
            queue.remove(oldest.id, reason, kind="backlog")
            dropped.append(oldest)
            backlog -= estimate_seconds(oldest.text)
        return dropped


def _gist(text: str) -> str:
    """What a line says, ignoring case, spaces and punctuation ("LOL!!" == "lol")."""
    return "".join(ch for ch in text.casefold() if ch.isalnum())
