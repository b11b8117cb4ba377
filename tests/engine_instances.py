"""Several real engines (``python -m engine serve`` subprocesses) behind a real nginx.

Each instance has its own config, port, cache folder, data folder (journal) and Unix socket; they
share one API token (the same ``api-token`` file in each data folder, as the README tells you to
do) and, when given, one Redis. The nginx config is the engine's own (``engine.scaleout``).
Every wait is bounded. Used by tests/test_scaleout.py and bench/scaleout.py.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine import config as config_mod
from engine import scaleout
from tests.nginx_server import NginxServer, running_nginx

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 120.0
"""An engine loads its Piper voice before it prints ``ready`` (slow on two loaded cores)."""


@dataclass
class EngineInstance:
    proc: subprocess.Popen[bytes]
    tcp: str
    """``host:port`` the instance listens on."""
    folder: Path

    @property
    def url(self) -> str:
        return f"http://{self.tcp}"

    def kill(self) -> None:
        """SIGKILL: no cleanup, no goodbye (what a crash looks like to nginx)."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
                return
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc.wait(10)

    def log(self) -> str:
        return (self.folder / "engine.log").read_text(errors="replace")[-3000:]


def instance_config(folder: Path, *, redis_url: str = "") -> dict[str, Any]:
    """Piper (the bundled voice) on a free port; its own cache, data and socket."""
    cache: dict[str, Any] = {"dir": str(folder / "cache")}
    if redis_url:
        cache["redis_url"] = redis_url
    return {
        "server": {"host": "127.0.0.1", "port": 0, "unix_socket": str(folder / "run" / "engine.sock")},
        "performance": {"cache": cache},
        "tts": {"primary_backend": "piper", "fallback_backends": [], "routing": {},
                "backends": {"piper": {"voices_dir": str(folder / "voices")}}},
        "data_dir": str(folder / "data"),
        "log_level": "WARNING",
    }


def launch(folder: Path, *, token: str, redis_url: str = "") -> subprocess.Popen[bytes]:
    """Start one instance (its token file written first); ``wait_ready`` reads its address."""
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(data / "api-token", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(token + "\n")
    config = folder / "engine.yaml"
    config.write_text(json.dumps(instance_config(folder, redis_url=redis_url)))
    with (folder / "engine.log").open("wb") as log:
        return subprocess.Popen([sys.executable, "-m", "engine", "serve", "--config", str(config)],
                                cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)


def wait_ready(proc: subprocess.Popen[bytes], folder: Path, *,
               timeout_s: float = START_TIMEOUT_S) -> EngineInstance:
    assert proc.stdout is not None
    deadline, line = time.monotonic() + timeout_s, b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            proc.kill()
            proc.wait(10)
            log = (folder / "engine.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"engine in {folder} did not start within {timeout_s:g} s:\n{log}")
        if select.select([proc.stdout], [], [], min(left, 0.5))[0]:
            chunk = os.read(proc.stdout.fileno(), 4096)
            line += chunk or b"\n"
    fields = dict(f.split("=", 1) for f in line.decode().split()[1:] if "=" in f)
    if "tcp" not in fields:
        raise RuntimeError(f"engine in {folder} printed {line!r} instead of 'ready tcp=...'")
    return EngineInstance(proc, fields["tcp"], folder)


@dataclass
class Cluster:
    instances: list[EngineInstance]
    nginx: NginxServer
    token: str
    nginx_config: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_instances(folder: Path, count: int, *, token: str,
                      redis_url: str = "") -> Iterator[list[EngineInstance]]:
    """``count`` instances started side by side (each stopped after the block)."""
    with ExitStack() as stack:
        procs = []
        for i in range(count):
            sub = folder / f"engine{i}"
            proc = launch(sub, token=token, redis_url=redis_url)
            stack.callback(_reap, proc)
            procs.append((proc, sub))
        instances = [wait_ready(proc, sub) for proc, sub in procs]
        for instance in instances:
            stack.callback(instance.stop)
        yield instances


def _reap(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)
    if proc.stdout is not None:
        proc.stdout.close()


@contextmanager
def running_cluster(folder: Path, count: int, *, redis_url: str = "", gpu: tuple[int, ...] = (),
                    max_fails: int = 2, fail_timeout_s: int = 10) -> Iterator[Cluster]:
    """``count`` instances (the first is the hub) behind nginx on a free loopback port; the
    instances numbered in ``gpu`` also form the GPU pool (``/xtts/``)."""
    token = secrets.token_urlsafe(32)
    with running_instances(folder, count, token=token, redis_url=redis_url) as instances:
        listen = f"127.0.0.1:{free_port()}"
        plan = scaleout.plan_for(config_mod.ServerConfig(), listen=listen,
                                 instances=tuple(i.tcp for i in instances),
                                 gpu=tuple(instances[i].tcp for i in gpu),
                                 max_fails=max_fails, fail_timeout_s=fail_timeout_s)
        text = scaleout.render(plan)
        with running_nginx(folder / "nginx", text, listen=listen) as nginx:
            yield Cluster(instances, nginx, token, text)
