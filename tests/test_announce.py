"""``POST /v1/say`` and the ``/ws`` ``say`` message through the real server (real Piper voice):
an announcement goes through the journaled speech queue and reaches every listener as a ``play``
event with a job it can fetch; it waits for a listener when none is there; heartbeats flow; bad
requests get a clear error and queue nothing; shutdown ends open subscriptions."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from engine.http import events as http_events
from engine.http.keys import HUB_KEY
from tests.test_hub import next_event, play_through


async def read_event(resp: aiohttp.ClientResponse, *, timeout: float = 10.0) -> dict[str, Any]:
    line = await asyncio.wait_for(resp.content.readline(), timeout)
    assert line.endswith(b"\n"), line
    return json.loads(line)


async def test_say_with_a_listener_plays_a_fetchable_job(start_engine: Any) -> None:
    running = await start_engine()
    async with aiohttp.ClientSession(headers=running.headers) as http, \
            http.get(f"{running.url}/v1/subscribe") as sub:
        assert sub.headers["Content-Type"].startswith("application/x-ndjson")
        hello = await read_event(sub)
        assert hello["type"] == "hello" and hello["listeners"] == 1
        async with http.post(f"{running.url}/v1/say", json={"text": "Thanks for the follow!"}) as resp:
            assert resp.status == 202
            reply = await resp.json()
        assert reply["accepted"] and reply["listeners"] == 1 and reply["journaled"]
        event = await next_event(sub)
        assert event["type"] == "play" and event["utterance"] == reply["id"]
        assert event["text"] == "Thanks for the follow!" and event["priority"] == "announcement"
        wav = await play_through(http, running.url, event)
        assert wav[:4] == b"RIFF" and len(wav) > 44 + 48000


async def test_say_without_listeners_waits_for_one(start_engine: Any) -> None:
    running = await start_engine()
    async with aiohttp.ClientSession(headers=running.headers) as http:
        async with http.post(f"{running.url}/v1/say", json={"text": "Queued for later"}) as r:
            reply = await r.json()
        assert r.status == 202 and reply["listeners"] == 0 and reply["queued"] == 1
        async with http.get(f"{running.url}/v1/events") as sub:
            event = await next_event(sub)
            assert event["text"] == "Queued for later" and event["utterance"] == reply["id"]
            await play_through(http, running.url, event)
        assert len(running.app[HUB_KEY].queue) == 0


async def test_heartbeats_flow_and_every_listener_gets_each_part(
        start_engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_events, "HEARTBEAT_S", 0.2)
    running = await start_engine()
    async with aiohttp.ClientSession(headers=running.headers) as http:
        async with http.get(f"{running.url}/v1/subscribe") as a, http.get(f"{running.url}/v1/subscribe") as b:
            await read_event(a)
            await read_event(b)
            assert (await read_event(a, timeout=5))["type"] == "heartbeat"
            async with http.post(f"{running.url}/v1/say", json={"text": "Both of you"}) as r:
                assert (await r.json())["listeners"] == 2
            events = [await next_event(sub) for sub in (a, b)]
            assert {e["text"] for e in events} == {"Both of you"}
            assert events[0]["job"] == events[1]["job"]
            await play_through(http, running.url, events[0])
        await asyncio.sleep(0.3)
        assert running.app[HUB_KEY].stage.listeners == 0  # both left when they closed


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"text": ""}, 400, "nothing_to_speak"),
        ({"text": "?!"}, 400, "nothing_to_speak"),
        ({"text": "hi", "priority": "urgent"}, 400, "bad_request"),
        ({"text": "hi", "voice": "no-such-voice"}, 404, "unknown_voice"),
        ([1, 2], 400, "bad_request"),
    ],
)
async def test_bad_say_requests_get_a_clear_error_and_queue_nothing(
    start_engine: Any, body: Any, status: int, code: str
) -> None:
    running = await start_engine()
    async with aiohttp.ClientSession(headers=running.headers) as http, \
            http.post(f"{running.url}/v1/say", json=body) as r:
        assert r.status == status
        assert (await r.json())["error"]["code"] == code
    assert len(running.app[HUB_KEY].queue) == 0


async def test_the_websocket_example_can_make_the_stream_speak(start_engine: Any) -> None:
    running = await start_engine()
    async with aiohttp.ClientSession(headers=running.headers) as http, \
            http.get(f"{running.url}/v1/subscribe") as sub:
        await read_event(sub)
        async with http.ws_connect(f"{running.url}/ws") as ws:
            await ws.send_json({"type": "say", "text": "Hello from the websocket"})
            said = await asyncio.wait_for(ws.receive_json(), 10)
            assert said["type"] == "said" and said["accepted"] is True
            await ws.send_json({"type": "nonsense"})
            error = await asyncio.wait_for(ws.receive_json(), 10)
            assert error["type"] == "error" and "say" in error["message"]
        event = await next_event(sub)
        assert event["text"] == "Hello from the websocket"
        await play_through(http, running.url, event)


async def test_shutdown_ends_open_subscriptions(tmp_path: Any) -> None:
    from aiohttp import web

    from engine.http.auth import TOKEN_KEY
    from engine.http.app import create_app, start_sites
    from tests.conftest import make_config

    cfg = make_config(tmp_path)
    app = create_app(cfg)
    runner = web.AppRunner(app, shutdown_timeout=30)
    await runner.setup()
    bound = await start_sites(runner, cfg)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {app[TOKEN_KEY]}"}) as http, \
            http.get(f"http://{bound['tcp']}/v1/subscribe") as sub:
        await read_event(sub)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.wait_for(runner.cleanup(), 10)
        assert loop.time() - started < 5  # not the 30 s shutdown timeout
        assert await asyncio.wait_for(sub.content.read(), 5) == b""


async def test_the_websocket_says_error_not_end_when_a_job_crashes(
        start_engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    running = await start_engine()

    async def crash(*_args: Any) -> Any:
        raise RuntimeError("a bug in the router")

    monkeypatch.setattr(running.engine.router, "run", crash)
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{running.url}/ws") as ws:
        await ws.send_json({"type": "tts", "text": "This will crash."})
        reply = await asyncio.wait_for(ws.receive_json(), 10)
    assert reply["type"] == "error" and "RuntimeError" in reply["message"]
