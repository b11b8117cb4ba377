"""The audio cache: finished clips keyed by everything that shapes the audio, in three tiers.

1. memory (``cache_memory``): hot clips, verified once on the way in, served as the stored
   ``bytes`` object;
2. disk (``cache_disk``): survives restarts, SHA-256 checked on read;
3. Redis (``cache_redis``, when ``redis_url`` is set): shared by several engines, same check.

A lookup goes down the tiers and copies a hit into the tiers above it; a new clip goes into all.
No fault of any tier fails a request: it is a miss, and ``status()`` says why (``state`` ok,
degraded or disabled, with ``reason``). A disk tier that could not open is retried every
``check_interval_s``, when stray clip files are also swept and a corrupt index rebuilt.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..audio import FORMAT_ID
from .cache_disk import ClipCache
from .cache_memory import MemoryTier
from .cache_redis import RedisTier
from ..config import CacheConfig

_LOGGER = logging.getLogger(__name__)
DISABLED = {"enabled": False, "state": "disabled",
            "reason": "performance.cache.enabled is false in config.yaml"}
"""``status()`` of an engine without a cache."""


def cache_key(*, text: str, backend: str, voice: str, identity: str,
              params: dict[str, Any] | None = None) -> str:
    """Content key of a clip: normalized text, backend, voice, model identity, synthesis
    parameters and output format."""
    blob = json.dumps({"t": text, "b": backend, "v": voice, "m": identity, "p": params or {},
                       "f": FORMAT_ID}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass
class CacheStats:
    """Lookups over all tiers: a hit in any tier is one hit."""

    hits: int = 0
    misses: int = 0

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class AudioCache:
    """The tiers behind one ``get``/``put``. Call ``open()`` once on the event loop."""

    def __init__(self, config: CacheConfig, directory: Path) -> None:
        self.config = config
        self.directory = directory
        self.stats = CacheStats()
        self.memory = MemoryTier(max_bytes=int(config.memory_mb * 2**20))
        self.disk: ClipCache | None = None
        self.disk_fault: str | None = None
        """Why the disk tier is not open (``None`` once it is)."""
        self.redis = (RedisTier(config.redis_url, ttl_seconds=config.ttl_seconds,
                                timeout_s=config.redis_timeout_s) if config.redis_url else None)
        self._wake = asyncio.Event()
        self._checking = asyncio.Lock()
        """One round of upkeep at a time (the periodic one and any caller's)."""
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Open the disk tier (a failure is reported and retried later, never raised) and
        start the periodic check."""
        await self._open_disk()
        self._task = asyncio.create_task(self._check_forever())

    async def _open_disk(self) -> None:
        cfg = self.config
        try:
            disk = await asyncio.to_thread(ClipCache, self.directory, max_size_mb=cfg.max_size_mb,
                                           ttl_seconds=cfg.ttl_seconds)
        except Exception as exc:  # unwritable or read-only folder, full disk, ...
            fault = f"cannot open {self.directory} ({exc}); retried every {cfg.check_interval_s:g} s"
            if fault != self.disk_fault:
                _LOGGER.error("Audio cache on disk unavailable: %s", fault)
            self.disk_fault = fault
            return
        if self.disk_fault is not None:
            _LOGGER.info("Audio cache on disk opened at %s", self.directory)
        self.disk, self.disk_fault = disk, None
        await asyncio.to_thread(disk.sweep)

    async def check(self) -> None:
        """One round of upkeep: open a disk tier that failed, rebuild a corrupt index, sweep
        stray files and expired clips (bounded), and ask a failing Redis again."""
        async with self._checking:
            await self._check()

    async def _check(self) -> None:
        disk = self.disk
        if disk is None:
            await self._open_disk()
        elif disk.needs_rebuild:
            await asyncio.to_thread(disk.rebuild)
            await asyncio.to_thread(disk.sweep)
        else:
            await asyncio.to_thread(disk.sweep)
            await asyncio.to_thread(disk.expire)
        if self.redis is not None and self.redis.fault is not None:
            await self.redis.ping()

    async def _check_forever(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.check_interval_s)
            self._wake.clear()
            try:
                await self.check()
            except Exception:  # upkeep must never stop for good
                _LOGGER.exception("Audio cache upkeep failed")

    async def get(self, key: str) -> bytes | None:
        """The clip, or ``None``. A memory hit is returned without awaiting anything."""
        pcm = self.memory.get(key)
        if pcm is None:
            pcm = await self._get_below(key)
        if pcm is None:
            self.stats.misses += 1
        else:
            self.stats.hits += 1
        return pcm

    async def _get_below(self, key: str) -> bytes | None:
        disk = self.disk
        if disk is not None:
            pcm = await asyncio.to_thread(disk.get_sync, key)
            if disk.needs_rebuild:
                self._wake.set()
            if pcm is not None:
                self.memory.put(key, pcm)
                return pcm
        if self.redis is not None:
            pcm = await self.redis.get(key)
            if pcm is not None:
                self.memory.put(key, pcm)
                if disk is not None:
                    await asyncio.to_thread(disk.put_sync, key, pcm)
                return pcm
        return None

    async def put(self, key: str, pcm: bytes) -> None:
        """Keep a new clip in every tier (disk and Redis at once); faults are only reported."""
        self.memory.put(key, pcm)
        writes: list[Any] = []
        if self.disk is not None:
            writes.append(asyncio.to_thread(self.disk.put_sync, key, pcm))
        if self.redis is not None:
            writes.append(self.redis.put(key, pcm))
        await asyncio.gather(*writes)
        if self.disk is not None and self.disk.needs_rebuild:
            self._wake.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.disk is not None:
            self.disk.close()
        if self.redis is not None:
            await self.redis.close()

    def faults(self) -> list[str]:
        out = []
        if self.disk_fault is not None:
            out.append(f"disk: {self.disk_fault}")
        elif self.disk is not None and self.disk.fault is not None:
            out.append(f"disk: {self.disk.fault}")
        if self.redis is not None and self.redis.fault is not None:
            out.append(self.redis.fault)
        return out

    def status(self) -> dict[str, Any]:
        faults = self.faults()
        disk = self.disk.status() if self.disk is not None else None
        s = self.stats
        state = "degraded" if faults else "ok"
        if disk is None and self.memory.max_bytes == 0 and self.redis is None:
            state = "disabled"  # no tier can hold a clip: every lookup is a miss
        return {
            "enabled": True, "state": state,
            "reason": "; ".join(faults) or None,
            "dir": str(self.directory), "hits": s.hits, "misses": s.misses,
            "hit_rate": round(s.hit_rate, 4),
            "corrupt": (disk or {}).get("corrupt", 0) + (self.redis.stats.corrupt if self.redis else 0),
            "write_errors": (disk or {}).get("write_errors", 0),
            "entries": disk["entries"] if disk else len(self.memory),
            "size_bytes": disk["size_bytes"] if disk else self.memory.size_bytes,
            "memory": self.memory.status(), "disk": disk or {"state": "closed",
                                                               "reason": self.disk_fault},
            "redis": self.redis.status() if self.redis is not None else None,
        }
