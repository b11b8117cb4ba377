"""YouTube live chat through the Data API v3 (polling, with the user's API key).

From ``video_id`` (or the live broadcast of ``channel_id``, found with ``search``) it asks
``videos`` for the ``activeLiveChatId``, then polls ``liveChat/messages``, waiting the
``pollingIntervalMillis`` each answer asks for (never less than ``min_poll_s``). The first page
is the backlog present at connect time: it is skipped, only its ``nextPageToken`` is kept.

Every failure shows a clear state, then backs off: quota exhausted (``offline``, until the
daily reset), a chat that ended or was not found (``offline``), a refused key (``auth_failed``),
anything else (``reconnecting``, doubling waits). The key is sent in the query string, so no
URL is ever logged; texts from the API are redacted before they are shown.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import random
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

import aiohttp

from ..secrets import Secrets
from .base import Emit, Source, require
from .youtube_events import BadItem, is_chat_end, to_event

_LOGGER = logging.getLogger(__name__)


MAX_RESPONSE_BYTES = 8 << 20
DEFAULT_POLL_S = 5.0
MAX_POLL_S = 60.0
_VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_CHANNEL_ID = re.compile(r"UC[A-Za-z0-9_-]{22}")
QUOTA = {"quotaExceeded", "dailyLimitExceeded"}
ENDED = {"liveChatEnded", "liveChatNotFound", "liveChatDisabled", "videoNotFound"}
BAD_KEY = {"keyInvalid", "keyExpired", "forbidden", "accessNotConfigured", "ipRefererBlocked",
           "API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED"}


@dataclass(frozen=True)
class YouTubeOptions:
    enabled: bool = False
    video_id: str = ""
    """The live video's id (``youtube.com/watch?v=<video_id>``); or leave it empty and set channel_id."""
    channel_id: str = ""
    """A channel id (``UC...``): its current live broadcast is read. Each look-up costs 100 quota units."""
    api_base: str = "https://www.googleapis.com/youtube/v3"
    """Base address of the Data API."""
    min_poll_s: float = field(default=1.0, metadata={"min": 0.05, "max": 60})
    """Shortest wait between polls (seconds), whatever ``pollingIntervalMillis`` says."""
    offline_retry_s: float = field(default=900.0, metadata={"min": 0.1, "max": 86400})
    """Wait before looking again when no broadcast is live or the chat ended (seconds)."""
    quota_reset_hour_utc: int = field(default=8, metadata={"min": 0, "max": 23})
    """Hour (UTC) when the daily quota resets (midnight Pacific time: 7 in summer, 8 in winter)."""
    quota_retry_max_s: float = field(default=86400.0, metadata={"min": 0.1, "max": 86400})
    """Longest wait after the quota ran out (seconds); normally the wait lasts until the reset."""
    reconnect_max_s: float = field(default=300.0, metadata={"min": 0.1, "max": 3600})
    """Longest wait between retries after an error (seconds); the wait doubles from 1 s."""
    request_timeout_s: float = field(default=10.0, metadata={"min": 0.1, "max": 300})
    """Time allowed for each API call (seconds)."""


class _End(Exception):
    """Ends polling: why, the state to show, and how long to wait (``None``: the backoff)."""

    def __init__(self, reason: str, *, state: str = "reconnecting", delay: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.state, self.delay = reason, state, delay


class YouTubeSource(Source):
    """Reads one YouTube live chat: messages, Super Chats and Stickers, members, milestones."""

    name: ClassVar[str] = "youtube"
    Options: ClassVar[type] = YouTubeOptions

    def __init__(self, options: YouTubeOptions, *, emit: Emit, secrets: Secrets,
                 rng: random.Random | None = None) -> None:
        super().__init__(options, emit=emit, secrets=secrets)
        self.options: YouTubeOptions = options
        self._rng = rng or random.Random()
        self.video_id = options.video_id
        """The video whose chat is read (found from the channel when ``video_id`` is empty)."""
        self.skipped_backlog = 0
        """Messages present when the chat was opened, not spoken."""
        self._resume: tuple[str, str] | None = None
        """(chat id, page token) to go on from after an error, without skipping anything."""

    @classmethod
    def check_options(cls, options: Any, path: str) -> None:
        require(not options.enabled or bool(options.video_id or options.channel_id), f"{path}.video_id",
                "a video_id or a channel_id is required when enabled")
        require(not options.video_id or bool(_VIDEO_ID.fullmatch(options.video_id)), f"{path}.video_id",
                "expected the 11-character id from the video's address")
        require(not options.channel_id or bool(_CHANNEL_ID.fullmatch(options.channel_id)),
                f"{path}.channel_id", "expected a channel id: UC and 22 more characters")
        require(options.api_base.startswith(("http://", "https://")), f"{path}.api_base",
                "expected an http:// or https:// address")

    async def start(self) -> None:
        if self._task is None:
            self.check_options(self.options, "sources.youtube")
            self._set_state("connecting", "looking for the live chat")
            self._task = asyncio.create_task(self._run(), name="source-youtube")

    async def close(self) -> None:
        await self._stop_task()
        self._set_state("off", "closed")

    def quota_wait_s(self, now: dt.datetime | None = None) -> float:
        """Seconds until the next daily quota reset (at least 60, at most ``quota_retry_max_s``)."""
        now = now or dt.datetime.now(dt.timezone.utc)
        reset = now.replace(hour=self.options.quota_reset_hour_utc, minute=0, second=0, microsecond=0)
        if reset <= now:
            reset += dt.timedelta(days=1)
        return min(self.options.quota_retry_max_s, max(60.0, (reset - now).total_seconds()))

    # -- polling loop ------------------------------------------------------------------------------
    async def _run(self) -> None:
        attempt = 0
        timeout = aiohttp.ClientTimeout(total=self.options.request_timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while True:
                polled: list[bool] = []
                try:
                    await self._poll(http, await self._find_chat(http), polled)
                    end = _End("polling stopped")
                except _End as exc:
                    end = exc
                except TimeoutError:
                    end = _End(f"no answer within {self.options.request_timeout_s:g} s")
                except (aiohttp.ClientError, OSError) as exc:
                    end = _End(f"cannot reach the API ({type(exc).__name__})")
                except Exception as exc:  # a bug here must not end the source for good
                    # no traceback: its text could hold a request URL, and the key is in the URL
                    _LOGGER.error("youtube: unexpected error %s: %s; retrying", type(exc).__name__,
                                  self.secrets.redact(str(exc))[:300])
                    end = _End(f"unexpected error ({type(exc).__name__})")
                attempt = 1 if polled else attempt + 1
                delay = self.backoff_s(attempt) if end.delay is None else end.delay
                self._set_state(end.state, f"{end.reason}; retrying in {delay:.1f} s")
                await asyncio.sleep(delay)
                self._set_state("reconnecting", "looking for the live chat again")

    async def _get(self, http: aiohttp.ClientSession, path: str, params: dict[str, str]) -> dict[str, Any]:
        key = self.secrets.get("youtube_api_key")
        if not key:
            raise _End("the youtube_api_key secret is not set", state="auth_failed",
                       delay=self.options.reconnect_max_s)
        async with http.get(f"{self.options.api_base}/{path}", params={**params, "key": key}) as response:
            body = await response.content.read(MAX_RESPONSE_BYTES + 1)
            status = response.status
        try:
            doc = json.loads(body) if len(body) <= MAX_RESPONSE_BYTES else None
        except ValueError:
            doc = None
        if status != 200:
            raise self._api_error(status, doc if isinstance(doc, dict) else {})
        if not isinstance(doc, dict):
            raise _End(f"{path} answered something that is not a JSON object")
        return doc

    def _api_error(self, status: int, doc: dict[str, Any]) -> _End:
        error = doc.get("error")
        if not isinstance(error, dict):
            error = {}
        reasons: set[str] = set()
        for key in ("errors", "details"):  # v3's errors[].reason and Google's details[].reason
            entries = error.get(key)
            if isinstance(entries, list):
                reasons |= {str(e.get("reason")) for e in entries if isinstance(e, dict)}
        message = self.secrets.redact(str(error.get("message") or ""))[:160]
        opts = self.options
        if reasons & QUOTA:
            return _End("quota exhausted", state="offline", delay=self.quota_wait_s())
        if reasons & ENDED or status == 404:
            return _End("the chat has ended", state="offline", delay=opts.offline_retry_s)
        if status in (401, 403) or reasons & BAD_KEY:
            return _End(f"the API refused the key (HTTP {status}: {message or ', '.join(sorted(reasons))})",
                        state="auth_failed", delay=opts.reconnect_max_s)
        return _End(f"the API answered HTTP {status}" + (f": {message}" if message else ""))

    async def _find_chat(self, http: aiohttp.ClientSession) -> str:
        opts = self.options
        if not opts.video_id:
            found = await self._get(http, "search", {"part": "id", "channelId": opts.channel_id,
                                                     "eventType": "live", "type": "video"})
            videos = [i.get("id", {}).get("videoId") for i in found.get("items") or []
                      if isinstance(i, dict) and isinstance(i.get("id"), dict)]
            if not videos or not isinstance(videos[0], str):
                raise _End(f"channel {opts.channel_id} is not live", state="offline",
                           delay=opts.offline_retry_s)
            self.video_id = videos[0]
        found = await self._get(http, "videos", {"part": "liveStreamingDetails", "id": self.video_id})
        items = found.get("items") or []
        details = items[0].get("liveStreamingDetails") if items and isinstance(items[0], dict) else None
        chat_id = details.get("activeLiveChatId") if isinstance(details, dict) else None
        if not isinstance(chat_id, str) or not chat_id:
            raise _End(f"video {self.video_id} has no active live chat (not live, or ended)",
                       state="offline", delay=opts.offline_retry_s)
        return chat_id

    def _interval_s(self, page: dict[str, Any]) -> float:
        millis = page.get("pollingIntervalMillis")
        wait = millis / 1000 if isinstance(millis, (int, float)) and millis > 0 else DEFAULT_POLL_S
        return max(self.options.min_poll_s, min(MAX_POLL_S, wait))

    async def _poll(self, http: aiohttp.ClientSession, chat_id: str, polled: list[bool]) -> None:
        params = {"liveChatId": chat_id, "part": "snippet,authorDetails"}
        if self._resume is not None and self._resume[0] == chat_id:
            page = await self._get(http, "liveChat/messages", {**params, "pageToken": self._resume[1]})
            ended = self._emit_items(page.get("items"), chat_id)
            how = "going on where it stopped"
        else:
            page = await self._get(http, "liveChat/messages", params)
            backlog = page.get("items") or []
            self.skipped_backlog = len(backlog) if isinstance(backlog, list) else 0
            ended = isinstance(backlog, list) and any(is_chat_end(i) for i in backlog)
            how = f"skipped {self.skipped_backlog} earlier messages"
        polled.append(True)
        self._set_state("connected", f"reading the live chat of video {self.video_id} ({how})")
        while True:
            if ended or page.get("offlineAt"):
                raise _End("the chat has ended", state="offline", delay=self.options.offline_retry_s)
            token = page.get("nextPageToken")
            if isinstance(token, str):
                self._resume = (chat_id, token)
            await asyncio.sleep(self._interval_s(page))
            page = await self._get(http, "liveChat/messages",
                                   {**params, "pageToken": token} if isinstance(token, str) else params)
            ended = self._emit_items(page.get("items"), chat_id)
            if not isinstance(page.get("nextPageToken"), str) and isinstance(token, str):
                page["nextPageToken"] = token

    def _emit_items(self, items: Any, chat_id: str) -> bool:
        """Emit each item's event; true when the chat ended."""
        if not isinstance(items, list):
            self._error("liveChat/messages: items is not a list")
            return False
        ended = False
        for item in items:
            if is_chat_end(item):
                ended = True
                continue
            try:
                event = to_event(item, chat_id=chat_id)
            except BadItem as exc:
                self._error(f"liveChatMessage: {exc}")
                continue
            if event is not None:
                self._emit(event)
        return ended
