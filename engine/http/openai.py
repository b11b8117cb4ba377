"""OpenAI-compatible ``POST /v1/audio/speech``, for clients written against OpenAI's API
(Open WebUI, SillyTavern, the official ``openai`` client).

- ``model``: ``tts-1``, ``tts-1-hd``, ``gpt-4o-mini-tts`` use the engine's own routing; the
  name of one of our running backends (``piper``, ``edge``, ``xtts``) picks that backend.
- ``voice``: OpenAI's names map through ``tts.openai_voices`` (unlisted: the default voice);
  any of our own voice names works too; a voice nobody has is a 400.
- ``input``: at most 4096 characters (OpenAI's limit) or ``server.max_text_chars`` if smaller.
- ``response_format``: ``mp3`` (default), ``opus``, ``aac``, ``flac``, ``wav``, ``pcm`` (24 kHz
  s16le mono); ``speed`` 0.25-4.0 stretches time without changing pitch (``engine.encode``).
- ``instructions`` is accepted and ignored: no backend of ours takes style prompts.
- ``stream_format``: ``audio`` (default; chunked, sentence by sentence) or ``sse``
  (``speech.audio.delta`` events carrying base64 audio, then ``speech.audio.done``).

Errors use OpenAI's shape, ``{"error": {"message", "type", "param", "code"}}``, so OpenAI's
clients raise their usual exceptions (``BadRequestError`` ...).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from . import encode
from ..errors import (BadRequest, EngineError, NoVoiceForLanguage, NothingToSpeak, TextTooLong,
                      UnknownBackend, UnknownVoice)
from ..speech.jobs import Job
from .synth import abort, meta_headers, started
from .body import BodyTimeout, read_json
from .keys import CONFIG_KEY, ENGINE_KEY

_LOGGER = logging.getLogger(__name__)
ROUTE = "/v1/audio/speech"
OPENAI_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
OPENAI_VOICES = ("alloy", "ash", "ballad", "cedar", "coral", "echo", "fable", "marin", "nova",
                 "onyx", "sage", "shimmer", "verse")
OPENAI_MAX_INPUT = 4096
"""OpenAI's limit on ``input``, in characters."""
STREAM_FORMATS = ("audio", "sse")
PIECE_BYTES = 96_000
"""Longest PCM piece encoded at once (1 s): a long chunk starts leaving after its first second."""


class SpeechParamError(BadRequest):
    """A field of the speech request is invalid; ``param`` names it, as OpenAI's errors do."""

    def __init__(self, message: str, *, param: str, code: str = "invalid_value") -> None:
        super().__init__(message)
        self.param = param
        self.code = code


class BodyTooLarge(BadRequest):
    """The body is over ``server.max_body_bytes``."""

    status = 413
    code = "body_too_large"


@dataclass(frozen=True)
class SpeechRequest:
    """A validated ``/v1/audio/speech`` body."""

    text: str
    voice: Any
    """Our voice name, ``None`` for the default, or the client's value (checked by the engine)."""
    backend: str | None
    format: encode.AudioFormat
    speed: float
    stream_format: str


def parse(data: dict[str, Any], *, backends: list[str], voices: dict[str, str],
          max_chars: int) -> SpeechRequest:
    """Check the body's fields; raise ``SpeechParamError`` naming the first bad one."""
    text = data.get("input")
    if not isinstance(text, str) or not text.strip():
        raise SpeechParamError("'input' must be a non-empty string", param="input")
    limit = min(OPENAI_MAX_INPUT, max_chars)
    if len(text) > limit:
        which = ("OpenAI's limit" if limit == OPENAI_MAX_INPUT else
                 "this engine's server.max_text_chars")
        raise SpeechParamError(f"'input' is {len(text)} characters; the limit is {limit} ({which})",
                               param="input", code="string_above_max_length")
    model = data.get("model")
    if model is not None and (not isinstance(model, str)
                              or model not in (*OPENAI_MODELS, *backends)):
        raise SpeechParamError(f"'model' must be one of {', '.join((*OPENAI_MODELS, *backends))}, "
                               f"got {_show(model)}", param="model", code="model_not_found")
    fmt = data.get("response_format") or "mp3"
    if not isinstance(fmt, str) or fmt not in encode.FORMATS:
        raise SpeechParamError(f"'response_format' must be one of {', '.join(encode.FORMATS)}, "
                               f"got {_show(fmt)}", param="response_format")
    speed = data.get("speed", 1.0)
    if (isinstance(speed, bool) or not isinstance(speed, (int, float))
            or not encode.MIN_SPEED <= speed <= encode.MAX_SPEED):
        raise SpeechParamError(f"'speed' must be a number from {encode.MIN_SPEED} to "
                               f"{encode.MAX_SPEED}, got {_show(speed)}", param="speed")
    stream = data.get("stream_format") or "audio"
    if not isinstance(stream, str) or stream not in STREAM_FORMATS:
        raise SpeechParamError(f"'stream_format' must be audio or sse, got {_show(stream)}",
                               param="stream_format")
    instructions = data.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise SpeechParamError("'instructions' must be a string", param="instructions")
    return SpeechRequest(text=text, voice=_voice(data.get("voice"), voices),
                         backend=model if model in backends else None,
                         format=encode.FORMATS[fmt], speed=float(speed), stream_format=stream)


def _voice(value: Any, aliases: dict[str, str]) -> Any:
    if not isinstance(value, str):
        return value  # None: the default; anything else is refused by the engine, by name
    mapped = {k.lower(): v for k, v in aliases.items()}.get(value.lower())
    if mapped is not None:
        return mapped
    return None if value.lower() in OPENAI_VOICES else value


async def speech(request: web.Request) -> web.StreamResponse:
    engine = request.app[ENGINE_KEY]
    config = request.app[CONFIG_KEY]
    try:
        body = await read_json(request)
        req = parse(body, backends=list(engine.backends), voices=config.tts.openai_voices,
                    max_chars=config.server.max_text_chars)
        job = await started(await engine.submit(engine.make_request(
            {"text": req.text, "voice": req.voice, "backend": req.backend, "priority": "event"})))
        pipeline = encode.Pipeline(req.format, speed=req.speed)
        if job.done and job.state != "done":  # failed after its first audio: no partial clip
            raise job.error or EngineError(f"job {job.id} {job.state} before its audio was complete")
    except EngineError as exc:
        return error_response(exc)
    except web.HTTPRequestEntityTooLarge:
        limit = config.server.max_body_bytes
        return error_response(BodyTooLarge(f"the request body is over {limit} bytes "
                                           "(server.max_body_bytes)"))
    if req.stream_format == "sse":
        return await _stream_sse(request, job, pipeline)
    return await _stream_audio(request, job, pipeline)


async def _stream_audio(request: web.Request, job: Job, pipeline: encode.Pipeline) -> web.StreamResponse:
    """The encoded audio, chunked, each piece sent as soon as it is encoded."""
    resp = web.StreamResponse(headers={"Content-Type": pipeline.format.content_type,
                                       **meta_headers(job)})
    await resp.prepare(request)
    try:
        async for data in _encoded(job, pipeline):
            await resp.write(data)
    except EngineError as exc:  # the audio is cut: the client must see a truncated body
        _LOGGER.info("Speech %s cut after its first audio: %s", job.id, exc.message)
        abort(request)
        return resp
    await resp.write_eof()
    return resp


async def _stream_sse(request: web.Request, job: Job, pipeline: encode.Pipeline) -> web.StreamResponse:
    """OpenAI's SSE stream: ``speech.audio.delta`` events, then ``speech.audio.done``."""
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                       "Cache-Control": "no-cache", **meta_headers(job)})
    await resp.prepare(request)
    try:
        async for data in _encoded(job, pipeline):
            await resp.write(_event({"type": "speech.audio.delta",
                                     "audio": base64.b64encode(data).decode("ascii")}))
    except EngineError as exc:
        await resp.write(_event({"type": "error", "error": _error_body(exc)["error"]}))
    else:
        await resp.write(_event({"type": "speech.audio.done", "usage": {
            "input_tokens": 0, "output_tokens": 0, "total_tokens": 0}}))  # no tokens here
    await resp.write_eof()
    return resp


async def _encoded(job: Job, pipeline: encode.Pipeline) -> Any:
    """Encoded pieces as the job's PCM arrives (encoding runs in a thread, off the event loop);
    raises the job's error if it ends without all its audio."""
    async for pcm in job.chunks():
        for start in range(0, len(pcm), PIECE_BYTES):  # a cached clip comes as one chunk
            data = await asyncio.to_thread(pipeline.feed, pcm[start:start + PIECE_BYTES])
            if data:
                yield data
    if job.state != "done":
        raise job.error or EngineError(f"job {job.id} {job.state} before its audio was complete")
    tail = await asyncio.to_thread(pipeline.flush)
    if tail:
        yield tail


def _event(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


def error_response(exc: EngineError) -> web.Response:
    """An ``EngineError`` as OpenAI's error reply. Input faults are 400 as at OpenAI (a body
    too slow or too large stays 408 or 413); ``code`` is ours (``bad_request``,
    ``unknown_voice`` ...)."""
    status = exc.status
    if isinstance(exc, BadRequest) and not isinstance(exc, (BodyTimeout, BodyTooLarge)):
        status = 400
    return web.json_response(_error_body(exc), status=status)


def _error_body(exc: EngineError) -> dict[str, Any]:
    kind = "invalid_request_error" if exc.status < 500 else "server_error"
    return {"error": {"message": exc.message, "type": kind, "param": _param(exc), "code": exc.code}}


def _param(exc: EngineError) -> str | None:
    if isinstance(exc, SpeechParamError):
        return exc.param
    if isinstance(exc, UnknownVoice):
        return "voice"
    if isinstance(exc, UnknownBackend):
        return "model"
    if isinstance(exc, (TextTooLong, NothingToSpeak, NoVoiceForLanguage)):
        return "input"
    return "voice" if exc.message.startswith("'voice'") else None


def _show(value: object) -> str:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        text = repr(value)
        return text if len(text) <= 40 else f"{text[:37]}..."
    return type(value).__name__


def setup(app: web.Application) -> None:
    app.router.add_post(ROUTE, speech)
