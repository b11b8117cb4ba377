"""A private X server (Xvfb) for OBS, plus the two X11 things the tests need: closing a window
the way a window manager's close button does (``WM_DELETE_WINDOW``) and a screenshot."""

from __future__ import annotations

import ctypes
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path

_LOGGER = logging.getLogger(__name__)
SCREEN = (1280, 720)
"""Default screen size in pixels (width, height)."""


class HarnessError(RuntimeError):
    """A piece of the end-to-end harness is missing or did not come up; the message says which."""


def require(tool: str, package: str) -> str:
    """The tool's path; a missing tool is a failure that names the apt package to install."""
    path = shutil.which(tool)
    if path is None:
        raise HarnessError(f"{tool!r} is not installed: the OBS end-to-end tests need it "
                           f"(apt-get install -y {package}; .ci/run installs it in CI)")
    return path


class Xvfb:
    """``with Xvfb() as x:`` a virtual screen on a free display number; ``x.display`` is ``:N``."""

    def __init__(self, *, log_path: Path, size: tuple[int, int] = SCREEN,
                 start_timeout_s: float = 10.0) -> None:
        self.log_path = log_path
        self.size = size
        self.start_timeout_s = start_timeout_s
        self.display = ""
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Xvfb:
        exe = require("Xvfb", "xvfb")
        size = self.size
        for number in _free_displays():
            display = f":{number}"
            log = self.log_path.open("ab")
            proc = subprocess.Popen([exe, display, "-screen", "0", f"{size[0]}x{size[1]}x24",
                                     "-nolisten", "tcp"], stdout=log, stderr=log)
            log.close()
            if _wait_socket(number, proc, self.start_timeout_s):
                self.display, self._proc = display, proc
                _LOGGER.info("Xvfb on %s (pid %d)", display, proc.pid)
                return self
            proc.kill()
            proc.wait(5)
        raise HarnessError(f"Xvfb did not start on any free display; see {self.log_path}")

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
            self._proc = None

    def press_key(self, key: str, *, hold_s: float) -> None:
        """Hold a key down on this display (OBS polls the keyboard every 25 ms, so a tap is missed)."""
        xdotool = require("xdotool", "xdotool")
        env = {**os.environ, "DISPLAY": self.display}
        subprocess.run([xdotool, "keydown", key], env=env, check=True, timeout=10)
        time.sleep(hold_s)
        subprocess.run([xdotool, "keyup", key], env=env, check=True, timeout=10)

    def screenshot(self, out: Path, *, crop: tuple[int, int, int, int] | None = None) -> Path:
        """Grab the screen with ffmpeg's x11grab; ``crop`` is (x, y, width, height)."""
        ffmpeg = require("ffmpeg", "ffmpeg")
        vf = ["-vf", "crop={2}:{3}:{0}:{1}".format(*crop)] if crop else []
        subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "x11grab",
                        "-video_size", f"{self.size[0]}x{self.size[1]}", "-i", self.display,
                        *vf, "-frames:v", "1", str(out)], check=True, timeout=30)
        return out


def _free_displays() -> list[int]:
    start = 100 + os.getpid() % 300
    return [n for n in range(start, start + 50) if not Path(f"/tmp/.X11-unix/X{n}").exists()
            and not Path(f"/tmp/.X{n}-lock").exists()]


def _wait_socket(number: int, proc: subprocess.Popen[bytes], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if Path(f"/tmp/.X11-unix/X{number}").exists():
            return True
        time.sleep(0.05)
    return False


class _ClientMessage(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                ("display", ctypes.c_void_p), ("window", ctypes.c_ulong),
                ("message_type", ctypes.c_ulong), ("format", ctypes.c_int),
                ("data", ctypes.c_long * 5), ("pad", ctypes.c_long * 12)]


def close_window(display: str, window: int) -> None:
    """Send ``WM_DELETE_WINDOW`` to ``window``, as a window manager's close button does."""
    x11 = ctypes.CDLL("libX11.so.6")
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long,
                               ctypes.c_void_p]
    x11.XFlush.argtypes = [ctypes.c_void_p]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    dpy = x11.XOpenDisplay(display.encode())
    if not dpy:
        raise HarnessError(f"cannot open X display {display}")
    try:
        event = _ClientMessage(type=33, send_event=1, display=dpy, window=window, format=32,
                               message_type=x11.XInternAtom(dpy, b"WM_PROTOCOLS", 0))
        event.data[0] = x11.XInternAtom(dpy, b"WM_DELETE_WINDOW", 0)
        x11.XSendEvent(dpy, window, 0, 0, ctypes.byref(event))  # ClientMessage = 33, no mask
        x11.XFlush(dpy)
    finally:
        x11.XCloseDisplay(dpy)
