"""A synthesis job: one request's audio, shared by every client that asked for the same thing.

The producer appends PCM chunks as the backend yields them; any number of consumers iterate
``job.chunks()`` from the start, each at its own pace, so a late joiner still gets all audio.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from ..audio import duration_ms
from ..errors import BadRequest, EngineError

PRIORITY_RANK = {"announcement": 0, "event": 1, "chat": 2}
MAX_DEADLINE_MS = 3_600_000
MIN_RATE = 0.5
MAX_RATE = 2.0
"""Bounds of ``SynthesisRequest.rate``."""
"""The longest deadline a request may ask for (an hour); longer ones are refused, not clamped."""
_seq = itertools.count()


@dataclass
class SynthesisRequest:
    """A validated request, as the API and CLI hand it to the engine. Construction checks the
    fields the queue computes with, so no caller can queue a job that cannot be scheduled."""

    text: str
    voice: str | None = None
    backend: str | None = None
    priority: str = "chat"
    deadline_ms: int | None = None
    """Drop the request if it has not started within this many ms of arrival."""
    language: str | None = None
    """ISO 639-1 code of the text's language; ``None``: detected (or that of ``voice``)."""
    rate: float = 1.0
    """Speaking rate: 1.0 is the voice's own pace, 1.5 half as fast again (``MIN_RATE``..``MAX_RATE``).
    The hub raises it for chat when the spoken backlog grows."""

    def __post_init__(self) -> None:
        if not isinstance(self.priority, str) or self.priority not in PRIORITY_RANK:
            raise BadRequest(f"'priority' must be one of {', '.join(PRIORITY_RANK)}")
        ms = self.deadline_ms
        if ms is not None and (isinstance(ms, bool) or not isinstance(ms, int)
                               or not 0 <= ms <= MAX_DEADLINE_MS):
            raise BadRequest(f"'deadline_ms' must be a whole number from 0 to {MAX_DEADLINE_MS}")
        if isinstance(self.rate, bool) or not isinstance(self.rate, (int, float)) \
                or not MIN_RATE <= self.rate <= MAX_RATE:
            raise BadRequest(f"'rate' must be a number from {MIN_RATE} to {MAX_RATE}")


@dataclass
class Skip:
    """A backend that was not used, and why."""

    backend: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"backend": self.backend, "reason": self.reason}


@dataclass
class RunPart:
    """One language run of a mixed-language job: its text, its plan and how it was spoken."""

    text: str
    language: str
    plan: list[Any] = field(default_factory=list)
    """The router's candidates for this run; empty when no voice speaks its language."""
    skipped: list[Skip] = field(default_factory=list)
    backend: str | None = None
    voice: str | None = None
    duration_ms: int = 0
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text, "language": self.language, "backend": self.backend,
                               "voice": self.voice, "duration_ms": self.duration_ms,
                               "skipped": [s.to_dict() for s in self.skipped]}
        if self.error:
            out["error"] = self.error
        return out


@dataclass
class Job:
    request: SynthesisRequest
    key: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    seq: int = field(default_factory=lambda: next(_seq))
    created: float = field(default_factory=time.monotonic)
    state: str = "queued"
    """queued, running, done, failed or expired."""
    backend: str | None = None
    voice: str | None = None
    cached: bool = False
    skipped: list[Skip] = field(default_factory=list)
    error: EngineError | None = None
    plan: list[Any] = field(default_factory=list)
    """The router's candidates (``router.Candidate``), in order."""
    runs: list[RunPart] = field(default_factory=list)
    """A mixed-language job's runs, spoken in order into this one clip (empty otherwise)."""
    started: float | None = None
    first_audio: float | None = None
    finished: float | None = None
    _chunks: list[bytes] = field(default_factory=list)
    _size: int = 0
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _begun: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def rank(self) -> int:
        return PRIORITY_RANK[self.request.priority]

    @property
    def done(self) -> bool:
        return self.state in ("done", "failed", "expired")

    def deadline(self) -> float | None:
        ms = self.request.deadline_ms
        return None if not ms else self.created + ms / 1000

    # -- producer side ---------------------------------------------------------------------------
    def begin(self, backend: str, voice: str, *, cached: bool = False) -> None:
        """The serving backend is known; consumers may now send their start frame."""
        self.backend, self.voice, self.cached = backend, voice, cached
        self._begun.set()

    def append(self, pcm: bytes) -> None:
        if not pcm:
            return
        if self.first_audio is None:
            self.first_audio = time.monotonic()
        self._chunks.append(pcm)
        self._size += len(pcm)
        self._notify()

    def finish(self, state: str = "done", error: EngineError | None = None) -> None:
        self.state, self.error = state, error
        self.finished = time.monotonic()
        self._begun.set()
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # -- consumer side ---------------------------------------------------------------------------
    async def wait_begun(self) -> None:
        """Wait until a backend serves the job or it ends (failed, expired)."""
        await self._begun.wait()

    async def chunks(self) -> AsyncIterator[bytes]:
        """Every chunk from the first, as it is produced; raises the job's error at the end."""
        i = 0
        while True:
            while i < len(self._chunks):
                yield self._chunks[i]
                i += 1
            if self.done:
                if self.state != "done":
                    raise self.error or EngineError(f"the job ended {self.state}")
                return
            await self._changed.wait()

    def pcm(self) -> bytes:
        return b"".join(self._chunks)

    @property
    def size_bytes(self) -> int:
        return self._size

    def metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "request_id": self.id, "state": self.state, "backend": self.backend, "voice": self.voice,
            "cached": self.cached, "priority": self.request.priority,
            "skipped": [s.to_dict() for s in self.skipped],
        }
        if self.request.language is not None:
            meta["language"] = self.request.language
        if self.runs:
            meta["runs"] = [r.to_dict() for r in self.runs]
        if self.request.rate != 1.0:
            meta["rate"] = self.request.rate
        if self.done:
            meta["duration_ms"] = duration_ms(self._size)
        if self.first_audio is not None:
            meta["first_audio_ms"] = round((self.first_audio - self.created) * 1000, 1)
        if self.finished is not None:
            meta["total_ms"] = round((self.finished - self.created) * 1000, 1)
        if self.error is not None:
            meta["error"] = {"code": self.error.code, "message": self.error.message}
        return meta
