"""'Start the engine if it is not running': when nothing answers, the plugin launches
``<repo>/.venv/bin/python -m engine serve`` from the checkout and stops it at unload (on the
reaper thread). The venv's python is stood in for by a script that records how it was started
(the real engine would take this machine's default port and socket)."""

from __future__ import annotations

import os
import queue
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import fetcher
from conftest import free_port
from engine_client import EngineAddress
from engine_link import EngineLink
from messages import EngineDown, Note


def fake_repo(tmp_path: Path) -> tuple[Path, Path]:
    repo = tmp_path / "repo"
    python = repo / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    record = tmp_path / "started.txt"
    python.write_text(f'#!/bin/sh\necho "$PWD $*" > {record}\nexec sleep 30\n')
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    return repo, record


def dead_address() -> EngineAddress:
    return EngineAddress(host="127.0.0.1", port=free_port())


def wait_for(cond: Any, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


def drain(inbox: queue.Queue[Any]) -> list[Any]:
    return [inbox.get_nowait() for _ in range(inbox.qsize())]


def test_the_engine_is_started_from_the_checkouts_venv_and_stopped_at_unload(tmp_path: Path) -> None:
    repo, record = fake_repo(tmp_path)
    inbox: queue.Queue[Any] = queue.Queue()
    link = EngineLink(dead_address(), inbox, autostart=True)
    link.engine_repo = repo
    link.start()
    try:
        wait_for(lambda: record.exists() and record.read_text().strip() != "")
        assert record.read_text().split() == [str(repo), "-m", "engine", "serve"]
        wait_for(lambda: link.engine_proc is not None)
        proc = link.engine_proc
        assert proc is not None and proc.poll() is None
    finally:
        started = time.monotonic()
        done = link.close()
        assert time.monotonic() - started < 0.05  # the wait for the engine is the reaper's
    assert done.wait(10)
    assert proc.poll() is not None  # stopped with the script
    events = drain(inbox)
    assert [e for e in events if isinstance(e, EngineDown)]
    assert any(isinstance(e, Note) and "started the engine" in e.text for e in events)


def test_a_missing_venv_is_reported_not_fatal(tmp_path: Path) -> None:
    inbox: queue.Queue[Any] = queue.Queue()
    link = EngineLink(dead_address(), inbox, autostart=True)
    link.engine_repo = tmp_path / "no-checkout"
    link.start()
    try:
        end = time.monotonic() + 10
        notes: list[Note] = []
        while not notes and time.monotonic() < end:
            try:
                item = inbox.get(timeout=0.5)
            except queue.Empty:
                continue
            if isinstance(item, Note):
                notes.append(item)
        assert notes and notes[0].failure and "run install.py" in notes[0].text
        assert link.engine_proc is None
    finally:
        assert link.close().wait(10)


def test_temp_folders_of_dead_obs_processes_are_swept(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.Popen(["true"])
    dead.wait(timeout=10)
    stale = tmp_path / f"streamer-tts-obs-{dead.pid}-abc"
    live = tmp_path / f"streamer-tts-obs-{os.getpid()}-def"
    other = tmp_path / "streamer-tts-obs-nopid"
    for folder in (stale, live, other):
        folder.mkdir()
        (folder / "part1.wav").write_bytes(b"RIFF")
    link = EngineLink(dead_address(), queue.Queue(), autostart=False)
    assert not stale.exists() and live.exists() and other.exists()
    assert Path(link.temp_dir).parent == tmp_path
    assert Path(link.temp_dir).name.startswith(f"streamer-tts-obs-{os.getpid()}-")
    assert link.close().wait(10)
    assert not Path(link.temp_dir).exists()
    assert fetcher.TEMP_PREFIX == "streamer-tts-obs-"
