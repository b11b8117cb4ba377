"""Start the engine from the project's virtualenv when the streamer asked for it.

The plugin folder's parent is the repository; its ``.venv`` holds the engine. OBS's own
``sys.executable`` is not that Python, so the path is built explicitly.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parent
REPO_DIR = PLUGIN_DIR.parent


def venv_python(repo: Path = REPO_DIR) -> Path:
    if sys.platform == "win32":
        return repo / ".venv" / "Scripts" / "python.exe"
    return repo / ".venv" / "bin" / "python"


def engine_log_path() -> Path:
    return Path(tempfile.gettempdir()) / f"streamer-tts-engine-{os.getpid()}.log"


def start_engine(repo: Path = REPO_DIR) -> subprocess.Popen[bytes]:
    """Launch ``<repo>/.venv/bin/python -m engine serve`` in the background; its output goes to
    ``engine_log_path()``. Raises ``FileNotFoundError`` with a readable message when the venv
    is missing."""
    python = venv_python(repo)
    if not python.exists():
        raise FileNotFoundError(f"{python} does not exist: run install.py in {repo} first")
    log = open(engine_log_path(), "ab")  # noqa: SIM115 (the child keeps it; we close our copy below)
    try:
        kwargs: dict[str, object] = {}
        if sys.platform != "win32":
            kwargs["start_new_session"] = True
        return subprocess.Popen(
            [str(python), "-m", "engine", "serve"],
            cwd=str(repo),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            **kwargs,
        )  # type: ignore[call-overload]
    finally:
        log.close()


def stop_engine(proc: subprocess.Popen[bytes] | None, *, timeout_s: float = 3.0) -> None:
    """Stop an engine this plugin started (SIGTERM, then SIGKILL after ``timeout_s``)."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout_s)
