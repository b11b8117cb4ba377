"""The disk tier of the audio cache: finished clips that survive restarts.

Backed by diskcache (SQLite index + files): it evicts least-recently-used clips beyond
``max_size_mb`` and expires clips past ``ttl_seconds``. A value is committed to the index only
after its file is fully written, and each clip carries a SHA-256 checked on read, so a crash
mid-write or a damaged file is never served: it reads as a miss and is deleted.

Faults never fail a request; they are kept in ``fault`` for ``/health``:
- a corrupt index (``cache.db`` that SQLite cannot read) is moved aside to ``cache.db.corrupt``
  and a fresh one started (``rebuild``); its clip files are then orphans, swept below;
- a failed write (disk full, read-only folder) is counted and reported until a write succeeds;
- ``sweep`` deletes files the index does not reference (left by a full disk, a crash or a
  rebuilt index), looking at no more than ``SWEEP_MAX_FILES`` per call.
All methods block: the caller runs them off the event loop.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_LOGGER = logging.getLogger(__name__)
DIGEST_BYTES = 32
INDEX = "cache.db"
SWEEP_MAX_FILES = 5_000
"""Files looked at per sweep; a larger folder is covered over several sweeps."""
SWEEP_GRACE_S = 120.0
"""A file younger than this may be a write in progress: never swept."""


def is_corrupt(exc: BaseException) -> bool:
    """SQLite cannot read the index (not a database, malformed), as opposed to a busy, locked or
    read-only database (``OperationalError``)."""
    return isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError)


@dataclass
class DiskStats:
    hits: int = 0
    misses: int = 0
    corrupt: int = 0
    write_errors: int = 0
    swept: int = 0
    rebuilt: int = 0


class ClipCache:
    """Clips of output PCM on disk. Opening raises ``OSError`` or ``sqlite3.Error`` when the
    folder cannot be used; a corrupt index is rebuilt instead."""

    def __init__(self, directory: Path, *, max_size_mb: float, ttl_seconds: int) -> None:
        self.directory = directory
        self.max_size_mb = max_size_mb
        self.ttl_seconds = ttl_seconds
        self.stats = DiskStats()
        self.fault: str | None = None
        """Why this tier is degraded now (``None``: healthy)."""
        self.repair: str | None = None
        """The last repair made (a corrupt index moved aside), for ``/health``."""
        self.needs_rebuild = False
        self._walk: Iterator[Path] | None = None
        try:
            self._cache = self._open()
        except sqlite3.DatabaseError as exc:
            if not is_corrupt(exc):
                raise
            self._cache = self._rebuild_index(exc)

    def _open(self) -> Any:
        import diskcache

        self.directory.mkdir(parents=True, exist_ok=True)
        return diskcache.Cache(str(self.directory), size_limit=int(self.max_size_mb * 2**20),
                               eviction_policy="least-recently-used", cull_limit=1)

    def _rebuild_index(self, exc: BaseException) -> Any:
        index = self.directory / INDEX
        for suffix in ("", "-wal", "-shm"):
            part = index.with_name(INDEX + suffix)
            if part.exists():
                part.replace(index.with_name(f"{INDEX}.corrupt{suffix}"))
        self.stats.rebuilt += 1
        self.repair = (f"the index was corrupt ({exc}); moved aside to {INDEX}.corrupt and "
                       "started empty; its clip files are swept as orphans")
        _LOGGER.warning("Audio cache index %s was corrupt (%s): moved aside to %s.corrupt, "
                        "starting with an empty cache", index, exc, INDEX)
        cache = self._open()
        self.needs_rebuild, self.fault = False, None
        return cache

    def rebuild(self) -> None:
        """Replace an index found corrupt while in use (``needs_rebuild``)."""
        try:
            self._cache.close()
        except Exception:  # a broken index may not even close cleanly
            _LOGGER.debug("Closing the corrupt cache index failed", exc_info=True)
        self._cache = self._rebuild_index(RuntimeError(self.fault or "corrupt"))

    def _broken(self, exc: BaseException, what: str) -> None:
        if is_corrupt(exc):
            if not self.needs_rebuild:
                _LOGGER.warning("Audio cache index is corrupt (%s); it will be rebuilt", exc)
            self.needs_rebuild = True
            self.fault = f"index corrupt ({exc}); rebuilding"
        else:
            _LOGGER.warning("Cache %s failed (%s); treating it as a miss", what, exc)

    def get_sync(self, key: str) -> bytes | None:
        if self.needs_rebuild:
            self.stats.misses += 1
            return None
        try:
            blob = self._cache.get(key, default=None, retry=True)
        except Exception as exc:  # a damaged index must not fail the request
            self._broken(exc, "read")
            blob = None
        if blob is None:
            self.stats.misses += 1
            return None
        pcm = bytes(blob[DIGEST_BYTES:])
        if hashlib.sha256(pcm).digest() != bytes(blob[:DIGEST_BYTES]):
            _LOGGER.warning("Cache entry %s failed its checksum; deleted", key[:12])
            self.stats.corrupt += 1
            self.stats.misses += 1
            try:
                self._cache.delete(key, retry=True)
            except Exception as exc:
                self._broken(exc, "delete")
            return None
        self.stats.hits += 1
        return pcm

    def put_sync(self, key: str, pcm: bytes) -> bool:
        if self.needs_rebuild:
            return False
        blob = hashlib.sha256(pcm).digest() + pcm
        try:
            self._cache.set(key, blob, expire=self.ttl_seconds or None, retry=True)
            if self._cache.volume() > self._cache.size_limit:
                self._cache.cull(retry=True)  # oldest-used first, until under the limit
        except Exception as exc:  # disk full, read-only folder, corrupt index
            self.stats.write_errors += 1
            if is_corrupt(exc):
                self._broken(exc, "write")
            else:
                if self.fault is None:
                    _LOGGER.warning("Cache write failed (%s); clips are served but not kept on "
                                    "disk until a write succeeds", exc)
                self.fault = f"write failed: {exc}"
            return False
        if self.fault is not None and not self.needs_rebuild:
            _LOGGER.info("Cache writes work again")
            self.fault = None
        return True

    def sweep(self, *, grace_s: float = SWEEP_GRACE_S, max_files: int = SWEEP_MAX_FILES) -> int:
        """Delete clip files the index does not reference (partial writes, orphans of a
        rebuilt index) and older than ``grace_s``; look at no more than ``max_files``, going on
        where the last sweep stopped. Returns the number deleted."""
        if self.needs_rebuild:
            return 0
        try:
            referenced = {row[0] for row in self._cache._sql(
                "SELECT filename FROM Cache WHERE filename IS NOT NULL")}
        except Exception as exc:
            self._broken(exc, "sweep")
            return 0
        deleted, now = 0, time.time()
        for _ in range(max_files):
            path = self._next_file()
            if path is None:
                break
            rel = path.relative_to(self.directory).as_posix()
            try:
                if rel in referenced or now - path.stat().st_mtime < grace_s:
                    continue
                path.unlink()
            except OSError:
                continue  # gone meanwhile, or a read-only folder: the fault says so already
            deleted += 1
        if deleted:
            self.stats.swept += deleted
            _LOGGER.info("Audio cache: deleted %d clip files the index did not reference", deleted)
        return deleted

    def _next_file(self) -> Path | None:
        """The next file under the clip folders (``ab/cd/*``), resuming across sweeps."""
        for _ in range(2):
            if self._walk is None:
                self._walk = self._files()
            path = next(self._walk, None)
            if path is not None:
                return path
            self._walk = None
        return None

    def _files(self) -> Iterator[Path]:
        for top, _dirs, files in os.walk(self.directory):
            if Path(top) == self.directory:
                continue  # the index lives at the top; clips two levels down
            for name in files:
                yield Path(top, name)

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
        out: dict[str, Any] = {"dir": str(self.directory), "hits": s.hits, "misses": s.misses,
                               "corrupt": s.corrupt, "write_errors": s.write_errors,
                               "swept": s.swept, "rebuilt": s.rebuilt, "repair": self.repair}
        try:
            out.update(entries=self.entries(), size_bytes=self.size_bytes())
        except Exception as exc:
            self._broken(exc, "status")
            out.update(entries=0, size_bytes=0)
        return out
