"""Backend selection with fallback.

Order of choice: the backend named in the request, then the backend configured for the kind of
request (``tts.routing``: chat -> edge, announcement -> xtts in the user guide), then
``tts.primary_backend`` and ``tts.fallback_backends``. At run time each candidate may be skipped
(breaker open, rate limited, GPU too hot, not installed); a failure before any audio falls back
to the next candidate. Every skip is recorded on the job with its reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any, Final

from ..audio import BYTES_PER_SECOND
from ..backends import Backend
from .breaker import CircuitBreaker
from ..config import EngineConfig
from ..errors import (BackendError, EngineError, NoBackendLeft, NothingToSpeak, NoVoiceForLanguage,
                     UnknownBackend, UnknownVoice)
from .jobs import Job, Skip, SynthesisRequest
from ..pipeline.language import base_language
from .ratelimit import RateLimiter

_LOGGER = logging.getLogger(__name__)
_LOCALE_VOICE: Final = re.compile(r"[a-z]{2,3}[-_][A-Za-z]{2}[-_]")
"""Voice names that start with a locale (``zh-CN-XiaoxiaoNeural``, ``zh_CN-huayan-medium``)."""
PIPER_SUGGESTIONS: Final = {"en": "en_US-lessac-medium", "zh": "zh_CN-huayan-medium",
                            "ru": "ru_RU-irina-medium", "es": "es_ES-davefx-medium",
                            "de": "de_DE-thorsten-medium", "fr": "fr_FR-siwis-medium"}
"""Piper catalogue voices named in the fix of a "no voice" refusal when config names none."""

CANARY_TEXT = "123"
"""Spoken by a backend that gave no audio for a request's text: audio for this means the voice
works and cannot pronounce that text (an input fault: fall back, no breaker failure); none means
the backend is broken (a backend fault)."""
CANARY_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Candidate:
    backend: str
    voice: str
    language: str = ""
    """ISO 639-1 code of the language the voice speaks here (``""``: not known)."""


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

    async def plan(self, request: SynthesisRequest, *, language: str | None = None
                   ) -> tuple[list[Candidate], list[Skip]]:
        """Candidates in order with their voices, and the backends left out at once. Every
        candidate speaks the request's language: that of the voice it names, else ``language``
        (detected by the caller), else ``tts.default_language``. Raises ``NoVoiceForLanguage``
        when no backend has a voice for it (unless ``tts.missing_language_voice`` is default)."""
        if request.backend is not None and request.backend not in self.backends:
            reason = self.unavailable.get(request.backend, "not enabled in config.yaml")
            raise UnknownBackend(f"backend {request.backend!r} is not available ({reason}); "
                                 f"available: {', '.join(self.backends) or 'none'}")
        tts = self.config.tts
        if request.voice is not None:
            language = await self._language_of_voice(request.voice, request.backend)
        language = language or request.language or tts.default_language
        candidates, skipped = await self._candidates(request, language)
        if not candidates and any(s.reason == f"no voice for {language}" for s in skipped):
            if tts.missing_language_voice == "default" and language != tts.default_language:
                _LOGGER.info("No voice for %s: reading it with the default voices", language)
                plain = replace(request, voice=None, language=tts.default_language)
                more, also = await self._candidates(plain, tts.default_language)
                return more, skipped + also
            raise NoVoiceForLanguage(self._no_voice_message(language, skipped), language=language)
        if not candidates:
            raise NoBackendLeft("no backend is available: " +
                                "; ".join(f"{s.backend}: {s.reason}" for s in skipped))
        return candidates, skipped

    async def _candidates(self, request: SynthesisRequest, language: str
                          ) -> tuple[list[Candidate], list[Skip]]:
        candidates, skipped = [], []
        for name in self.order(request):
            backend = self.backends.get(name)
            if backend is None:
                skipped.append(Skip(name, self.unavailable.get(name, "disabled")))
                continue
            voice = await self._voice_on(name, request, language)
            if voice is None:
                skipped.append(Skip(name, f"no voice for {language}"))
                continue
            candidates.append(Candidate(name, voice, language))
        if request.voice is not None:  # backends that know the voice go first
            known = [c for c in candidates if c.voice == request.voice]
            candidates = known + [c for c in candidates if c not in known]
        return candidates, skipped

    async def _voice_on(self, name: str, request: SynthesisRequest, language: str) -> str | None:
        """Backend ``name``'s voice for the request: the voice it names when this backend has
        it, else the one configured for the language (``tts.languages``), else its default voice
        when that speaks the language, else any voice it has installed for the language."""
        backend = self.backends[name]
        if request.voice is not None:
            try:
                return await backend.resolve_voice(request.voice)
            except UnknownVoice:
                if request.backend == name:
                    raise
        configured = self.config.tts.languages.get(language, {}).get(name)
        if configured:
            try:
                return await backend.resolve_voice(configured)
            except UnknownVoice:
                _LOGGER.debug("%s has no voice %s (configured for %s)", name, configured, language)
        try:
            default = await backend.resolve_voice(None)
        except UnknownVoice:
            default = None
        if default is not None and await self._voice_language(backend, default) == language:
            return default
        finder = getattr(backend, "voice_for_language", None)
        return await finder(language) if finder is not None else None

    async def _voice_language(self, backend: Backend, voice: str) -> str:
        own = getattr(backend, "voice_language", None)
        tag = await own(voice) if own is not None else ""
        return base_language(tag or voice)

    async def _language_of_voice(self, voice: str, only: str | None) -> str:
        """The language of a voice named in a request: from the backend that has it, else from
        its name (``zh-CN-XiaoxiaoNeural`` -> zh, so another backend's Chinese voice can speak);
        ``UnknownVoice`` when no backend has it and its name shows no language."""
        for name, backend in self.backends.items():
            if only is not None and name != only:
                continue
            try:
                resolved = await backend.resolve_voice(voice)
            except UnknownVoice:
                continue
            return await self._voice_language(backend, resolved)
        language = base_language(voice) if _LOCALE_VOICE.match(voice) else ""
        if not language:
            raise UnknownVoice(f"no enabled backend has the voice {voice!r}; "
                               "GET /v1/voices lists them")
        return language

    def _no_voice_message(self, language: str, skipped: list[Skip]) -> str:
        return (f"no voice for {language} (" + "; ".join(f"{s.backend}: {s.reason}" for s in skipped)
                + "). " + self.fix_for(language))

    def fix_for(self, language: str) -> str:
        """How to get a voice for ``language``, as one sentence."""
        voices = self.config.tts.languages.get(language, {})
        piper, edge = voices.get("piper") or PIPER_SUGGESTIONS.get(language), voices.get("edge")
        fixes = []
        if piper:
            fixes.append(f"download a Piper voice: `python -m engine download-voice {piper}` (offline)")
        if edge:
            fixes.append(f"enable Edge for {edge} (tts.backends.edge.enabled: true; needs the internet)")
        if not fixes:
            fixes.append(f"add a voice for it under tts.languages.{language} in config.yaml")
        return ("To speak " + language + ", " + ", or ".join(fixes) +
                "; or set tts.missing_language_voice: default to read it with the default voice.")

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
            lacking = {s.reason[len("no voice for "):] for s in job.skipped
                       if s.reason.startswith("no voice for ")}
            job.finish("failed", job.error or NoBackendLeft(
                "every backend failed or was skipped: " +
                "; ".join(f"{s.backend}: {s.reason}" for s in job.skipped) +
                "".join(f". {self.fix_for(lang)}" for lang in sorted(lacking))))
        return None

    async def _try(self, job: Job, cand: Candidate) -> bool:
        backend, stats = self.backends[cand.backend], self.stats[cand.backend]
        self.limiters[cand.backend].record()
        started = time.monotonic()
        try:
            await self._stream(job, cand, backend.stream(job.request.text, cand.voice,
                                                         rate=job.request.rate))
            if job.backend is None:
                if await self._canary_speaks(backend, cand.voice):
                    self._unpronounceable(job, cand)
                    return False
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

    async def _stream(self, job: Job, cand: Candidate, chunks: AsyncIterator[bytes]) -> None:
        """Append the backend's audio to the job within ``tts.first_audio_timeout_s`` (for the
        first chunk) and ``tts.request_timeout_s`` (for all of it); a backend that hangs past
        either raises ``BackendError`` (reason ``timeout``), so the request falls back."""
        tts, loop = self.config.tts, asyncio.get_running_loop()
        end = loop.time() + tts.request_timeout_s
        first = min(end, loop.time() + tts.first_audio_timeout_s)
        try:
            async with contextlib.aclosing(chunks), asyncio.timeout_at(first) as limit:  # type: ignore[type-var]
                async for pcm in chunks:
                    if job.backend is None:
                        job.begin(cand.backend, cand.voice)
                        limit.reschedule(end)
                    job.append(pcm)
        except TimeoutError:
            what = (f"no audio within {tts.first_audio_timeout_s:g} s (tts.first_audio_timeout_s)"
                    if job.backend is None else
                    f"not done within {tts.request_timeout_s:g} s (tts.request_timeout_s)")
            raise BackendError(f"{cand.backend} timed out: {what}", reason="timeout") from None

    async def _canary_speaks(self, backend: Backend, voice: str) -> bool:
        """Whether the backend speaks ``CANARY_TEXT`` with this voice (it is healthy)."""
        async def size() -> int:
            return sum([len(pcm) async for pcm in backend.stream(CANARY_TEXT, voice)])
        try:
            return await asyncio.wait_for(size(), CANARY_TIMEOUT_S) > 0
        except asyncio.CancelledError:
            raise
        except Exception:  # the backend fails on the canary too: a backend fault
            return False

    def _unpronounceable(self, job: Job, cand: Candidate) -> None:
        """No audio for this text from a voice that works: the text is at fault. The breaker
        sees a healthy backend (a half-open probe closes it); the next candidate may try."""
        self.breakers[cand.backend].record_success()
        _LOGGER.info("Request %s: %s (voice %s) cannot pronounce the text; no breaker failure",
                     job.id[:8], cand.backend, cand.voice)
        self._skip(job, cand.backend, "no audio for this text (the voice works)", count=False)
        job.error = NothingToSpeak(f"the voice {cand.voice} produced no sound for this text: it "
                                   "cannot pronounce any of it")

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
