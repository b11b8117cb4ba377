"""Mixed-language jobs: a message in several languages becomes one clip.

Each language run (``pipeline.language.Run``) gets its own plan from the router, so it is
spoken by a voice of its language with the usual fallback, and its audio is appended to the one
job as it is produced, with a short pause between runs. The first run's audio leaves as soon as
it exists: first audio is no later than for a one-language line.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import replace

from ..audio import BYTES_PER_SECOND, duration_ms
from ..errors import EngineError, NoBackendLeft, NoVoiceForLanguage
from .jobs import Job, RunPart, SynthesisRequest
from ..pipeline.language import Run
from .router import Candidate, Router

_LOGGER = logging.getLogger(__name__)


async def plan_runs(router: Router, request: SynthesisRequest, runs: list[Run]) -> list[RunPart]:
    """A plan per run; a run whose language no voice speaks keeps its refusal as ``error``.
    Neighbouring runs that end up with the same first voice are joined. Raises the first
    ``NoVoiceForLanguage`` when no run can be spoken at all."""
    parts: list[RunPart] = []
    refusal: NoVoiceForLanguage | None = None
    for run in runs:
        try:
            plan, skipped = await router.plan(replace(request, text=run.text, language=run.language),
                                              language=run.language)
        except NoVoiceForLanguage as exc:
            refusal = refusal or exc
            parts.append(RunPart(run.text, run.language, error=exc.message))
            continue
        last = parts[-1] if parts else None
        if last is not None and last.plan and last.plan[0] == plan[0]:
            parts[-1] = replace(last, text=f"{last.text} {run.text}")
        else:
            parts.append(RunPart(run.text, run.language, list(plan), list(skipped)))
    if not any(p.plan for p in parts):
        assert refusal is not None
        raise refusal
    return parts


def mixed_key(parts: list[RunPart], key_of: Callable[[str, Candidate], str]) -> str:
    """One cache key for the whole mixed request: every spoken run's own key, in order."""
    keys = [key_of(p.text, p.plan[0]) for p in parts if p.plan]
    return hashlib.sha256(json.dumps(["mixed", *keys]).encode()).hexdigest()


async def speak_runs(router: Router, job: Job, *, pause_ms: int) -> bool:
    """Speak every run of ``job`` into it, in order; True when every run that has a voice was
    spoken whole (a run refused for want of a voice is left out the same way every time, so the
    clip may still be cached). Does not finish the job."""
    pause = b"\0" * (pause_ms * BYTES_PER_SECOND // 1000 // 2 * 2)
    whole = True
    for part in job.runs:
        if not part.plan:
            continue
        whole = await _speak(router, job, part, pause if job.size_bytes else b"") and whole
    return whole


async def _speak(router: Router, job: Job, part: RunPart, lead: bytes) -> bool:
    """One run through the router's fallback into a private job, passed on chunk by chunk."""
    request = replace(job.request, text=part.text, voice=None, backend=None,
                      language=part.language, deadline_ms=None)
    sub = Job(request, key="", skipped=list(part.skipped), plan=part.plan)

    async def produce() -> None:
        served = None
        try:
            served = await router.run(sub, part.plan)
        finally:  # the consumer below waits for the end, whatever happened
            if not sub.done:
                sub.finish("done", None) if served is not None else sub.finish(
                    "failed", NoBackendLeft("the run was not spoken"))

    task = asyncio.create_task(produce())
    try:
        async for pcm in sub.chunks():
            if job.backend is None:
                job.begin(sub.backend or "", sub.voice or "")
            if lead:
                job.append(lead)
                lead = b""
            job.append(pcm)
    except EngineError as exc:
        part.error = exc.message
        _LOGGER.warning("Run %r (%s) of request %s failed: %s", part.text[:40], part.language,
                        job.id[:8], exc.message)
    finally:
        if not task.done():
            task.cancel()
        await asyncio.wait([task])
    part.backend, part.voice, part.skipped = sub.backend, sub.voice, sub.skipped
    part.duration_ms = duration_ms(sub.size_bytes)
    return sub.state == "done"


def failure(job: Job) -> EngineError:
    """Why a mixed job produced no audio at all."""
    return NoBackendLeft("no run of the mixed-language message could be spoken: " + "; ".join(
        f"{p.language} {p.text[:30]!r}: {p.error or 'failed'}" for p in job.runs))
