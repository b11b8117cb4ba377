"""The shared Redis tier against a real ``redis-server`` on loopback (tests/redis_server.py):
a clip made by one engine is a hit on another, a damaged value is a miss and is replaced, and
Redis down or unreachable never fails a request nor blocks the event loop."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis

from engine.speech.cache_redis import PREFIX, RedisTier, redacted
from tests.conftest import RunningEngine, make_config, running_engine
from tests.edge_fake import blackhole
from tests.redis_server import RedisServer

CLIP = bytes(range(256)) * 400


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    srv = RedisServer(tmp_path / "redis").start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
async def engines(tmp_path: Path, server: RedisServer) -> AsyncIterator[list[RunningEngine]]:
    """Two engines sharing the Redis, each with its own cache folder (and memory)."""
    async with AsyncExitStack() as stack:
        out = []
        for name in ("a", "b"):
            cfg = make_config(tmp_path / name, performance={"cache": {
                "dir": str(tmp_path / name / "cache"), "redis_url": server.url}})
            out.append(await stack.enter_async_context(running_engine(cfg)))
        yield out


async def say(engine: RunningEngine, text: str) -> tuple[bool, bytes]:
    """POST /v1/synthesize as raw PCM: (served from a cache, the audio)."""
    async with aiohttp.ClientSession() as http, http.post(
            f"{engine.url}/v1/synthesize", json={"text": text, "format": "pcm"}) as resp:
        assert resp.status == 200, await resp.text()
        return resp.headers["X-TTS-Cached"] == "true", await resp.read()


async def cache_health(engine: RunningEngine) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"{engine.url}/health") as resp:
        assert resp.status == 200
        return (await resp.json())["cache"]  # type: ignore[no-any-return]


def clip_values(server: RedisServer) -> dict[bytes, bytes]:
    client = redis.Redis.from_url(server.url, socket_timeout=2)
    try:
        out = {}
        for k in client.scan_iter(match=PREFIX + "*"):
            value = client.get(k)
            assert isinstance(k, bytes) and isinstance(value, bytes)
            out[k] = value
        return out
    finally:
        client.close()


async def test_a_line_synthesized_by_one_engine_is_a_hit_on_another(
        engines: list[RunningEngine], server: RedisServer) -> None:
    a, b = engines
    cached, audio = await say(a, "Thanks for the raid, everyone!")
    assert not cached and audio
    [value] = clip_values(server).values()
    assert value[:32] == hashlib.sha256(value[32:]).digest() and value[32:] == audio
    cached_b, audio_b = await say(b, "Thanks for the raid, everyone!")
    assert cached_b and audio_b == audio
    health = await cache_health(b)
    assert health["redis"]["hits"] == 1 and health["state"] == "ok"
    assert health["disk"]["entries"] == 1  # B keeps its own copy for restarts
    assert (await say(b, "Thanks for the raid, everyone!"))[0]  # now from B's memory
    assert (await cache_health(b))["redis"]["hits"] == 1


async def test_a_damaged_value_in_redis_is_a_miss_deleted_then_made_again(
        engines: list[RunningEngine], server: RedisServer) -> None:
    a, b = engines
    _, audio = await say(a, "Welcome to the stream.")
    client = redis.Redis.from_url(server.url, socket_timeout=2)
    try:
        [(key, value)] = clip_values(server).items()
        client.set(key, value[:32] + bytes([value[32] ^ 0xFF]) + value[33:])  # one flipped byte
        cached, again = await say(b, "Welcome to the stream.")
        assert not cached and len(again) == len(audio)  # B synthesized it
        health = await cache_health(b)
        assert health["redis"]["corrupt"] == 1 and health["corrupt"] == 1
        fixed = client.get(key)  # the damaged value was deleted, and B's clip stored instead
        assert isinstance(fixed, bytes) and fixed[:32] == hashlib.sha256(fixed[32:]).digest()
    finally:
        client.close()


async def test_redis_down_is_degraded_never_a_failed_request(
        engines: list[RunningEngine], server: RedisServer) -> None:
    a, _ = engines
    await say(a, "First line.")
    server.stop()
    started = time.monotonic()
    cached, audio = await say(a, "Second line, with Redis gone.")
    assert not cached and audio and time.monotonic() - started < 10
    health = await cache_health(a)
    assert health["state"] == "degraded"
    assert health["reason"].startswith(f"redis at redis://127.0.0.1:{server.port}/0 unreachable")
    assert "local tiers" in health["reason"]
    assert (await say(a, "Second line, with Redis gone."))[0]  # the local tiers still hit
    server.start()  # back on the same port: the periodic check clears the fault
    await a.engine.cache.check()
    health = await cache_health(a)
    assert (health["state"], health["reason"]) == ("ok", None)


async def test_an_unreachable_redis_never_blocks_the_event_loop() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    with blackhole() as port:  # connects never complete: a true timeout
        tier = RedisTier(f"redis://127.0.0.1:{port}/0", ttl_seconds=60, timeout_s=0.3)
        task = asyncio.create_task(ticker())
        started = time.monotonic()
        try:
            assert await tier.get("k") is None
            elapsed = time.monotonic() - started
            assert await tier.put("k", CLIP) is False  # resting: answered at once
            assert time.monotonic() - started - elapsed < 0.05
        finally:
            task.cancel()
            await tier.close()
    assert 0.25 < elapsed < 1.5 and ticks >= 10  # the loop ran all along
    assert tier.fault is not None and "TimeoutError" in tier.fault


async def test_values_carry_the_checksum_and_ttl(server: RedisServer) -> None:
    tier = RedisTier(server.url, ttl_seconds=60, timeout_s=1)
    try:
        assert await tier.put("k", CLIP)
        assert await tier.get("k") == CLIP
        client = redis.Redis.from_url(server.url, socket_timeout=2)
        try:
            assert 0 < client.ttl(PREFIX + "k") <= 60
            client.set(PREFIX + "short", b"x")  # shorter than a digest: damaged too
        finally:
            client.close()
        assert await tier.get("short") is None and tier.stats.corrupt == 1
    finally:
        await tier.close()


def test_the_url_is_shown_without_its_password() -> None:
    assert redacted("redis://user:s3cret@10.0.0.5:6380/2") == "redis://10.0.0.5:6380/2"
    assert "s3cret" not in redacted("rediss://:s3cret@cache.example/0")
