"""The per-install API token (``engine.http.auth``) on a running engine: who may steer it."""

from __future__ import annotations

import logging
import os
import stat
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from engine import cli
from engine.http import auth
from tests.conftest import make_config, post_unix, running_engine

ANNOUNCEMENT = {"type": "announcement", "source": "test", "text": "Hello there"}
STEERING: tuple[tuple[str, str, Any], ...] = (("POST", "/v1/events", ANNOUNCEMENT),
            ("POST", "/v1/say", {"text": "Hello from a program"}),
            ("POST", "/v1/control", {"command": "pause"}),
            ("POST", "/v1/moderation", {"action": "block_word", "word": "spoiler"}),
            ("POST", "/v1/playback", {"utterance": "x", "part": 0, "state": "ended"}),
            ("POST", "/v1/replay", None), ("PUT", "/v1/settings", {}), ("GET", "/v1/settings", None),
            ("GET", "/v1/queue", None), ("GET", "/v1/recent", None), ("GET", "/v1/subscribe", None),
            ("GET", "/v1/events", None))


async def status_of(url: str, method: str, route: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as s, \
            s.request(method, url + route, json=body, headers=headers) as r:
        if route in ("/v1/subscribe", "/v1/events") and method == "GET" and r.status == 200:
            return r.status, await r.content.readline()
        return r.status, await r.json()


async def test_the_token_is_made_once_user_only_and_never_logged(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    config = make_config(tmp_path)
    async with running_engine(config) as first:
        token = first.token
    path = auth.token_path(config.data_path())
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and len(token) >= 32
    async with running_engine(config) as second:
        assert second.token == token  # the dock's address survives a restart
    assert token not in caplog.text
    assert auth.read_token(config.data_path()) == token
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "obs_plugin"))
    try:
        from engine_token import read_token  # the OBS plugin's reader (standard library only)
    finally:
        sys.path.pop(0)
    assert read_token(config.data_path()) == token
    assert read_token(tmp_path / "nowhere") is None


async def test_steering_and_announcement_readers_need_the_token_on_tcp(start_engine: Any) -> None:
    running = await start_engine()
    for method, route, body in STEERING:
        for headers in ({}, {"Authorization": "Bearer wrong-token-of-the-right-length-xx"},
                        {"X-TTS-Token": running.token[:-1]}, {"Cookie": "tts_token=nope"}):
            status, reply = await status_of(running.url, method, route, body, headers)
            assert status == 403 and reply["error"]["code"] == "token_required", (route, headers)
            assert "dashboard-url" in reply["error"]["message"]
    good = ({"Authorization": f"Bearer {running.token}"}, {"X-TTS-Token": running.token},
            {"Cookie": f"{auth.COOKIE}={running.token}"})
    for i, headers in enumerate(good):
        status, _ = await status_of(running.url, "POST", "/v1/say", {"text": f"Take number {i}"}, headers)
        assert status == 202, headers
    for route in ("/health", "/v1/voices", "/v1/status", "/overlay", "/"):  # reading is open
        async with aiohttp.ClientSession() as s, s.get(running.url + route) as r:
            assert r.status == 200, route


async def test_the_unix_socket_needs_no_token(start_engine: Any) -> None:
    running = await start_engine()
    status, _, body = await post_unix(running.unix, "/v1/say", {"text": "From the plugin's socket"})
    assert status == 202, body


async def test_the_dashboard_address_sets_a_strict_cookie_and_drops_the_token(start_engine: Any) -> None:
    running = await start_engine()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        async with s.get(f"{running.url}/?token={running.token}", allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/"
            cookie = r.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
        async with s.get(f"{running.url}/v1/queue") as r:  # the cookie alone steers
            assert r.status == 200
        async with s.get(f"{running.url}/?token=not-the-token", allow_redirects=False) as r:
            assert r.status == 403 and "Set-Cookie" not in r.headers


async def test_the_websocket_say_needs_the_token_but_tts_does_not(start_engine: Any) -> None:
    running = await start_engine()
    async with aiohttp.ClientSession() as s, s.ws_connect(running.url + "/ws") as ws:
        await ws.send_json({"type": "say", "text": "Not without the token"})
        reply = await ws.receive_json(timeout=10)
        assert reply["type"] == "error" and reply["code"] == "token_required"
    async with aiohttp.ClientSession(headers=running.headers) as s, s.ws_connect(running.url + "/ws") as ws:
        await ws.send_json({"type": "say", "text": "With the token"})
        reply = await ws.receive_json(timeout=10)
        assert reply["type"] == "said" and reply["accepted"] is True


def test_dashboard_url_prints_the_address_with_the_token(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "engine.yaml"
    config.write_text(f"server: {{port: 8123}}\ndata_dir: {tmp_path / 'data'}\n")
    assert cli.main(["--config", str(config), "dashboard-url"]) == 0
    token = auth.read_token(tmp_path / "data")
    assert token is not None
    assert capsys.readouterr().out.strip() == f"http://127.0.0.1:8123/?token={token}"


async def test_listening_beyond_loopback_needs_the_token_on_every_route(start_engine: Any) -> None:
    running = await start_engine(server={"host": "0.0.0.0"})
    port = running.tcp.rsplit(":", 1)[1]
    url = f"http://127.0.0.1:{port}"
    for method, route in (("GET", "/health"), ("GET", "/metrics"), ("GET", "/v1/voices"),
                          ("POST", "/v1/synthesize"), ("GET", "/overlay")):
        status, body = await status_of(url, method, route, {"text": "hi", "format": "pcm"}, {})
        assert status == 403 and body["error"]["code"] == "token_required", (route, status)
    status, _ = await status_of(url, "GET", "/health", None, running.headers)
    assert status == 200
    async with aiohttp.ClientSession() as http, http.get(f"{url}/overlay?token={running.token}") as r:
        assert r.status == 200 and "text/html" in r.headers["Content-Type"]
