"""``GET /openapi.json``: an OpenAPI 3.1 description of the whole HTTP API.

The description is built per app from the code it describes: limits come from the app's config
(``server.max_text_chars``, ``server.max_body_bytes``), the event bodies from the event
dataclasses (``engine.pipeline.events``), the protected routes from ``engine.http.auth``. A test
(tests/test_openapi.py) checks that every route the app registers is described, and fuzzes the
running engine against this description with schemathesis. ``/ws`` is described as far as
OpenAPI goes: the upgrade request; its messages are in ``engine/http/ws.py`` and docs/hub.md.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from aiohttp import web

from .. import __version__ as version
from ..config import PRIORITIES
from ..pipeline.events import EVENT_TYPES
from .keys import CONFIG_KEY
from ..speech.jobs import MAX_DEADLINE_MS
from . import auth

ROUTE = "/openapi.json"
JSON = "application/json"
ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["message"],
    "properties": {"code": {"type": ["string", "null"]}, "message": {"type": "string"}}}}}
OBJECT: dict[str, Any] = {"type": "object"}
BINARY = {"type": "string", "format": "binary"}
STR = {"type": "string"}
_WHY = {400: "Invalid input (the message names the field)", 403: "A foreign Host, a cross-site "
        "browser request, or (on TCP) a missing token", 404: "Not found", 408: "The body was too slow",
        413: "The body or the text is too large", 422: "No voice for the text's language",
        502: "The backend failed", 503: "Busy, expired, or no backend available"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {JSON: {"schema": schema}}


def _reply(description: str, content: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, **({"content": content} if content else {})}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): _reply(_WHY[c], _json(ERROR)) for c in (403, *codes)}


def _op(summary: str, ok: dict[str, Any], *errors: int, body: dict[str, Any] | None = None,
        params: list[dict[str, Any]] | None = None, ok_status: int = 200,
        also: dict[str, Any] | None = None) -> dict[str, Any]:
    """One operation; ``also``: more replies by status (a second success, a redirect)."""
    op: dict[str, Any] = {"summary": summary, "responses": {str(ok_status): ok, **_errors(*errors),
                                                           **(also or {})}}
    if body is not None:
        op["requestBody"] = {"required": True, "content": _json(body)}
        op["responses"].update(_errors(400, 408, 413))
    if params:
        op["parameters"] = params
    return op


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _event_schema(cls: type) -> dict[str, Any]:
    """The wire form of one event dataclass (``type`` plus its fields)."""
    kinds = {str: STR, int: {"type": "integer"}, float: {"type": "number"}, bool: {"type": "boolean"}}
    hints = typing.get_type_hints(cls)
    props: dict[str, Any] = {"type": {"type": "string", "enum": [cls.wire_type]}}  # type: ignore[attr-defined]
    required = ["type"]
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        props[f.name] = kinds.get(tp, {"type": "array", "items": STR})
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    return {"type": "object", "required": required, "properties": props}


def describe(app: web.Application) -> dict[str, Any]:
    """The OpenAPI document for ``app``."""
    server = app[CONFIG_KEY].server
    text = {"type": "string", "minLength": 1, "maxLength": server.max_text_chars}
    request: dict[str, Any] = {"type": "object", "required": ["text"], "properties": {
        "text": text, "voice": {"type": ["string", "null"], "maxLength": 200},
        "backend": {"type": ["string", "null"], "maxLength": 40},
        "priority": {"type": "string", "enum": list(PRIORITIES)},
        "deadline_ms": {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_DEADLINE_MS},
        "rate": {"type": ["number", "null"], "minimum": 0.25, "maximum": 4}}}
    synth = {**request, "properties": {**request["properties"],
                                       "format": {"type": "string", "enum": ["frames", "wav", "pcm"]}}}
    audio = {"application/x-tts-frames": {"schema": BINARY}, "audio/wav": {"schema": BINARY},
             "audio/L16": {"schema": BINARY}}
    job = {"type": "object", "required": ["request_id", "state"], "properties": {
        "request_id": STR, "state": STR, "backend": {"type": ["string", "null"]}}}
    accepted = {"type": "object", "properties": {"id": STR, "accepted": {"type": "boolean"}}}
    job_id = {"name": "job_id", "in": "path", "required": True,
              "schema": {"type": "string", "pattern": "^[0-9a-f]+$"}}
    events = {"oneOf": [_event_schema(cls) for cls in EVENT_TYPES.values()]}
    say = {"type": "object", "required": ["text"], "properties": {
        "text": text, "voice": STR, "backend": STR, "id": STR,
        "priority": {"type": "string", "enum": list(PRIORITIES)}}}
    control = {"type": "object", "required": ["command"], "properties": {"command": {
        "type": "string", "enum": ["skip", "clear", "pause", "resume", "toggle_pause"]}}}
    moderation = {"type": "object", "required": ["action"], "properties": {
        "action": {"type": "string", "enum": ["mute", "unmute", "block_word", "unblock_word", "remove"]},
        "login": STR, "word": STR, "utterance": STR,
        "seconds": {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 365 * 86400}}}
    playback = {"type": "object", "required": ["utterance", "part", "state"], "properties": {
        "utterance": {"type": "string", "minLength": 1, "maxLength": 200},
        "part": {"type": "integer", "minimum": 0, "maximum": 9999},
        "state": {"type": "string", "enum": ["started", "ended", "failed"]}, "reason": STR}}
    speech = {"type": "object", "required": ["input"], "properties": {
        "model": STR, "input": {**text, "maxLength": min(4096, server.max_text_chars)},
        "voice": STR, "instructions": STR, "speed": {"type": "number", "minimum": 0.25, "maximum": 4},
        "response_format": {"type": "string", "enum": ["mp3", "opus", "aac", "flac", "wav", "pcm"]},
        "stream_format": {"type": "string", "enum": ["audio", "sse"]}}}
    settings = {"type": "object", "properties": {"chat": OBJECT, "sources": OBJECT, "secrets": OBJECT}}
    html = _reply("A page", {"text/html": {"schema": STR}})
    ndjson = _reply("Newline-delimited JSON, one event per line, until the client leaves",
                    {"application/x-ndjson": {"schema": STR}})
    subscribe = _op("Playback events for OBS: hello, play, cancel, heartbeat (docs/hub.md)", ndjson)
    subscribe["tags"] = ["stream"]  # endless: a client reads it until it leaves
    links = {"status": {"operationId": "job_status", "parameters": {"job_id": "$response.body#/request_id"}},
             "wav": {"operationId": "job_wav", "parameters": {"job_id": "$response.body#/request_id"}}}
    paths: dict[str, dict[str, Any]] = {
        "/v1/synthesize": {"post": _op("Synthesize text; the audio streams as it is made", _reply(
            "Audio (framed stream, WAV or raw PCM by 'format')", audio), 404, 422, 502, 503, body=synth)},
        "/v1/jobs": {"post": _op("Queue a synthesis job", _reply("Queued", _json(job)) | {"links": links},
                                 404, 422, 502, 503, body=request, ok_status=202)},
        "/v1/jobs/{job_id}": {"get": _op("A job's state", _reply("The job", _json(job)), 404,
                                         params=[job_id]) | {"operationId": "job_status"}},
        "/v1/jobs/{job_id}.wav": {"get": _op("A job's audio as WAV", _reply("WAV", {"audio/wav": {
            "schema": BINARY}}), 404, 422, 502, 503, params=[job_id]) | {"operationId": "job_wav"}},
        "/v1/voices": {"get": _op("Voices of the running backends", _reply("Voices", _json(OBJECT)))},
        "/health": {"get": _op("Backends, queue, listeners, alerts, config reloads",
                               _reply("Status", _json(OBJECT)))},
        "/metrics": {"get": _op("Prometheus metrics", _reply("Metrics", {"text/plain": {"schema": STR}}))},
        "/v1/audio/speech": {"post": _op("OpenAI-compatible speech", _reply("Audio", {
            t: {"schema": BINARY} for t in ("audio/mpeg", "audio/ogg", "audio/aac", "audio/flac",
                                            "audio/wav", "audio/L16", "audio/pcm")} | {
            "text/event-stream": {"schema": OBJECT}}), 404, 422, 502, 503, body=speech)},
        "/ws": {"get": {"summary": "WebSocket ('tts' and 'say' JSON messages; see engine/http/ws.py)",
                        "responses": {"101": _reply("Switching protocols"), **_errors(),
                                      "400": _reply("Not a WebSocket upgrade request",
                                                    _json(ERROR))}}},
        "/v1/events": {"post": _op("An event in (chat, stream event, announcement)", _reply(
            "Queued (and journaled)", _json(accepted)), 404, 422, 503, body=events, ok_status=202,
            also={"200": _reply("A duplicate or a dropped event, with the reason", _json(accepted))}),
                       "get": subscribe},
        "/v1/subscribe": {"get": subscribe},
        "/v1/say": {"post": _op("An announcement from any program", _reply("Queued", _json(accepted)),
                                404, 422, 503, body=say, ok_status=202,
                                also={"200": _reply("Duplicate or dropped", _json(accepted))})},
        "/v1/control": {"post": _op("Skip, clear, pause, resume", _reply("Queue state", _json(OBJECT)),
                                    body=control)},
        "/v1/moderation": {"post": _op("Mute users, block words, remove an utterance",
                                       _reply("Moderation state", _json(OBJECT)), body=moderation)},
        "/v1/playback": {"post": _op("OBS's report on one part", _reply("Whether the part was known",
                                                                        _json(OBJECT)), body=playback)},
        "/v1/queue": {"get": _op("Playing, queued, recently dropped", _reply("Queue", _json(OBJECT)))},
        "/v1/status": {"get": _op("Dashboard status", _reply("Status", _json(OBJECT)))},
        "/v1/history": {"get": _op("Status samples", _reply("Samples", _json(OBJECT)), 400, params=[
            _query("minutes", {"type": "integer", "minimum": 1, "maximum": 60}, "How far back")])},
        "/": {"get": {"summary": "The dashboard", "parameters": [
            _query("token", STR, "Sets the token cookie, then redirects to /")], "responses": {
            "200": html, "303": _reply("Token accepted: back to /"),
            "403": _reply("Wrong token, or refused", {"text/html": {"schema": STR}, **_json(ERROR)})}}},
        "/static/{filename}": {"get": _op("Dashboard files", _reply("A file", {
            t: {"schema": STR} for t in ("application/javascript", "text/javascript", "text/css",
                                         "text/html", "text/plain", "application/octet-stream")}),
            params=[{"name": "filename", "in": "path", "required": True, "schema": STR}],
            also={"404": _reply("No such file (an empty body)", {
                "application/octet-stream": {"schema": STR}, **_json(ERROR)})})},
        "/v1/recent": {"get": _op("Recent outcomes", _reply("Outcomes", _json(OBJECT)), 400, params=[
            _query("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "How many")])},
        "/v1/replay": {"post": _op("Replay the last played message", _reply("Queued", _json(accepted)),
                                   400, ok_status=202)},
        "/overlay": {"get": _op("The caption overlay page", html)},
        "/v1/captions": {"get": _op("Captions as server-sent events", _reply(
            "Events until the client leaves", {"text/event-stream": {"schema": OBJECT}})) | {
            "tags": ["stream"]}},
        "/v1/settings": {"get": _op("Settings form", _reply("Settings", _json(OBJECT))),
                         "put": _op("Save settings", _reply("Settings", _json(OBJECT)), body=settings)},
        ROUTE: {"get": _op("This description", _reply("OpenAPI 3.0", _json(OBJECT)))},
    }
    extra: set[tuple[str, str]] = app.get(auth._EXTRA_KEY, set())
    protected = auth.PROTECTED | extra
    for path, ops in paths.items():
        for method, op in ops.items():
            if (method.upper(), path) in protected:
                op["security"] = [{"bearer": []}, {"token_header": []}, {"token_cookie": []}]
    return {"openapi": "3.1.0", "info": {"title": "streamer-tts engine", "version": version,
                                         "description": __doc__},
            "servers": [{"url": "/"}], "paths": paths,
            "components": {"securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "token_header": {"type": "apiKey", "in": "header", "name": auth.HEADER},
                "token_cookie": {"type": "apiKey", "in": "cookie", "name": auth.COOKIE}}}}


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(describe(request.app))


def setup(app: web.Application) -> None:
    app.router.add_get(ROUTE, openapi)
