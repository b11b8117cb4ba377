"""The audio cache: finished clips on disk, keyed by everything that shapes the audio.

Backed by diskcache (SQLite index + files): it survives restarts, evicts least-recently-used
clips beyond ``max_size_mb`` and expires clips past ``ttl_seconds``. A value is committed to the
index only after its file is fully written, and each clip carries a SHA-256 checked on read, so
a crash mid-write or a damaged file is never served: it reads as a miss and is deleted.
A full disk or a broken cache folder degrades to "no cache" with a warning, never a failed request.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .audio import FORMAT_ID

_LOGGER = logging.getLogger(__name__)
_DIGEST = 32


def cache_key(*, text: str, backend: str, voice: str, identity: str,
              params: dict[str, Any] | None = None) -> str:
    """Content key of a clip: normalized text, backend, voice, model identity, synthesis
    parameters and output format."""
    blob = json.dumps({"t": text, "b": backend, "v": voice, "m": identity, "p": params or {},
                       "f": FORMAT_ID}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    corrupt: int = 0
    write_errors: int = 0

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class ClipCache:
    """Finished clips of output PCM. Methods run the disk work off the event loop."""

    def __init__(self, directory: Path, *, max_size_mb: float, ttl_seconds: int) -> None:
        import diskcache

        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.ttl_seconds = ttl_seconds
        self.stats = CacheStats()
        self._cache = diskcache.Cache(
            str(directory), size_limit=int(max_size_mb * 2**20),
            eviction_policy="least-recently-used", cull_limit=1)

    async def get(self, key: str) -> bytes | None:
        return await asyncio.to_thread(self.get_sync, key)

    def get_sync(self, key: str) -> bytes | None:
        try:
            blob = self._cache.get(key, default=None, retry=True)
        except Exception as exc:  # a damaged index must not fail the request
            _LOGGER.warning("Cache read failed (%s); treating as a miss", exc)
            blob = None
        if blob is None:
            self.stats.misses += 1
            return None
        pcm = bytes(blob[_DIGEST:])
        if hashlib.sha256(pcm).digest() != bytes(blob[:_DIGEST]):
            _LOGGER.warning("Cache entry %s failed its checksum; deleted", key[:12])
            self.stats.corrupt += 1
            self.stats.misses += 1
            self._cache.delete(key)
            return None
        self.stats.hits += 1
        return pcm

    async def put(self, key: str, pcm: bytes) -> bool:
        return await asyncio.to_thread(self.put_sync, key, pcm)

    def put_sync(self, key: str, pcm: bytes) -> bool:
        blob = hashlib.sha256(pcm).digest() + pcm
        try:
            self._cache.set(key, blob, expire=self.ttl_seconds or None, retry=True)
            if self._cache.volume() > self._cache.size_limit:
                self._cache.cull(retry=True)  # oldest-used first, until under the limit
            return True
        except Exception as exc:  # disk full, read-only folder, ...
            self.stats.write_errors += 1
            _LOGGER.warning("Cache write failed (%s); the clip was served but not cached", exc)
            return False

    def size_bytes(self) -> int:
        return int(self._cache.volume())

    def entries(self) -> int:
        return len(self._cache)

    def expire(self) -> int:
        """Drop expired clips now (they are never served either way)."""
        return int(self._cache.expire())

    def close(self) -> None:
        self._cache.close()

    def status(self) -> dict[str, Any]:
        s = self.stats
        return {"enabled": True, "dir": str(self.directory), "hits": s.hits, "misses": s.misses,
                "hit_rate": round(s.hit_rate, 4), "corrupt": s.corrupt, "write_errors": s.write_errors,
                "entries": self.entries(), "size_bytes": self.size_bytes()}
