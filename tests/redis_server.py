"""A real ``redis-server`` on a free loopback port, in a temporary folder, for tests.

No persistence (no RDB, no AOF), ``maxmemory`` with ``allkeys-lru`` as the README advises, and
every wait bounded: start, answer and stop each within a few seconds or the test fails.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from bench.common import free_port

START_TIMEOUT_S = 10.0


class RedisServer:
    def __init__(self, folder: Path, *, maxmemory_mb: int = 64) -> None:
        self.folder = folder
        self.maxmemory_mb = maxmemory_mb
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed: python3 install.py --system-deps"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()  # a restart keeps its port (engines know the URL)
        self._proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
             "--save", "", "--appendonly", "no", "--maxmemory", f"{self.maxmemory_mb}mb",
             "--maxmemory-policy", "allkeys-lru", "--logfile", str(self.folder / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.answers():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                log = (self.folder / "redis.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"redis-server did not start on port {self.port}: {log}")
            time.sleep(0.02)
        return self

    def answers(self) -> bool:
        """``PING`` answered with ``+PONG`` within a second."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
