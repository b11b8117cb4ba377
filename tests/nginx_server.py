"""A real nginx on loopback, run from a temp folder with a config the engine generated.

nginx runs in the foreground (``daemon off``) with the temp folder as its prefix (``-p``), the
config there (``-c``), and its pid file and error log there too; as root, its workers run as
root so they can use that folder. Every wait is bounded. Used by tests/test_scaleout.py and
bench/scaleout.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


def nginx_binary() -> str:
    """nginx's path; missing nginx is an error naming the fix (never a skip)."""
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None)
    if found is None:
        raise RuntimeError("nginx is not installed: run `python3 install.py --system-deps` "
                           "(or `apt-get install -y nginx`)")
    return found


def _globals(prefix: Path) -> str:
    run_as = "user root; " if os.geteuid() == 0 else ""
    return f"daemon off; {run_as}pid {prefix / 'nginx.pid'}; error_log {prefix / 'error.log'} info;"


def _command(prefix: Path, conf: Path, *extra: str) -> list[str]:
    return [nginx_binary(), *extra, "-e", str(prefix / "error.log"), "-p", f"{prefix}/",
            "-c", str(conf), "-g", _globals(prefix)]


def write_config(prefix: Path, text: str, name: str = "nginx.conf") -> Path:
    prefix.mkdir(parents=True, exist_ok=True)
    conf = prefix / name
    conf.write_text(text, encoding="utf-8")
    return conf


def check_config(prefix: Path, text: str, *, name: str = "nginx.conf") -> subprocess.CompletedProcess[str]:
    """``nginx -t`` on ``text`` (written to ``prefix/name``); the result, stderr included."""
    conf = write_config(prefix, text, name)
    return subprocess.run(_command(prefix, conf, "-t"), capture_output=True, text=True, timeout=30)


@dataclass
class NginxServer:
    proc: subprocess.Popen[bytes]
    prefix: Path
    listen: str
    """``host:port`` nginx listens on."""

    @property
    def url(self) -> str:
        return f"http://{self.listen}"

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _wait_listening(proc: subprocess.Popen[bytes], listen: str, prefix: Path, timeout_s: float) -> None:
    host, _, port = listen.rpartition(":")
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited with {proc.returncode}:\n"
                               f"{(prefix / 'error.log').read_text(errors='replace')[-2000:]}")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nginx is not listening on {listen} after {timeout_s:g} s") from None
            time.sleep(0.05)


@contextmanager
def running_nginx(prefix: Path, text: str, *, listen: str,
                  timeout_s: float = START_TIMEOUT_S) -> Iterator[NginxServer]:
    """nginx serving ``text`` until the block ends (then SIGTERM, fast shutdown; SIGKILL if slow)."""
    conf = write_config(prefix, text)
    proc = subprocess.Popen(_command(prefix, conf), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_listening(proc, listen, prefix, timeout_s)
        yield NginxServer(proc, prefix, listen)
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # SIGQUIT would wait for open streams
        try:
            proc.wait(STOP_TIMEOUT_S)
            return
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait(STOP_TIMEOUT_S)
