"""'Start the engine if it is not running': when nothing answers, the plugin launches
``<repo>/.venv/bin/python -m engine serve`` from the checkout and stops it at unload. The venv's
python is stood in for by a script that records how it was started (the real engine would take
this machine's default port and socket)."""

from __future__ import annotations

import queue
import socket
import stat
import time
from pathlib import Path
from typing import Any

from engine_client import EngineAddress
from engine_link import EngineLink


def fake_repo(tmp_path: Path) -> tuple[Path, Path]:
    repo = tmp_path / "repo"
    python = repo / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    record = tmp_path / "started.txt"
    python.write_text(f'#!/bin/sh\necho "$PWD $*" > {record}\nexec sleep 30\n')
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    return repo, record


def dead_address() -> EngineAddress:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return EngineAddress(host="127.0.0.1", port=s.getsockname()[1])


def wait_for(cond: Any, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


def test_the_engine_is_started_from_the_checkouts_venv_and_stopped_at_unload(tmp_path: Path) -> None:
    repo, record = fake_repo(tmp_path)
    inbox: queue.Queue[tuple[Any, ...]] = queue.Queue()
    link = EngineLink(dead_address(), inbox, subscribe=False, autostart=True)
    link.engine_repo = repo
    link.start()
    try:
        wait_for(record.exists)
        wait_for(lambda: record.read_text().strip() != "")
        assert record.read_text().split() == [str(repo), "-m", "engine", "serve"]
        proc = link.engine_proc
        assert proc is not None and proc.poll() is None
    finally:
        link.close()
    assert proc.poll() is not None  # stopped with the script
    events = [inbox.get_nowait() for _ in range(inbox.qsize())]
    assert events[0][0] == "engine_down"
    assert any(e[0] == "log" and "started the engine" in e[2] for e in events)


def test_a_missing_venv_is_reported_not_fatal(tmp_path: Path) -> None:
    inbox: queue.Queue[tuple[Any, ...]] = queue.Queue()
    link = EngineLink(dead_address(), inbox, subscribe=False, autostart=True)
    link.engine_repo = tmp_path / "no-checkout"
    link.start()
    try:
        end = time.monotonic() + 10
        logs: list[tuple[Any, ...]] = []
        while not logs and time.monotonic() < end:
            try:
                item = inbox.get(timeout=0.5)
            except queue.Empty:
                continue
            if item[0] == "log":
                logs.append(item)
        assert logs and logs[0][1] == "warning" and "run install.py" in logs[0][2]
        assert link.engine_proc is None
    finally:
        link.close()


def test_temp_folders_of_dead_obs_processes_are_swept(tmp_path: Path, monkeypatch: Any) -> None:
    import os
    import subprocess
    import tempfile

    import engine_link

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.Popen(["true"])
    dead.wait(timeout=10)
    stale = tmp_path / f"streamer-tts-obs-{dead.pid}-abc"
    live = tmp_path / f"streamer-tts-obs-{os.getpid()}-def"
    other = tmp_path / "streamer-tts-obs-nopid"
    for folder in (stale, live, other):
        folder.mkdir()
        (folder / "msg1.wav").write_bytes(b"RIFF")
    link = EngineLink(dead_address(), queue.Queue(), subscribe=False, autostart=False)
    try:
        assert not stale.exists() and live.exists() and other.exists()
        assert Path(link.temp_dir).parent == tmp_path
        assert Path(link.temp_dir).name.startswith(f"streamer-tts-obs-{os.getpid()}-")
    finally:
        link.close()
    assert not Path(link.temp_dir).exists()
    assert engine_link.TEMP_PREFIX == "streamer-tts-obs-"
