"""A scripted, recording stand-in for OBS's ``obspython`` module (stdlib only).

It keeps just enough state to behave like OBS for the plugin: sources and scenes with reference
counts (``outstanding()`` must be 0 when the plugin has released everything), obs_data as dicts
with defaults, hotkeys with saved bindings, timers, frontend event callbacks, signals, and a Media
Source whose state a test scripts (``FakeSource.media_state``, ``FakeSource.end()``). Every call
is recorded in ``CALLS`` as ``(name, args)`` and in ``THREADS`` as ``(name, thread name)``.
Constants have OBS 29's values.

Like OBS, it calls back on its own threads: ``run_timers`` on ``obs-graphics``, ``fire_event``
and ``switch_scene`` on ``obs-ui``, ``press`` on ``obs-scripting`` (``on_thread`` runs anything
on a named thread), so a test can see which thread did what.
"""

from __future__ import annotations

import threading
from typing import Any
from collections.abc import Callable

LOG_ERROR, LOG_WARNING, LOG_INFO, LOG_DEBUG = 100, 200, 300, 400
OBS_TEXT_DEFAULT, OBS_TEXT_PASSWORD, OBS_TEXT_MULTILINE, OBS_TEXT_INFO = 0, 1, 2, 3
OBS_COMBO_TYPE_EDITABLE, OBS_COMBO_TYPE_LIST = 1, 2
OBS_COMBO_FORMAT_INT, OBS_COMBO_FORMAT_FLOAT, OBS_COMBO_FORMAT_STRING = 1, 2, 3
OBS_GROUP_NORMAL = 1
OBS_FRONTEND_EVENT_SCENE_CHANGED, OBS_FRONTEND_EVENT_EXIT = 8, 17
OBS_FRONTEND_EVENT_FINISHED_LOADING, OBS_FRONTEND_EVENT_SCRIPTING_SHUTDOWN = 26, 36
(
    OBS_MEDIA_STATE_NONE,
    OBS_MEDIA_STATE_PLAYING,
    OBS_MEDIA_STATE_OPENING,
    OBS_MEDIA_STATE_BUFFERING,
    OBS_MEDIA_STATE_PAUSED,
    OBS_MEDIA_STATE_STOPPED,
    OBS_MEDIA_STATE_ENDED,
    OBS_MEDIA_STATE_ERROR,
) = range(8)

CALLS: list[tuple[str, tuple[Any, ...]]] = []
THREADS: list[tuple[str, str]] = []
LOG: list[tuple[int, str]] = []
_lock = threading.Lock()
UI, GRAPHICS, SCRIPTING = "obs-ui", "obs-graphics", "obs-scripting"
"""Names of the threads OBS calls a script on (frontend events, timers, hotkeys)."""


def _rec(name: str, *args: Any) -> None:
    with _lock:
        CALLS.append((name, args))
        THREADS.append((name, threading.current_thread().name))


def on_thread(thread_name: str, fn: Callable[..., Any], *args: Any, timeout_s: float = 10.0) -> Any:
    """Run ``fn(*args)`` on a new thread named ``thread_name`` and wait for it (bounded); its
    exception, if any, is raised here."""
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["value"] = fn(*args)
        except BaseException as exc:  # handed to the caller
            result["error"] = exc

    thread = threading.Thread(target=run, name=thread_name)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise TimeoutError(f"{fn!r} on {thread_name} did not return within {timeout_s:g} s")
    if "error" in result:
        raise result["error"]
    return result.get("value")


class FakeData:
    def __init__(self, values: dict[str, Any] | None = None) -> None:
        self.values: dict[str, Any] = dict(values or {})
        self.defaults: dict[str, Any] = {}
        self.released = False

    def get(self, key: str, fallback: Any) -> Any:
        return self.values.get(key, self.defaults.get(key, fallback))


class FakeArray:
    def __init__(self, items: list[dict[str, Any]] | None = None) -> None:
        self.items = list(items or [])


class FakeSource:
    def __init__(self, kind: str, name: str, settings: dict[str, Any]) -> None:
        self.kind, self.name, self.settings = kind, name, dict(settings)
        self.media_state = OBS_MEDIA_STATE_NONE
        self.items: list[FakeSource] = []
        """For scenes: the sources in it."""
        self.handlers: dict[str, list[Callable[[Any], None]]] = {}
        self.restarts = 0
        self.paused = False

    def end(self) -> None:
        """Script the clip's end: state ENDED and the ``media_ended`` signal."""
        self.media_state = OBS_MEDIA_STATE_ENDED
        for cb in list(self.handlers.get("media_ended", [])):
            cb(None)


class World:
    """The OBS state the fake keeps (reset with ``reset()``)."""

    def __init__(self) -> None:
        self.sources: dict[str, FakeSource] = {}
        self.scenes: list[FakeSource] = []
        self.current: FakeSource | None = None
        self.refs = 0
        self.timers: list[tuple[Callable[[], None], int]] = []
        self.events: list[Callable[[int], None]] = []
        self.hotkeys: dict[int, tuple[str, str, Callable[[bool], None]]] = {}
        self.bindings: dict[int, list[dict[str, Any]]] = {}
        self.next_hotkey = 1
        self.loaded = False


WORLD = World()


def reset(*, scenes: tuple[str, ...] = ("Scene",), loaded: bool = True) -> World:
    """A fresh OBS with these scenes (the first is current); ``loaded=False``: before the scenes exist."""
    global WORLD
    WORLD = World()
    CALLS.clear()
    LOG.clear()
    for name in scenes:
        scene = FakeSource("scene", name, {})
        WORLD.sources[name] = scene
        WORLD.scenes.append(scene)
    WORLD.current = WORLD.scenes[0] if scenes and loaded else None
    WORLD.loaded = loaded
    THREADS.clear()
    return WORLD


def outstanding() -> int:
    """References handed out and not released."""
    return WORLD.refs


def _ref(src: FakeSource | None) -> Any:
    if src is not None:
        WORLD.refs += 1
    return src


# -- logging, timers, events -------------------------------------------------------------------------
def script_log(level: int, text: str) -> None:
    _rec("script_log", level, text)
    LOG.append((level, text))


def timer_add(cb: Callable[[], None], ms: int) -> None:
    _rec("timer_add", cb, ms)
    WORLD.timers.append((cb, ms))


def timer_remove(cb: Callable[[], None]) -> None:
    _rec("timer_remove", cb)
    WORLD.timers = [t for t in WORLD.timers if t[0] is not cb]


def obs_frontend_add_event_callback(cb: Callable[[int], None]) -> None:
    _rec("obs_frontend_add_event_callback", cb)
    WORLD.events.append(cb)


def obs_frontend_remove_event_callback(cb: Callable[[int], None]) -> None:
    _rec("obs_frontend_remove_event_callback", cb)
    WORLD.events = [e for e in WORLD.events if e is not cb]


def fire_event(event: int) -> None:
    """A frontend event, on OBS's UI thread."""
    for cb in list(WORLD.events):
        on_thread(UI, cb, event)


def switch_scene(name: str) -> None:
    """What OBS does on a scene switch: current scene changes, then SCENE_CHANGED fires."""
    WORLD.current = WORLD.sources[name]
    fire_event(OBS_FRONTEND_EVENT_SCENE_CHANGED)


def run_timers() -> None:
    """One round of the script's timers, on OBS's graphics thread."""
    for cb, _ in list(WORLD.timers):
        on_thread(GRAPHICS, cb)


# -- obs_data ----------------------------------------------------------------------------------------
def obs_data_create() -> FakeData:
    _rec("obs_data_create")
    WORLD.refs += 1
    return FakeData()


def obs_data_release(data: FakeData) -> None:
    _rec("obs_data_release", data)
    WORLD.refs -= 1
    data.released = True


def _setter(name: str) -> Callable[[FakeData, str, Any], None]:
    def setter(data: FakeData, key: str, value: Any) -> None:
        _rec(name, key, value)
        data.values[key] = value

    return setter


def _default_setter(name: str) -> Callable[[FakeData, str, Any], None]:
    def setter(data: FakeData, key: str, value: Any) -> None:
        _rec(name, key, value)
        data.defaults[key] = value

    return setter


obs_data_set_string = _setter("obs_data_set_string")
obs_data_set_bool = _setter("obs_data_set_bool")
obs_data_set_int = _setter("obs_data_set_int")
obs_data_set_default_string = _default_setter("obs_data_set_default_string")
obs_data_set_default_bool = _default_setter("obs_data_set_default_bool")
obs_data_set_default_int = _default_setter("obs_data_set_default_int")


def obs_data_get_string(data: FakeData, key: str) -> str:
    return str(data.get(key, ""))


def obs_data_get_bool(data: FakeData, key: str) -> bool:
    return bool(data.get(key, False))


def obs_data_get_int(data: FakeData, key: str) -> int:
    return int(data.get(key, 0))


def obs_data_get_array(data: FakeData, key: str) -> FakeArray | None:
    value = data.values.get(key)
    if value is None:
        return None
    WORLD.refs += 1
    return FakeArray(value.items if isinstance(value, FakeArray) else value)


def obs_data_set_array(data: FakeData, key: str, array: FakeArray) -> None:
    _rec("obs_data_set_array", key, list(array.items))
    data.values[key] = FakeArray(array.items)


def obs_data_array_release(array: FakeArray | None) -> None:
    if array is not None:
        WORLD.refs -= 1


# -- hotkeys -----------------------------------------------------------------------------------------
def obs_hotkey_register_frontend(name: str, description: str, cb: Callable[[bool], None]) -> int:
    _rec("obs_hotkey_register_frontend", name, description, cb)
    hotkey_id = WORLD.next_hotkey
    WORLD.next_hotkey += 1
    WORLD.hotkeys[hotkey_id] = (name, description, cb)
    WORLD.bindings[hotkey_id] = []
    return hotkey_id


def obs_hotkey_load(hotkey_id: int, array: FakeArray | None) -> None:
    _rec("obs_hotkey_load", hotkey_id, list(array.items) if array else None)
    WORLD.bindings[hotkey_id] = list(array.items) if array else []


def obs_hotkey_save(hotkey_id: int) -> FakeArray:
    _rec("obs_hotkey_save", hotkey_id)
    WORLD.refs += 1
    return FakeArray(WORLD.bindings.get(hotkey_id, []))


def bind(name: str, key: str) -> None:
    """The streamer binds a key to the hotkey ``name`` in OBS's settings."""
    hotkey_id = next(i for i, h in WORLD.hotkeys.items() if h[0] == name)
    WORLD.bindings[hotkey_id] = [{"key": key}]


def press(name: str) -> None:
    """A key press and release of the hotkey ``name``, on OBS's scripting thread."""
    cb = next(h[2] for h in WORLD.hotkeys.values() if h[0] == name)
    on_thread(SCRIPTING, cb, True)
    on_thread(SCRIPTING, cb, False)


# -- sources and scenes ------------------------------------------------------------------------------
def obs_get_source_by_name(name: str) -> FakeSource | None:
    _rec("obs_get_source_by_name", name)
    return _ref(WORLD.sources.get(name))


def obs_source_create(kind: str, name: str, data: FakeData | None, hotkeys: Any) -> FakeSource:
    _rec("obs_source_create", kind, name, dict(data.values) if data else {})
    src = FakeSource(kind, name, data.values if data else {})
    WORLD.sources[name] = src
    return _ref(src)


def obs_source_release(src: FakeSource | None) -> None:
    _rec("obs_source_release", getattr(src, "name", None))
    if src is not None:
        WORLD.refs -= 1


def obs_source_get_name(src: FakeSource) -> str:
    return src.name


def obs_source_get_unversioned_id(src: FakeSource) -> str:
    return src.kind


def obs_frontend_get_current_scene() -> FakeSource | None:
    return _ref(WORLD.current)


def obs_frontend_get_scenes() -> list[FakeSource]:
    WORLD.refs += len(WORLD.scenes) if WORLD.loaded else 0
    return list(WORLD.scenes) if WORLD.loaded else []


def obs_enum_sources() -> list[FakeSource]:
    out = [s for s in WORLD.sources.values() if s.kind != "scene"]
    WORLD.refs += len(out)
    return out


def source_list_release(sources: list[FakeSource]) -> None:
    WORLD.refs -= len(sources)


def obs_scene_from_source(src: FakeSource) -> FakeSource | None:
    return src if src is not None and src.kind == "scene" else None


def obs_scene_find_source_recursive(scene: FakeSource, name: str) -> Any:
    return next((s for s in scene.items if s.name == name), None)


def obs_scene_add(scene: FakeSource, src: FakeSource) -> Any:
    _rec("obs_scene_add", scene.name, src.name)
    scene.items.append(src)
    return object()


def obs_source_update(src: FakeSource, data: FakeData) -> None:
    _rec("obs_source_update", src.name, dict(data.values))
    src.settings.update(data.values)
    if (
        src.kind == "ffmpeg_source"
        and src.settings.get("local_file")
        and not src.settings.get("restart_on_activate")
    ):
        src.media_state = OBS_MEDIA_STATE_PLAYING  # ffmpeg_source_update opens and starts it, like OBS 29


def obs_source_media_restart(src: FakeSource) -> None:
    _rec("obs_source_media_restart", src.name)
    src.restarts += 1
    src.media_state = OBS_MEDIA_STATE_OPENING


def obs_source_media_get_state(src: FakeSource) -> int:
    return src.media_state


def obs_source_media_stop(src: FakeSource) -> None:
    _rec("obs_source_media_stop", src.name)
    src.media_state = OBS_MEDIA_STATE_STOPPED


def obs_source_media_play_pause(src: FakeSource, pause: bool) -> None:
    _rec("obs_source_media_play_pause", src.name, pause)
    src.paused = pause
    if src.media_state in (OBS_MEDIA_STATE_PLAYING, OBS_MEDIA_STATE_PAUSED):
        src.media_state = OBS_MEDIA_STATE_PAUSED if pause else OBS_MEDIA_STATE_PLAYING


def obs_source_get_signal_handler(src: FakeSource) -> FakeSource:
    return src


def signal_handler_connect(handler: FakeSource, signal: str, cb: Callable[[Any], None]) -> None:
    _rec("signal_handler_connect", handler.name, signal, cb)
    handler.handlers.setdefault(signal, []).append(cb)


def signal_handler_disconnect(handler: FakeSource, signal: str, cb: Callable[[Any], None]) -> None:
    _rec("signal_handler_disconnect", handler.name, signal, cb)
    handler.handlers[signal] = [c for c in handler.handlers.get(signal, []) if c is not cb]


# -- properties (fake_obs_properties.py: no OBS state there) -----------------------------------------
from fake_obs_properties import *  # noqa: E402, F403
