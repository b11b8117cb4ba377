"""``GET /ws``: the WebSocket of the user guide's OBS integration example.

The client sends ``{"type": "tts", "text": "...", "voice": "..."}`` (optionally ``backend``,
``priority``, ``deadline_ms``). The engine answers with a JSON ``start`` message, binary
messages of output PCM (s16le, 48 kHz, mono), then a JSON ``end`` message — or one JSON
``error`` message. Requests on one connection are answered in order.

``{"type": "say", "text": "..."}`` instead makes the stream speak it in OBS (as ``POST /v1/say``);
the answer is one JSON ``said`` message (``delivered``, ``listeners``, ``job``).
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import WSMsgType, web

from ..errors import BadRequest, EngineError
from .body import parse_json
from .synth import start_frame, started
from .keys import CONFIG_KEY, ENGINE_KEY

_LOGGER = logging.getLogger(__name__)


async def websocket(request: web.Request) -> web.WebSocketResponse:
    limit = request.app[CONFIG_KEY].server.max_body_bytes
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=limit)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == WSMsgType.TEXT:
            await _answer(request, ws, msg.data)
        elif msg.type == WSMsgType.BINARY:
            await _error(ws, BadRequest("send JSON text messages, not binary"))
        elif msg.type == WSMsgType.ERROR:
            _LOGGER.info("WebSocket closed with %s", ws.exception())
    return ws


async def _answer(request: web.Request, ws: web.WebSocketResponse, raw: str) -> None:
    """Answer one message; any fault is an ``error`` message and the connection stays open."""
    try:
        await _dispatch(request, ws, parse_json(raw, what="the message"))
    except EngineError as exc:
        await _error(ws, exc)
    except ConnectionError:
        raise
    except Exception as exc:  # a last resort, as the HTTP middleware's: one line, socket kept
        _LOGGER.error("Internal error answering a WebSocket message: %s: %s", type(exc).__name__, exc)
        await _error(ws, EngineError("the engine hit an internal error; it is logged"))


async def _dispatch(request: web.Request, ws: web.WebSocketResponse, data: Any) -> None:
    engine = request.app[ENGINE_KEY]
    if isinstance(data, dict) and data.get("type") == "say":
        from . import auth
        from .events import say

        auth.require(request)  # speaking on stream needs the token on TCP, as POST /v1/say
        data.pop("type")
        _status, body = await say(request.app, data)
        await ws.send_json({"type": "said", **body})
        return
    if not isinstance(data, dict) or data.get("type", "tts") != "tts":
        raise BadRequest('send {"type": "tts", "text": "...", "voice": "..."} '
                         'or {"type": "say", "text": "..."}')
    data.pop("type", None)
    job = await started(await engine.submit(engine.make_request(data)))
    await ws.send_json(start_frame(job))
    async for pcm in job.chunks():
        await ws.send_bytes(pcm)
    await ws.send_json({"type": "end", **job.metadata()})


async def _error(ws: web.WebSocketResponse, exc: EngineError) -> None:
    await ws.send_json({"type": "error", "code": exc.code, "message": exc.message})


def setup(app: web.Application) -> None:
    app.router.add_get("/ws", websocket)
