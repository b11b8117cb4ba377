"""Streamer TTS for OBS Studio: OBS's face of the streamer-tts engine (docs/hub.md).

It sends hotkey announcements and scene messages to the engine as events, plays what the engine
publishes (chat, announcements, ``/v1/say``) through a Media Source, and reports playback back.
Chat reading, filters and voices live in the engine (``config.yaml``; see README-settings.md).

Add this file in OBS under Tools -> Scripts. Standard library only; Python 3.9+.

OBS's threads never wait: every callback below only posts a typed message for the timer (one
thread changes all plugin state), or makes quick OBS calls on OBS's UI thread (the Media Source
is created there, where frontend calls belong). Hotkeys (Settings -> Hotkeys, names for
obs-websocket TriggerHotkeyByName): streamer_tts.announce_1 .. streamer_tts.announce_5,
streamer_tts.skip, streamer_tts.clear, streamer_tts.pause (toggles pause / resume).

"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import sys
import threading
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:  # OBS adds it; plain imports (tests, other hosts) may not
    sys.path.insert(0, _HERE)

import obspython as obs  # noqa: E402

import hotkeys  # noqa: E402
import properties  # noqa: E402
import obs_media  # noqa: E402
import settings_doc  # noqa: E402
from controller import Controller  # noqa: E402
from messages import (FrontendLoaded, HotkeyPressed, OpenPageClicked, SceneChanged,  # noqa: E402
                      SettingsChanged, TestClicked)
from settings import SETTINGS, PluginSettings  # noqa: E402

__doc__ = (__doc__ or "") + settings_doc.docstring_table()

_LOGGER = logging.getLogger("streamer_tts.plugin")
TICK_MS = 25
"""The timer that drains results and drives playback (OBS's graphics thread; never blocks)."""
_STATE: dict[str, Any] = {}


class _ScriptLog(logging.Handler):
    """Plugin log records -> OBS's script log (Tools -> Scripts -> Script Log, and OBS's log file).

    Only OBS's own threads may call ``script_log`` (a call from one of our worker threads can crash
    OBS): records from Python-created threads wait in ``pending`` until the next timer tick."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()

    def emit(self, record: logging.LogRecord) -> None:
        thread = threading.current_thread()
        if thread is not threading.main_thread() and type(thread).__name__ != "_DummyThread":
            self.pending.put(record)
            return
        self._write(record)

    def flush_pending(self) -> None:
        for _ in range(100):
            try:
                record = self.pending.get_nowait()
            except queue.Empty:
                return
            self._write(record)

    def _write(self, record: logging.LogRecord) -> None:
        level = obs.LOG_WARNING if record.levelno >= logging.WARNING else obs.LOG_INFO
        if record.levelno >= logging.ERROR:
            level = obs.LOG_ERROR
        with contextlib.suppress(Exception):  # logging must never raise into OBS
            obs.script_log(level, "[streamer-tts] " + self.format(record))


_LOG_HANDLER = _ScriptLog()


def _setup_logging() -> None:
    logger = logging.getLogger("streamer_tts")
    if _LOG_HANDLER not in logger.handlers:
        logger.addHandler(_LOG_HANDLER)
    logger.setLevel(logging.DEBUG if os.environ.get("STREAMER_TTS_DEBUG") else logging.INFO)
    logger.propagate = False


def controller() -> Controller | None:
    return _STATE.get("controller")


# -- script lifecycle ------------------------------------------------------------------------------
def script_description() -> str:
    return (
        "<b>Streamer TTS</b><br>Plays what the streamer-tts engine says (chat, announcements) "
        "through a Media Source, and sends hotkey announcements and scene messages to it. Chat and "
        "its filters are set in the engine's config.yaml. Needs the engine "
        "(<code>.venv/bin/python -m engine serve</code>)."
    )


def script_defaults(settings: Any) -> None:
    for s in SETTINGS:
        if s.kind == "bool":
            obs.obs_data_set_default_bool(settings, s.key, s.default)
        elif s.kind == "int":
            obs.obs_data_set_default_int(settings, s.key, s.default)
        else:
            obs.obs_data_set_default_string(settings, s.key, s.default)


def script_load(settings: Any) -> None:
    _setup_logging()
    old = _STATE.pop("controller", None)
    if old is not None:  # loaded again without an unload
        old.close()
    ctl = Controller()
    _STATE["controller"] = ctl
    hotkeys.register(settings, lambda action: ctl.post(HotkeyPressed(action)))
    obs.obs_frontend_add_event_callback(on_frontend_event)
    obs.timer_remove(on_tick)
    obs.timer_add(on_tick, TICK_MS)


def script_update(settings: Any) -> None:
    """UI thread: parse the settings and post them; the timer applies them (no join, no network)."""
    ctl = controller()
    if ctl is None:
        return
    parsed = read_settings(settings)
    _STATE["settings"] = parsed
    ctl.post(SettingsChanged(parsed))
    scene = _current_scene_name()
    if scene:  # OBS has loaded (or the script was added while it runs): the scenes exist
        _ensure_media_source()
        if not _STATE.get("loaded"):
            _STATE["loaded"] = True
            ctl.post(FrontendLoaded(scene))


def script_save(settings: Any) -> None:
    hotkeys.save(settings)


def script_unload() -> None:
    """Returns within a few ms: the link's threads are joined by a reaper thread."""
    obs.timer_remove(on_tick)
    remove = getattr(obs, "obs_frontend_remove_event_callback", None)
    if remove is not None:
        remove(on_frontend_event)
    ctl = _STATE.pop("controller", None)
    _STATE.clear()
    if ctl is not None:
        ctl.close()
    hotkeys.forget()


def read_settings(settings: Any) -> PluginSettings:
    def get(key: str, kind: str) -> Any:
        if kind == "bool":
            return obs.obs_data_get_bool(settings, key)
        if kind == "int":
            return obs.obs_data_get_int(settings, key)
        return obs.obs_data_get_string(settings, key)

    return PluginSettings.from_getter(get)


# -- callbacks (module level: OBS matches them by identity) ----------------------------------------
def on_tick() -> None:
    ctl = controller()
    if ctl is not None:
        ctl.tick()
    _LOG_HANDLER.flush_pending()


def on_frontend_event(event: int) -> None:
    """UI thread: place the Media Source (OBS calls only), then post the event for the timer."""
    ctl = controller()
    if ctl is None:
        return
    if event == obs.OBS_FRONTEND_EVENT_FINISHED_LOADING:
        _ensure_media_source()
        _STATE["loaded"] = True
        ctl.post(FrontendLoaded(_current_scene_name()))
    elif event == obs.OBS_FRONTEND_EVENT_SCENE_CHANGED:
        settings = _STATE.get("settings")
        if _STATE.get("loaded") and settings is not None and settings.media_in_all_scenes:
            _ensure_media_source()  # a scene made since start-up gets it too
        ctl.post(SceneChanged(_current_scene_name()))


def _ensure_media_source() -> None:
    settings = _STATE.get("settings") or PluginSettings()
    done = obs_media.ensure_source(settings.media_source, create=settings.create_media_source,
                                   all_scenes=settings.media_in_all_scenes)
    if done:
        _LOGGER.info("%s", done)


def _current_scene_name() -> str:
    scene = obs.obs_frontend_get_current_scene()
    if scene is None:
        return ""
    try:
        return str(obs.obs_source_get_name(scene))
    finally:
        obs.obs_source_release(scene)


def on_test_clicked(props: Any, prop: Any) -> bool:
    ctl = controller()
    if ctl is not None:
        ctl.post(TestClicked())
    return on_refresh_clicked(props, prop)


def on_open_page_clicked(props: Any, prop: Any) -> bool:
    ctl = controller()
    if ctl is not None:
        ctl.post(OpenPageClicked())
    return False


def on_refresh_clicked(props: Any, prop: Any) -> bool:
    ctl = controller()
    status = obs.obs_properties_get(props, "status")
    if ctl is not None and status is not None:
        obs.obs_property_set_description(status, ctl.status_text())
    return True


# -- properties ------------------------------------------------------------------------------------
def script_properties() -> Any:
    return properties.build(controller(), on_test=on_test_clicked, on_refresh=on_refresh_clicked,
                            on_open_page=on_open_page_clicked)
