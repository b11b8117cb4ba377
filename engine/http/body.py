"""Reading a client's JSON: HTTP bodies (with a time limit) and WebSocket messages. Every fault is
a ``BadRequest`` naming what was wrong."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from ..errors import BadRequest
from .keys import CONFIG_KEY


class BodyTimeout(BadRequest):
    """The request body did not arrive within ``server.body_timeout_s``."""

    status = 408
    code = "body_timeout"


async def read_json(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object; invalid UTF-8, invalid or too deeply nested JSON or a
    non-object is a 400, a body slower than ``server.body_timeout_s`` a 408."""
    timeout = request.app[CONFIG_KEY].server.body_timeout_s
    try:
        body = await asyncio.wait_for(request.read(), timeout)
    except asyncio.TimeoutError:
        raise BodyTimeout(f"the request body did not arrive within {timeout:g} s "
                          "(server.body_timeout_s)") from None
    data = parse_json(body, what="the body")
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object such as {\"text\": \"hello\"}")
    return data


def parse_json(raw: bytes | str, *, what: str) -> Any:
    """Decode a client's JSON (HTTP body or WebSocket message); every fault is ``BadRequest``."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise BadRequest(f"{what} is not valid UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise BadRequest(f"{what} is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadRequest(f"{what} is JSON nested too deeply") from None
