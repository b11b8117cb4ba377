"""The plugin's settings, each declared ONCE here: key, type, default, label and help.

``script_defaults``, the OBS properties (``properties.py``), the table in ``tts_plugin``'s
docstring and ``README-settings.md`` (``settings_doc.py``) are all made from ``DECLARED``.
Keys are stable: scene collections (and the end-to-end tests) pre-seed them.

Chat reading, filters, templates and voices are no longer plugin settings: the engine owns them
(``config.yaml`` ``sources.twitch`` and ``chat:``). ``settings_doc.MOVED`` says where each went.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SLOTS = 5
"""Number of hotkey announcement slots."""


@dataclass(frozen=True)
class Setting:
    key: str
    """Settings key; ``{n}`` in a slot setting's key is the slot number 1..SLOTS."""
    kind: str
    """``str``, ``bool`` or ``int``."""
    default: Any
    label: str
    """The OBS property's label."""
    help: str
    """One sentence for the README and the property's tooltip."""
    group: str
    """``engine``, ``media``, ``announcements`` or ``scenes``: the properties group it shows in."""
    widget: str = ""
    """How it is edited: ``""`` (plain field), ``multiline``, ``voice``, ``backend``, ``media``."""

    def expand(self) -> tuple[Setting, ...]:
        """A slot setting becomes one setting per slot; others are themselves."""
        if "{n}" not in self.key:
            return (self,)
        return tuple(
            Setting(
                self.key.format(n=n),
                self.kind,
                self.default,
                self.label.format(n=n),
                self.help.format(n=n),
                self.group,
                self.widget,
            )
            for n in range(1, SLOTS + 1)
        )


GROUPS = (
    ("engine", "Engine"),
    ("media", "Media Source"),
    ("announcements", "Hotkey announcements"),
    ("scenes", "Scene messages"),
)
"""(group, title), in the order the properties show them."""

DECLARED: tuple[Setting, ...] = (
    Setting("engine_address", "str", "", "Engine address",
            "Unix socket path or host:port; empty = the engine's default socket if it exists, else "
            "127.0.0.1:8000", "engine"),
    Setting("autostart_engine", "bool", False, "Start the engine if it is not running",
            "Start <repo>/.venv/bin/python -m engine serve when no engine answers; it stops with OBS",
            "engine"),
    Setting("test_text", "str", "This is a test of text to speech in OBS.", "Test line",
            "Line the 'Speak a test line' button sends to the engine", "engine"),
    Setting("media_source", "str", "TTS Audio", "Media Source",
            "Name of the Media Source that plays the speech", "media", "media"),
    Setting("create_media_source", "bool", True, "Create the Media Source if missing",
            "Create the Media Source (ffmpeg_source) when no source has that name", "media"),
    Setting("media_in_all_scenes", "bool", True, "Add it to every scene",
            "Add the Media Source to every scene so speech is heard in all", "media"),
    Setting("slot{n}_text", "str", "", "Announcement {n} text",
            "Announcement {n}: text sent when its hotkey is pressed ({{time}}, {{scene}})",
            "announcements"),
    Setting("slot{n}_voice", "str", "", "Announcement {n} voice",
            "Announcement {n}: voice (empty = the engine's default)", "announcements", "voice"),
    Setting("slot{n}_backend", "str", "", "Announcement {n} backend",
            "Announcement {n}: backend (empty = the engine's routing)", "announcements", "backend"),
    Setting("scene_messages_enabled", "bool", True, "Speak a message when the scene changes",
            "Send a scene message when the program scene changes", "scenes"),
    Setting("scene_messages", "str", "", "Scene messages (Scene name=text, one per line)",
            "Lines of 'Scene name=text' ({scene}, {previous}, {time}); '*=text' for every other scene",
            "scenes", "multiline"),
    Setting("scene_voice", "str", "", "Voice for scene messages",
            "Voice for scene messages (empty = the engine's default)", "scenes", "voice"),
    Setting("scene_backend", "str", "", "Backend for scene messages",
            "Backend for scene messages (empty = the engine's routing)", "scenes", "backend"),
)


def _concrete(declared: tuple[Setting, ...]) -> tuple[Setting, ...]:
    """Slot settings once per slot, slot by slot (text, voice, backend of slot 1, then slot 2, ...),
    where the first slot setting was declared."""
    slot_decls = [d for d in declared if "{n}" in d.key]
    out: list[Setting] = []
    for d in declared:
        if "{n}" not in d.key:
            out.append(d)
        elif d is slot_decls[0]:
            out += [decl.expand()[n] for n in range(SLOTS) for decl in slot_decls]
    return tuple(out)


SETTINGS: tuple[Setting, ...] = _concrete(DECLARED)
"""Every concrete key, in the order the properties show them."""
BY_KEY = {s.key: s for s in SETTINGS}


@dataclass(frozen=True)
class Slot:
    text: str = ""
    voice: str = ""
    backend: str = ""


@dataclass(frozen=True)
class PluginSettings:
    """The settings as the plugin uses them (parsed, cleaned); built by ``from_values``."""

    engine_address: str = ""
    autostart_engine: bool = False
    test_text: str = "This is a test of text to speech in OBS."
    media_source: str = "TTS Audio"
    create_media_source: bool = True
    media_in_all_scenes: bool = True
    slots: tuple[Slot, ...] = tuple(Slot() for _ in range(SLOTS))
    scene_messages_enabled: bool = True
    scene_messages: tuple[tuple[str, str], ...] = ()
    """(scene name, template) pairs; ``*`` is every scene without its own."""
    scene_voice: str = ""
    scene_backend: str = ""

    @classmethod
    def from_getter(cls, get: Callable[[str, str], Any]) -> PluginSettings:
        """Build from ``get(key, kind)`` (OBS data, or a dict in tests); bad values fall back."""
        return cls.from_values({s.key: get(s.key, s.kind) for s in SETTINGS})

    @classmethod
    def from_values(cls, raw: dict[str, Any]) -> PluginSettings:
        v = {s.key: coerce(raw.get(s.key, s.default), s) for s in SETTINGS}
        slots = tuple(
            Slot(v[f"slot{n}_text"].strip(), v[f"slot{n}_voice"].strip(), v[f"slot{n}_backend"].strip())
            for n in range(1, SLOTS + 1)
        )
        return cls(
            engine_address=v["engine_address"].strip(),
            autostart_engine=v["autostart_engine"],
            test_text=v["test_text"].strip(),
            media_source=v["media_source"].strip() or str(BY_KEY["media_source"].default),
            create_media_source=v["create_media_source"],
            media_in_all_scenes=v["media_in_all_scenes"],
            slots=slots,
            scene_messages_enabled=v["scene_messages_enabled"],
            scene_messages=tuple(parse_pairs(v["scene_messages"]).items()),
            scene_voice=v["scene_voice"].strip(),
            scene_backend=v["scene_backend"].strip(),
        )

    def scene_template(self, scene: str) -> str:
        pairs = dict(self.scene_messages)
        return pairs.get(scene, pairs.get("*", ""))


def coerce(value: Any, setting: Setting) -> Any:
    """``value`` if it has the setting's type, else the setting's default."""
    if setting.kind == "bool":
        return value if isinstance(value, bool) else setting.default
    if setting.kind == "int":
        return value if isinstance(value, int) and not isinstance(value, bool) else setting.default
    return value if isinstance(value, str) else setting.default


def parse_pairs(text: str) -> dict[str, str]:
    """Lines of ``key=value``; lines without both parts are ignored."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.strip() and value.strip():
            out[key.strip()] = value.strip()
    return out
