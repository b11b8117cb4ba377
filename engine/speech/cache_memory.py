"""The memory tier of the audio cache: hot clips as ``bytes``, least recently used dropped first.

A clip lands here only after it was made or verified: a fresh synthesis, or a disk or Redis
value whose SHA-256 matched. So a hit is a dictionary lookup that hands back the very ``bytes``
object stored (no check, no copy). Used from the event loop only (no locks).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class MemoryStats:
    hits: int = 0
    misses: int = 0
    evicted: int = 0


class MemoryTier:
    """At most ``max_bytes`` of clips (0: the tier holds nothing)."""

    def __init__(self, *, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.stats = MemoryStats()
        self._clips: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0

    def get(self, key: str) -> bytes | None:
        pcm = self._clips.get(key)
        if pcm is None:
            self.stats.misses += 1
            return None
        self._clips.move_to_end(key)
        self.stats.hits += 1
        return pcm

    def put(self, key: str, pcm: bytes) -> None:
        """Keep ``pcm`` (a verified clip). A clip larger than the whole tier is not kept."""
        if len(pcm) > self.max_bytes:
            return
        old = self._clips.pop(key, None)
        if old is not None:
            self._size -= len(old)
        self._clips[key] = pcm
        self._size += len(pcm)
        while self._size > self.max_bytes:
            _, dropped = self._clips.popitem(last=False)
            self._size -= len(dropped)
            self.stats.evicted += 1

    def discard(self, key: str) -> None:
        old = self._clips.pop(key, None)
        if old is not None:
            self._size -= len(old)

    @property
    def size_bytes(self) -> int:
        return self._size

    def __len__(self) -> int:
        return len(self._clips)

    def status(self) -> dict[str, int]:
        return {"entries": len(self._clips), "size_bytes": self._size, "max_bytes": self.max_bytes,
                "hits": self.stats.hits, "evicted": self.stats.evicted}
