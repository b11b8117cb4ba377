"""The shared tier of the audio cache: clips in a Redis that several engines use.

Each value is the clip's SHA-256 followed by the PCM, as on disk: a value that fails the check
is a miss and is deleted. Every call is ``redis.asyncio`` with ``redis_timeout_s`` for connect
and reply and no retries, so the event loop never blocks and a request never waits long. A
failed call is a miss; the tier then rests for ``REST_S`` (every call a miss at once) and
``fault`` says why in ``/health`` until a call succeeds again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .cache_disk import DIGEST_BYTES

_LOGGER = logging.getLogger(__name__)
PREFIX = "streamer-tts:clip:"
REST_S = 5.0
"""After a failed call, Redis is not asked again for this long."""


def redacted(url: str) -> str:
    """``scheme://host:port/db`` without any user name or password (never logged)."""
    parts = urlsplit(url)
    host = parts.hostname or parts.path or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path if parts.hostname else ''}"


@dataclass
class RedisStats:
    hits: int = 0
    misses: int = 0
    corrupt: int = 0
    errors: int = 0


class RedisTier:
    def __init__(self, url: str, *, ttl_seconds: int, timeout_s: float) -> None:
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self.where = redacted(url)
        self.ttl_seconds = ttl_seconds
        self.timeout_s = timeout_s
        self.stats = RedisStats()
        self.fault: str | None = None
        self._resting_until = 0.0
        self._client: Any = aioredis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0), health_check_interval=0)

    def _resting(self) -> bool:
        return time.monotonic() < self._resting_until

    def _failed(self, exc: BaseException) -> None:
        self.stats.errors += 1
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if self.fault is None:
            _LOGGER.warning("Redis cache at %s failed (%s); using the local cache only for now",
                            self.where, reason)
        self.fault = f"redis at {self.where} unreachable ({reason}); using the local tiers"
        self._resting_until = time.monotonic() + REST_S

    def _ok(self) -> None:
        if self.fault is not None:
            _LOGGER.info("Redis cache at %s works again", self.where)
            self.fault = None

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> tuple[bool, Any]:
        """``(True, reply)``, or ``(False, None)`` when Redis failed or is resting."""
        if self._resting():
            return False, None
        from redis.exceptions import RedisError

        try:
            reply = await asyncio.wait_for(getattr(self._client, method)(*args, **kwargs),
                                           self.timeout_s * 2)
        except (RedisError, OSError, asyncio.TimeoutError) as exc:
            self._failed(exc)
            return False, None
        self._ok()
        return True, reply

    async def get(self, key: str) -> bytes | None:
        ok, blob = await self._call("get", PREFIX + key)
        if not ok or blob is None:
            self.stats.misses += 1
            return None
        pcm = blob[DIGEST_BYTES:]
        if len(blob) < DIGEST_BYTES or hashlib.sha256(pcm).digest() != blob[:DIGEST_BYTES]:
            _LOGGER.warning("Redis cache entry %s failed its checksum; deleted", key[:12])
            self.stats.corrupt += 1
            self.stats.misses += 1
            await self._call("delete", PREFIX + key)
            return None
        self.stats.hits += 1
        return bytes(pcm)

    async def put(self, key: str, pcm: bytes) -> bool:
        blob = hashlib.sha256(pcm).digest() + pcm
        ok, _ = await self._call("set", PREFIX + key, blob, ex=self.ttl_seconds or None)
        return ok

    async def ping(self) -> bool:
        """Ask Redis now, even while resting (the periodic check clears a stale fault)."""
        self._resting_until = 0.0
        ok, _ = await self._call("ping")
        return ok

    async def close(self) -> None:
        try:
            await self._client.aclose()
        except Exception:  # closing a dead connection must not fail shutdown
            _LOGGER.debug("Closing the Redis client failed", exc_info=True)

    def status(self) -> dict[str, Any]:
        s = self.stats
        return {"url": self.where, "state": "degraded" if self.fault else "ok", "reason": self.fault,
                "hits": s.hits, "misses": s.misses, "corrupt": s.corrupt, "errors": s.errors}
