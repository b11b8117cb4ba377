"""Backend selection, fallback and the breaker across backends, end to end through the real
engine server: chat is routed to Edge (the real edge-tts code, talking to tests/edge_fake.py or
to a dead end) with the real Piper voice as the fallback."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import RunningEngine, make_config
from tests.edge_fake import (FakeEdge, blackhole, edge_url, piper_speech_mp3, point_edge_tts_at,
                             refusing_port)


@pytest.fixture
async def fake() -> AsyncIterator[FakeEdge]:
    server = await FakeEdge(piper_speech_mp3()[0]).start()
    with point_edge_tts_at(server.ws_url, server.voices_url):
        yield server
    await server.stop()


async def start(start_engine: Any, tmp_path: Path, *, cache: bool = False,
                **edge: Any) -> RunningEngine:
    """An engine with chat routed to Edge, then Piper; by default no clip cache (every line is
    synthesized)."""
    options = {"enabled": True, "connect_timeout_s": 1.0, "receive_timeout_s": 2.0, **edge}
    cfg = make_config(tmp_path, performance={"cache": {"enabled": cache}}, tts={
        "primary_backend": "piper", "routing": {"chat": "edge"}, "backends": {"edge": options}})
    return await start_engine(cfg)  # type: ignore[no-any-return]


async def say(engine: RunningEngine, text: str, **extra: Any) -> dict[str, Any]:
    """POST /v1/synthesize (WAV); the served backend, the skip list, the audio and the seconds
    until the response started (that is, until the first audio)."""
    started = time.monotonic()
    body = {"text": text, "format": "wav", **extra}
    async with aiohttp.ClientSession() as http, http.post(f"{engine.url}/v1/synthesize",
                                                          json=body) as resp:
        assert resp.status == 200, await resp.text()
        first = time.monotonic() - started
        audio = await resp.read()
    return {"backend": resp.headers["X-TTS-Backend"], "voice": resp.headers["X-TTS-Voice"],
            "skipped": json.loads(resp.headers["X-TTS-Skipped"]), "first_s": first,
            "audio_bytes": len(audio) - 44, "id": resp.headers["X-TTS-Request-Id"]}


async def get(engine: RunningEngine, route: str) -> Any:
    async with aiohttp.ClientSession() as http, http.get(f"{engine.url}{route}") as resp:
        assert resp.status == 200
        return await resp.json()


async def edge_health(engine: RunningEngine) -> dict[str, Any]:
    return (await get(engine, "/health"))["backends"]["edge"]  # type: ignore[no-any-return]


async def wait_for_state(engine: RunningEngine, state: str, *, within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while (await edge_health(engine))["breaker"]["state"] != state:
        assert time.monotonic() < deadline, f"the breaker never became {state}"
        await asyncio.sleep(0.05)


@contextmanager
def edge_at(url: str) -> Iterator[None]:
    with point_edge_tts_at(url):
        yield


async def test_chat_goes_to_edge_and_other_requests_follow_the_rules(
        fake: FakeEdge, start_engine: Any, tmp_path: Path) -> None:
    engine = await start(start_engine, tmp_path)
    chat = await say(engine, "Hello chat, Edge speaks this line.")
    assert (chat["backend"], chat["voice"], chat["skipped"]) == ("edge", "en-US-AriaNeural", [])
    assert chat["audio_bytes"] > 96_000  # over a second of 48 kHz s16le
    assert "Edge speaks this line." in fake.received[-1].ssml
    named = await say(engine, "A line for Piper.", backend="piper")
    assert named["backend"] == "piper"
    by_voice = await say(engine, "Joe says hi.", voice="en_US-joe-medium")
    assert by_voice["backend"] == "piper"  # the backend that has the voice goes first
    event = await say(engine, "Thanks for the follow!", priority="event")
    assert event["backend"] == "piper"  # events go to primary_backend
    health = await edge_health(engine)
    assert health["served"] == 1 and health["breaker"]["state"] == "closed"
    voices = {v["name"]: v["backend"] for v in (await get(engine, "/v1/voices"))["voices"]}
    assert voices["zh-CN-XiaoxiaoNeural"] == "edge" and voices["en_US-joe-medium"] == "piper"


async def test_unreachable_edge_costs_the_connect_timeout_once(
        start_engine: Any, tmp_path: Path) -> None:
    with blackhole() as port, edge_at(edge_url(port)):
        engine = await start(start_engine, tmp_path, connect_timeout_s=2.0)
        first = await say(engine, "First chat line.")
        assert first["backend"] == "piper"
        assert first["skipped"] == [{"backend": "edge", "reason": "failed: connect timeout"}]
        assert first["first_s"] < 2.0 + 3.0  # bounded by the connect timeout (plus Piper)
        second = await say(engine, "Second chat line.")
        assert second["backend"] == "piper"
        [skip] = second["skipped"]
        assert skip["backend"] == "edge"
        assert skip["reason"].startswith("breaker open (connect timeout; next probe in")
        assert second["first_s"] < 2.0  # no wait for Edge at all
        health = await edge_health(engine)
        assert health["breaker"]["state"] == "open"
        assert health["last_error"].startswith("connect timeout")
        assert (health["failed"], health["skipped"]) == (1, 1)


@pytest.mark.parametrize("reason", ["dns", "connect refused"])
async def test_dead_ends_fall_back_with_their_reason(
        start_engine: Any, tmp_path: Path, reason: str) -> None:
    with refusing_port() as port, edge_at(
            edge_url(443, "nonexistent.invalid") if reason == "dns" else edge_url(port)):
        engine = await start(start_engine, tmp_path)
        line = await say(engine, "Is anyone there?")
    assert line["backend"] == "piper"
    assert line["skipped"] == [{"backend": "edge", "reason": f"failed: {reason}"}]
    assert (await edge_health(engine))["breaker"]["last_error"] == reason


@pytest.mark.parametrize("cache", [False, True])
async def test_half_open_probe_closes_the_breaker_when_edge_is_back(
        fake: FakeEdge, start_engine: Any, tmp_path: Path, cache: bool) -> None:
    """With the clip cache on, the engine looks at the breaker before its cache lookup; that
    look must not use up the probe."""
    fake.behaviour = "http429"
    engine = await start(start_engine, tmp_path, cache=cache, breaker_cooldown_s=0.3)
    first = await say(engine, "Rate limited line.")
    assert first["skipped"] == [{"backend": "edge", "reason": "failed: http 429"}]
    assert (await edge_health(engine))["breaker"]["times_opened"] == 1
    await wait_for_state(engine, "half-open")
    fake.behaviour = "audio"
    probe = await say(engine, "Edge is back.")
    assert (probe["backend"], probe["skipped"]) == ("edge", [])
    health = await edge_health(engine)
    assert health["breaker"]["state"] == "closed" and health["breaker"]["consecutive_failures"] == 0


async def test_a_failed_probe_reopens_with_a_longer_cooldown(
        fake: FakeEdge, start_engine: Any, tmp_path: Path) -> None:
    fake.behaviour = "http403"
    engine = await start(start_engine, tmp_path, breaker_cooldown_s=0.3)
    await say(engine, "First.")
    await wait_for_state(engine, "half-open")
    probe = await say(engine, "Probe.")
    assert probe["backend"] == "piper"
    assert probe["skipped"] == [{"backend": "edge", "reason": "failed: http 403"}]
    breaker = (await edge_health(engine))["breaker"]  # (it may be half-open again by now)
    assert (breaker["cooldown_s"], breaker["times_opened"], breaker["consecutive_failures"]) == (0.6, 2, 2)


async def test_while_the_probe_is_out_other_lines_fall_back_at_once(
        fake: FakeEdge, start_engine: Any, tmp_path: Path) -> None:
    fake.behaviour = "no_audio"
    engine = await start(start_engine, tmp_path, breaker_failures=1, breaker_cooldown_s=0.3,
                         connect_timeout_s=30.0)
    await say(engine, "Nothing comes back.")
    await wait_for_state(engine, "half-open")
    fake.behaviour = "held"  # the probe waits at the service until the gate opens
    connections = fake.connections
    probe = asyncio.create_task(say(engine, "The probe is held."))
    deadline = time.monotonic() + 10
    while fake.connections == connections:  # the probe has reached the service
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    other = await say(engine, "Meanwhile another line.")
    assert other["backend"] == "piper"
    assert "a probe request is trying it" in other["skipped"][0]["reason"]
    assert not probe.done()
    fake.gate.set()
    done = await asyncio.wait_for(probe, 30)
    assert (done["backend"], done["skipped"]) == ("edge", [])
    assert (await edge_health(engine))["breaker"]["state"] == "closed"


async def test_repeated_soft_failures_open_the_breaker_at_the_threshold(
        fake: FakeEdge, start_engine: Any, tmp_path: Path) -> None:
    fake.behaviour = "no_audio"
    engine = await start(start_engine, tmp_path, breaker_failures=2)
    first = await say(engine, "One.")
    assert first["skipped"] == [{"backend": "edge", "reason": "failed: no audio"}]
    assert (await edge_health(engine))["breaker"]["state"] == "closed"
    await say(engine, "Two.")
    assert (await edge_health(engine))["breaker"]["state"] == "open"
    third = await say(engine, "Three.")
    assert third["skipped"][0]["reason"].startswith("breaker open (no audio")


async def test_a_stream_cut_after_audio_left_fails_the_line_without_repeating_it(
        fake: FakeEdge, start_engine: Any, tmp_path: Path) -> None:
    fake.behaviour = "close_mid_stream"
    engine = await start(start_engine, tmp_path, chunk_ms=100)
    body = {"text": "This line is cut off.", "format": "wav"}
    received = b""
    async with aiohttp.ClientSession() as http, http.post(f"{engine.url}/v1/synthesize",
                                                          json=body) as resp:
        assert resp.status == 200 and resp.headers["X-TTS-Backend"] == "edge"
        with pytest.raises(aiohttp.ClientPayloadError):  # cut, never ended as if complete
            async for chunk in resp.content.iter_any():
                received += chunk
    assert len(received) > 44  # the audio that had left before the cut
    job = await get(engine, f"/v1/jobs/{resp.headers['X-TTS-Request-Id']}")
    assert job["state"] == "failed" and "cut off" in job["error"]["message"]
    assert job["skipped"] == [{"backend": "edge", "reason": "failed: broken stream"}]
