"""Cache faults, each on a real engine or a real cache folder: a full disk (a small tmpfs), a
read-only folder (a read-only bind mount), a corrupt index, stray and orphaned files. The engine
keeps serving, ``/health`` says why, and the cache repairs itself.

Mounting needs root (CAP_SYS_ADMIN): those tests say so and skip elsewhere; the same faults are
also injected at the tier (ENOSPC, EROFS), which runs anywhere."""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from engine.speech.cache import AudioCache
from engine.speech.cache_disk import INDEX, ClipCache
from engine.config import CacheConfig
from tests.conftest import RunningEngine

CLIP = os.urandom(96_000)
OLD = time.time() - 3600  # older than any sweep's grace period


def _mount(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["mount", *args], capture_output=True, timeout=10, check=False)


@contextmanager
def mounted(path: Path, *args: str) -> Iterator[None]:
    path.mkdir(parents=True, exist_ok=True)
    done = _mount(*args, str(path))
    if done.returncode != 0:
        pytest.skip(f"mount needs root (CAP_SYS_ADMIN): {done.stderr.decode(errors='replace')}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=10, check=False)


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` read-only for everyone, root included (a read-only bind mount over it)."""
    with mounted(path, "--bind", str(path)):
        done = _mount("-o", "remount,ro,bind", str(path))
        assert done.returncode == 0, done.stderr
        yield


async def say(engine: RunningEngine, text: str) -> bool:
    """Synthesize ``text``; asserts audio came back; returns whether it was a cache hit."""
    async with aiohttp.ClientSession() as http, http.post(
            f"{engine.url}/v1/synthesize", json={"text": text, "format": "pcm"}) as resp:
        assert resp.status == 200, await resp.text()
        assert len(await resp.read()) > 0
        return resp.headers["X-TTS-Cached"] == "true"


async def health(engine: RunningEngine) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"{engine.url}/health") as resp:
        assert resp.status == 200
        return (await resp.json())["cache"]  # type: ignore[no-any-return]


def clip_files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*.val")}


async def test_a_full_disk_keeps_serving_says_why_and_its_partial_files_are_swept(
        start_engine: Any, tmp_path: Path) -> None:
    folder = tmp_path / "small"
    with mounted(folder, "-t", "tmpfs", "-o", "size=400k", "tmpfs"):
        engine = await start_engine(performance={"cache": {"dir": str(folder)}})
        lines = [f"Line number {n} of a chat that fills the disk." for n in range(12)]
        for line in lines:
            assert not await say(engine, line)
            if (await health(engine))["write_errors"]:
                break
        cache = await health(engine)
        assert cache["write_errors"] >= 1 and cache["state"] == "degraded"
        assert "No space left on device" in cache["reason"] or "disk is full" in cache["reason"]
        assert await say(engine, line)  # the clip that did not fit is still a hit from memory
        for path in clip_files(folder):
            os.utime(path, (OLD, OLD))
        await engine.engine.cache.check()
        assert (await health(engine))["disk"]["swept"] >= 1  # the partial write is gone
        disk = engine.engine.cache.disk
        assert disk is not None and all(disk.get_sync(k) is not None for k in _indexed(disk))


def _indexed(disk: ClipCache) -> list[str]:
    return [row[0] for row in disk._cache._sql("SELECT key FROM Cache")]


async def test_a_read_only_folder_keeps_serving_and_recovers(start_engine: Any, tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    engine = await start_engine(performance={"cache": {"dir": str(folder)}})
    assert not await say(engine, "Written before the folder turns read-only.")
    with read_only(folder):
        assert not await say(engine, "A new line while the folder is read-only.")
        cache = await health(engine)
        assert cache["state"] == "degraded" and cache["reason"].startswith("disk: write failed")
        assert await say(engine, "Written before the folder turns read-only.")
        assert await say(engine, "A new line while the folder is read-only.")  # from memory
    assert not await say(engine, "A line once the folder is writable again.")
    assert (await health(engine))["state"] == "ok"


async def test_a_cache_that_cannot_open_is_retried_and_opens_later(
        start_engine: Any, tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    folder.mkdir()
    with read_only(folder):
        engine = await start_engine(performance={"cache": {"dir": str(folder)}})
        cache = await health(engine)
        assert cache["state"] == "degraded" and cache["disk"]["state"] == "closed"
        assert cache["reason"].startswith(f"disk: cannot open {folder}")
        assert "retried every 60 s" in cache["reason"]
        assert not await say(engine, "Spoken without a disk cache.")
        assert await say(engine, "Spoken without a disk cache.")  # the memory tier still works
        await engine.engine.cache.check()  # still read-only: still closed, same reason
        assert (await health(engine))["disk"]["state"] == "closed"
    await engine.engine.cache.check()  # what the periodic check does
    cache = await health(engine)
    assert (cache["state"], cache["reason"]) == ("ok", None) and (folder / INDEX).exists()


async def test_no_tier_left_is_disabled_with_the_reason(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    folder.mkdir()
    with read_only(folder):
        cache = AudioCache(CacheConfig(dir=str(folder), memory_mb=0), folder)
        await cache.open()
        try:
            await cache.put("k", CLIP)
            assert await cache.get("k") is None
            status = cache.status()
            assert status["state"] == "disabled" and status["reason"].startswith("disk: cannot open")
        finally:
            await cache.close()


async def test_a_corrupt_index_is_moved_aside_and_rebuilt_once_with_orphans_swept(
        start_engine: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "cache"
    disk = ClipCache(folder, max_size_mb=10, ttl_seconds=0)
    for n in range(3):
        disk.put_sync(f"k{n}", CLIP)
    disk.close()
    old_files = clip_files(folder)
    assert len(old_files) == 3
    for path in old_files:
        os.utime(path, (OLD, OLD))
    (folder / INDEX).write_bytes(os.urandom(8192))  # garbage where the index was
    caplog.set_level(logging.WARNING, logger="engine.speech.cache_disk")
    engine = await start_engine(performance={"cache": {"dir": str(folder)}})
    cache = await health(engine)
    assert cache["state"] == "ok" and cache["disk"]["rebuilt"] == 1
    assert cache["disk"]["repair"].startswith("the index was corrupt (file is not a database)")
    assert (folder / f"{INDEX}.corrupt").exists()
    assert cache["disk"]["swept"] == 3 and not any(p.exists() for p in old_files)
    assert len([r for r in caplog.records if "corrupt" in r.getMessage()]) == 1
    assert not await say(engine, "Cached in the new index.")
    assert await say(engine, "Cached in the new index.")


async def test_an_index_found_corrupt_while_running_is_rebuilt(tmp_path: Path) -> None:
    cache = AudioCache(CacheConfig(dir=str(tmp_path), memory_mb=0), tmp_path)
    await cache.open()
    try:
        await cache.put("a", CLIP)
        with (tmp_path / INDEX).open("r+b") as f:
            f.write(os.urandom(4096))  # the header page too: SQLite cannot read it any more
        got: list[bytes | None] = []
        reader = threading.Thread(target=lambda: got.append(cache.disk.get_sync("a")))  # type: ignore[union-attr]
        reader.start()  # a new thread: a new connection that reads the damaged header
        reader.join(timeout=10)
        assert got == [None] and cache.disk is not None and cache.disk.needs_rebuild
        assert cache.status()["reason"].startswith("disk: index corrupt")
        assert await cache.get("a") is None  # a miss, not an error, until rebuilt
        await cache.check()
        assert not cache.disk.needs_rebuild and cache.status()["state"] == "ok"
        await cache.put("a", CLIP)
        assert await cache.get("a") == CLIP
    finally:
        await cache.close()


def test_stray_files_are_swept_in_bounded_rounds_and_young_ones_kept(tmp_path: Path) -> None:
    disk = ClipCache(tmp_path, max_size_mb=10, ttl_seconds=0)
    disk.put_sync("kept", CLIP)
    [kept] = clip_files(tmp_path)
    stray = [tmp_path / "ab" / "cd" / f"stray{n}.val" for n in range(3)]
    for path in stray:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(CLIP[:1000])  # what a full disk leaves: a partial, unreferenced file
        os.utime(path, (OLD, OLD))
    os.utime(kept, (OLD, OLD))
    young = tmp_path / "ab" / "cd" / "in-progress.val"
    young.write_bytes(b"being written")
    swept = [disk.sweep(max_files=2) for _ in range(4)]
    assert sum(swept) == 3 and max(swept) <= 2
    assert not any(p.exists() for p in stray) and young.exists() and kept.exists()
    assert disk.get_sync("kept") == CLIP and disk.stats.swept == 3
    disk.close()


def test_injected_disk_faults_are_reported_until_a_write_succeeds(tmp_path: Path) -> None:
    """The same faults without mounting: a writer that fails as a full or read-only disk does."""
    disk = ClipCache(tmp_path, max_size_mb=10, ttl_seconds=0)
    real = disk._cache

    class FailingDisk:
        def __init__(self, code: int) -> None:
            self.code = code

        def set(self, *args: object, **kwargs: object) -> None:
            raise OSError(self.code, os.strerror(self.code))

    for code in (errno.ENOSPC, errno.EROFS):
        disk._cache = FailingDisk(code)
        assert disk.put_sync("k", CLIP) is False
        assert disk.fault == f"write failed: [Errno {code}] {os.strerror(code)}"
    assert disk.stats.write_errors == 2
    disk._cache = real
    assert disk.put_sync("k", CLIP) and disk.fault is None
    disk.close()
