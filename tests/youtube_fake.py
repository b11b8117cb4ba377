"""A YouTube Data API v3 on loopback: ``search``, ``videos`` and ``liveChat/messages``.

It serves YouTube-shaped ``liveChatMessageListResponse`` pages: the first request (no
``pageToken``) gets every message so far, each later one the messages after its token, with
``pollingIntervalMillis``. ``fail`` makes every call answer one of the API's error bodies
(quota, ended chat, bad key, ...). Every request is recorded; no access log (the key is in the
query string).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

KEY = "AIzaSyFAKE-key-0123456789abcdef"
VIDEO_ID = "dQw4w9WgXcQ"
CHANNEL_ID = "UC" + "a" * 22
CHAT_ID = "Cg0KC2RRdzR3OVdnWGNRKicKGFVD"

ERRORS: dict[str, tuple[int, str, str]] = {
    "quota": (403, "quotaExceeded", "The request cannot be completed because you have exceeded "
                                    "your quota."),
    "ended": (403, "liveChatEnded", "The live chat is no longer live."),
    "not_found": (404, "liveChatNotFound", "The live chat that you are trying to retrieve cannot "
                                           "be found."),
    "forbidden": (403, "forbidden", "The caller does not have permission"),
    "unauthorized": (401, "unauthorized", "Request is missing required authentication credential."),
    "server": (503, "backendError", "Backend Error"),
}


@dataclass
class Request:
    path: str
    query: dict[str, str]
    at: float = field(default_factory=time.monotonic)


class FakeYouTube:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.requests: list[Request] = []
        self.interval_ms = 100
        self.live = True
        self.offline_at = ""
        self.fail = ""
        """A key of ``ERRORS``: every call answers that error until it is cleared."""
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def chat_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path == "/liveChat/messages"]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/search", self._search)
        app.router.add_get("/videos", self._videos)
        app.router.add_get("/liveChat/messages", self._messages)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = (getattr(server, "sockets", None) or [])[0].getsockname()[1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _check(self, request: web.Request) -> web.Response | None:
        self.requests.append(Request(request.path, dict(request.query)))
        if request.query.get("key") != KEY:
            key = request.query.get("key", "")
            return _error(400, "keyInvalid", f"API key not valid ({key}). Please pass a valid API key.",
                          detail="API_KEY_INVALID")
        if self.fail:
            status, reason, message = ERRORS[self.fail]
            return _error(status, reason, message)
        return None

    async def _search(self, request: web.Request) -> web.Response:
        refused = self._check(request)
        if refused is not None:
            return refused
        items = [{"kind": "youtube#searchResult", "id": {"kind": "youtube#video", "videoId": VIDEO_ID}}]
        return web.json_response({"kind": "youtube#searchListResponse",
                                  "items": items if self.live else []})

    async def _videos(self, request: web.Request) -> web.Response:
        refused = self._check(request)
        if refused is not None:
            return refused
        details: dict[str, Any] = {"actualStartTime": "2026-12-01T10:00:00Z"}
        if self.live:
            details["activeLiveChatId"] = CHAT_ID
        else:
            details["actualEndTime"] = "2026-12-01T11:00:00Z"
        return web.json_response({"kind": "youtube#videoListResponse", "items": [
            {"kind": "youtube#video", "id": request.query.get("id"), "liveStreamingDetails": details}]})

    async def _messages(self, request: web.Request) -> web.Response:
        refused = self._check(request)
        if refused is not None:
            return refused
        if request.query.get("liveChatId") != CHAT_ID:
            return _error(404, "liveChatNotFound", "not found")
        start = int(request.query.get("pageToken", "0") or 0)
        page: dict[str, Any] = {"kind": "youtube#liveChatMessageListResponse",
                                "pollingIntervalMillis": self.interval_ms,
                                "pageInfo": {"totalResults": len(self.messages) - start,
                                             "resultsPerPage": 2000},
                                "items": self.messages[start:], "nextPageToken": str(len(self.messages))}
        if self.offline_at:
            page["offlineAt"] = self.offline_at
        return web.json_response(page)

    def add(self, item: dict[str, Any]) -> None:
        self.messages.append(item)


def _error(status: int, reason: str, message: str, *, detail: str = "") -> web.Response:
    error: dict[str, Any] = {"code": status, "message": message,
                             "errors": [{"message": message, "domain": "youtube", "reason": reason}]}
    if detail:
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": detail}]
    return web.json_response({"error": error}, status=status)


def author(name: str, *, owner: bool = False, mod: bool = False, member: bool = False) -> dict[str, Any]:
    return {"channelId": "UC" + name.ljust(22, "x")[:22], "displayName": name, "isVerified": False,
            "isChatOwner": owner, "isChatModerator": mod, "isChatSponsor": member}


_COUNTER = [0]


def item(kind: str, who: dict[str, Any], **details: Any) -> dict[str, Any]:
    """A ``liveChatMessage``: ``details`` go under the kind's ``...Details`` key."""
    _COUNTER[0] += 1
    snippet: dict[str, Any] = {"type": kind, "liveChatId": CHAT_ID, "authorChannelId": who["channelId"],
                               "publishedAt": "2026-12-01T10:30:00Z", "hasDisplayContent": True,
                               "displayMessage": str(details.get("messageText", ""))}
    key = {"textMessageEvent": "textMessageDetails", "superChatEvent": "superChatDetails",
           "superStickerEvent": "superStickerDetails", "newSponsorEvent": "newSponsorDetails",
           "memberMilestoneChatEvent": "memberMilestoneChatDetails",
           "membershipGiftingEvent": "membershipGiftingDetails"}.get(kind)
    if key:
        snippet[key] = details
    return {"kind": "youtube#liveChatMessage", "etag": "e", "id": f"msg-{_COUNTER[0]}",
            "snippet": snippet, "authorDetails": who}
