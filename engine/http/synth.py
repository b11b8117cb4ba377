"""HTTP routes: synthesis (framed stream, WAV, raw PCM), jobs, voices, health (OpenAI's speech
route is ``engine.http.openai``)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

from aiohttp import web

from .. import audio
from .. import config_reload
from . import framing
from ..errors import BadRequest, EngineError
from ..speech.jobs import Job, SynthesisRequest
from ..speech import seam
from ..speech.split import clause_first
from .body import read_json
from .keys import BOUND_KEY, ENGINE_KEY, HUB_KEY

FORMATS = ("frames", "wav", "pcm")


async def submit(request: web.Request, data: dict[str, Any]) -> Job:
    engine = request.app[ENGINE_KEY]
    return await engine.submit(engine.make_request(data))


async def started(job: Job) -> Job:
    """Wait for a backend to start serving; a job that ended without audio raises its error."""
    await job.wait_begun()
    if job.backend is None and job.error is not None:
        raise job.error
    return job


def start_frame(job: Job) -> dict[str, Any]:
    return {"type": "start", "sample_rate": audio.SAMPLE_RATE, "channels": audio.CHANNELS,
            "sample_format": "s16le", **job.metadata()}


def meta_headers(job: Job) -> dict[str, str]:
    return {"X-TTS-Request-Id": job.id, "X-TTS-Backend": job.backend or "",
            "X-TTS-Voice": job.voice or "", "X-TTS-Cached": str(job.cached).lower(),
            "X-TTS-Skipped": json.dumps([s.to_dict() for s in job.skipped])}


async def synthesize(request: web.Request) -> web.StreamResponse:
    """One clip. A long first sentence is synthesized clause first (``split.clause_first``): the
    first clause is its own job, the rest is submitted once the first has audio and streamed
    after it, the seam set to a comma's pause (``speech.seam``)."""
    data = await read_json(request)
    fmt = data.pop("format", "frames")
    if not isinstance(fmt, str) or fmt not in FORMATS:
        raise BadRequest(f"'format' must be one of {', '.join(FORMATS)}")
    engine = request.app[ENGINE_KEY]
    whole = engine.make_request(data)
    pieces = clause_first(whole.text)
    if len(pieces) > 1:
        return await stream_clauses(request, [replace(whole, text=t) for t in pieces], fmt)
    job = await started(await engine.submit(whole))
    if fmt == "frames":
        return await stream_frames(request, job)
    return await stream_audio(request, job, wav=fmt == "wav")


async def stream_clauses(request: web.Request, parts: list[SynthesisRequest],
                         fmt: str) -> web.StreamResponse:
    """The parts' audio as one stream in ``fmt``; headers and the start frame are the first
    part's job's, the end frame adds ``parts`` and the whole clip's ``duration_ms``."""
    engine = request.app[ENGINE_KEY]
    first = await started(await engine.submit(parts[0]))
    content_type = {"frames": framing.CONTENT_TYPE, "wav": "audio/wav"}.get(
        fmt, "audio/L16; rate=48000; channels=1")
    resp = web.StreamResponse(headers={"Content-Type": content_type, **meta_headers(first)})
    await resp.prepare(request)
    await resp.write(framing.encode(start_frame(first)) if fmt == "frames"
                     else audio.wav_header(None) if fmt == "wav" else b"")
    sent = 0

    async def send(pcm: bytes) -> None:
        nonlocal sent
        if pcm:
            sent += len(pcm)
            await resp.write(framing.encode({"type": "audio"}, pcm) if fmt == "frames" else pcm)

    job = first
    try:
        for i in range(len(parts)):
            following: asyncio.Task[Job] | None = None
            silence = b""
            async for pcm in job.chunks():
                if following is None and i + 1 < len(parts):  # the next part renders meanwhile
                    following = asyncio.ensure_future(engine.submit(parts[i + 1]))
                await send(silence)
                voiced, silence = seam.split_trailing_silence(pcm)
                await send(voiced)
            if i + 1 == len(parts):
                await send(silence)
                break
            await send(seam.seam(silence))
            job = await started(await (following or engine.submit(parts[i + 1])))
    except EngineError as exc:
        if fmt != "frames":
            abort(request)
            return resp
        await resp.write(framing.encode({"type": "error", "code": exc.code, "message": exc.message}))
    else:
        if fmt == "frames":
            end = {**first.metadata(), "parts": len(parts), "duration_ms": audio.duration_ms(sent)}
            if job.finished is not None:
                end["total_ms"] = round((job.finished - first.created) * 1000, 1)
            await resp.write(framing.encode({"type": "end", **end}))
    await resp.write_eof()
    return resp


async def stream_frames(request: web.Request, job: Job) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": framing.CONTENT_TYPE, **meta_headers(job)})
    await resp.prepare(request)
    await resp.write(framing.encode(start_frame(job)))
    try:
        async for pcm in job.chunks():
            await resp.write(framing.encode({"type": "audio"}, pcm))
    except EngineError as exc:
        await resp.write(framing.encode({"type": "error", "code": exc.code, "message": exc.message}))
    else:
        await resp.write(framing.encode({"type": "end", **job.metadata()}))
    await resp.write_eof()
    return resp


async def stream_audio(request: web.Request, job: Job, *, wav: bool) -> web.StreamResponse:
    """WAV (streamed, sizes unknown until done) or raw s16le PCM."""
    headers = {"Content-Type": "audio/wav" if wav else "audio/L16; rate=48000; channels=1",
               **meta_headers(job)}
    if job.done:
        if job.state != "done":  # it failed after its first audio: never a complete-looking body
            raise job.error or EngineError(f"job {job.id} {job.state} before its audio was complete")
        body = job.pcm()
        return web.Response(body=audio.wav_bytes(body) if wav else body, headers=headers)
    resp = web.StreamResponse(headers=headers)
    await resp.prepare(request)
    if wav:
        await resp.write(audio.wav_header(None))
    try:
        async for pcm in job.chunks():
            await resp.write(pcm)
    except EngineError:
        abort(request)  # a stream has no way to carry the error: the client must see a cut read
        return resp
    if job.state != "done":
        abort(request)
        return resp
    await resp.write_eof()
    return resp


def abort(request: web.Request) -> None:
    """Cut the connection without the chunked body's terminator, so the client's read fails
    (a truncated body) instead of ending as if the audio were complete."""
    transport = request.transport
    if transport is not None:
        transport.abort()


async def create_job(request: web.Request) -> web.Response:
    job = await submit(request, await read_json(request))
    return web.json_response({**job.metadata(), "wav_url": f"/v1/jobs/{job.id}.wav",
                              "status_url": f"/v1/jobs/{job.id}"}, status=202)


def find_job(request: web.Request) -> Job:
    job = request.app[ENGINE_KEY].job(request.match_info["job_id"])
    if job is None:
        raise web.HTTPNotFound(text=json.dumps({"error": {"code": "unknown_job", "message":
                               "no such job (jobs are kept for a few minutes)"}}),
                               content_type="application/json")
    return job


async def job_status(request: web.Request) -> web.Response:
    return web.json_response(find_job(request).metadata())


async def job_wav(request: web.Request) -> web.StreamResponse:
    return await stream_audio(request, await started(find_job(request)), wav=True)


async def voices(request: web.Request) -> web.Response:
    return web.json_response({"voices": await request.app[ENGINE_KEY].voices()})


async def health(request: web.Request) -> web.Response:
    from .monitor import active_alerts

    body = {**request.app[ENGINE_KEY].status(), "listen": request.app[BOUND_KEY]}
    if HUB_KEY in request.app:
        body["speech"] = request.app[HUB_KEY].status()  # queue, OBS listeners, sources
    body["alerts"] = active_alerts(request.app)  # raised alerts: the OBS plugin's status line
    reload = config_reload.status(request.app)
    if reload is not None:  # served by `python -m engine serve`: the file, the last reload's outcome
        body["config"] = reload
    return web.json_response(body)


async def metrics(request: web.Request) -> web.Response:
    body = request.app[ENGINE_KEY].metrics.render()
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


def setup(app: web.Application) -> None:
    app.router.add_post("/v1/synthesize", synthesize)
    app.router.add_post("/v1/jobs", create_job)
    app.router.add_get("/v1/jobs/{job_id:[0-9a-f]+}.wav", job_wav)
    app.router.add_get("/v1/jobs/{job_id:[0-9a-f]+}", job_status)
    app.router.add_get("/v1/voices", voices)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
