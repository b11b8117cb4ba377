"""Start a real OBS Studio on a private X display and stop it cleanly.

Stop order (see docs/obs-headless.md in the shared notes): stop the recording, send the main
window ``WM_DELETE_WINDOW`` (a clean exit: ``script_unload`` runs, the config is saved), and only
if OBS is still there after a grace period, SIGTERM and then SIGKILL.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from pathlib import Path

from .obs_config import NAME, ObsConfig
from .xserver import HarnessError, close_window, require

_LOGGER = logging.getLogger(__name__)


class ObsProcess:
    def __init__(self, cfg: ObsConfig, *, display: str, log_path: Path,
                 extra_env: dict[str, str] | None = None) -> None:
        self.cfg = cfg
        self.display = display
        self.log_path = log_path
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.exit_how = ""
        """How OBS ended: ``clean`` (WM_DELETE_WINDOW), ``terminated``, ``killed`` or ``crashed``."""

    def start(self) -> None:
        exe = require("obs", "obs-studio obs-plugins")
        env = {**os.environ, "HOME": str(self.cfg.home), "XDG_CONFIG_HOME": str(self.cfg.home / ".config"),
               "DISPLAY": self.display,
               "LIBGL_ALWAYS_SOFTWARE": "1", "QT_QPA_PLATFORM": "xcb", **self.extra_env}
        env.pop("WAYLAND_DISPLAY", None)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [exe, "--multi", "--disable-missing-files-check", "--collection", NAME, "--profile", NAME],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(self.cfg.home), start_new_session=True)
        log.close()
        _LOGGER.info("OBS started (pid %d) on %s", self.proc.pid, self.display)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            code = self.proc.returncode
            how = "crashed (SIGSEGV)" if code == -11 else f"exited with code {code}"
            raise HarnessError(f"OBS {how}; the end of its output and log:\n{self.tail()}")

    def main_window(self, *, timeout_s: float = 10.0) -> int:
        """The X window id of OBS's main window (title ``OBS 29.x - Profile: ... - Scenes: ...``)."""
        xdotool = require("xdotool", "xdotool")
        assert self.proc is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            out = subprocess.run([xdotool, "search", "--pid", str(self.proc.pid), "--name", "Profile:"],
                                 env={**os.environ, "DISPLAY": self.display}, capture_output=True,
                                 text=True, timeout=10).stdout.split()
            if out:
                return int(out[0])
            time.sleep(0.2)
        raise HarnessError("OBS's main window did not appear (xdotool search --name Profile:)")

    def stop(self, *, grace_s: float = 15.0) -> str:
        """End OBS (clean close first); returns how it ended. Safe to call twice."""
        if self.proc is None:
            return self.exit_how
        if self.proc.poll() is not None:
            self.exit_how = self.exit_how or f"crashed (code {self.proc.returncode})"
        else:
            self.exit_how = self._close(grace_s)
        self.proc = None
        return self.exit_how

    def _close(self, grace_s: float) -> str:
        assert self.proc is not None
        try:
            close_window(self.display, self.main_window(timeout_s=3))
            self.proc.wait(grace_s)
            return "clean" if self.proc.returncode == 0 else f"closed (code {self.proc.returncode})"
        except (HarnessError, subprocess.TimeoutExpired, OSError) as exc:
            _LOGGER.warning("OBS did not close cleanly (%s); sending SIGTERM", exc)
        self.proc.terminate()
        try:
            self.proc.wait(10)
            return "terminated"
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            return "killed"

    def tail(self, chars: int = 4000) -> str:
        """The end of OBS's stdout and of its newest log file, for failure messages."""
        parts = []
        if self.log_path.exists():
            parts.append(self.log_path.read_text(errors="replace")[-chars:])
        logs = sorted(self.cfg.log_dir.glob("*.txt")) if self.cfg.log_dir.exists() else []
        if logs:
            parts.append(f"--- {logs[-1]} ---\n" + logs[-1].read_text(errors="replace")[-chars:])
        return "\n".join(parts)

    def script_log(self) -> str:
        """Lines the scripts wrote to OBS's log (``[tts_plugin.py] ...``)."""
        logs = sorted(self.cfg.log_dir.glob("*.txt")) if self.cfg.log_dir.exists() else []
        if not logs:
            return ""
        return "\n".join(line for line in logs[-1].read_text(errors="replace").splitlines()
                         if ".py]" in line)
