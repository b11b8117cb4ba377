"""The journal: announcements and stream events on disk before they are acknowledged.

Append-only JSON lines, each ``{"op": ..., "id": ...}``:

- ``add``: the utterance (``Utterance.to_dict()`` under ``"utterance"``), written and fsynced
  before ``add()`` returns;
- ``played``: part ``part`` ended; ``done``: all of it played; ``dropped``: given up (``reason``);
- ``seen``: kept by ``compact()`` for a finished id still within the dedupe window, so a plugin
  resending its outbox after a restart is not spoken twice.

After a crash ``pending(now)`` gives what is neither done nor dropped and still within its
deadline, with the first part not yet played. A torn last line (a crash mid-write) is skipped,
logged once and cut off. The file is compacted when it grows over ``max_bytes``. Not thread-safe:
use it from one thread; each write blocks for an fsync (a few milliseconds on a local disk).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from ..errors import BadRequest
from ..pipeline.moderation import write_atomic
from .utterance import Utterance

_LOGGER = logging.getLogger(__name__)
MAX_BYTES = 8 * 2**20
SEEN_WINDOW_S = 3600.0


@dataclass
class _Entry:
    utterance: Utterance
    next_part: int = 0
    """The first part not yet played."""


class Journal:
    def __init__(self, path: Path, *, fsync: bool = True, max_bytes: int = MAX_BYTES,
                 seen_window_s: float = SEEN_WINDOW_S) -> None:
        """``seen_window_s``: how long a finished id is remembered (dedupe) across compactions."""
        self.path = path
        self.fsync = fsync
        self.max_bytes = max_bytes
        self.seen_window_s = seen_window_s
        self._entries: dict[str, _Entry] = {}
        self._seen: dict[str, float] = {}
        """id -> wall-clock time it was created, for every id ever added (dedupe)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self._load()
        self._file = _open_append(path)

    # -- writing ---------------------------------------------------------------------------------
    def add(self, u: Utterance) -> bool:
        """Record ``u`` on disk; False (nothing written) if its id was seen before. Chat is not
        journaled (stale chat is worse than none): nothing is written or remembered for it."""
        if u.id in self._seen:
            return False
        if not u.journaled:
            return True
        self._seen[u.id] = u.created
        self._entries[u.id] = _Entry(u)
        self._write({"op": "add", "id": u.id, "utterance": u.to_dict()})
        return True

    def played(self, utterance_id: str, part: int) -> None:
        """Part ``part`` ended."""
        entry = self._entries.get(utterance_id)
        if entry is None or part < entry.next_part:
            return
        entry.next_part = part + 1
        self._write({"op": "played", "id": utterance_id, "part": part})

    def done(self, utterance_id: str) -> None:
        if self._entries.pop(utterance_id, None) is not None:
            self._write({"op": "done", "id": utterance_id})

    def dropped(self, utterance_id: str, reason: str) -> None:
        if self._entries.pop(utterance_id, None) is not None:
            self._write({"op": "dropped", "id": utterance_id, "reason": reason})

    # -- reading ---------------------------------------------------------------------------------
    def seen(self, utterance_id: str) -> bool:
        return utterance_id in self._seen

    def pending(self, now: float) -> list[tuple[Utterance, int]]:
        """Unfinished utterances within their deadline (``now``: wall clock), oldest first, each
        with the first part not yet played."""
        out = [(e.utterance, e.next_part) for e in self._entries.values()
               if e.next_part < len(e.utterance.parts)
               and (e.utterance.deadline is None or e.utterance.deadline > now)]
        return sorted(out, key=lambda item: item[0].created)

    # -- housekeeping ----------------------------------------------------------------------------
    def compact(self, now: float | None = None) -> None:
        """Rewrite the file with only pending entries (and recent ids for dedupe), atomically."""
        now = time.time() if now is None else now
        pending = self.pending(now)
        keep = {u.id for u, _ in pending}
        self._entries = {k: e for k, e in self._entries.items() if k in keep}
        self._seen = {k: t for k, t in self._seen.items()
                      if k in keep or now - t < self.seen_window_s}
        lines = [{"op": "seen", "id": k, "created": t} for k, t in self._seen.items()
                 if k not in keep]
        for u, next_part in pending:
            lines.append({"op": "add", "id": u.id, "utterance": u.to_dict()})
            if next_part:
                lines.append({"op": "played", "id": u.id, "part": next_part - 1})
        self._file.close()
        write_atomic(self.path, "".join(_dump(line) for line in lines))
        self._file = _open_append(self.path)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------------
    def _write(self, record: dict[str, Any]) -> None:
        self._file.write(_dump(record))
        self._file.flush()
        if self.fsync:
            os.fsync(self._file.fileno())
        if self._file.tell() > self.max_bytes:
            self.compact()
            if self.path.stat().st_size > self.max_bytes:
                _LOGGER.warning("Journal %s is over %d bytes even after compaction (%d pending)",
                                self.path, self.max_bytes, len(self._entries))

    def _load(self) -> None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        end = data.rfind(b"\n") + 1
        if end < len(data):
            _LOGGER.warning("Journal %s: skipping a torn last line (%d bytes), from a crash "
                            "mid-write", self.path, len(data) - end)
            os.truncate(self.path, end)
        bad = 0
        for raw in data[:end].splitlines():
            try:
                self._apply(json.loads(raw))
            except (ValueError, KeyError, TypeError, BadRequest):
                bad += 1
        if bad:
            _LOGGER.warning("Journal %s: skipped %d unreadable lines", self.path, bad)

    def _apply(self, record: dict[str, Any]) -> None:
        op, uid = record["op"], record["id"]
        if not isinstance(uid, str):
            raise TypeError("id")
        if op == "add":
            u = Utterance.from_dict(record["utterance"])
            self._seen[uid] = u.created
            self._entries[uid] = _Entry(u)
        elif op == "seen":
            self._seen[uid] = float(record["created"])
        elif op == "played" and uid in self._entries:
            self._entries[uid].next_part = max(self._entries[uid].next_part, int(record["part"]) + 1)
        elif op in ("done", "dropped"):
            self._entries.pop(uid, None)


def _open_append(path: Path) -> TextIO:
    """The journal for appending, created user-only (it holds viewers' messages)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    return os.fdopen(fd, "a", encoding="utf-8")


def _dump(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
