"""A Bilibili live API and danmu WebSocket servers on loopback, speaking the real formats.

``FakeBilibili`` serves ``room_init``, ``getDanmuInfo`` (checking its WBI signature) and the account ``nav``
call over HTTP,
and runs ``hosts`` WebSocket servers at ``/sub``. Each server checks the auth packet (op 7),
answers it (op 8), answers heartbeats (op 2) with op 3, and pushes what the test asks for:
commands packed as protover 0, 2 (zlib) or 3 (brotli), several packets per frame. Packets are
packed here by hand (``struct``), not with the engine's codec. Everything is recorded.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

import urllib.parse

import brotli
from aiohttp import WSMsgType, web

ROOM_ID, SHORT_ID, OWNER_UID = 7734200, 6, 50329118
TOKEN = "danmu-token-0123456789"
USER_UID = 424242
# The public WBI documentation's example keys and the mixin key they give (not computed here).
IMG_URL = "https://i0.hdslb.com/bfs/wbi/7cd084941338484aae1ad9425b84077c.png"
SUB_URL = "https://i0.hdslb.com/bfs/wbi/4932caff0ff746eab6f01bf08b70ac45.png"
MIXIN_KEY = "ea1db124af3c7062474693fa704f4ff8"


def wbi_ok(query: dict[str, str]) -> bool:
    """Whether a query carries a valid ``w_rid`` for the example keys."""
    rest = sorted((k, v) for k, v in query.items() if k != "w_rid")
    signed = urllib.parse.urlencode(rest, quote_via=urllib.parse.quote) + MIXIN_KEY
    return "wts" in query and query.get("w_rid") == hashlib.md5(signed.encode()).hexdigest()


def pack(op: int, body: bytes, ver: int = 0) -> bytes:
    return struct.pack(">IHHII", 16 + len(body), 16, ver, op, 1) + body


def unpack_all(data: bytes) -> list[tuple[int, int, bytes]]:
    """(protover, op, body) of each packet in a client frame."""
    out, offset = [], 0
    while offset < len(data):
        length, _, ver, op, _ = struct.unpack_from(">IHHII", data, offset)
        out.append((ver, op, data[offset + 16:offset + length]))
        offset += length
    return out


def frame(commands: list[dict[str, Any]], ver: int = 3) -> bytes:
    """Commands as one frame: protover 0 packets back to back, or one zlib/brotli packet of them."""
    inner = b"".join(pack(5, json.dumps(c, ensure_ascii=False).encode()) for c in commands)
    if ver == 0:
        return inner
    return pack(5, zlib.compress(inner) if ver == 2 else brotli.compress(inner), ver)


@dataclass
class DanmuHost:
    """One WebSocket server."""

    index: int
    auth_code: int = 0
    auth_reply: bytes = b""
    """Sent instead of ``{"code": ...}`` when set (a malformed reply)."""
    after_auth: bytes = b""
    """Packets sent in the same frame as the auth reply."""
    runner: web.AppRunner | None = None
    port: int = 0
    auths: list[dict[str, Any]] = field(default_factory=list)
    heartbeats: int = 0
    sockets: list[web.WebSocketResponse] = field(default_factory=list)


class FakeBilibili:
    def __init__(self, *, hosts: int = 2) -> None:
        self.hosts = [DanmuHost(i) for i in range(hosts)]
        self.requests: list[tuple[str, dict[str, str], str]] = []
        """(path, query, Cookie header) of each HTTP call."""
        self.logged_in_sessdata = ""
        self.danmu_info_code = 0
        self._api: web.AppRunner | None = None
        self.api_port = 0
        self.authed = asyncio.Event()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/room/v1/Room/room_init", self._room_init)
        app.router.add_get("/xlive/web-room/v1/index/getDanmuInfo", self._danmu_info)
        app.router.add_get("/x/web-interface/nav", self._nav)
        self._api, self.api_port = await _serve(app)
        for host in self.hosts:
            await self.start_host(host)

    async def start_host(self, host: DanmuHost) -> None:
        ws_app = web.Application()

        async def sub(request: web.Request) -> web.WebSocketResponse:
            return await self._sub(request, host)

        ws_app.router.add_get("/sub", sub)
        host.runner, host.port = await _serve(ws_app, host.port)

    async def stop_host(self, host: DanmuHost) -> None:
        """Kill one server mid-stream: its connections are closed and it stops listening."""
        for ws in list(host.sockets):
            await ws.close()
        if host.runner is not None:
            await host.runner.cleanup()
            host.runner = None

    async def close(self) -> None:
        for host in self.hosts:
            await self.stop_host(host)
        if self._api is not None:
            await self._api.cleanup()

    async def send(self, commands: list[dict[str, Any]], *, ver: int = 3, host: int | None = None) -> None:
        """Push commands to every connected client (of one host, or all)."""
        data = frame(commands, ver)
        for h in self.hosts if host is None else [self.hosts[host]]:
            for ws in list(h.sockets):
                await ws.send_bytes(data)

    async def send_raw(self, data: bytes) -> None:
        for h in self.hosts:
            for ws in list(h.sockets):
                await ws.send_bytes(data)

    # -- HTTP API --------------------------------------------------------------------------------
    def _record(self, request: web.Request) -> None:
        self.requests.append((request.path, dict(request.query), request.headers.get("Cookie", "")))

    async def _room_init(self, request: web.Request) -> web.Response:
        self._record(request)
        if request.query.get("id") not in (str(ROOM_ID), str(SHORT_ID)):
            return web.json_response({"code": 60004, "msg": "直播间不存在", "message": "直播间不存在",
                                      "data": {}})
        return web.json_response({"code": 0, "msg": "ok", "message": "ok", "data": {
            "room_id": ROOM_ID, "short_id": SHORT_ID, "uid": OWNER_UID, "live_status": 1}})

    async def _danmu_info(self, request: web.Request) -> web.Response:
        self._record(request)
        if self.danmu_info_code or not wbi_ok(dict(request.query)):
            return web.json_response({"code": self.danmu_info_code or -352, "message": "-352",
                                      "data": {}})
        hosts = [{"host": "127.0.0.1", "port": h.port, "wss_port": h.port, "ws_port": h.port}
                 for h in self.hosts]
        return web.json_response({"code": 0, "message": "0", "ttl": 1, "data": {
            "group": "live", "token": TOKEN, "host_list": hosts}})

    async def _nav(self, request: web.Request) -> web.Response:
        self._record(request)
        cookie = request.headers.get("Cookie", "")
        wbi = {"img_url": IMG_URL, "sub_url": SUB_URL}
        if self.logged_in_sessdata and f"SESSDATA={self.logged_in_sessdata}" in cookie:
            return web.json_response({"code": 0, "data": {"isLogin": True, "mid": USER_UID,
                                                          "wbi_img": wbi}})
        return web.json_response({"code": -101, "message": "账号未登录",
                                  "data": {"isLogin": False, "wbi_img": wbi}})

    # -- WebSocket -------------------------------------------------------------------------------
    async def _sub(self, request: web.Request, host: DanmuHost) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        first = await ws.receive(timeout=5)
        if first.type != WSMsgType.BINARY:
            await ws.close()
            return ws
        (_ver, _op, body), = unpack_all(first.data)
        auth = json.loads(body)
        host.auths.append(auth)
        code = host.auth_code if auth.get("key") in (TOKEN, "") else -101  # "": no token (fallback)
        reply = host.auth_reply or json.dumps({"code": code}).encode()
        await ws.send_bytes(pack(8, reply, 1) + host.after_auth)
        if code != 0 or host.auth_reply:
            await ws.close()
            return ws
        host.sockets.append(ws)
        self.authed.set()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.BINARY:
                    continue
                for _ver, op, _body in unpack_all(msg.data):
                    if op == 2:
                        host.heartbeats += 1
                        await ws.send_bytes(pack(3, (1000 + host.heartbeats).to_bytes(4, "big"), 1))
        finally:
            host.sockets.remove(ws)
        return ws


async def _serve(app: web.Application, port: int = 0) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    server = site._server
    assert server is not None
    sockets = getattr(server, "sockets", None) or []
    return runner, sockets[0].getsockname()[1]


def danmu(text: str, uid: int = 1001, uname: str = "观众甲", *, admin: int = 0,
          guard: int = 0) -> dict[str, Any]:
    meta: list[Any] = [0, 1, 25, 16777215, 1700000000000, 0, 0, "abcd", 0, 0, 0, "", 0]
    return {"cmd": "DANMU_MSG", "info": [meta, text, [uid, uname, admin, 0, 0, 10000, 1, ""],
                                         [], [0, 0, 0, ">50000", 0], ["", ""], 0, guard]}


def gift(uid: int, uname: str, name: str, num: int = 1, *, price: int = 100,
         combo: str = "") -> dict[str, Any]:
    return {"cmd": "SEND_GIFT", "data": {"uid": uid, "uname": uname, "giftName": name, "num": num,
                                         "action": "投喂", "coin_type": "gold", "price": price,
                                         "total_coin": price * num, "batch_combo_id": combo}}
