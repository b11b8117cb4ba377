"""The chat filters: which lines are spoken, and the cleaned text of those that are.

``ChatFilter.check(message, now)`` returns a ``Verdict``: the cleaned message, or a short ``kind``
(counted) and a human ``reason`` (logged) for a drop. Pure logic; the per-user cooldown state
lives here. ``now`` is monotonic seconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .events import ChatMessage
from .moderation import Moderation
from .options import ChatOptions
from .voices import normalize_login

_LINK = re.compile(
    r"(?i)\b(?:https?://|www\.)\S+|\b[\w-]+(?:\.[\w-]+)*\.(?:com|net|org|tv|io|gg|ly|me|co|"
    r"be|de|uk|info|xyz|app|dev)(?:/\S*)?\b"
)
_CHEERMOTE = re.compile(
    r"(?i)(?<!\S)(?:cheer|cheerwhal|corgo|uni|showlove|party|seemsgood|pride|kappa|frankerz|"
    r"heyguys|dansgame|elegiggle|trihard|kreygasm|4head|swiftrage|notlikethis|failfish|vohiyo|"
    r"pjsalt|mrdestructoid|bday|ripcheer|shamrock|biblethump|muxy|streamlabs|doodlecheer)\d+(?!\S)"
)
_SPACES = re.compile(r"\s+")
_NO_SPACES_SCRIPT = re.compile(r"[\u2e80-\u9fff\u3040-\u30ff\uac00-\ud7af\uf900-\ufaff]")
"""CJK, kana, hangul: words in these scripts are matched anywhere, not at word boundaries."""


@dataclass(frozen=True)
class Verdict:
    """A line to speak (``kind == ""``) with its cleaned ``text``, or a drop."""

    text: str = ""
    kind: str = ""
    reason: str = ""

    @property
    def ok(self) -> bool:
        return not self.kind


def remove_links(text: str) -> str:
    return _LINK.sub(" ", text)


def remove_cheermotes(text: str) -> str:
    """``"Cheer100 great stream"`` -> ``" great stream"``."""
    return _CHEERMOTE.sub(" ", text)


def word_pattern(word: str) -> re.Pattern[str]:
    """A blocked word, any case: whole words, or anywhere for scripts written without spaces."""
    escaped = re.escape(word.strip())
    if _NO_SPACES_SCRIPT.search(word):
        return re.compile("(?i)" + escaped)
    return re.compile(r"(?i)(?<!\w)" + escaped + r"(?!\w)")


def strip_prefix(text: str, prefix: str) -> str | None:
    """``text`` after the command prefix, or None without it (``!ttsfoo`` is another command)."""
    stripped = text.lstrip()
    if not prefix:
        return stripped
    if not stripped.lower().startswith(prefix.lower()):
        return None
    rest = stripped[len(prefix):]
    if rest and not rest[0].isspace():
        return None
    return rest


class WordList:
    """Compiled blocked words; recompiled only when the words change."""

    def __init__(self) -> None:
        self._words: frozenset[str] = frozenset()
        self._patterns: list[re.Pattern[str]] = []

    def find(self, text: str, words: Iterable[str]) -> str | None:
        wanted = frozenset(w.strip().lower() for w in words if w.strip())
        if wanted != self._words:
            self._words = wanted
            self._patterns = [word_pattern(w) for w in sorted(wanted)]
        return next((p.pattern for p in self._patterns if p.search(text)), None)


class ChatFilter:
    def __init__(self, options: ChatOptions, moderation: Moderation) -> None:
        self.options = options
        self.moderation = moderation
        self._blocked_users = frozenset(normalize_login(u) for u in options.blocked_users)
        self._allowed_users = frozenset(normalize_login(u) for u in options.allowed_users)
        self._words = WordList()
        self._last_spoken: dict[str, float] = {}

    def check(self, msg: ChatMessage, now: float) -> Verdict:
        """Run every filter in order; the cooldown starts only for a line that passes."""
        o = self.options
        login = normalize_login(msg.login or msg.display_name)
        cheer = msg.bits > 0 and bool(o.bits_template)
        if self.moderation.is_muted(login, msg.received_at):
            return Verdict(kind="muted", reason=f"{login} is muted")
        if login in self._blocked_users:
            return Verdict(kind="blocked_user", reason=f"{login} is on chat.blocked_users")
        if self._allowed_users and login not in self._allowed_users:
            return Verdict(kind="not_allowed", reason=f"{login} is not on chat.allowed_users")
        if o.roles_only and not msg.roles:
            return Verdict(kind="role", reason="chat.roles_only: not a subscriber, moderator or VIP")
        if o.skip_emote_only and msg.emote_only:
            return Verdict(kind="emote_only", reason="only emotes")
        text = msg.text
        if o.mode == "command":
            command = strip_prefix(text, o.command_prefix)
            if command is None and not cheer:
                return Verdict(kind="no_prefix", reason=f"no {o.command_prefix} prefix")
            text = text if command is None else command
        if cheer:
            text = remove_cheermotes(text)
        if o.remove_links:
            text = remove_links(text)
        text = _SPACES.sub(" ", text).strip()
        verdict = self._check_text(text, cheer=cheer)
        if not verdict.ok:
            return verdict
        last = self._last_spoken.get(login)
        if not cheer and o.user_cooldown_s and last is not None and now - last < o.user_cooldown_s:
            return Verdict(kind="cooldown", reason=f"cooldown: spoke {now - last:.0f} s ago, "
                                                    f"chat.user_cooldown_s is {o.user_cooldown_s:g}")
        self._last_spoken[login] = now
        self._forget_old(now)
        return Verdict(text=text)

    def _check_text(self, text: str, *, cheer: bool) -> Verdict:
        o = self.options
        if not text and not cheer:
            return Verdict(kind="empty", reason="nothing left to say")
        if len(text) < o.min_length and not cheer:
            return Verdict(kind="too_short", reason=f"shorter than chat.min_length ({o.min_length})")
        if o.max_length and len(text) > o.max_length:
            return Verdict(kind="too_long",
                           reason=f"{len(text)} characters, over chat.max_length ({o.max_length})")
        word = self._words.find(text, (*o.blocked_words, *self.moderation.blocked_words()))
        if word is not None:
            return Verdict(kind="blocked_word", reason="contains a blocked word")
        return Verdict(text=text)

    def _forget_old(self, now: float) -> None:
        """Cooldowns that ran out are forgotten, so the table stays as small as the active chat."""
        if len(self._last_spoken) > 1024:
            limit = self.options.user_cooldown_s
            self._last_spoken = {k: t for k, t in self._last_spoken.items() if now - t < limit}
