"""The Edge voice list: fetched from the service, kept in memory and on disk for a while.

Offline, the last list saved on disk is used however old it is; with no list at all, any
well-formed Edge voice name (``en-US-AriaNeural``, ``zh-CN-XiaoxiaoNeural``) is accepted and
a wrong one fails at synthesis time (and falls back). Voice names go into SSML attributes, so
only names that match ``VOICE_NAME`` are ever passed on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ..errors import BackendError
from .base import Voice

_LOGGER = logging.getLogger(__name__)
VOICE_NAME: Final = re.compile(r"[a-z]{2,3}-[A-Z]{2}(?:-[a-z]{2,16})?-[A-Z][A-Za-z0-9]{0,40}Neural")
"""Edge short voice names: language, region, optional dialect, name ending in ``Neural``."""
RETRY_AFTER_FAILURE_S: Final = 60.0
"""After a failed fetch, the cached (or no) list is used this long before asking again."""


@dataclass(frozen=True)
class VoiceList:
    voices: tuple[Voice, ...]
    fetched_at: float
    """Unix time of the fetch from the service."""
    source: str
    """``service`` or ``disk``."""

    @property
    def names(self) -> frozenset[str]:
        return frozenset(v.name for v in self.voices)


def parse_voices(raw: Any) -> tuple[Voice, ...]:
    """Voices from the service's JSON (entries with a bad name are dropped)."""
    out = []
    for entry in raw if isinstance(raw, list) else []:
        name = entry.get("ShortName") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not VOICE_NAME.fullmatch(name):
            continue
        desc = " ".join(str(entry.get(k, "")) for k in ("FriendlyName", "Gender")).strip()
        out.append(Voice(name, "edge", str(entry.get("Locale", "")), desc))
    return tuple(out)


class VoiceCatalogue:
    """The voice list with a TTL, a disk copy and a bounded fetch."""

    def __init__(self, cache_file: Path, *, ttl_s: float, fetch_timeout_s: float,
                 clock: Any = time.time) -> None:
        self.cache_file = cache_file
        self.ttl_s = ttl_s
        self.fetch_timeout_s = fetch_timeout_s
        self._clock = clock
        self._list: VoiceList | None = None
        self._failed_at: float | None = None
        self.last_error = ""
        self._lock = asyncio.Lock()

    def load_disk(self) -> None:
        """Read the disk copy (no network); a missing or broken file is ignored."""
        try:
            data = json.loads(self.cache_file.read_text("utf-8"))
            voices = parse_voices(data["voices"])
            fetched_at = float(data["fetched_at"])
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as exc:
            _LOGGER.warning("Ignoring the Edge voice cache %s: %s", self.cache_file, exc)
            return
        if voices:
            self._list = VoiceList(voices, fetched_at, "disk")

    def known_names(self) -> frozenset[str] | None:
        """Names in the cached list, or ``None`` when no list was ever fetched (no network)."""
        return self._list.names if self._list is not None else None

    def fresh(self) -> bool:
        return self._list is not None and self._clock() - self._list.fetched_at < self.ttl_s

    async def voices(self, fetch: Any) -> tuple[Voice, ...]:
        """The list: cached while fresh, else fetched with ``await fetch()`` (raw JSON list);
        when that fails, the stale copy. Raises ``BackendError`` with no list at all."""
        async with self._lock:
            if not self.fresh() and not self._recently_failed():
                await self._refresh(fetch)
        if self._list is None:
            raise BackendError(f"cannot list Edge voices ({self.last_error}) and no copy is "
                               "cached yet", reason="no voice list")
        return self._list.voices

    def _recently_failed(self) -> bool:
        return self._failed_at is not None and self._clock() - self._failed_at < RETRY_AFTER_FAILURE_S

    async def _refresh(self, fetch: Any) -> None:
        try:
            raw = await asyncio.wait_for(fetch(), self.fetch_timeout_s)
            voices = parse_voices(raw)
            if not voices:
                raise BackendError("the service sent an empty voice list", reason="bad response")
        except Exception as exc:
            self._failed_at = self._clock()
            self.last_error = (exc.reason if isinstance(exc, BackendError)
                               else "timeout" if isinstance(exc, asyncio.TimeoutError)
                               else type(exc).__name__)
            _LOGGER.warning("Cannot fetch the Edge voice list (%s); using %s", self.last_error,
                            "the cached copy" if self._list else "no list")
            return
        self._failed_at, self.last_error = None, ""
        self._list = VoiceList(voices, self._clock(), "service")
        self._save(raw)

    def _save(self, raw: Any) -> None:
        assert self._list is not None
        keep = [{k: v.get(k) for k in ("ShortName", "Locale", "Gender", "FriendlyName")}
                for v in raw if isinstance(v, dict)]
        tmp = self.cache_file.with_suffix(".tmp")
        try:
            self.cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps({"fetched_at": self._list.fetched_at, "voices": keep}),
                           "utf-8")
            os.replace(tmp, self.cache_file)
        except OSError as exc:
            _LOGGER.warning("Cannot save the Edge voice list to %s: %s", self.cache_file, exc)

    def status(self) -> dict[str, Any]:
        lst = self._list
        return {"voice_list": {
            "source": lst.source if lst else "none", "count": len(lst.voices) if lst else 0,
            "age_s": round(self._clock() - lst.fetched_at) if lst else None,
            "last_error": self.last_error}}
