"""The dashboard at ``/``: a page (and OBS Custom Browser Dock) to watch and steer the engine.

- ``GET /``            the page; ``/?token=<token>`` sets the ``tts_token`` cookie (HttpOnly,
  SameSite=Strict) and redirects to ``/`` so the token leaves the address bar.
- ``GET /static/...``  its scripts, styles and the vendored charting library (uPlot, installed by
  install.py from npm: the page works offline).
- ``GET /v1/recent``   the latest outcomes (``engine.captions.Outcome``), newest first (token).
- ``POST /v1/replay``  speak the last played message again, as an announcement (token).

The page polls ``/v1/queue``, ``/v1/recent`` and the monitor's ``/v1/status`` every second and
``/v1/history`` for its charts; it steers with ``/v1/control``, ``/v1/moderation``,
``/v1/replay`` and ``/v1/settings``.
"""

from __future__ import annotations

import hmac
import logging
import time
import uuid
from pathlib import Path

from aiohttp import web

from ..errors import BadRequest
from ..speech.split import split_parts
from ..speech.utterance import Utterance
from . import auth
from .keys import HUB_KEY

_LOGGER = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).resolve().parent / "static"
COOKIE_MAX_AGE_S = 400 * 86400
"""The browser's longest cookie lifetime: the dock stays signed in."""
NO_STORE = {"Cache-Control": "no-store"}


async def index(request: web.Request) -> web.StreamResponse:
    offered = request.query.get("token")
    if offered is not None:
        if not hmac.compare_digest(offered.encode(), request.app[auth.TOKEN_KEY].encode()):
            return web.Response(status=403, content_type="text/html", headers=NO_STORE,
                                text=_page("wrong_token"))
        resp = web.HTTPSeeOther("/", headers=NO_STORE)
        resp.set_cookie(auth.COOKIE, offered, httponly=True, samesite="Strict", path="/",
                        max_age=COOKIE_MAX_AGE_S)
        raise resp
    return web.Response(content_type="text/html", text=_page("ok" if auth.authorized(request)
                                                                  else "no_token"),
                        headers=NO_STORE)


def _page(access: str) -> str:
    return (STATIC_DIR / "dashboard.html").read_text(encoding="utf-8").replace(
        "{{access}}", access)


async def recent(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    try:
        limit = max(1, min(200, int(request.query.get("limit", "50"))))
    except ValueError:
        raise BadRequest("'limit' must be a number from 1 to 200") from None
    last = hub.log.last_played()
    return web.json_response({"recent": [o.to_dict() for o in hub.log.recent(limit)],
                              "caption": hub.log.caption.to_dict(),
                              "last_played": None if last is None else last.to_dict()},
                             headers=NO_STORE)


async def replay(request: web.Request) -> web.Response:
    """The last played message again, first among announcements. Deliberate, so the queue's
    dedupe by text (which would drop it within its window) is not applied; it is journaled like
    any announcement."""
    hub = request.app[HUB_KEY]
    last = hub.log.last_played()
    if last is None or not last.text:
        raise BadRequest("nothing has been played yet, so there is nothing to replay")
    speech = hub.config.speech
    u = Utterance(id=uuid.uuid4().hex, text=last.text, priority="announcement", source="replay",
                  parts=split_parts(last.text, max_chars=speech.max_part_chars), kind="replay",
                  deadline=(time.time() + speech.announcement_deadline_s
                            if speech.announcement_deadline_s else None))
    if hub.journal is not None:
        hub.journal.add(u)
    hub.queue.requeue(u)
    hub.log.queued(u)
    hub.stage.wake()
    _LOGGER.info("Replaying the last message from %s", last.source or "?")
    return web.json_response({"id": u.id, "accepted": True, "parts": len(u.parts),
                              "queued": len(hub.queue), "listeners": hub.stage.listeners},
                             status=202)


def setup(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC_DIR, append_version=False)
    app.router.add_get("/v1/recent", recent)
    app.router.add_post("/v1/replay", replay)
    auth.protect(app, "GET", "/v1/recent")
    auth.protect(app, "POST", "/v1/replay")
