"""Journal: written before add() returns, replayed after a crash, deduped, compacted, bounded."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine.speech.journal import Journal
from engine.speech.utterance import Utterance

NOW = 1_700_000_000.0
REPO = Path(__file__).resolve().parent.parent


def ann(uid: str, parts: list[str] | None = None, *, priority: str = "announcement",
        created: float = NOW, deadline: float | None = NOW + 900) -> Utterance:
    parts = parts or ["Part one.", "Part two.", "Part three."]
    return Utterance(id=uid, text=" ".join(parts), parts=parts, priority=priority, source="hotkey",
                     created=created, deadline=deadline)


def ops(path: Path) -> list[str]:
    return [json.loads(line)["op"] for line in path.read_text().splitlines()]


def test_add_played_done_and_reload(tmp_path: Path) -> None:
    path = tmp_path / "journal" / "speech.jsonl"
    with Journal(path) as j:
        assert j.add(ann("a")) and j.add(ann("b", priority="event", created=NOW + 1))
        assert not j.add(ann("a"))  # dedupe by id
        j.played("a", 0)
        j.played("b", 0)
        j.played("b", 1)
        j.done("b")
        assert [(u.id, part) for u, part in j.pending(NOW + 5)] == [("a", 1)]
    assert ops(path) == ["add", "add", "played", "played", "played", "done"]
    with Journal(path) as again:
        pending = again.pending(NOW + 5)
        assert [(u.id, part) for u, part in pending] == [("a", 1)]
        assert pending[0][0] == ann("a")
        assert again.seen("a") and again.seen("b") and not again.seen("c")
        assert not again.add(ann("b"))  # done, still remembered


def test_pending_skips_dropped_expired_and_fully_played(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path) as j:
        j.add(ann("dropped"))
        j.dropped("dropped", "cleared by hotkey")
        j.add(ann("expired", deadline=NOW + 10))
        j.add(ann("all-played", ["one"]))
        j.played("all-played", 0)
        j.add(ann("forever", deadline=None, created=NOW - 5))
        j.add(ann("later", created=NOW + 3))
        j.played("later", 1)
        j.played("later", 0)  # an older report never moves it back
        assert [(u.id, p) for u, p in j.pending(NOW + 11)] == [("forever", 0), ("later", 2)]
    assert json.loads(path.read_text().splitlines()[1]) == {
        "op": "dropped", "id": "dropped", "reason": "cleared by hotkey"}


def test_chat_is_neither_written_nor_remembered(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path) as j:
        chat = ann("c1", priority="chat")
        assert j.add(chat) and j.add(chat) and not j.seen("c1")
        assert j.pending(NOW) == []
    assert path.read_text() == ""


def test_torn_last_line_is_skipped_logged_once_and_cut(tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path) as j:
        j.add(ann("a"))
        j.add(ann("b"))
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"op":"played","id":"a","pa')  # the crash came mid-write
    caplog.set_level(logging.WARNING, logger="engine.speech.journal")
    with Journal(path) as j:
        assert [u.id for u, _ in j.pending(NOW)] == ["a", "b"]
        assert path.read_bytes() == whole  # cut back to the last whole line
        j.played("a", 0)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "torn last line" in warnings[0]
    with Journal(path) as j:  # the next line was not glued to the torn one
        assert [(u.id, p) for u, p in j.pending(NOW)] == [("a", 1), ("b", 0)]


def test_a_garbled_line_in_the_middle_is_skipped(tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path) as j:
        j.add(ann("a"))
    path.write_text(path.read_text() + "not json\n" + '{"op":"add","id":"x","utterance":{}}\n')
    with Journal(path) as j:
        assert [u.id for u, _ in j.pending(NOW)] == ["a"]
    assert "skipped 2 unreadable lines" in caplog.text


def test_compact_keeps_pending_and_recent_ids_atomically(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path, seen_window_s=3600) as j:
        j.add(ann("done-recently", created=NOW))
        j.done("done-recently")
        j.add(ann("done-long-ago", created=NOW - 7200, deadline=None))
        j.done("done-long-ago")
        j.add(ann("pending"))
        j.played("pending", 0)
        j.add(ann("expired", deadline=NOW + 1))
        j.compact(NOW + 10)
        assert ops(path) == ["seen", "seen", "add", "played"]  # done-recently, expired; pending
        assert [p.name for p in tmp_path.iterdir()] == ["j.jsonl"]  # no temporary file left
        j.played("pending", 1)  # still appends after compaction
    with Journal(path) as j:
        assert [(u.id, p) for u, p in j.pending(NOW + 10)] == [("pending", 2)]
        assert j.seen("done-recently") and j.seen("expired") and not j.seen("done-long-ago")
        assert not j.add(ann("done-recently"))


def test_journal_compacts_itself_when_over_its_size(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path, max_bytes=20_000, fsync=False) as j:
        for i in range(400):
            j.add(ann(f"id{i}"))
            j.done(f"id{i}")
            assert path.stat().st_size <= 20_000 + 1000
        j.add(ann("last"))
    with Journal(path) as j:
        assert [u.id for u, _ in j.pending(NOW)] == ["last"]


_CHILD = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from engine.speech.journal import Journal
    from engine.speech.utterance import Utterance
    j = Journal(Path(sys.argv[1]))
    j.add(Utterance(id="crash-1", text="Still here. After the crash.",
                    parts=["Still here.", "After the crash."], priority="announcement",
                    source="hotkey", created=1.0, deadline=None))
    j.played("crash-1", 0)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_entry_survives_sigkill_right_after_add(tmp_path: Path) -> None:
    path = tmp_path / "journal" / "speech.jsonl"
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(path)], cwd=REPO, timeout=60,
                          capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    with Journal(path) as j:
        pending = j.pending(NOW)
        assert [(u.id, u.parts, p) for u, p in pending] == [
            ("crash-1", ["Still here.", "After the crash."], 1)]
        assert j.seen("crash-1")
