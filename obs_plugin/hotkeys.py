"""Frontend hotkeys: announcement slots, skip, clear queue, pause/resume.

Callbacks are plain module-level functions (OBS matches them by identity); they run on OBS's
scripting thread and only hand an action name to ``dispatch`` (which queues it for the timer).
Bindings are saved in ``script_save`` with ``obs_hotkey_save`` and restored in ``script_load``
with ``obs_hotkey_load``: OBS does not restore a script's bindings by itself.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Callable

import obspython as obs

from settings import SLOTS

PREFIX = "streamer_tts."
_dispatch: dict[str, Callable[[str], None]] = {}
_ids: dict[str, int] = {}


def _fire(action: str, pressed: bool) -> None:
    handler = _dispatch.get("handler")
    if pressed and handler is not None:
        handler(action)


def announce_1(pressed: bool) -> None:
    _fire("announce_1", pressed)


def announce_2(pressed: bool) -> None:
    _fire("announce_2", pressed)


def announce_3(pressed: bool) -> None:
    _fire("announce_3", pressed)


def announce_4(pressed: bool) -> None:
    _fire("announce_4", pressed)


def announce_5(pressed: bool) -> None:
    _fire("announce_5", pressed)


def skip(pressed: bool) -> None:
    _fire("skip", pressed)


def clear(pressed: bool) -> None:
    _fire("clear", pressed)


def pause(pressed: bool) -> None:
    _fire("pause", pressed)


_ANNOUNCERS = (announce_1, announce_2, announce_3, announce_4, announce_5)
assert len(_ANNOUNCERS) == SLOTS, "one module-level callback per announcement slot"
HOTKEYS: tuple[tuple[str, str, Callable[[bool], None]], ...] = (
    *((f"announce_{i + 1}", f"TTS: announcement {i + 1}", fn) for i, fn in enumerate(_ANNOUNCERS)),
    ("skip", "TTS: skip the current message", skip),
    ("clear", "TTS: clear the queue", clear),
    ("pause", "TTS: pause / resume", pause),
)
"""(action, description, callback). The hotkey's name is ``PREFIX + action``; its binding is
saved in the script settings under ``"hotkey_" + action``."""


def settings_key(action: str) -> str:
    return "hotkey_" + action


def register(settings: Any, handler: Callable[[str], None]) -> None:
    """Register every hotkey and load its saved binding from ``settings``."""
    _dispatch["handler"] = handler
    for action, description, callback in HOTKEYS:
        if action in _ids:
            continue
        hotkey_id = obs.obs_hotkey_register_frontend(PREFIX + action, description, callback)
        _ids[action] = hotkey_id
        saved = obs.obs_data_get_array(settings, settings_key(action))
        obs.obs_hotkey_load(hotkey_id, saved)
        obs.obs_data_array_release(saved)


def save(settings: Any) -> None:
    for action, hotkey_id in _ids.items():
        saved = obs.obs_hotkey_save(hotkey_id)
        obs.obs_data_set_array(settings, settings_key(action), saved)
        obs.obs_data_array_release(saved)


def forget() -> None:
    """On unload: OBS's scripting host unregisters a script's hotkeys itself."""
    _ids.clear()
    _dispatch.clear()
