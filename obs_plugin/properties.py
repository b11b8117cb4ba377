"""The script's properties (Tools -> Scripts): groups for the engine, playback, announcements,
scene messages, chat and filters, a read-only status line and two buttons. Voice and backend
fields are editable lists filled from the engine once it has answered."""

from __future__ import annotations

from typing import Any
from collections.abc import Callable

import obspython as obs

import obs_media
from controller import Controller
from settings import SLOTS

_CTL: dict[str, Controller | None] = {}
"""The controller the properties being built describe (set by ``build``)."""


def build(ctl: Controller | None, *, on_test: Callable[..., bool], on_refresh: Callable[..., bool]) -> Any:
    """The script's properties; ``on_test``/``on_refresh`` are the (module-level) button callbacks."""
    _CTL["controller"] = ctl
    props = obs.obs_properties_create()
    obs.obs_properties_add_text(
        props, "status", ctl.status_text() if ctl else "Status: not loaded", obs.OBS_TEXT_INFO
    )
    obs.obs_properties_add_button(props, "refresh_status", "Refresh status", on_refresh)
    obs.obs_properties_add_button(props, "speak_test", "Speak a test line", on_test)
    _group(props, "engine_group", "Engine", _engine_props)
    _group(props, "playback_group", "Playback", _playback_props)
    _group(props, "announce_group", "Hotkey announcements", _announcement_props)
    _group(props, "scene_group", "Scene messages", _scene_props)
    _group(props, "chat_group", "Twitch chat", _chat_props)
    _group(props, "filter_group", "Chat filters", _filter_props)
    return props


def _group(props: Any, key: str, title: str, fill: Any) -> None:
    group = obs.obs_properties_create()
    fill(group)
    obs.obs_properties_add_group(props, key, title, obs.OBS_GROUP_NORMAL, group)


def _text(props: Any, key: str, label: str, multiline: bool = False) -> None:
    obs.obs_properties_add_text(
        props, key, label, obs.OBS_TEXT_MULTILINE if multiline else obs.OBS_TEXT_DEFAULT
    )


def _choices(
    props: Any, key: str, label: str, choices: list[tuple[str, str]], editable: bool = False
) -> None:
    kind = obs.OBS_COMBO_TYPE_EDITABLE if editable else obs.OBS_COMBO_TYPE_LIST
    prop = obs.obs_properties_add_list(props, key, label, kind, obs.OBS_COMBO_FORMAT_STRING)
    for name, value in choices:
        obs.obs_property_list_add_string(prop, name, value)


def _voice(props: Any, key: str, label: str) -> None:
    """An editable list of the engine's voices (type any name; empty = the default)."""
    ctl = _CTL.get("controller")
    _choices(props, key, label, [("(default)", "")] + (ctl.voice_choices() if ctl else []), editable=True)


def _backend(props: Any, key: str, label: str) -> None:
    ctl = _CTL.get("controller")
    names = ctl.backend_choices() if ctl else []
    _choices(props, key, label, [("(default)", "")] + [(n, n) for n in names], editable=True)


def _engine_props(props: Any) -> None:
    _text(props, "engine_address", "Engine address (socket path or host:port; empty = default)")
    obs.obs_properties_add_bool(props, "autostart_engine", "Start the engine if it is not running")
    obs.obs_properties_add_bool(
        props, "subscribe_announcements", "Speak announcements sent to the engine (/v1/say)"
    )
    _voice(props, "default_voice", "Default voice")
    _backend(props, "default_backend", "Default backend")


def _playback_props(props: Any) -> None:
    names = obs_media.media_source_names()
    ctl = _CTL.get("controller")
    current = ctl.settings.media_source if ctl else "TTS Audio"
    if current not in names:
        names.insert(0, current)
    _choices(props, "media_source", "Media Source", [(n, n) for n in names], editable=True)
    obs.obs_properties_add_bool(props, "create_media_source", "Create the Media Source if missing")
    obs.obs_properties_add_bool(props, "media_in_all_scenes", "Add it to every scene")
    _choices(
        props,
        "playback_mode",
        "Playback",
        [("Stream while synthesizing (fastest)", "stream"), ("Download a temp file first", "file")],
    )
    obs.obs_properties_add_int(props, "max_playback_s", "Maximum message length (s, 0 = none)", 0, 600, 1)
    obs.obs_properties_add_int(props, "max_queue", "Maximum waiting messages", 1, 500, 1)
    obs.obs_properties_add_int(
        props, "chat_deadline_s", "Drop chat waiting longer than (s, 0 = never)", 0, 3600, 1
    )
    _text(props, "test_text", "Test line")


def _announcement_props(props: Any) -> None:
    for n in range(1, SLOTS + 1):
        _text(props, f"slot{n}_text", f"Announcement {n} text")
        _voice(props, f"slot{n}_voice", f"Announcement {n} voice")
        _backend(props, f"slot{n}_backend", f"Announcement {n} backend")


def _scene_props(props: Any) -> None:
    obs.obs_properties_add_bool(props, "scene_messages_enabled", "Speak a message when the scene changes")
    _text(
        props,
        "scene_messages",
        "One per line: Scene name=text ({scene}, {previous}); *=text for others",
        True,
    )
    _voice(props, "scene_voice", "Voice for scene messages")
    _backend(props, "scene_backend", "Backend for scene messages")


def _chat_props(props: Any) -> None:
    obs.obs_properties_add_bool(props, "chat_enabled", "Read Twitch chat (anonymous)")
    _text(props, "twitch_channel", "Channel")
    _text(props, "irc_host", "IRC host")
    obs.obs_properties_add_int(props, "irc_port", "IRC port", 1, 65535, 1)
    obs.obs_properties_add_bool(props, "irc_tls", "Use TLS")
    _text(props, "chat_template", "Template ({user}, {message}, {bits})")
    _backend(props, "chat_backend", "Backend for chat")
    _text(props, "voice_pool", "Voice pool (comma-separated; stable voice per user)")
    _text(props, "voice_map", "Voices per user (user=voice, one per line)", True)


def _filter_props(props: Any) -> None:
    _choices(
        props, "chat_mode", "Which messages", [("Only commands (prefix)", "command"), ("All messages", "all")]
    )
    _text(props, "command_prefix", "Command prefix")
    obs.obs_properties_add_int(props, "min_length", "Minimum length", 0, 1000, 1)
    obs.obs_properties_add_int(props, "max_length", "Maximum length (0 = none)", 0, 1000, 1)
    obs.obs_properties_add_bool(props, "remove_links", "Remove links")
    obs.obs_properties_add_bool(props, "skip_emote_only", "Skip emote-only messages (and drop emotes)")
    _text(props, "blocked_words", "Blocked words (comma-separated)", True)
    _text(props, "blocked_users", "Blocked users (comma-separated)")
    _text(props, "allowed_users", "Only these users (comma-separated; empty = everyone)")
    obs.obs_properties_add_bool(props, "roles_only", "Only subscribers, moderators and VIPs")
    obs.obs_properties_add_int(props, "user_cooldown_s", "Per-user cooldown (s)", 0, 3600, 1)
