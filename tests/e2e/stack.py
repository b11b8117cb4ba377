"""Everything an end-to-end run needs, started in order and always torn down: Xvfb, a real IRC
daemon (Debian's ngircd) with viewers on it, the real engine reading that channel with its Twitch
source, OBS with a private config and the script under test, and an obs-websocket connection.
Used by the pytest fixtures and by ``bench/obs_latency.py``."""

from __future__ import annotations

import contextlib
import logging
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.ircd import Ngircd

from . import obs_config
from .engine_proc import CHANNEL, REPO, EngineProcess
from .irc_client import Viewers
from .obs_process import ObsProcess
from .obs_ws import ObsRequestError, ObsWebSocket
from .xserver import HarnessError, Xvfb

_LOGGER = logging.getLogger(__name__)
PLUGIN = REPO / "obs_plugin" / "tts_plugin.py"
MEDIA_SOURCE = "TTS Audio"
__all__ = ["CHANNEL", "MEDIA_SOURCE", "PLUGIN", "Stack", "plugin_settings", "running_stack"]
PLAYING = "OBS_MEDIA_STATE_PLAYING"
IDLE_STATES = ("OBS_MEDIA_STATE_NONE", "OBS_MEDIA_STATE_STOPPED", "OBS_MEDIA_STATE_ENDED",
               "OBS_MEDIA_STATE_ERROR")


@dataclass
class Stack:
    workdir: Path
    display: Xvfb
    ircd: Ngircd
    viewers: Viewers
    engine: EngineProcess
    obs: ObsProcess
    ws: ObsWebSocket
    cfg: obs_config.ObsConfig

    def media_status(self) -> dict[str, Any]:
        """``GetMediaInputStatus`` of the plugin's Media Source (``mediaState``, ``mediaCursor`` ms)."""
        try:
            return self.ws.request("GetMediaInputStatus", {"inputName": MEDIA_SOURCE})
        except ObsRequestError:
            self.obs.check_alive()  # a crashed OBS says so, with its log
            raise

    def media_state(self) -> str:
        return str(self.media_status()["mediaState"])

    def wait_state(self, states: tuple[str, ...], *, timeout_s: float, poll_s: float = 0.01) -> float:
        """Poll the Media Source until it is in one of ``states``; returns ``time.monotonic()``
        of the poll that saw it."""
        deadline = time.monotonic() + timeout_s
        state = ""
        while time.monotonic() < deadline:
            self.obs.check_alive()
            state = self.media_state()
            if state in states:
                return time.monotonic()
            time.sleep(poll_s)
        raise TimeoutError(f"the Media Source stayed {state} for {timeout_s:g} s (wanted {states});\n"
                           f"script log:\n{self.obs.script_log()[-3000:]}")

    def wait_media_source(self, *, timeout_s: float) -> None:
        """Wait until the script has created the Media Source (after OBS finished loading)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.obs.check_alive()
            try:
                self.media_state()
                return
            except ObsRequestError:
                time.sleep(0.2)
        raise HarnessError(f"no Media Source {MEDIA_SOURCE!r} within {timeout_s:g} s; script log:\n"
                           f"{self.obs.script_log()[-3000:]}")

    def wait_idle(self, *, quiet_s: float, timeout_s: float) -> None:
        """Wait until the Media Source has been idle for ``quiet_s`` in a row (queue drained)."""
        deadline = time.monotonic() + timeout_s
        idle_since: float | None = None
        while time.monotonic() < deadline:
            now = time.monotonic()
            if self.media_state() in IDLE_STATES:
                idle_since = idle_since or now
                if now - idle_since >= quiet_s:
                    return
            else:
                idle_since = None
            time.sleep(0.05)
        raise TimeoutError(f"the Media Source was still busy after {timeout_s:g} s")

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[Path]]:
        """``with stack.recording() as out:`` records; after the block ``out[0]`` is the mkv."""
        out: list[Path] = []
        self.ws.request("StartRecord")
        _wait(lambda: self.ws.request("GetRecordStatus")["outputActive"], timeout_s=15,
              what="recording start")
        try:
            yield out
        finally:
            reply = self.ws.request("StopRecord", timeout_s=30)
            _wait(lambda: not self.ws.request("GetRecordStatus")["outputActive"], timeout_s=30,
                  what="recording stop")
            path = Path(reply.get("outputPath") or _newest(self.cfg.recordings))
            out.append(path)


def plugin_settings(*, engine_socket: str, **extra: Any) -> dict[str, Any]:
    """The pre-seeded script settings (keys of obs_plugin/settings.py); chat is the engine's."""
    return {
        "engine_address": engine_socket, "autostart_engine": False, "media_source": MEDIA_SOURCE,
        "create_media_source": True, "media_in_all_scenes": True, "scene_messages_enabled": True,
        **extra,
    }


@contextlib.contextmanager
def running_stack(*, script: Path = PLUGIN,
                  settings: Callable[[str], dict[str, Any]] | None = None,
                  keep_dir: bool = False, obs_timeout_s: float = 90,
                  screen: tuple[int, int] = (1280, 720)) -> Iterator[Stack]:
    """Start everything; ``settings(engine_socket)`` gives the script's settings."""
    # A short path: Unix socket paths are limited to ~100 bytes.
    workdir = Path(tempfile.mkdtemp(prefix="e2e-obs-"))
    with contextlib.ExitStack() as stack:
        if not keep_dir:
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        display = stack.enter_context(Xvfb(log_path=workdir / "xvfb.log", size=screen))
        (workdir / "irc").mkdir()
        ircd = Ngircd(workdir / "irc", ping_timeout_s=120)
        stack.callback(ircd.stop)
        ircd.start()
        viewers = Viewers(ircd.port, CHANNEL)
        stack.callback(viewers.close)
        engine = EngineProcess(workdir / "engine", socket_path=workdir / "run" / "engine.sock",
                               irc_port=ircd.port)
        stack.callback(engine.stop)
        engine.start()
        seed = (settings or (lambda s: plugin_settings(engine_socket=s)))(engine.unix)
        cfg = obs_config.ObsConfig(home=workdir / "home", recordings=workdir / "rec",
                                   ws_port=_free_port(), script=script, script_settings=seed)
        obs_config.write(cfg)
        obs = ObsProcess(cfg, display=display.display, log_path=workdir / "obs.out")
        stack.callback(_stop_obs, obs)
        obs.start()
        ws = ObsWebSocket(cfg.ws_port)
        stack.callback(ws.close)
        stack.callback(_stop_recording, ws)
        try:
            ws.connect(timeout_s=obs_timeout_s)
        except ObsRequestError as exc:
            obs.check_alive()
            raise HarnessError(f"{exc}\nOBS output:\n{obs.tail()}") from None
        yield Stack(workdir, display, ircd, viewers, engine, obs, ws, cfg)


def _stop_obs(obs: ObsProcess) -> None:
    how = obs.stop()
    _LOGGER.info("OBS stopped: %s", how)


def _stop_recording(ws: ObsWebSocket) -> None:
    """Before OBS closes: a recording still running is stopped so its file is finished."""
    with contextlib.suppress(Exception):
        if ws.request("GetRecordStatus", timeout_s=5)["outputActive"]:
            ws.request("StopRecord", timeout_s=30)


def _wait(check: Callable[[], Any], *, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise TimeoutError(f"{what} did not happen within {timeout_s:g} s")


def _newest(folder: Path) -> Path:
    files = sorted(folder.glob("*.mkv"), key=lambda p: p.stat().st_mtime)
    if not files:
        raise HarnessError(f"no recording in {folder}")
    return files[-1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
