"""Shared bench plumbing: the engine as a subprocess, HTTP over a Unix socket, percentiles."""

from __future__ import annotations

import http.client
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent


class UnixHTTPConnection(http.client.HTTPConnection):
    """A stdlib HTTP connection over a Unix socket (as the OBS plugin makes them)."""

    def __init__(self, path: str, *, timeout: float = 60) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def engine_config(folder: Path, *, cache: bool) -> dict[str, Any]:
    """Piper only, the shipped defaults otherwise; port 0 and a temp socket."""
    return {
        "server": {"host": "127.0.0.1", "port": 0, "unix_socket": str(folder / "run" / "engine.sock"),
                   "max_text_chars": 4000},
        "performance": {"cache": {"enabled": cache, "dir": str(folder / "cache")}},
        "tts": {"primary_backend": "piper", "fallback_backends": [], "routing": {},
                "backends": {"piper": {"voices_dir": str(folder / "voices")}}},
        "data_dir": str(folder / "data"),
    }


@dataclass
class EngineProcess:
    """``python -m engine serve`` in a subprocess, stopped with SIGTERM."""

    proc: subprocess.Popen[bytes]
    tcp: str
    unix: str
    log: Path

    @classmethod
    def start(cls, folder: Path, *, cache: bool, overrides: dict[str, Any] | None = None,
              env: dict[str, str] | None = None, timeout_s: float = 120) -> EngineProcess:
        """``python -m engine serve`` with ``engine_config(folder)`` updated by ``overrides`` and
        ``env`` added to the environment. ``folder`` must have no whitespace (the engine's
        ready line is split on it)."""
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
        return cls(proc, fields["tcp"], fields["unix"], log)

    def health(self) -> dict[str, Any]:
        conn = UnixHTTPConnection(self.unix)
        try:
            conn.request("GET", "/health")
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def rss_bytes(self) -> int:
        import psutil

        return int(psutil.Process(self.proc.pid).memory_info().rss)

    def cpu_seconds(self) -> float:
        """User + system CPU time the engine process has used so far."""
        import psutil

        times = psutil.Process(self.proc.pid).cpu_times()
        return float(times.user + times.system)

    def peak_rss_bytes(self) -> int:
        """``VmHWM``: the process's peak resident set since it started (Linux)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100), linear interpolation."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def median(values: list[float]) -> float:
    return pct(values, 50)


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in, mappings key by key."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) \
            else value
    return out
