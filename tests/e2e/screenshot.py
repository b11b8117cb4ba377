"""Take the README's screenshot of the script's properties in a real headless OBS:
``python -m tests.e2e.screenshot docs/obs-properties.png``.

Starts the usual stack (Xvfb, engine, OBS with the plugin), opens Tools -> Scripts with real
key presses and clicks (xdotool), selects the script, enlarges the dialog and grabs the screen.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from .stack import Stack, plugin_settings, running_stack
from .xserver import HarnessError, require

SCREEN = (1300, 1400)
_LOGGER = logging.getLogger(__name__)


def settings(engine_socket: str) -> dict[str, Any]:
    """What a streamer would have: two announcements and a scene message (chat is the engine's)."""
    return plugin_settings(engine_socket=engine_socket,
                           slot1_text="Thanks for the raid, welcome everyone!", slot1_backend="piper",
                           slot2_text="Back in five minutes, grab a drink.",
                           scene_messages="BRB=We will be right back.")


def xdotool(stack: Stack, *args: str) -> str:
    out = subprocess.run([require("xdotool", "xdotool"), *args], capture_output=True, text=True,
                         env={**os.environ, "DISPLAY": stack.display.display}, timeout=10)
    return out.stdout.strip()


def open_scripts_dialog(stack: Stack, *, timeout_s: float = 15) -> int:
    """Tools -> Scripts through the menu bar (Alt+T, then the item); returns the dialog's window."""
    main = stack.obs.main_window()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        xdotool(stack, "windowfocus", str(main))
        xdotool(stack, "key", "--window", str(main), "alt+t")
        time.sleep(0.7)
        menu = _window_named(stack, "obs", min_height=120, max_width=400)
        if menu is not None:
            x, y, _, _ = _geometry(stack, menu)
            # "Scripts" is the 4th item below a separator; click it by its label's position
            xdotool(stack, "mousemove", str(x + 30), str(y + 121), "click", "1")
            time.sleep(1.5)
            dialog = _window_named(stack, "Scripts")
            if dialog is not None:
                return dialog
        xdotool(stack, "key", "Escape")
    raise HarnessError("could not open Tools -> Scripts")


def capture(stack: Stack, out: Path) -> Path:
    dialog = open_scripts_dialog(stack)
    width, height = SCREEN[0] - 20, SCREEN[1] - 20
    xdotool(stack, "windowmove", str(dialog), "10", "10")
    xdotool(stack, "windowsize", str(dialog), str(width), str(height))
    time.sleep(1.0)
    # select the script in "Loaded Scripts" so its properties show
    xdotool(stack, "mousemove", "80", "80", "click", "1")
    time.sleep(1.5)
    x, y, w, h = _geometry(stack, dialog)
    # drag the splitter between the script list and the properties (half-way across) to the left
    splitter_x, middle_y = x + _splitter_offset(width), y + h // 2
    xdotool(stack, "mousemove", str(splitter_x), str(middle_y), "mousedown", "1")
    xdotool(stack, "mousemove", str(splitter_x - 60), str(middle_y))
    xdotool(stack, "mousemove", str(x + 260), str(middle_y), "mouseup", "1")
    xdotool(stack, "mousemove", str(x + w // 3), str(y + 12))  # the pointer off the properties
    time.sleep(1.0)
    return stack.display.screenshot(out, crop=(x, y, w, h))


def _splitter_offset(width: int) -> int:
    """Where Qt puts the splitter handle in the Scripts dialog: half-way between its margins."""
    return 16 + (width - 32) // 2


def _window_named(stack: Stack, name: str, *, min_height: int = 0, max_width: int = 10**6) -> int | None:
    assert stack.obs.proc is not None
    for wid in xdotool(stack, "search", "--onlyvisible", "--pid", str(stack.obs.proc.pid),
                       "--name", name).split():
        if xdotool(stack, "getwindowname", wid) != name:
            continue
        _, _, w, h = _geometry(stack, int(wid))
        if h >= min_height and w <= max_width:
            return int(wid)
    return None


def _geometry(stack: Stack, window: int) -> tuple[int, int, int, int]:
    values = dict(line.split("=", 1) for line in
                  xdotool(stack, "getwindowgeometry", "--shell", str(window)).splitlines() if "=" in line)
    return int(values["X"]), int(values["Y"]), int(values["WIDTH"]), int(values["HEIGHT"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    with running_stack(settings=settings, screen=SCREEN) as stack:
        stack.wait_media_source(timeout_s=30)
        time.sleep(2)  # let the status line fill in
        print(capture(stack, args.out.resolve()))


if __name__ == "__main__":
    main()
