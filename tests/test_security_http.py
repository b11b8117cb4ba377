"""Issue 12's browser and connection defences against a real engine on loopback: only the
engine's own host names are answered (DNS rebinding), other sites and null origins are refused,
and idle, half-sent or oversized requests are closed in time without a warning in the log."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.test_security import call


# -- 3. hosts, origins and other sites -----------------------------------------------------------

async def test_only_the_engines_own_host_names_are_answered(start_engine: Any) -> None:
    engine = await start_engine(server={"allowed_hosts": ["tts.lan", "box.lan:8123"]})
    port = engine.tcp.rsplit(":", 1)[1]
    ok = ["127.0.0.1", f"127.0.0.1:{port}", "localhost", f"LOCALHOST:{port}", f"[::1]:{port}",
          "tts.lan", f"tts.lan:{port}", "tts.lan:80", "box.lan:8123"]
    refused = ["evil.example", f"evil.example:{port}", "127.0.0.1:1", f"0.0.0.0:{port}",
               "box.lan", "box.lan:80", f"127.0.0.1.evil.example:{port}", ""]
    for host in ok:
        status, _ = await call(engine, "GET", "/health", headers={"Host": host})
        assert status == 200, host
    for host in refused:
        for method, route, body in (("GET", "/health", None), ("GET", "/metrics", None),
                                    ("GET", "/v1/voices", None), ("GET", "/v1/subscribe", None),
                                    ("POST", "/v1/say", {"text": "rebound"})):
            status, reply = await call(engine, method, route, body, headers={"Host": host})
            assert status == 403 and reply["error"]["code"] == "unknown_host", (host, route)
    async with aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await s.ws_connect(engine.url + "/ws", headers={"Host": "evil.example"})
    plugin = str(Path(__file__).resolve().parent.parent / "obs_plugin")
    if plugin not in sys.path:
        sys.path.insert(0, plugin)
    from engine_client import EngineAddress, EngineClient  # the OBS plugin's own client

    for name in ("127.0.0.1", "localhost"):  # the Host it sends is one of the engine's names
        client = EngineClient(EngineAddress.parse(f"{name}:{port}"))
        assert (await asyncio.to_thread(client.health))["status"] == "ok"
    unix = await asyncio.to_thread(_unix_get_with_host, engine.unix, "evil.example")
    assert unix == 200  # only this user can open the socket: any Host is fine there


def _unix_get_with_host(path: str, host: str) -> int:
    from bench.common import UnixHTTPConnection

    conn = UnixHTTPConnection(path, timeout=10)
    try:
        conn.putrequest("GET", "/health", skip_host=True)
        conn.putheader("Host", host)
        conn.endheaders()
        return conn.getresponse().status
    finally:
        conn.close()


async def test_other_sites_null_origins_and_origin_less_cross_site_posts_are_refused(
        start_engine: Any) -> None:
    engine = await start_engine(server={"allowed_origins": ["http://localhost:3000", "null"]})
    own = f"http://{engine.tcp}"
    refused = [{"Sec-Fetch-Site": "same-site"}, {"Sec-Fetch-Site": "cross-site"},
               {"Origin": "null"}, {"Origin": "http://127.0.0.1:9999", "Sec-Fetch-Site": "same-site"},
               {"Origin": "https://evil.example"}]
    for headers in refused:
        for method, route, body in (("POST", "/v1/say", {"text": "hi"}), ("GET", "/v1/subscribe", None),
                                    ("POST", "/v1/jobs", {"text": "hi"})):
            status, reply = await call(engine, method, route, body, headers=headers)
            assert status == 403 and reply["error"]["code"] == "cross_origin", (headers, route)
        async with aiohttp.ClientSession() as s:
            with pytest.raises(aiohttp.WSServerHandshakeError):
                await s.ws_connect(engine.url + "/ws", headers=headers)
    allowed = [{}, {"Sec-Fetch-Site": "none"}, {"Origin": own, "Sec-Fetch-Site": "same-origin"},
               {"Origin": "http://localhost:3000", "Sec-Fetch-Site": "same-site"}]
    for headers in allowed:
        status, _ = await call(engine, "POST", "/v1/say", {"text": "hi"}, headers=headers)
        assert status in (200, 202), headers  # 200: the same line again (deduplicated)



# -- 5. limits: idle, half-sent heads and bodies, header size, WebSocket messages ----------------

async def test_idle_and_half_sent_requests_are_closed_in_time(
        start_engine: Any, caplog: pytest.LogCaptureFixture) -> None:
    engine = await start_engine(server={"idle_timeout_s": 0.5, "body_timeout_s": 0.5, "max_body_bytes": 2048})
    host, port = engine.tcp.rsplit(":", 1)

    async def closed_after(send: bytes) -> tuple[float, bytes]:
        reader, writer = await asyncio.open_connection(host, int(port))
        began = time.monotonic()
        writer.write(send)
        await writer.drain()
        got = await asyncio.wait_for(reader.read(), timeout=5)  # read() returns once closed
        writer.close()
        return time.monotonic() - began, got

    caplog.set_level(logging.WARNING)
    idle, got = await closed_after(b"")
    assert 0.3 < idle < 3 and got == b""
    head, got = await closed_after(b"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
    assert 0.3 < head < 3 and got == b""
    body, got = await closed_after(b"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                   b"Content-Length: 100\r\n\r\n{\"text\": ")
    assert 0.3 < body < 4 and got.startswith(b"HTTP/1.1 408") and b"body_timeout_s" in got
    kept, got = await closed_after(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert 0.3 < kept < 3 and got.startswith(b"HTTP/1.1 200")  # keep-alive ends after idle_timeout_s
    big = b"X-Big: " + b"a" * 9000 + b"\r\n"
    _, got = await closed_after(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + big + b"\r\n")
    assert got.startswith((b"HTTP/1.0 4", b"HTTP/1.1 4"))
    _, got = await closed_after(b"\x16\x03\x01 not http at all\r\n\r\n")
    assert got.startswith((b"HTTP/1.0 400", b"HTTP/1.1 400"))
    async with aiohttp.ClientSession() as s, s.ws_connect(engine.url + "/ws") as ws:
        await ws.send_str(json.dumps({"type": "tts", "text": "x" * 4000}))
        msg = await ws.receive(timeout=5)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], \
        [r.getMessage() for r in caplog.records]  # a client's fault is no warning, no traceback
    status, _ = await call(engine, "GET", "/health")
    assert status == 200
