"""The Media Source (``ffmpeg_source``) the speech plays through: found or created and added to
the scenes (``ensure_source``, OBS's UI thread: frontend calls belong there), and driven as a
``playback.Player`` (``MediaPlayer``, the timer's thread only)."""

from __future__ import annotations

import threading
from typing import Any

import obspython as obs

SOURCE_KIND = "ffmpeg_source"
_ENDED = {"count": 0}
_ENDED_LOCK = threading.Lock()
_CONNECTED: dict[str, Any] = {}
"""Name of the source whose ``media_ended`` signal is connected (only one at a time)."""


def on_media_ended(calldata: Any) -> None:
    """Signal callback (media thread): count ends; the timer compares counts."""
    with _ENDED_LOCK:
        _ENDED["count"] += 1


def media_settings(data: Any, *, path: str) -> None:
    """Settings for one part: a finished local WAV.

    Measured in OBS 29.0.2 (see README-settings.md): a network URL (``is_local_file`` off) makes
    the source "reconnect" after the clip ends, replaying it, and the next settings update then
    waits (holding Python's lock) for that reconnect; a URL in local-file mode breaks off when
    ffmpeg seeks at the start, and a non-seekable stream there crashed OBS's media thread. So
    every part is a local file; the engine splits long texts into parts, so playback still starts
    after the first one."""
    obs.obs_data_set_bool(data, "is_local_file", True)
    obs.obs_data_set_string(data, "local_file", path)
    obs.obs_data_set_bool(data, "looping", False)
    obs.obs_data_set_bool(data, "restart_on_activate", False)
    obs.obs_data_set_bool(data, "close_when_inactive", False)
    obs.obs_data_set_bool(data, "clear_on_media_end", True)
    obs.obs_data_set_bool(data, "hw_decode", False)


class _Held:
    """``with _Held(obs.obs_get_source_by_name(name)) as src``: released on exit."""

    def __init__(self, source: Any) -> None:
        self.source = source

    def __enter__(self) -> Any:
        return self.source

    def __exit__(self, *exc: object) -> None:
        if self.source is not None:
            obs.obs_source_release(self.source)


def ensure_source(name: str, *, create: bool, all_scenes: bool) -> str:
    """Find or create the Media Source and add it to the current scene (or every scene).
    Returns what was done, for the log ('' when nothing changed)."""
    done = []
    with _Held(obs.obs_get_source_by_name(name)) as src:
        if src is None:
            if not create:
                return f"no source named {name!r}; pick one or turn on 'create'"
            data = obs.obs_data_create()
            media_settings(data, path="")
            src = obs.obs_source_create(SOURCE_KIND, name, data, None)
            obs.obs_data_release(data)
            if src is None:
                return f"could not create the Media Source {name!r}"
            done.append(f"created the Media Source {name!r}")
            try:
                done += _place(src, name, all_scenes)
            finally:
                obs.obs_source_release(src)
        else:
            done += _place(src, name, all_scenes)
    return "; ".join(done)


def _place(src: Any, name: str, all_scenes: bool) -> list[str]:
    added = []
    current = obs.obs_frontend_get_current_scene()
    scenes = (obs.obs_frontend_get_scenes() or []) if all_scenes else []
    try:
        current_name = obs.obs_source_get_name(current) if current is not None else None
        targets = ([current] if current is not None else []) + [
            s for s in scenes if obs.obs_source_get_name(s) != current_name
        ]
        for scene_src in targets:
            scene = obs.obs_scene_from_source(scene_src)
            if scene is not None and obs.obs_scene_find_source_recursive(scene, name) is None:
                obs.obs_scene_add(scene, src)
                added.append(f"added it to scene {obs.obs_source_get_name(scene_src)!r}")
    finally:
        if current is not None:
            obs.obs_source_release(current)
        obs.source_list_release(scenes)
    return added


def connect_signals(name: str) -> None:
    if _CONNECTED.get("name") == name:
        return
    disconnect_signals()
    with _Held(obs.obs_get_source_by_name(name)) as src:
        if src is not None:
            obs.signal_handler_connect(obs.obs_source_get_signal_handler(src), "media_ended", on_media_ended)
            _CONNECTED["name"] = name


def disconnect_signals() -> None:
    name = _CONNECTED.pop("name", None)
    if name is None:
        return
    with _Held(obs.obs_get_source_by_name(name)) as src:
        if src is not None:
            obs.signal_handler_disconnect(
                obs.obs_source_get_signal_handler(src), "media_ended", on_media_ended
            )


def media_source_names() -> list[str]:
    """Media Sources that exist now, for the picker."""
    names = []
    sources = obs.obs_enum_sources() or []
    try:
        for src in sources:
            if obs.obs_source_get_unversioned_id(src) == SOURCE_KIND:
                names.append(obs.obs_source_get_name(src))
    finally:
        obs.source_list_release(sources)
    return sorted(names)


class MediaPlayer:
    """``playback.Player`` over the named Media Source."""

    def __init__(self, name: str) -> None:
        self.name = name

    def play(self, path: str) -> bool:
        with _Held(obs.obs_get_source_by_name(self.name)) as src:
            if src is None:
                return False
            connect_signals(self.name)
            data = obs.obs_data_create()
            media_settings(data, path=path)
            obs.obs_source_update(src, data)  # opens and starts it (restart_on_activate is off)
            obs.obs_data_release(data)
            return True

    def state(self) -> int:
        with _Held(obs.obs_get_source_by_name(self.name)) as src:
            return int(obs.obs_source_media_get_state(src)) if src is not None else 0

    def stop(self) -> None:
        with _Held(obs.obs_get_source_by_name(self.name)) as src:
            if src is not None:
                obs.obs_source_media_stop(src)

    def set_paused(self, paused: bool) -> None:
        with _Held(obs.obs_get_source_by_name(self.name)) as src:
            if src is not None:
                obs.obs_source_media_play_pause(src, paused)

    def ended_count(self) -> int:
        with _ENDED_LOCK:
            return _ENDED["count"]
