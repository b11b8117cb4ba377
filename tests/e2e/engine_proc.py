"""The real engine in a subprocess (``python -m engine serve``) with a temp config written as a
config.yaml: loopback port 0, a temp Unix socket, a temp cache and data folder (its journal),
Piper only (the bundled joe voice), and its Twitch source reading the test's ngircd (no TLS)."""

from __future__ import annotations

import http.client
import json
import logging
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from .xserver import HarnessError

_LOGGER = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]


CHANNEL = "e2echan"


def engine_config(workdir: Path, socket_path: Path, *, irc_port: int = 0) -> dict[str, Any]:
    """The engine's settings for an end-to-end run; ``irc_port`` 0: no chat source."""
    twitch = {"enabled": bool(irc_port), "channel": CHANNEL, "host": "127.0.0.1", "port": irc_port or 6667,
              "tls": False}
    return {
        "sources": {"twitch": twitch},
        "chat": {"mode": "all", "min_length": 1, "max_length": 500, "user_cooldown_s": 0,
                 "template": "{user} says {message}", "remove_links": True},
        "speech": {"chat_deadline_s": 120},
        "server": {"host": "127.0.0.1", "port": 0, "unix_socket": str(socket_path)},
        "performance": {"cache": {"dir": str(workdir / "cache")}},
        "tts": {"primary_backend": "piper", "fallback_backends": [], "routing": {},
                "backends": {"piper": {"voice": "en_US-joe-medium",
                                       "voices_dir": str(workdir / "voices")}}},
        "data_dir": str(workdir / "data"),
        "log_level": "INFO",
    }


class EngineProcess:
    def __init__(self, workdir: Path, *, socket_path: Path, irc_port: int = 0,
                 python: str | None = None) -> None:
        self.workdir = workdir
        self.socket_path = socket_path
        self.irc_port = irc_port
        self.python = python or _venv_python()
        self.log_path = workdir / "engine.log"
        self.tcp = ""
        self.unix = ""
        self._proc: subprocess.Popen[str] | None = None

    def start(self, *, timeout_s: float = 60.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "config.yaml"  # JSON is YAML
        config.write_text(json.dumps(engine_config(self.workdir, self.socket_path, irc_port=self.irc_port),
                                     indent=1))
        log = self.log_path.open("a")
        self._proc = subprocess.Popen([self.python, "-m", "engine", "serve", "--config", str(config)],
                                      cwd=str(REPO), stdout=subprocess.PIPE, stderr=log, text=True)
        log.close()
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_pump, args=(self._proc, lines), daemon=True).start()
        try:
            line = lines.get(timeout=timeout_s)
        except queue.Empty:
            self.stop()
            raise HarnessError(f"the engine printed no 'ready' line within {timeout_s:g} s; "
                               f"see {self.log_path}") from None
        if not line.startswith("ready "):
            self.stop()
            raise HarnessError(f"the engine did not start: {line!r}; log:\n{self.log_text()}")
        fields = dict(part.split("=", 1) for part in line.split()[1:])
        self.tcp, self.unix = fields["tcp"], fields.get("unix", "")
        _LOGGER.info("engine ready on %s and %s", self.tcp, self.unix)

    def stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        self._proc = None

    def kill(self) -> None:
        """SIGKILL, as a crash: no clean-up, the journal stays as it was written."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(10)
            self._proc = None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    # -- HTTP over TCP, with the install's token -------------------------------------------------
    def call(self, method: str, route: str, body: Any = None, *,
             timeout_s: float = 60) -> tuple[int, dict[str, str], bytes]:
        host, port = self.tcp.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=timeout_s)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        token_file = self.workdir / "data" / "api-token"  # a program on TCP sends the install's token
        if token_file.exists():
            headers["Authorization"] = "Bearer " + token_file.read_text().strip()
        try:
            payload = None if body is None else json.dumps(body).encode()
            conn.request(method, route, payload, headers)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def health(self) -> dict[str, Any]:
        status, _, body = self.call("GET", "/health", timeout_s=10)
        if status != 200:
            raise HarnessError(f"/health answered {status}: {body[:200]!r}")
        return dict(json.loads(body))

    def synthesize_pcm(self, text: str, **options: Any) -> tuple[bytes, dict[str, str]]:
        """``POST /v1/synthesize`` as raw 48 kHz s16le mono; a repeat of what the plugin asked
        for is a cache hit (header ``x-tts-cached: true``): the very PCM the engine sent."""
        status, headers, body = self.call("POST", "/v1/synthesize",
                                          {"text": text, "format": "pcm", **options})
        if status != 200:
            raise HarnessError(f"/v1/synthesize answered {status}: {body[:300]!r}")
        return body, headers


    def job_pcm(self, job_id: str) -> bytes:
        """The PCM of a job the engine made (``GET /v1/jobs/<id>.wav``, finished): what OBS got."""
        status, _, body = self.call("GET", f"/v1/jobs/{job_id}.wav")
        if status != 200 or body[:4] != b"RIFF":
            raise HarnessError(f"/v1/jobs/{job_id}.wav answered {status}: {body[:200]!r}")
        return body[44:]


def _pump(proc: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.put(line.strip())
    lines.put(f"(the engine exited with code {proc.wait()})")


def _venv_python() -> str:
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable
