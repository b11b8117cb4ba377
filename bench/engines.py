"""The engine as a subprocess with config overrides and extra environment (``bench.common``'s
``EngineProcess`` with the shipped defaults otherwise)."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from .common import REPO, EngineProcess, engine_config


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) \
            else value
    return out


def start(folder: Path, *, cache: bool, overrides: dict[str, Any] | None = None,
          env: dict[str, str] | None = None, timeout_s: float = 120) -> EngineProcess:
    """``python -m engine serve`` with ``engine_config(folder)`` updated by ``overrides``.
    ``folder`` must have no whitespace (the engine's ready line is split on it)."""
    if any(ch.isspace() for ch in str(folder)):
        raise ValueError(f"no whitespace in the engine's folder, please: {folder}")
    folder.mkdir(parents=True, exist_ok=True)
    cfg = folder / "config.yaml"
    cfg.write_text(yaml.safe_dump(merged(engine_config(folder, cache=cache), overrides or {})))
    log = folder / "engine.log"
    proc = subprocess.Popen([sys.executable, "-m", "engine", "serve", "--config", str(cfg)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=log.open("wb"),
                            env={**os.environ, **(env or {})})
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            proc.kill()
            raise RuntimeError(f"the engine did not start; see {log}:\n{log.read_text()[-2000:]}")
        if select.select([proc.stdout], [], [], min(left, 0.5))[0]:
            line += os.read(proc.stdout.fileno(), 4096)
    ready = line.decode().splitlines()[0]
    fields = dict(f.split("=", 1) for f in ready.split()[1:] if "=" in f)
    if "unix" not in fields:
        proc.kill()
        raise RuntimeError(f"unexpected first line from the engine: {ready!r}")
    return EngineProcess(proc, fields["tcp"], fields["unix"], log)
