"""Moderation that takes effect at once: muted users and blocked words, kept across restarts.

Mutes are stored as wall-clock expiry times (``time.time()``), so a ten-minute mute is still ten
minutes after an engine restart. Every change is written to ``path`` (JSON, via a temporary file
and a rename, so a crash leaves the old or the new file, never half of one).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from .voices import normalize_login

_LOGGER = logging.getLogger(__name__)


class Moderation:
    def __init__(self, path: Path | None) -> None:
        """``path`` None: in memory only."""
        self.path = path
        self._muted: dict[str, float | None] = {}
        """login -> wall-clock end of the mute, None for good."""
        self._words: set[str] = set()
        if path is not None:
            self._load(path)

    # -- users -----------------------------------------------------------------------------------
    def mute(self, login: str, seconds: float | None, *, now: float | None = None) -> None:
        """Mute ``login`` for ``seconds`` (None: until unmuted)."""
        if seconds is not None and seconds <= 0:
            raise ValueError("a mute lasts a positive number of seconds, or None for good")
        start = time.time() if now is None else now
        self._muted[normalize_login(login)] = None if seconds is None else start + seconds
        self._save(start)

    def unmute(self, login: str) -> bool:
        """True if ``login`` was muted."""
        login = normalize_login(login)
        if login not in self._muted:
            return False
        del self._muted[login]
        self._save()
        return True

    def is_muted(self, login: str, now: float) -> bool:
        """``now``: wall-clock seconds (``time.time()``, or the event's ``received_at``)."""
        if login not in self._muted:  # the hot path: called for every chat line
            login = normalize_login(login)
            if login not in self._muted:
                return False
        until = self._muted[login]
        return until is None or now < until

    # -- words -----------------------------------------------------------------------------------
    def block_word(self, word: str) -> None:
        word = word.strip().lower()
        if not word:
            raise ValueError("a blocked word cannot be empty")
        if word not in self._words:
            self._words.add(word)
            self._save()

    def unblock_word(self, word: str) -> bool:
        word = word.strip().lower()
        if word not in self._words:
            return False
        self._words.discard(word)
        self._save()
        return True

    def blocked_words(self) -> frozenset[str]:
        """Words blocked at runtime (the config's ``chat.blocked_words`` come on top)."""
        return frozenset(self._words)

    def status(self, now: float | None = None) -> dict[str, Any]:
        """``{"muted": [{"login", "until"}], "blocked_words": [...]}`` (``until`` wall clock or None)."""
        now = time.time() if now is None else now
        muted = [{"login": k, "until": v} for k, v in sorted(self._muted.items())
                 if v is None or v > now]
        return {"muted": muted, "blocked_words": sorted(self._words)}

    # -- storage ---------------------------------------------------------------------------------
    def _load(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            _LOGGER.warning("Ignoring the moderation file %s (%s); starting with no mutes", path, exc)
            return
        for entry in data.get("muted", []) if isinstance(data, dict) else []:
            until = entry.get("until") if isinstance(entry, dict) else 0
            login = entry.get("login") if isinstance(entry, dict) else None
            if isinstance(login, str) and (until is None or isinstance(until, (int, float))):
                self._muted[normalize_login(login)] = until
        words = data.get("blocked_words", []) if isinstance(data, dict) else []
        self._words = {w.strip().lower() for w in words if isinstance(w, str) and w.strip()}

    def _save(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self._muted = {k: v for k, v in self._muted.items() if v is None or v > now}
        if self.path is None:
            return
        write_atomic(self.path, json.dumps(self.status(now), indent=1, ensure_ascii=False))


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``: temporary file, fsync, rename, fsync of the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
