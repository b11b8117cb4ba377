"""Bilibili live danmu over the web client's WebSocket.

Each connection resolves the room through the HTTP API (``bilibili_api``: a short id maps to the
real one, then the WBI-signed ``getDanmuInfo`` gives a token and the host list; if it refuses,
``fallback_url`` is used without a token), connects to the next host in that list (rotating on every
reconnect), sends the auth packet (op 7) and waits for its reply (op 8),
then sends a heartbeat (op 2) every ``heartbeat_s`` and reads op 5 messages (see
``bilibili_codec`` and ``bilibili_events``). Gifts are merged into bursts before they are emitted.

Anonymous connections get masked user names after a few minutes; the ``bilibili_sessdata`` and
``bilibili_buvid3`` secrets (cookies of a logged-in browser) fix that: they are sent as the
Cookie of the HTTP API calls, and the account's uid goes into the auth packet.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import aiohttp

from ..secrets import Secrets
from .base import CLOSE_TIMEOUT_S, Emit, Source, require
from .bilibili_api import End, Room, resolve_room
from .bilibili_codec import (
    MAX_PACKET_BYTES,
    OP_AUTH_REPLY,
    OP_HEARTBEAT_REPLY,
    OP_MESSAGE,
    BilibiliProtocolError,
    Packet,
    auth_packet,
    decode_frame,
    heartbeat_packet,
)
from .bilibili_events import BadCommand, Gift, GiftMerger, parse

_LOGGER = logging.getLogger(__name__)

USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) streamer-tts"


@dataclass(frozen=True)
class BilibiliOptions:
    enabled: bool = False
    room_id: int = field(default=0, metadata={"min": 0, "max": 10**12})
    """The live room's number from its address (``live.bilibili.com/<room_id>``); short ids work."""
    api_base: str = "https://api.live.bilibili.com"
    """Base address of the live HTTP API (``room_init``, ``getDanmuInfo``)."""
    account_api_base: str = "https://api.bilibili.com"
    """Base address of the account API (``nav``: the WBI signing keys, and the uid when logged in)."""
    fallback_url: str = "wss://broadcastlv.chat.bilibili.com:443/sub"
    """Danmu server used without a token when ``getDanmuInfo`` refuses (``""``: wait and retry)."""
    tls: bool = True
    """Connect to the hosts with ``wss://`` on their ``wss_port``; false: ``ws://`` on ``ws_port``."""
    gift_merge_s: float = field(default=3.0, metadata={"min": 0, "max": 60})
    """The same gift from one user within this many seconds becomes one event (0: no merging)."""
    heartbeat_s: float = field(default=30.0, metadata={"min": 0.1, "max": 300})
    """Seconds between heartbeats; two missed replies' worth of silence reconnects."""
    reconnect_max_s: float = field(default=60.0, metadata={"min": 0.1, "max": 3600})
    """Longest wait between reconnect attempts (seconds); the wait doubles from 1 s, with jitter."""
    connect_timeout_s: float = field(default=10.0, metadata={"min": 0.1, "max": 300})
    """Time allowed for each API call and for the connection and its auth reply (seconds)."""


class BilibiliSource(Source):
    """Reads one Bilibili live room's danmu, gifts, super chats, guards and follows."""

    name: ClassVar[str] = "bilibili"
    Options: ClassVar[type] = BilibiliOptions
    STABLE_S: ClassVar[float] = 30.0
    """A connection that stayed authenticated this long resets the backoff."""

    def __init__(self, options: BilibiliOptions, *, emit: Emit, secrets: Secrets,
                 rng: random.Random | None = None) -> None:
        super().__init__(options, emit=emit, secrets=secrets)
        self.options: BilibiliOptions = options
        self._rng = rng or random.Random()
        self._merger = GiftMerger(window_s=options.gift_merge_s, emit=self._emit)
        self._host_index = 0
        self.uid = 0
        """The uid sent in the auth packet (0: anonymous)."""
        self.host = ""
        """The host of the current (or last) connection."""
        self.popularity = 0
        """The last heartbeat reply's popularity counter."""

    @classmethod
    def check_options(cls, options: Any, path: str) -> None:
        require(not options.enabled or options.room_id > 0, f"{path}.room_id", "required when enabled")
        for key in ("api_base", "account_api_base"):
            value = getattr(options, key)
            require(value.startswith(("http://", "https://")) and " " not in value, f"{path}.{key}",
                    "expected an http:// or https:// address")
        require(not options.fallback_url or options.fallback_url.startswith(("ws://", "wss://")),
                f"{path}.fallback_url", "expected a ws:// or wss:// address, or \"\"")

    async def start(self) -> None:
        if self._task is None:
            self.check_options(self.options, "sources.bilibili")
            self._set_state("connecting", f"connecting to room {self.options.room_id}")
            self._task = asyncio.create_task(self._run(), name="source-bilibili")

    async def close(self) -> None:
        await self._stop_task()
        self._merger.flush_all()
        self._set_state("off", "closed")

    # -- connection loop ---------------------------------------------------------------------------
    async def _run(self) -> None:
        attempt = 0
        timeout = aiohttp.ClientTimeout(total=self.options.connect_timeout_s)
        async with aiohttp.ClientSession(timeout=timeout, headers={"User-Agent": USER_AGENT}) as http:
            while True:
                authed: list[float] = []
                try:
                    await self._connection(http, authed)
                    end = End("the connection ended")
                except End as exc:
                    end = exc
                except TimeoutError:
                    end = End(f"no answer within {self.options.connect_timeout_s:g} s")
                except (aiohttp.ClientError, OSError) as exc:
                    end = End(f"disconnected ({type(exc).__name__})")
                except (KeyError, TypeError, ValueError) as exc:  # an API answer of another shape
                    end = End(f"unexpected answer from the API ({type(exc).__name__}: {exc})"[:200])
                except Exception as exc:  # a bug here must not end the source for good
                    _LOGGER.exception("bilibili: unexpected error; retrying")
                    end = End(f"unexpected error ({type(exc).__name__})")
                stable = bool(authed) and time.monotonic() - authed[0] >= self.STABLE_S
                attempt = 1 if stable else attempt + 1
                delay = self.backoff_s(attempt)
                if end.state in ("auth_failed", "offline"):
                    delay = self.options.reconnect_max_s
                where = f" ({self.host})" if self.host else ""
                self._set_state(end.state, f"{end.reason}{where}; retrying in {delay:.1f} s")
                await asyncio.sleep(delay)
                self._set_state("reconnecting", f"reconnecting to room {self.options.room_id}")

    async def _connection(self, http: aiohttp.ClientSession, authed: list[float]) -> None:
        opts = self.options
        room = await resolve_room(http, self.secrets, room_id=opts.room_id, api_base=opts.api_base,
                                  account_api_base=opts.account_api_base, tls=opts.tls,
                                  fallback_url=opts.fallback_url)
        self.uid = room.uid
        url = room.hosts[self._host_index % len(room.hosts)]
        self._host_index += 1
        self.host = url.split("://", 1)[1].split("/", 1)[0]
        timeout = aiohttp.ClientWSTimeout(ws_close=CLOSE_TIMEOUT_S)
        async with http.ws_connect(url, timeout=timeout, autoping=True, heartbeat=None,
                                   max_msg_size=2 * MAX_PACKET_BYTES) as ws:
            self._connects += 1
            await ws.send_bytes(auth_packet(room_id=room.room_id, key=room.token, uid=self.uid,
                                            buvid=self.secrets.get("bilibili_buvid3") or ""))
            pending = await self._await_auth(ws)
            authed.append(time.monotonic())
            who = f"uid {self.uid}" if self.uid else "anonymous: names may be masked"
            who += "" if room.token else ", no token"
            self._set_state("connected", f"reading room {room.room_id} ({who}) on {self.host}")
            beat = asyncio.create_task(self._heartbeat(ws), name="bilibili-heartbeat")
            try:
                await self._read(ws, room, pending)
            finally:
                beat.cancel()

    async def _await_auth(self, ws: aiohttp.ClientWebSocketResponse) -> list[Packet]:
        """Wait for the auth reply (op 8); returns the packets that followed it in its frame."""
        deadline = time.monotonic() + self.options.connect_timeout_s
        while True:
            packets = self._packets(await self._receive(ws, deadline - time.monotonic()))
            for i, packet in enumerate(packets):
                if packet.operation == OP_AUTH_REPLY:
                    try:
                        reply = packet.json()
                    except BilibiliProtocolError:
                        reply = None
                    code = reply.get("code") if isinstance(reply, dict) else None
                    if code != 0:
                        raise End(f"the server refused the auth packet (code {code})",
                                   state="auth_failed")
                    return packets[i + 1:]

    async def _heartbeat(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            while not ws.closed:
                await ws.send_bytes(heartbeat_packet())
                await asyncio.sleep(self.options.heartbeat_s)
        except (ConnectionError, aiohttp.ClientError):
            pass  # the reader sees the connection end

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse, timeout: float) -> bytes:
        try:
            msg = await asyncio.wait_for(ws.receive(), max(0.0, timeout))
        except TimeoutError:
            raise End(f"nothing received for {timeout:.0f} s") from None
        if msg.type == aiohttp.WSMsgType.BINARY:
            return bytes(msg.data)
        if msg.type == aiohttp.WSMsgType.TEXT:
            self._error("a text frame (the protocol only sends binary frames)")
            return b""
        raise End("the server closed the connection")

    def _packets(self, data: bytes) -> list[Packet]:
        if not data:
            return []
        try:
            return decode_frame(data)
        except BilibiliProtocolError as exc:
            self._error(f"bad frame: {exc.message}")
            return []

    async def _read(self, ws: aiohttp.ClientWebSocketResponse, room: Room,
                    packets: list[Packet]) -> None:
        silence = 2 * self.options.heartbeat_s + self.options.connect_timeout_s
        while True:
            for packet in packets:
                if packet.operation == OP_MESSAGE:
                    self._message(packet, room)
                elif packet.operation == OP_HEARTBEAT_REPLY:
                    try:
                        self.popularity = packet.popularity()
                    except BilibiliProtocolError as exc:
                        self._error(exc.message)
            packets = self._packets(await self._receive(ws, silence))

    def _message(self, packet: Packet, room: Room) -> None:
        try:
            event = parse(packet.json(), room_id=room.room_id, owner_uid=room.owner_uid)
        except BilibiliProtocolError as exc:
            self._error(exc.message)
            return
        except BadCommand as exc:
            self._error(str(exc))
            return
        if isinstance(event, Gift):
            self._merger.add(event)
        elif event is not None:
            self._emit(event)
