"""The clip cache: content keys, the disk tier (LRU by size, TTL, crash safety, stats) and the
memory tier (LRU by MiB, the stored object served). Faults: test_cache_faults.py; Redis:
test_cache_redis.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from engine.speech.cache import AudioCache, cache_key
from engine.speech.cache_disk import ClipCache
from engine.speech.cache_memory import MemoryTier
from engine.config import CacheConfig
from tests.edge_fake import edge_url, point_edge_tts_at, refusing_port

CLIP = os.urandom(96_000)  # one second of output PCM


def key(text: str, **kw: str) -> str:
    base: dict[str, Any] = {"backend": "piper", "voice": "v", "identity": "model-1"}
    base.update(kw)
    return cache_key(text=text, **base)


def test_key_covers_everything_that_shapes_the_audio() -> None:
    keys = {key("hi"), key("hi", backend="edge"), key("hi", voice="w"), key("hi", identity="model-2"),
            cache_key(text="hi", backend="piper", voice="v", identity="model-1", params={"rate": 1})}
    assert len(keys) == 5
    assert key("hi") == key("hi")


def test_put_get_survives_a_restart_and_counts(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path, max_size_mb=10, ttl_seconds=0)
    assert cache.get_sync(key("a")) is None
    assert cache.put_sync(key("a"), CLIP)
    assert cache.get_sync(key("a")) == CLIP
    cache.close()
    reopened = ClipCache(tmp_path, max_size_mb=10, ttl_seconds=0)
    assert reopened.get_sync(key("a")) == CLIP
    status = reopened.status()
    assert status["hits"] == 1 and status["entries"] == 1 and status["size_bytes"] >= len(CLIP)
    assert cache.stats.misses == 1 and cache.stats.hits == 1


def test_least_recently_used_clips_are_evicted_beyond_the_size_limit(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path, max_size_mb=0.5, ttl_seconds=0)  # room for about five clips
    for i in range(5):
        cache.put_sync(key(f"clip {i}"), CLIP)
    assert cache.get_sync(key("clip 0")) == CLIP  # touch the oldest: now most recently used
    for i in range(5, 12):
        cache.put_sync(key(f"clip {i}"), CLIP)
    assert cache.size_bytes() <= 0.5 * 2**20 + len(CLIP) + 64
    assert cache.get_sync(key("clip 1")) is None  # untouched old clip went first
    assert cache.get_sync(key("clip 11")) == CLIP


def test_expired_clips_are_not_served(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path, max_size_mb=10, ttl_seconds=1)
    cache.put_sync(key("old"), CLIP)
    time.sleep(1.2)
    assert cache.get_sync(key("old")) is None
    assert cache.expire() >= 0 and cache.entries() == 0


def test_a_damaged_clip_file_reads_as_a_miss_and_is_deleted(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path, max_size_mb=10, ttl_seconds=0)
    cache.put_sync(key("x"), CLIP)
    files = [p for p in tmp_path.rglob("*.val")]
    assert files, "diskcache stores large clips as files"
    with files[0].open("r+b") as f:
        f.truncate(len(CLIP) // 2)  # what a crash or a full disk could leave
    assert cache.get_sync(key("x")) is None
    assert cache.stats.corrupt == 1 and cache.entries() == 0


def test_a_kill_in_the_middle_of_writes_never_leaves_a_truncated_clip(tmp_path: Path) -> None:
    script = f"""
import os, sys
sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})
from engine.speech.cache import cache_key
from engine.speech.cache_disk import ClipCache
cache = ClipCache(__import__('pathlib').Path({str(tmp_path)!r}), max_size_mb=100, ttl_seconds=0)
print('ready', flush=True)
i = 0
while True:
    cache.put_sync(cache_key(text=str(i), backend='b', voice='v', identity='m'), os.urandom(400_000))
    i += 1
"""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    time.sleep(0.7)
    proc.kill()
    proc.wait(timeout=10)
    cache = ClipCache(tmp_path, max_size_mb=100, ttl_seconds=0)
    served = 0
    for i in range(cache.entries() + 5):
        clip = cache.get_sync(cache_key(text=str(i), backend="b", voice="v", identity="m"))
        if clip is not None:
            assert len(clip) == 400_000
            served += 1
    assert served >= 1


def test_the_memory_tier_serves_the_stored_object_and_drops_the_least_recently_used() -> None:
    tier = MemoryTier(max_bytes=3 * len(CLIP))
    clips = {f"k{i}": os.urandom(len(CLIP)) for i in range(4)}
    for k in ("k0", "k1", "k2"):
        tier.put(k, clips[k])
    assert tier.get("k0") is clips["k0"]  # no copy; and k0 is now the most recently used
    tier.put("k3", clips["k3"])
    assert tier.get("k1") is None and tier.get("k0") is clips["k0"]
    assert len(tier) == 3 and tier.size_bytes == 3 * len(CLIP) and tier.stats.evicted == 1
    tier.put("huge", os.urandom(4 * len(CLIP)))  # larger than the whole tier: not kept
    assert tier.get("huge") is None and len(tier) == 3


async def test_tiers_a_disk_hit_is_verified_once_then_served_from_memory(tmp_path: Path) -> None:
    cfg = CacheConfig(dir=str(tmp_path), memory_mb=1)
    cache = AudioCache(cfg, tmp_path)
    await cache.open()
    await cache.put(key("a"), CLIP)
    await cache.close()
    again = AudioCache(cfg, tmp_path)  # a restart: memory is empty, disk has the clip
    await again.open()
    try:
        first = await again.get(key("a"))
        assert first == CLIP and again.disk is not None and again.disk.stats.hits == 1
        second = await again.get(key("a"))
        assert second is first  # from memory: the disk was not read (or checked) again
        assert again.disk.stats.hits == 1 and again.memory.stats.hits == 1
        assert await again.get(key("b")) is None
        status = again.status()
        assert (status["state"], status["reason"], status["hits"], status["misses"]) == ("ok", None, 2, 1)
        assert status["memory"]["entries"] == 1 and status["entries"] == 1
    finally:
        await again.close()


async def test_with_edge_down_a_repeated_chat_line_is_a_hit_on_the_backend_that_serves(
        start_engine: Any) -> None:
    """Chat routed to Edge, Edge down (its breaker opens), Piper serving: the lookup uses the
    key of the backend that will actually serve, so the repeat is a cache hit."""
    with refusing_port() as port, point_edge_tts_at(edge_url(port)):
        engine = await start_engine(tts={
            "primary_backend": "piper", "routing": {"chat": "edge"},
            "backends": {"edge": {"enabled": True, "connect_timeout_s": 1.0}}})
        seen = [await _say(engine, "Is the stream offline?") for _ in range(3)]
    assert [(s["backend"], s["cached"]) for s in seen] == [
        ("piper", "false"), ("piper", "true"), ("piper", "true")]
    assert seen[0]["skipped"] == [{"backend": "edge", "reason": "failed: connect refused"}]
    [skip] = seen[1]["skipped"]  # the hit says why Edge did not serve, as a synthesis would
    assert skip["backend"] == "edge" and skip["reason"].startswith("breaker open")
    assert seen[1]["audio"] == seen[0]["audio"]


async def _say(engine: Any, text: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.post(
            f"{engine.url}/v1/synthesize", json={"text": text, "format": "pcm"}) as resp:
        assert resp.status == 200, await resp.text()
        return {"backend": resp.headers["X-TTS-Backend"], "cached": resp.headers["X-TTS-Cached"],
                "skipped": json.loads(resp.headers["X-TTS-Skipped"]), "audio": await resp.read()}
