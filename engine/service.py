"""The engine: backends, router, cache and queue wired together, independent of any transport.

The HTTP/WebSocket server, the CLI's ``say`` and the benchmarks all call ``Engine.submit``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from typing import Any

from . import __version__
from .speech import mixed
from .backends import Backend, BackendContext, backend_class
from .speech.cache import DISABLED, AudioCache, cache_key
from .config import EngineConfig
from .errors import BackendUnavailable, BadRequest, EngineError
from .speech.jobs import MAX_DEADLINE_MS, PRIORITY_RANK, Job, RunPart, Skip, SynthesisRequest
from .monitor.metrics import Metrics
from .pipeline.language import LanguageDetector, Run
from .speech.router import Candidate, Router
from .speech.scheduler import Scheduler
from .pipeline.text import normalize

_LOGGER = logging.getLogger(__name__)
JOBS_KEPT = 512
JOBS_KEPT_BYTES = 32 * 2**20
"""Finished audio kept addressable by job id (about 6 minutes at 48 kHz): OBS fetches a part
within seconds of its ``play`` event. A cache hit's buffer is the memory tier's own, counted
once per job, so the figure over-counts hits (bench/memory.py)."""


class Engine:
    def __init__(self, config: EngineConfig, *, extra: dict[str, Any] | None = None) -> None:
        self.config = config
        self.extra = extra or {}
        """Injected collaborators for backends (test seams), passed on in ``BackendContext``."""
        self.backends: dict[str, Backend] = {}
        self.unavailable: dict[str, str] = {}
        self.gpu: Any = None
        self.cache: AudioCache | None = None
        self.router: Router | None = None
        q = config.performance.queue
        self.scheduler = Scheduler(self._run_job, max_concurrent=q.max_concurrent,
                                   max_queued=q.max_queued)
        self.started_at = time.time()
        self._jobs: dict[str, Job] = {}
        self.metrics = Metrics(self)
        tts = config.tts
        self.languages = LanguageDetector.shared(tts.languages, default=tts.default_language)
        """Splits text into language runs (``pipeline.language``)."""
        self._languages_loaded: asyncio.Future[None] | None = None

    async def start(self) -> None:
        """Start every enabled backend; one that cannot start is reported, not fatal."""
        self._languages_loaded = asyncio.ensure_future(asyncio.to_thread(self.languages.load))
        self.gpu = self._start_gpu()
        context = BackendContext(data_dir=self.config.data_path(), gpu=self.gpu, extra=self.extra)
        for name in self.config.enabled_backends():
            backend = backend_class(name)(self.config.tts.options(name), context)
            try:
                await backend.start()
            except EngineError as exc:
                self.unavailable[name] = exc.message
                _LOGGER.error("Backend %s is unavailable: %s", name, exc.message)
                continue
            self.backends[name] = backend
        if not self.backends:
            raise BackendUnavailable("no backend could start: " + "; ".join(
                f"{n}: {r}" for n, r in self.unavailable.items()))
        self.router = Router(self.config, self.backends, self.unavailable, gpu=self.gpu)
        cache_cfg = self.config.performance.cache
        if cache_cfg.enabled:  # a tier that cannot open is reported in status() and retried
            self.cache = AudioCache(cache_cfg, self.config.cache_dir())
            await self.cache.open()

    def _start_gpu(self) -> Any:
        if not self.config.performance.gpu.enabled:
            return None
        try:
            from .gpu import GpuMonitor
        except ImportError:
            return None
        return GpuMonitor.create(self.config.performance.gpu, nvml=self.extra.get("nvml"))

    async def close(self) -> None:
        await self.scheduler.close()
        for backend in self.backends.values():
            await backend.close()
        if self.cache is not None:
            await self.cache.close()
        if self.gpu is not None:
            self.gpu.close()

    def make_request(self, data: dict[str, Any]) -> SynthesisRequest:
        """Validate a request mapping (API or CLI) into a ``SynthesisRequest``. Every field is
        checked for type and range, and a refusal names the field (``BadRequest``)."""
        limits = self.config.server
        chat = data.get("priority", "chat") == "chat"  # the spoken-seconds cap is for chat
        text = normalize(data.get("text"), max_chars=limits.max_text_chars,
                         options=self.config.text.options(chat=chat))
        voice, backend = voice_name(data.get("voice")), _opt_str(data, "backend")
        priority = data.get("priority", "chat")
        if not isinstance(priority, str) or priority not in PRIORITY_RANK:
            raise BadRequest(f"'priority' must be one of {', '.join(PRIORITY_RANK)}, "
                             f"got {_show(priority)}")
        deadline = data.get("deadline_ms")
        if deadline is not None and (isinstance(deadline, bool) or not isinstance(deadline, int)
                                     or not 0 <= deadline <= MAX_DEADLINE_MS):
            raise BadRequest(f"'deadline_ms' must be a whole number of milliseconds from 0 to "
                             f"{MAX_DEADLINE_MS}, got {_show(deadline)}")
        if deadline is None and priority == "chat":
            deadline = int(self.config.speech.chat_deadline_s * 1000) or None
        rate = data.get("rate")
        return SynthesisRequest(text, voice, backend, priority, deadline or None,
                                rate=1.0 if rate is None else rate)

    async def submit(self, request: SynthesisRequest) -> Job:
        """A job for the request: shared if identical work is in flight, finished at once on a
        cache hit, queued otherwise. Raises ``Busy``, ``UnknownVoice``, ``UnknownBackend``."""
        assert self.router is not None, "Engine.start() was not awaited"
        runs = await self._runs(request)
        if len(runs) > 1:
            return await self._submit_mixed(request, runs)
        if runs:
            request = replace(request, language=runs[0].language)
        candidates, skipped = await self.router.plan(request)
        if request.language is None:  # a named voice's language
            request = replace(request, language=candidates[0].language or None)
        serving = self._serving(candidates)
        key = self._key(request.text, serving or candidates[0], request.rate)
        shared = self.scheduler.find(key)
        if shared is not None:
            return shared
        job = Job(request, key, skipped=list(skipped), plan=candidates)
        self._remember(job)
        if self.cache is not None and serving is not None:
            pcm = await self.cache.get(key)
            if pcm is not None:
                for cand in candidates[:candidates.index(serving)]:  # skipped now, as run() would
                    job.skipped.append(Skip(cand.backend, self.router.blocked_reason(cand.backend)
                                            or "skipped"))
                job.begin(serving.backend, serving.voice, cached=True)
                job.append(pcm)
                job.finish("done")
                self.metrics.observe(job)
                return job
        return self._queue(job)

    async def _runs(self, request: SynthesisRequest) -> list[Run]:
        """The text's language runs; none when the request names its voice or language."""
        if request.voice is not None or request.language is not None:
            return []
        if self._languages_loaded is None:
            self._languages_loaded = asyncio.ensure_future(asyncio.to_thread(self.languages.load))
        if not self._languages_loaded.done():  # models load in the background from start()
            await asyncio.shield(self._languages_loaded)
        return self.languages.runs(request.text)

    async def _submit_mixed(self, request: SynthesisRequest, runs: list[Run]) -> Job:
        """One job for a mixed-language message: every run spoken by its language's voice."""
        assert self.router is not None
        parts = await mixed.plan_runs(self.router, request, runs)
        spoken = [p for p in parts if p.plan]
        serving = [self._serving(p.plan) for p in spoken]  # each run's clip as it would be now
        now = [c for c in serving if c is not None]
        key = self._mixed_key(spoken, now if len(now) == len(spoken) else None, request.rate)
        shared = self.scheduler.find(key)
        if shared is not None:
            return shared
        job = Job(request, key, plan=spoken[0].plan, runs=parts)
        self._remember(job)
        if self.cache is not None and len(now) == len(spoken):
            pcm = await self.cache.get(key)
            if pcm is not None:
                for p, cand in zip(spoken, now, strict=True):
                    p.backend, p.voice = cand.backend, cand.voice
                job.begin(now[0].backend, now[0].voice, cached=True)
                job.append(pcm)
                job.finish("done")
                self.metrics.observe(job)
                return job
        return self._queue(job)

    def _queue(self, job: Job) -> Job:
        """Queue a remembered job. One the queue refuses (``Busy``) is finished with the reason
        and forgotten: a refused job never lingers as "queued" in ``job()``."""
        try:
            return self.scheduler.submit(job)
        except BaseException as exc:
            self._jobs.pop(job.id, None)
            if not job.done:
                job.finish("failed", exc if isinstance(exc, EngineError) else None)
            raise

    def _serving(self, candidates: list[Candidate]) -> Candidate | None:
        """The candidate that would serve now: the first one not skipped (breaker open, rate
        limited, GPU hot). Its clip is the one to look up, so repeats stay hits while the
        first choice is down; ``None`` when every candidate is skipped."""
        assert self.router is not None
        return next((c for c in candidates if self.router.blocked_reason(c.backend) is None), None)

    def _mixed_key(self, spoken: list[RunPart], chosen: list[Candidate] | None,
                   rate: float) -> str:
        """A mixed job's key from the candidate ``chosen`` for each spoken run (the one that
        serves now, or that served), else from each run's first candidate."""
        if chosen is not None:
            spoken = [replace(p, plan=[c]) for p, c in zip(spoken, chosen, strict=True)]
        return mixed.mixed_key(spoken, lambda text, cand: self._key(text, cand, rate))

    def _key(self, text: str, cand: Candidate, rate: float = 1.0) -> str:
        backend = self.backends[cand.backend]
        return cache_key(text=text, backend=cand.backend, voice=cand.voice,
                         identity=backend.cache_identity(cand.voice),
                         params={"rate": rate} if rate != 1.0 else None)

    async def _run_job(self, job: Job) -> None:
        assert self.router is not None
        if job.runs:
            await self._run_mixed(job)
            return
        served = await self.router.run(job, job.plan)
        if served is None:
            return
        if self.cache is not None and job.size_bytes:  # before finishing: a repeat is then a hit
            await self.cache.put(self._key(job.request.text, served, job.request.rate), job.pcm())
        job.finish("done")
        self.metrics.observe(job)

    async def _run_mixed(self, job: Job) -> None:
        assert self.router is not None
        whole = await mixed.speak_runs(self.router, job, pause_ms=self.config.tts.language_pause_ms)
        if not job.size_bytes:
            job.finish("failed", mixed.failure(job))
            return
        spoken = [p for p in job.runs if p.plan]
        if self.cache is not None and whole and all(p.backend and p.voice for p in spoken):
            served = [Candidate(p.backend or "", p.voice or "") for p in spoken]
            await self.cache.put(self._mixed_key(spoken, served, job.request.rate), job.pcm())
        job.finish("done")
        self.metrics.observe(job)

    def _remember(self, job: Job) -> None:
        """Keep recent jobs addressable by id (``GET /v1/jobs/{id}``) for a while: at most
        ``JOBS_KEPT`` of them and ``JOBS_KEPT_BYTES`` of finished audio (about 6 minutes),
        oldest finished jobs first; the cache still holds their clips."""
        self._jobs[job.id] = job
        self.metrics.track(job)  # counted by source, backend and outcome once done
        kept = sum(j.size_bytes for j in self._jobs.values() if j.done)
        for old_id, old in list(self._jobs.items()):
            if len(self._jobs) <= JOBS_KEPT and kept <= JOBS_KEPT_BYTES:
                break
            if old.done and old is not job:
                kept -= old.size_bytes
                del self._jobs[old_id]

    def job(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    async def voices(self) -> list[dict[str, str]]:
        out = []
        for backend in self.backends.values():
            try:
                out += [v.to_dict() for v in await backend.list_voices()]
            except EngineError as exc:
                _LOGGER.warning("Cannot list %s voices: %s", backend.name, exc.message)
        return out

    def status(self) -> dict[str, Any]:
        assert self.router is not None
        return {
            "status": "ok" if self.backends else "degraded",
            "version": __version__,
            "uptime_s": round(time.time() - self.started_at, 1),
            "backends": self.router.status(),
            "queue": self.scheduler.status(),
            "cache": self.cache.status() if self.cache is not None else dict(DISABLED),
            "gpu": self.gpu.status() if self.gpu is not None else {"enabled": False},
        }


MAX_NAME_CHARS = 200
"""Longest voice or backend name accepted in a request."""
_PATH_MARKS = ("/", "\\", "~", "..", "\x00")


def _opt_str(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadRequest(f"'{key}' must be a string, got {type(value).__name__}")
    if len(value) > MAX_NAME_CHARS or not value.isprintable():
        raise BadRequest(f"'{key}' must be a name of at most {MAX_NAME_CHARS} printable characters")
    return value


def voice_name(value: object) -> str | None:
    """A voice named in a request (API, CLI, plugin), or ``None`` for the default. Voices are
    chosen by name only: anything that looks like a file path is refused before any file is
    touched, with the same reply whether or not such a file exists. Paths to voice files belong
    in config.yaml (``tts.backends.piper.voice``)."""
    if isinstance(value, str) and (any(mark in value for mark in _PATH_MARKS)
                                   or value.lower().endswith(".onnx")):
        raise BadRequest("'voice' must be a voice name from GET /v1/voices (such as "
                         "en_US-joe-medium), not a file path; voice files are set in config.yaml "
                         "(tts.backends.piper.voice)")
    return _opt_str({"voice": value}, "voice")


def _show(value: object) -> str:
    """A client's value in a message: short, and never the repr of a deep structure."""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        text = repr(value)
        return text if len(text) <= 40 else f"{text[:37]}..."
    return type(value).__name__
