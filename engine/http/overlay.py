"""The caption overlay: ``/overlay`` for an OBS Browser Source, fed by ``GET /v1/captions``.

The page shows the text of the part OBS reported ``started`` (``POST /v1/playback``) and hides
it at ``ended`` or when the message is cancelled; ``engine.captions.SpeechLog`` keeps that state.
Style comes from the page's URL parameters (see static/overlay.js).

``/v1/captions`` is a Server-Sent Events stream of ``engine.captions.Caption`` objects. It needs
no token: it carries only what is being said on stream at that moment, and the server's guard
still refuses other web pages (Origin, Sec-Fetch-Site) and foreign Host names, so a page that
rebinds its DNS name to 127.0.0.1 cannot read it either. Keeping the token out of the Browser
Source's URL also keeps it out of OBS scene collections that streamers share.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from aiohttp import web

from ..captions import Caption, SpeechLog
from .dashboard import NO_STORE, STATIC_DIR
from .keys import HUB_KEY

_LOGGER = logging.getLogger(__name__)
KEEPALIVE_S = 15.0
CLOSING_KEY = web.AppKey("captions_closing", asyncio.Event)


async def page(request: web.Request) -> web.Response:
    return web.Response(text=(STATIC_DIR / "overlay.html").read_text(encoding="utf-8"),
                        content_type="text/html", headers=NO_STORE)


async def captions(request: web.Request) -> web.StreamResponse:
    """SSE: the current caption at once, then each change; a comment line keeps it alive."""
    log = request.app[HUB_KEY].log
    closing = request.app[CLOSING_KEY]
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", **NO_STORE})
    await resp.prepare(request)
    seq = -1
    try:
        while not closing.is_set():
            caption = await _next(log, seq, closing)
            if caption is None:
                await resp.write(b": keepalive\n\n")
                continue
            seq = caption.seq
            data = json.dumps(caption.to_dict(), ensure_ascii=False, separators=(",", ":"))
            await resp.write(f"id: {seq}\ndata: {data}\n\n".encode())
    except (ConnectionError, asyncio.CancelledError):
        pass
    with contextlib.suppress(ConnectionError, RuntimeError):
        await resp.write_eof()
    return resp


async def _next(log: SpeechLog, seq: int, closing: asyncio.Event) -> Caption | None:
    waiter = asyncio.ensure_future(log.wait_caption(seq, KEEPALIVE_S))
    stop = asyncio.ensure_future(closing.wait())
    try:
        await asyncio.wait({waiter, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        if not waiter.done():
            waiter.cancel()
    if not waiter.done() or waiter.cancelled():
        return None
    caption = waiter.result()
    return caption if caption.seq > seq else None


async def _closing_ctx(app: web.Application) -> None:
    app[CLOSING_KEY].set()


def setup(app: web.Application) -> None:
    app[CLOSING_KEY] = asyncio.Event()
    app.on_shutdown.append(_closing_ctx)
    app.router.add_get("/overlay", page)
    app.router.add_get("/v1/captions", captions)
