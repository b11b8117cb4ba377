"""Which chat lines are spoken, and how: the streamer's filters, the template and the voice.

``ChatFilter.decide(line, now)`` returns a ``Decision``: the text and voice to speak, or the
reason the line is skipped. Pure logic (no OBS, no network); the cooldown state lives here.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from typing import Any

from settings import PluginSettings

PRIVILEGED_BADGES = ("broadcaster", "moderator", "vip", "subscriber", "founder")
_LINK = re.compile(
    r"(?i)\b(?:https?://|www\.)\S+|\b[\w-]+(?:\.[\w-]+)*\.(?:com|net|org|tv|io|gg|ly|me|co|"
    r"be|de|uk|info|xyz|app|dev)(?:/\S*)?\b"
)
_SPACES = re.compile(r"\s+")
DEFAULT_TEMPLATE = "{user} says {message}"


@dataclass
class ChatLine:
    """One chat message as read from IRC (tags already parsed)."""

    channel: str
    login: str
    text: str
    display_name: str = ""
    badges: dict[str, str] = field(default_factory=dict)
    bits: int = 0
    emotes: list[tuple[int, int]] = field(default_factory=list)
    """Inclusive (start, end) code-point ranges of emotes in ``text``."""
    tags: dict[str, str] = field(default_factory=dict)
    action: bool = False
    """A ``/me`` line."""

    @property
    def user(self) -> str:
        return self.display_name or self.login


@dataclass(frozen=True)
class Decision:
    speak: bool
    text: str = ""
    voice: str = ""
    reason: str = ""


def remove_ranges(text: str, ranges: list[tuple[int, int]]) -> str:
    """``text`` without the inclusive code-point ranges (emotes); bad ranges are ignored."""
    keep = list(text)
    for start, end in ranges:
        if 0 <= start <= end < len(keep):
            for i in range(start, end + 1):
                keep[i] = " "
    return "".join(keep)


def remove_links(text: str) -> str:
    return _LINK.sub(" ", text)


def voice_for(login: str, *, pool: tuple[str, ...], mapping: dict[str, str], default: str) -> str:
    """An explicit mapping, else a stable pick from the pool by a hash of the login."""
    name = login.lower()
    if name in mapping:
        return mapping[name]
    if pool:
        return pool[zlib.crc32(name.encode("utf-8")) % len(pool)]
    return default


def is_privileged(line: ChatLine) -> bool:
    if any(b in line.badges for b in PRIVILEGED_BADGES):
        return True
    return line.tags.get("mod") == "1" or line.tags.get("subscriber") == "1" or "vip" in line.tags


class ChatFilter:
    def __init__(self, settings: PluginSettings) -> None:
        self.settings = settings
        self.last_spoken: dict[str, float] = {}
        self._blocked = [
            re.compile(r"(?i)(?<!\w)" + re.escape(w) + r"(?!\w)") for w in settings.blocked_words
        ]

    def update(self, settings: PluginSettings) -> None:
        """New settings; cooldowns already running are kept."""
        last = self.last_spoken
        self.__init__(settings)  # type: ignore[misc]
        self.last_spoken = last

    def decide(self, line: ChatLine, now: float) -> Decision:
        s = self.settings
        login = line.login.lower()
        if login in s.blocked_users or line.user.lower() in s.blocked_users:
            return Decision(False, reason="blocked user")
        if s.allowed_users and login not in s.allowed_users and line.user.lower() not in s.allowed_users:
            return Decision(False, reason="not on the allow list")
        if s.roles_only and not is_privileged(line):
            return Decision(False, reason="not a subscriber, moderator or VIP")
        text = remove_ranges(line.text, line.emotes) if s.skip_emote_only and line.emotes else line.text
        if s.chat_mode == "command":
            command = _strip_prefix(text, s.command_prefix)
            if command is None:
                return Decision(False, reason="no command prefix")
            text = command
        if s.remove_links:
            text = remove_links(text)
        text = _SPACES.sub(" ", text).strip()
        if not text:
            return Decision(False, reason="emote-only" if line.emotes else "nothing left to say")
        if len(text) < s.min_length:
            return Decision(False, reason="too short")
        if s.max_length and len(text) > s.max_length:
            return Decision(False, reason="too long")
        if any(p.search(text) for p in self._blocked):
            return Decision(False, reason="blocked word")
        last = self.last_spoken.get(login)
        if s.user_cooldown_s and last is not None and now - last < s.user_cooldown_s:
            return Decision(False, reason="cooldown")
        self.last_spoken[login] = now
        voice = voice_for(login, pool=s.voice_pool, mapping=s.voice_map, default=s.default_voice)
        return Decision(
            True,
            render(s.chat_template, user=line.user, message=text, bits=line.bits, channel=line.channel),
            voice,
        )


def _strip_prefix(text: str, prefix: str) -> str | None:
    stripped = text.lstrip()
    if not prefix:
        return stripped
    if not stripped.lower().startswith(prefix.lower()):
        return None
    rest = stripped[len(prefix) :]
    if rest and not rest[0].isspace():
        return None  # "!ttsfoo" is another command
    return rest


class _Blank(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        return ""


def render(template: str, **values: Any) -> str:
    """``template.format`` with unknown fields left empty; a broken template falls back to the
    default one instead of losing the message."""
    try:
        out = template.format_map(_Blank(values))
    except (ValueError, IndexError, AttributeError, KeyError):
        out = (
            DEFAULT_TEMPLATE.format_map(_Blank(values))
            if "user" in values
            else str(values.get("message", ""))
        )
    return _SPACES.sub(" ", out).strip()
