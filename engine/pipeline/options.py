"""The pipeline's and the speech queue's settings: ``chat``, ``events`` and ``speech`` in config.yaml.

Frozen dataclasses validated by ``engine.validate`` (ranges and choices in field metadata), like
``engine/config.py``. Logins in user lists and in ``voice_map`` are compared in lower case, without
a leading ``@``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CHAT_MODES = ("command", "all")


@dataclass(frozen=True)
class ChatOptions:
    """Which chat lines are spoken, and how."""

    mode: str = field(default="command", metadata={"choices": CHAT_MODES})
    """``command``: only lines that start with ``command_prefix``; ``all``: every line."""
    command_prefix: str = "!tts"
    """Prefix in command mode, removed before speaking (``!ttsfoo`` is another command)."""
    min_length: int = field(default=2, metadata={"min": 0, "max": 10_000})
    """Shortest line spoken, in characters after cleaning."""
    max_length: int = field(default=300, metadata={"min": 0, "max": 100_000})
    """Longest line spoken, in characters after cleaning; longer lines are dropped (0: no limit)."""
    remove_links: bool = True
    """Remove URLs and bare domains before speaking."""
    skip_emote_only: bool = True
    """Drop lines made only of emotes (the source marks them ``emote_only``)."""
    blocked_words: tuple[str, ...] = ()
    """A line containing one of these words (any case) is dropped; moderators add more at runtime."""
    blocked_users: tuple[str, ...] = ()
    """Logins never spoken."""
    allowed_users: tuple[str, ...] = ()
    """When set, only these logins are spoken."""
    roles_only: bool = False
    """Only the broadcaster, moderators, VIPs and subscribers are spoken."""
    user_cooldown_s: float = field(default=10.0, metadata={"min": 0, "max": 86_400})
    """Seconds before the same user is spoken again (0: no cooldown)."""
    template: str = "{user} says {message}"
    """What is spoken: ``{user}``, ``{login}``, ``{message}``, ``{bits}``, ``{channel}``."""
    bits_template: str = "{user} cheered {bits} bits: {message}"
    """What is spoken for a line with bits (no command prefix or cooldown needed); "" treats it
    as an ordinary line."""
    voice_pool: tuple[str, ...] = ()
    """Voices handed out to users: each login gets a stable one by a hash of its name."""
    voice_map: dict[str, str] = field(default_factory=dict)
    """Login -> voice, before the pool."""
    voice: str | None = None
    """Voice for chat when neither the map nor the pool names one (null: the backend's default)."""
    backend: str | None = None
    """Backend for chat (null: the engine's routing)."""


EVENT_TEMPLATES = {
    "sub": "{user} just subscribed!",
    "resub": "{user} resubscribed for {count} months: {message}",
    "gift": "{user} gifted {count} subs!",
    "raid": "{user} is raiding with {count} viewers!",
    "bits": "{user} cheered {amount} bits: {message}",
    "donation": "{user} donated {amount}: {message}",
    "follow": "{user} just followed!",
    "member": "{user} just became a member!",
    "superchat": "{user} sent a Super Chat of {amount}: {message}",
    "supersticker": "{user} sent a Super Sticker of {amount}!",
    "merch": "{user} bought merch!",
    "gift_item": "{user} 投喂了 {count} 个 {message}",
    "guard": "{user} 开通了 {count} 个月 {message}",
}
"""Each kind's template when the config gives none."""
OFF_BY_DEFAULT = frozenset({"follow"})
"""Kinds not spoken unless switched on: follow bots can send hundreds a minute."""


@dataclass(frozen=True)
class EventKindOptions:
    """One kind of stream event."""

    enabled: bool | None = None
    """Speak this kind (null: on, except ``follow``)."""
    template: str = ""
    """What is spoken: ``{user}``, ``{message}``, ``{amount}``, ``{count}``, ``{currency}``,
    ``{kind}`` ("": the kind's built-in template)."""
    min_amount: float = field(default=0.0, metadata={"min": 0})
    """Events under this amount (bits, or money in the event's own currency) are not spoken."""


@dataclass(frozen=True)
class EventOptions:
    """Stream events (subs, raids, bits, donations, ...): one block per kind."""

    enabled: bool = True
    """Speak stream events at all."""
    voice: str | None = None
    """Voice for stream events (null: the backend's default)."""
    backend: str | None = None
    """Backend for stream events (null: the engine's routing)."""
    sub: EventKindOptions = field(default_factory=EventKindOptions)
    resub: EventKindOptions = field(default_factory=EventKindOptions)
    gift: EventKindOptions = field(default_factory=EventKindOptions)
    raid: EventKindOptions = field(default_factory=EventKindOptions)
    bits: EventKindOptions = field(default_factory=EventKindOptions)
    donation: EventKindOptions = field(default_factory=EventKindOptions)
    follow: EventKindOptions = field(default_factory=EventKindOptions)
    member: EventKindOptions = field(default_factory=EventKindOptions)
    superchat: EventKindOptions = field(default_factory=EventKindOptions)
    supersticker: EventKindOptions = field(default_factory=EventKindOptions)
    merch: EventKindOptions = field(default_factory=EventKindOptions)
    gift_item: EventKindOptions = field(default_factory=EventKindOptions)
    guard: EventKindOptions = field(default_factory=EventKindOptions)

    def kind(self, name: str) -> EventKindOptions | None:
        """The options of kind ``name`` with its defaults filled in (None for an unknown kind)."""
        value = getattr(self, name, None)
        if name not in EVENT_TEMPLATES or not isinstance(value, EventKindOptions):
            return None
        enabled = name not in OFF_BY_DEFAULT if value.enabled is None else value.enabled
        return EventKindOptions(enabled=enabled, template=value.template or EVENT_TEMPLATES[name],
                                min_amount=value.min_amount)


@dataclass(frozen=True)
class SpeechOptions:
    """The speech queue, its parts and its journal."""

    chat_deadline_s: float = field(default=30.0, metadata={"min": 0, "max": 86_400})
    """Chat not started within this many seconds of arriving is dropped (0: never)."""
    event_deadline_s: float = field(default=600.0, metadata={"min": 0, "max": 86_400})
    """Stream events not started within this long are dropped (0: never)."""
    announcement_deadline_s: float = field(default=900.0, metadata={"min": 0, "max": 86_400})
    """Announcements not started within this long are dropped; also the window in which the
    journal replays them after a crash (0: never)."""
    max_queue: int = field(default=100, metadata={"min": 1, "max": 100_000})
    """Utterances waiting at most; beyond it the oldest chat is dropped (never an announcement
    or a stream event)."""
    dedupe_window_s: float = field(default=30.0, metadata={"min": 0, "max": 86_400})
    """An identical line (same text and voice) within this many seconds is dropped."""
    max_part_chars: int = field(default=200, metadata={"min": 20, "max": 100_000})
    """Longest part synthesized at once, in characters; longer sentences are cut at clauses."""
    outstanding_parts: int = field(default=2, metadata={"min": 1, "max": 16})
    """Parts sent to OBS and not yet played at most."""
    journal_max_mb: float = field(default=8.0, metadata={"min": 0.01, "max": 1024})
    """The journal is compacted when it grows over this size (MiB)."""
    speedup_after_s: float = field(default=20.0, metadata={"min": 1, "max": 3600})
    """Chat waiting beyond this many seconds of speech is read faster, up to ``max_rate`` at
    twice this backlog (as Bilibili danmu readers do)."""
    max_rate: float = field(default=1.5, metadata={"min": 1.0, "max": 2.0})
    """Fastest speaking rate for chat under a backlog (1.0: never faster)."""
    collapse_after_s: float = field(default=30.0, metadata={"min": 1, "max": 3600})
    """Beyond this backlog, a chat line that repeats a waiting one (ignoring case and
    punctuation) is collapsed into it."""
    max_backlog_s: float = field(default=60.0, metadata={"min": 1, "max": 3600})
    """Beyond this backlog, the oldest waiting chat is dropped with a reason."""
