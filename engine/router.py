"""Backend selection with fallback.

Order of choice: the backend named in the request, then the backend configured for the kind of
request (``tts.routing``: chat -> edge, announcement -> xtts in the user guide), then
``tts.primary_backend`` and ``tts.fallback_backends``. At run time each candidate may be skipped
(breaker open, rate limited, GPU too hot, not installed); a failure before any audio falls back
to the next candidate. Every skip is recorded on the job with its reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from .audio import BYTES_PER_SECOND
from .backends import Backend
from .breaker import CircuitBreaker
from .config import EngineConfig
from .errors import BackendError, EngineError, NoBackendLeft, UnknownBackend, UnknownVoice
from .jobs import Job, Skip, SynthesisRequest
from .ratelimit import RateLimiter

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    backend: str
    voice: str


@dataclass
class BackendStats:
    served: int = 0
    failed: int = 0
    skipped: int = 0
    synth_seconds: float = 0.0
    audio_seconds: float = 0.0


class Router:
    def __init__(self, config: EngineConfig, backends: dict[str, Backend],
                 unavailable: dict[str, str], *, gpu: Any = None) -> None:
        self.config = config
        self.backends = backends
        self.unavailable = unavailable
        """Enabled backends that could not start, with the reason."""
        self.gpu = gpu
        self.breakers = {n: CircuitBreaker.for_backend(n, b) for n, b in backends.items()}
        self.limiters = {n: RateLimiter(getattr(b.options, "max_requests_per_hour", 0))
                         for n, b in backends.items()}
        self.stats = {n: BackendStats() for n in backends}

    def order(self, request: SynthesisRequest) -> list[str]:
        tts = self.config.tts
        names = [request.backend, getattr(tts.routing, request.priority),
                 tts.primary_backend, *tts.fallback_backends, *self.backends]
        return [n for n in dict.fromkeys(names) if n]

    async def plan(self, request: SynthesisRequest) -> tuple[list[Candidate], list[Skip]]:
        """Candidates in order with their voices, and the backends left out at once."""
        if request.backend is not None and request.backend not in self.backends:
            reason = self.unavailable.get(request.backend, "not enabled in config.yaml")
            raise UnknownBackend(f"backend {request.backend!r} is not available ({reason}); "
                                 f"available: {', '.join(self.backends) or 'none'}")
        candidates, skipped = [], []
        voice_found = request.voice is None
        for name in self.order(request):
            backend = self.backends.get(name)
            if backend is None:
                skipped.append(Skip(name, self.unavailable.get(name, "disabled")))
                continue
            try:
                voice = await backend.resolve_voice(request.voice)
                voice_found = True
            except UnknownVoice:
                if request.backend == name:
                    raise
                voice = await backend.resolve_voice(None)
            candidates.append(Candidate(name, voice))
        if not voice_found:
            raise UnknownVoice(f"no enabled backend has the voice {request.voice!r}; "
                               "GET /v1/voices lists them")
        if request.voice is not None:  # backends that know the voice go first
            known = [c for c in candidates if c.voice == request.voice]
            candidates = known + [c for c in candidates if c not in known]
        if not candidates:
            raise NoBackendLeft("no backend is available: " +
                                "; ".join(f"{s.backend}: {s.reason}" for s in skipped))
        return candidates, skipped

    def blocked_reason(self, name: str, *, claim: bool = False) -> str | None:
        """Why backend ``name`` is skipped now (``None``: usable). Only ``run`` passes
        ``claim=True``: when the breaker is half-open, that call takes the one probe."""
        backend = self.backends[name]
        reason = backend.unavailable_reason()
        if reason is None and backend.uses_gpu and self.gpu is not None:
            reason = self.gpu.blocked_reason()
        if reason is None:
            reason = self.limiters[name].blocked_reason()
        if reason is None:
            reason = self.breakers[name].blocked_reason(claim=claim)
        return reason

    async def run(self, job: Job, candidates: list[Candidate]) -> Candidate | None:
        """Stream the job's audio from the first candidate that works; returns it."""
        for cand in candidates:
            reason = self.blocked_reason(cand.backend, claim=True)
            if reason is not None:
                self._skip(job, cand.backend, reason)
                continue
            if await self._try(job, cand):
                return cand
            if job.size_bytes:  # audio already left: falling back would repeat it
                break
        if not job.done:
            job.finish("failed", job.error or NoBackendLeft(
                "every backend failed or was skipped: " +
                "; ".join(f"{s.backend}: {s.reason}" for s in job.skipped)))
        return None

    async def _try(self, job: Job, cand: Candidate) -> bool:
        backend, stats = self.backends[cand.backend], self.stats[cand.backend]
        self.limiters[cand.backend].record()
        started = time.monotonic()
        try:
            async for pcm in backend.stream(job.request.text, cand.voice):
                if job.backend is None:
                    job.begin(cand.backend, cand.voice)
                job.append(pcm)
            if job.backend is None:
                raise BackendError("the backend produced no audio", reason="no audio")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any backend failure is a reason to fall back
            reason = exc.reason if isinstance(exc, BackendError) else type(exc).__name__
            message = exc.message if isinstance(exc, EngineError) else str(exc) or reason
            self.breakers[cand.backend].record_failure(reason)
            stats.failed += 1
            _LOGGER.warning("Backend %s failed for request %s: %s", cand.backend, job.id[:8], message)
            self._skip(job, cand.backend, f"failed: {reason}", count=False)
            if job.size_bytes:
                job.finish("failed", BackendError(
                    f"{cand.backend} failed mid-stream: {message}", reason=reason))
            return False
        self.breakers[cand.backend].record_success()
        stats.served += 1
        stats.synth_seconds += time.monotonic() - started
        stats.audio_seconds += job.size_bytes / BYTES_PER_SECOND
        _LOGGER.info("Request %s served by %s (voice %s)%s", job.id[:8], cand.backend, cand.voice,
                     "".join(f"; skipped {s.backend}: {s.reason}" for s in job.skipped))
        return True

    def _skip(self, job: Job, name: str, reason: str, *, count: bool = True) -> None:
        job.skipped.append(Skip(name, reason))
        if count:
            self.stats[name].skipped += 1

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, backend in self.backends.items():
            s = self.stats[name]
            out[name] = {
                "available": self.backends[name].unavailable_reason() is None,
                "uses_gpu": backend.uses_gpu,
                "breaker": self.breakers[name].status(), "rate_limit": self.limiters[name].status(),
                "served": s.served, "failed": s.failed, "skipped": s.skipped,
                "real_time_factor": round(s.synth_seconds / s.audio_seconds, 4) if s.audio_seconds else None,
                **backend.status(),
            }
        for name, reason in self.unavailable.items():
            out[name] = {"available": False, "reason": reason}
        return out
