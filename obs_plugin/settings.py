"""The plugin's settings: every key, its type, default and meaning, parsed into a frozen dataclass.

Keys are stable: scene collections (and the end-to-end test) pre-seed them. The table at the
top of ``tts_plugin.py`` and ``README-settings.md`` list the same keys; a unit test checks it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable

SLOTS = 5
"""Number of hotkey announcement slots."""


@dataclass(frozen=True)
class Setting:
    key: str
    kind: str
    """``str``, ``bool`` or ``int``."""
    default: Any
    meaning: str


_BASE = (
    Setting(
        "engine_address",
        "str",
        "",
        "Unix socket path or host:port; empty = the default socket if it exists, else 127.0.0.1:8000",
    ),
    Setting(
        "autostart_engine",
        "bool",
        False,
        "Start <repo>/.venv/bin/python -m engine serve when no engine answers",
    ),
    Setting(
        "subscribe_announcements",
        "bool",
        True,
        "Hold GET /v1/subscribe open and speak what POST /v1/say sends",
    ),
    Setting("media_source", "str", "TTS Audio", "Name of the Media Source that plays the speech"),
    Setting("create_media_source", "bool", True, "Create the Media Source (ffmpeg_source) if missing"),
    Setting(
        "media_in_all_scenes", "bool", True, "Add the Media Source to every scene so speech is heard in all"
    ),
    Setting(
        "playback_mode",
        "str",
        "stream",
        "stream = long texts are split into sentences, so playback starts "
        "once the first is ready; file = one WAV per message",
    ),
    Setting("max_playback_s", "int", 30, "Cut a message that plays longer than this (seconds, 0 = no limit)"),
    Setting("default_voice", "str", "", "Voice for everything without its own (empty = engine default)"),
    Setting("default_backend", "str", "", "Backend for everything without its own (empty = engine routing)"),
    Setting("test_text", "str", "This is a test of text to speech in OBS.", "Line spoken by the test button"),
    Setting("chat_deadline_s", "int", 30, "Chat not started within this many seconds is dropped (counted)"),
    Setting("max_queue", "int", 50, "Messages waiting at most; chat beyond it is dropped"),
    Setting("chat_enabled", "bool", False, "Read Twitch chat"),
    Setting("twitch_channel", "str", "", "Channel to read (without #)"),
    Setting("irc_host", "str", "irc.chat.twitch.tv", "IRC server host"),
    Setting("irc_port", "int", 6697, "IRC server port"),
    Setting("irc_tls", "bool", True, "Connect with TLS"),
    Setting("chat_mode", "str", "command", "command = only lines starting with the prefix; all = every line"),
    Setting("command_prefix", "str", "!tts", "Prefix in command mode (removed before speaking)"),
    Setting("min_length", "int", 2, "Shortest message spoken (characters, after cleaning)"),
    Setting("max_length", "int", 300, "Longest message spoken (characters, after cleaning)"),
    Setting("remove_links", "bool", True, "Remove URLs from messages"),
    Setting("skip_emote_only", "bool", True, "Skip messages made only of emotes (Twitch emote tags)"),
    Setting("blocked_words", "str", "", "Comma-separated words; a message containing one is skipped"),
    Setting("blocked_users", "str", "", "Comma-separated logins never spoken"),
    Setting("allowed_users", "str", "", "Comma-separated logins; when set, only they are spoken"),
    Setting("roles_only", "bool", False, "Only subscribers, moderators, VIPs and the broadcaster"),
    Setting("user_cooldown_s", "int", 10, "Seconds before the same user is spoken again (0 = none)"),
    Setting(
        "chat_template",
        "str",
        "{user} says {message}",
        "What is spoken; {user}, {message}, {bits}, {channel}",
    ),
    Setting("chat_backend", "str", "", "Backend for chat (empty = default backend)"),
    Setting("voice_pool", "str", "", "Comma-separated voices; each user gets a stable one by name hash"),
    Setting("voice_map", "str", "", "Lines or commas of user=voice, overriding the pool"),
    Setting("scene_messages_enabled", "bool", True, "Speak a message when the program scene changes"),
    Setting(
        "scene_messages",
        "str",
        "",
        "Lines of 'Scene name=text' ({scene}, {previous}); '*=text' for every other scene",
    ),
    Setting("scene_voice", "str", "", "Voice for scene messages (empty = default voice)"),
    Setting("scene_backend", "str", "", "Backend for scene messages (empty = default backend)"),
)
_SLOT = tuple(
    s
    for n in range(1, SLOTS + 1)
    for s in (
        Setting(f"slot{n}_text", "str", "", f"Announcement {n}: text ({{time}}, {{scene}})"),
        Setting(f"slot{n}_voice", "str", "", f"Announcement {n}: voice (empty = default voice)"),
        Setting(
            f"slot{n}_backend",
            "str",
            "",
            f"Announcement {n}: backend (empty = default backend, else "
            "the engine's routing: announcements go to XTTS when it is enabled)",
        ),
    )
)
SETTINGS: tuple[Setting, ...] = _BASE + _SLOT
BY_KEY = {s.key: s for s in SETTINGS}


@dataclass(frozen=True)
class Slot:
    text: str = ""
    voice: str = ""
    backend: str = ""


@dataclass(frozen=True)
class PluginSettings:
    engine_address: str = ""
    autostart_engine: bool = False
    subscribe_announcements: bool = True
    media_source: str = "TTS Audio"
    create_media_source: bool = True
    media_in_all_scenes: bool = True
    playback_mode: str = "stream"
    max_playback_s: int = 30
    default_voice: str = ""
    default_backend: str = ""
    test_text: str = ""
    chat_deadline_s: int = 30
    max_queue: int = 50
    chat_enabled: bool = False
    twitch_channel: str = ""
    irc_host: str = "irc.chat.twitch.tv"
    irc_port: int = 6697
    irc_tls: bool = True
    chat_mode: str = "command"
    command_prefix: str = "!tts"
    min_length: int = 2
    max_length: int = 300
    remove_links: bool = True
    skip_emote_only: bool = True
    blocked_words: tuple[str, ...] = ()
    blocked_users: frozenset[str] = frozenset()
    allowed_users: frozenset[str] = frozenset()
    roles_only: bool = False
    user_cooldown_s: int = 10
    chat_template: str = "{user} says {message}"
    chat_backend: str = ""
    voice_pool: tuple[str, ...] = ()
    voice_map: dict[str, str] = field(default_factory=dict)
    scene_messages_enabled: bool = True
    scene_messages: dict[str, str] = field(default_factory=dict)
    scene_voice: str = ""
    scene_backend: str = ""
    slots: tuple[Slot, ...] = ()

    @classmethod
    def from_getter(cls, get: Callable[[str, str], Any]) -> PluginSettings:
        """Build from ``get(key, kind)`` (OBS data, or a dict in tests); bad values fall back."""
        raw = {s.key: _coerce(get(s.key, s.kind), s) for s in SETTINGS}
        return cls.from_values(raw)

    @classmethod
    def from_values(cls, raw: dict[str, Any]) -> PluginSettings:
        values = {s.key: _coerce(raw.get(s.key, s.default), s) for s in SETTINGS}
        slots = tuple(
            Slot(
                values.pop(f"slot{n}_text").strip(),
                values.pop(f"slot{n}_voice").strip(),
                values.pop(f"slot{n}_backend").strip(),
            )
            for n in range(1, SLOTS + 1)
        )
        values["playback_mode"] = "file" if values["playback_mode"].strip().lower() == "file" else "stream"
        values["chat_mode"] = "all" if values["chat_mode"].strip().lower() == "all" else "command"
        values["twitch_channel"] = values["twitch_channel"].strip().lstrip("#").lower()
        values["blocked_words"] = tuple(w.lower() for w in split_list(values["blocked_words"]))
        values["blocked_users"] = frozenset(
            u.lower().lstrip("@") for u in split_list(values["blocked_users"])
        )
        values["allowed_users"] = frozenset(
            u.lower().lstrip("@") for u in split_list(values["allowed_users"])
        )
        values["voice_pool"] = tuple(split_list(values["voice_pool"]))
        values["voice_map"] = {k.lower().lstrip("@"): v for k, v in parse_pairs(values["voice_map"]).items()}
        values["scene_messages"] = parse_pairs(values["scene_messages"], commas=False)
        for key in ("max_playback_s", "chat_deadline_s", "user_cooldown_s", "min_length", "max_length"):
            values[key] = max(0, values[key])
        values["max_queue"] = max(1, values["max_queue"])
        return cls(slots=slots, **values)


def _coerce(value: Any, setting: Setting) -> Any:
    if setting.kind == "bool":
        return value if isinstance(value, bool) else setting.default
    if setting.kind == "int":
        return value if isinstance(value, int) and not isinstance(value, bool) else setting.default
    return value if isinstance(value, str) else setting.default


def split_list(text: str) -> list[str]:
    """``"a, b\\nc"`` -> ``["a", "b", "c"]`` (empty items dropped)."""
    return [p.strip() for p in text.replace("\n", ",").split(",") if p.strip()]


def parse_pairs(text: str, *, commas: bool = True) -> dict[str, str]:
    """Lines (and, with ``commas``, comma-separated items) of ``key=value``; others are ignored."""
    out: dict[str, str] = {}
    items = split_list(text) if commas else [line.strip() for line in text.splitlines()]
    for item in items:
        key, sep, value = item.partition("=")
        if sep and key.strip() and value.strip():
            out[key.strip()] = value.strip()
    return out
