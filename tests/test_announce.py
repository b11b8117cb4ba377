"""``POST /v1/say`` and ``GET /v1/subscribe`` through the real server (real Piper voice): events
reach every listener with a playable job, wait in a bounded backlog when nobody listens, carry
heartbeats, and end cleanly at shutdown; the ``/ws`` example can make the stream speak."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from engine.announce import ANNOUNCER_KEY


async def read_event(resp: aiohttp.ClientResponse, *, timeout: float = 10.0) -> dict[str, Any]:
    line = await asyncio.wait_for(resp.content.readline(), timeout)
    assert line.endswith(b"\n"), line
    return json.loads(line)


async def settle(running: Any, *, timeout: float = 20.0) -> None:
    """Wait for the jobs a test started to finish, so none is cut off at teardown."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while any(not job.done for job in running.engine._jobs.values()):
        assert loop.time() < end, "jobs did not finish"
        await asyncio.sleep(0.05)


async def test_say_with_a_listener_delivers_an_event_it_can_speak(start_engine: Any) -> None:
    running = await start_engine()
    async with aiohttp.ClientSession() as http, http.get(f"{running.url}/v1/subscribe") as sub:
        assert sub.headers["Content-Type"].startswith("application/x-ndjson")
        hello = await read_event(sub)
        assert hello["type"] == "hello" and hello["listeners"] == 1
        async with http.post(f"{running.url}/v1/say", json={"text": "Thanks for the follow!"}) as resp:
            assert resp.status == 202
            reply = await resp.json()
        assert reply["delivered"] == 1 and reply["queued_for_later"] is False
        event = await read_event(sub)
        assert event["type"] == "say" and event["text"] == "Thanks for the follow!"
        assert event["priority"] == "announcement" and event["id"] == reply["id"]
        assert "job" not in event and not running.engine._jobs  # the listener synthesizes it
        spoken = {k: event[k] for k in ("text", "voice", "backend", "priority")}
        async with http.post(f"{running.url}/v1/synthesize", json={**spoken, "format": "wav"}) as wav:
            body = await wav.read()
        assert wav.status == 200 and body[:4] == b"RIFF" and len(body) > 44 + 48000


async def test_say_without_listeners_is_kept_and_delivered_on_subscribe(start_engine: Any) -> None:
    running = await start_engine()
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{running.url}/v1/say", json={"text": "Queued for later", "priority": "event"}
        ) as r:
            reply = await r.json()
        assert r.status == 202 and reply["delivered"] == 0 and reply["queued_for_later"] is True
        assert "no listener" in reply["message"]
        async with http.get(f"{running.url}/v1/events") as sub:
            assert (await read_event(sub))["type"] == "hello"
            event = await read_event(sub)
            assert event["text"] == "Queued for later" and event["priority"] == "event"
        assert not running.app[ANNOUNCER_KEY].backlog
    await settle(running)


async def test_the_backlog_is_bounded_and_expires(start_engine: Any) -> None:
    running = await start_engine()
    announcer = running.app[ANNOUNCER_KEY]
    announcer.backlog_max = 3
    async with aiohttp.ClientSession() as http:
        for n in range(5):
            async with http.post(f"{running.url}/v1/say", json={"text": f"Message {n}"}) as r:
                assert r.status == 202
        assert [e["text"] for _, e in announcer.backlog] == ["Message 2", "Message 3", "Message 4"]
        assert announcer.dropped_backlog == 2
        announcer.backlog_ttl_s = 0.0
        announcer.heartbeat_s = 0.2
        await asyncio.sleep(0.01)
        async with http.get(f"{running.url}/v1/subscribe") as sub:
            await read_event(sub)
            event = await read_event(sub, timeout=5)
            assert event["type"] == "heartbeat"  # the expired backlog was not delivered
        assert announcer.dropped_backlog == 5
    await settle(running)


async def test_heartbeats_flow_and_every_listener_gets_each_event(start_engine: Any) -> None:
    running = await start_engine()
    running.app[ANNOUNCER_KEY].heartbeat_s = 0.2
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{running.url}/v1/subscribe") as a, http.get(f"{running.url}/v1/subscribe") as b:
            await read_event(a)
            await read_event(b)
            assert (await read_event(a, timeout=5))["type"] == "heartbeat"
            async with http.post(f"{running.url}/v1/say", json={"text": "Both of you"}) as r:
                assert (await r.json())["delivered"] == 2
            for sub in (a, b):
                while (event := await read_event(sub, timeout=5))["type"] == "heartbeat":
                    pass
                assert event["text"] == "Both of you"
        await asyncio.sleep(0.3)
        assert running.app[ANNOUNCER_KEY].subscribers == set()  # both left when they closed
    await settle(running)


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"text": ""}, 400, "bad_request"),
        ({"text": "hi", "priority": "urgent"}, 400, "bad_request"),
        ({"text": "hi", "voice": "no-such-voice"}, 404, "unknown_voice"),
        ([1, 2], 400, "bad_request"),
    ],
)
async def test_bad_say_requests_get_a_clear_error_and_publish_nothing(
    start_engine: Any, body: Any, status: int, code: str
) -> None:
    running = await start_engine()
    async with aiohttp.ClientSession() as http, http.post(f"{running.url}/v1/say", json=body) as r:
        assert r.status == status
        assert (await r.json())["error"]["code"] == code
    assert running.app[ANNOUNCER_KEY].said == 0


async def test_the_websocket_example_can_make_the_stream_speak(start_engine: Any) -> None:
    running = await start_engine()
    async with aiohttp.ClientSession() as http, http.get(f"{running.url}/v1/subscribe") as sub:
        await read_event(sub)
        async with http.ws_connect(f"{running.url}/ws") as ws:
            await ws.send_json({"type": "say", "text": "Hello from the websocket"})
            said = await asyncio.wait_for(ws.receive_json(), 10)
            assert said["type"] == "said" and said["delivered"] == 1
            await ws.send_json({"type": "nonsense"})
            error = await asyncio.wait_for(ws.receive_json(), 10)
            assert error["type"] == "error" and "say" in error["message"]
        event = await read_event(sub)
        assert event["text"] == "Hello from the websocket"
    await settle(running)


async def test_shutdown_ends_open_subscriptions(start_engine: Any, tmp_path: Any) -> None:
    from aiohttp import web

    from engine.server import create_app, start_sites
    from tests.conftest import make_config

    cfg = make_config(tmp_path)
    app = create_app(cfg)
    runner = web.AppRunner(app, shutdown_timeout=30)
    await runner.setup()
    bound = await start_sites(runner, cfg)
    async with aiohttp.ClientSession() as http, http.get(f"http://{bound['tcp']}/v1/subscribe") as sub:
        await read_event(sub)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.wait_for(runner.cleanup(), 10)
        assert loop.time() - started < 5  # not the 30 s shutdown timeout
        assert await asyncio.wait_for(sub.content.read(), 5) == b""
