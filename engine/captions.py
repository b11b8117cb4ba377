"""What was spoken, and what is on screen now: the dashboard's recent messages and the captions.

``SpeechLog`` follows the stage (``Stage.observers``: ``play``, ``started``, ``ended``,
``cancel``) and the drops of the pipeline and the queue. It keeps a bounded ring of
``Outcome``s (one per utterance or dropped event: source, user, backend, cached, time to first
audio, the reason when it was not spoken) and the current ``Caption``: shown when OBS reports a
part ``started``, hidden at ``ended`` or when the utterance is cancelled (docs/hub.md: captions
follow OBS's reports, not the synthesizer). Pure bookkeeping on the event loop; the HTTP layer
(``engine.http.dashboard``, ``engine.http.overlay``) reads it.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

RECENT_MAX = 200
"""Outcomes kept for the dashboard."""
PLAYED_STATES = ("playing", "played")


class _Job(Protocol):
    def metadata(self) -> dict[str, Any]: ...


class _Utterance(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def user(self) -> str: ...
    @property
    def login(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def priority(self) -> str: ...
    @property
    def parts(self) -> list[str]: ...


class _Drop(Protocol):
    @property
    def event_id(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def user(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def text(self) -> str: ...


@dataclass
class Outcome:
    """One message's fate, as the dashboard lists it."""

    id: str
    source: str
    user: str = ""
    text: str = ""
    login: str = ""
    priority: str = ""
    state: str = "queued"
    """``queued``, ``playing``, ``played``, ``failed``, ``cancelled`` or
    ``dropped`` (never queued)."""
    reason: str = ""
    backend: str | None = None
    cached: bool | None = None
    first_audio_ms: float | None = None
    parts: int = 0
    at: float = field(default_factory=time.time)
    """Wall-clock seconds of the last change."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Caption:
    """The overlay's state; ``seq`` grows with every change."""

    seq: int = 0
    visible: bool = False
    text: str = ""
    user: str = ""
    source: str = ""
    utterance: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SpeechLog:
    def __init__(self, job: Callable[[str], _Job | None], *, size: int = RECENT_MAX) -> None:
        """``job``: looks up a synthesis job by id (``Engine.job``) for backend, cache, timing."""
        self._job = job
        self._size = size
        self._recent: OrderedDict[str, Outcome] = OrderedDict()
        self._jobs: dict[tuple[str, int], str] = {}
        self.caption = Caption()
        self._changed = asyncio.Event()

    # -- inputs ------------------------------------------------------------------------------------
    def on_stage(self, kind: str, event: dict[str, Any]) -> None:
        """``Stage.observers``."""
        uid = str(event.get("utterance", ""))
        if kind == "play":
            self._on_play(uid, event)
        elif kind == "started":
            self._on_started(uid, event)
        elif kind == "ended":
            self._on_ended(uid, int(event.get("part", 0)))
        elif kind == "cancel":
            self._hide(uid)
            out = self._recent.get(uid)
            if out is not None and out.state != "played":
                self._update(out, state="cancelled", reason=str(event.get("reason", "")))
            self._forget_jobs(uid)

    def queued(self, u: _Utterance) -> None:
        """An utterance entered the speech queue (``Hub.accept``)."""
        self._add(Outcome(u.id, u.source, u.user, u.text[:500], login=u.login,
                          priority=u.priority, parts=len(u.parts)))

    def dropped(self, drop: _Drop) -> None:
        """A drop of the pipeline or the queue (``Drop``)."""
        out = self._recent.get(drop.event_id)
        if out is not None:  # a repeat of a known id must not rewrite what happened to it
            if out.state == "queued":
                self._update(out, state="dropped", reason=drop.reason)
            return
        self._add(Outcome(drop.event_id, drop.source, drop.user, drop.text[:300],
                          login=drop.user.lower(), state="dropped", reason=drop.reason))

    # -- outputs -----------------------------------------------------------------------------------
    def recent(self, limit: int = 50) -> list[Outcome]:
        """The latest outcomes, newest first."""
        return list(reversed(self._recent.values()))[:limit]

    def last_played(self) -> Outcome | None:
        return next((o for o in reversed(self._recent.values()) if o.state in PLAYED_STATES), None)

    async def wait_caption(self, after_seq: int, timeout: float) -> Caption:
        """The caption once its ``seq`` is past ``after_seq``, or as it is after ``timeout``."""
        deadline = time.monotonic() + timeout
        while self.caption.seq <= after_seq:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            event = self._changed
            try:
                await asyncio.wait_for(event.wait(), timeout=left)
            except asyncio.TimeoutError:
                break
        return self.caption

    # -- internals ---------------------------------------------------------------------------------
    def _on_play(self, uid: str, event: dict[str, Any]) -> None:
        part = int(event.get("part", 0))
        if event.get("job"):
            self._jobs[(uid, part)] = str(event["job"])
        out = self._recent.get(uid)
        text = str(event.get("text", ""))
        if out is None:  # replayed from the journal: never passed through ``queued``
            self._add(Outcome(uid, str(event.get("source", "")), str(event.get("user", "")),
                              text, priority=str(event.get("priority", "")),
                              parts=int(event.get("parts", 1))))

    def _on_started(self, uid: str, event: dict[str, Any]) -> None:
        self._set_caption(Caption(0, True, str(event.get("text", "")), str(event.get("user", "")),
                                  str(event.get("source", "")), uid))
        out = self._recent.get(uid)
        if out is None:
            return
        self._update(out, state="playing", **self._job_facts(uid))

    def _on_ended(self, uid: str, part: int) -> None:
        if self.caption.utterance == uid:
            self._hide(uid)
        out = self._recent.get(uid)
        if out is not None and part >= out.parts - 1 and out.state in ("queued", "playing"):
            self._update(out, state="played", **self._job_facts(uid))
        if out is None or out.state == "played":
            self._forget_jobs(uid)
        elif part > 0:  # part 0's job stays: it tells the backend and the time to first audio
            self._jobs.pop((uid, part), None)

    def _job_facts(self, uid: str) -> dict[str, Any]:
        """Backend, cache and time to first audio of the first part's job, once it has begun."""
        out = self._recent.get(uid)
        job = self._job(self._jobs.get((uid, 0), ""))
        if out is None or out.backend is not None or job is None:
            return {}
        meta = job.metadata()
        if meta.get("backend") is None:
            return {}
        return {"backend": meta["backend"], "cached": bool(meta.get("cached")),
                "first_audio_ms": meta.get("first_audio_ms")}

    def _hide(self, uid: str) -> None:
        if self.caption.visible and self.caption.utterance == uid:
            self._set_caption(replace(self.caption, visible=False))

    def _set_caption(self, caption: Caption) -> None:
        self.caption = replace(caption, seq=self.caption.seq + 1)
        self._changed.set()
        self._changed = asyncio.Event()

    def _add(self, out: Outcome) -> None:
        self._recent[out.id] = out
        self._recent.move_to_end(out.id)
        while len(self._recent) > self._size:
            old, _ = self._recent.popitem(last=False)
            self._forget_jobs(old)

    def _update(self, out: Outcome, **changes: Any) -> None:
        for key, value in changes.items():
            setattr(out, key, value)
        out.at = time.time()

    def _forget_jobs(self, uid: str) -> None:
        for key in [k for k in self._jobs if k[0] == uid]:
            del self._jobs[key]
