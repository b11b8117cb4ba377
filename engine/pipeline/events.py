"""Typed events that enter the pipeline, from every source.

Each event is a frozen dataclass with ``to_dict()`` and ``from_dict()``; ``from_dict`` refuses a
bad field with ``BadRequest`` naming it, so an HTTP body or a journal line becomes an event or a
clear 4xx, never a crash. ``EVENT_TYPES`` maps the wire ``type`` to the class.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from ..errors import BadRequest

ROLES = ("broadcaster", "moderator", "vip", "subscriber")
STREAM_EVENT_KINDS = ("sub", "resub", "gift", "raid", "bits", "donation", "follow", "member",
                      "superchat", "supersticker", "merch", "gift_item", "guard")
ANNOUNCEMENT_SOURCES = ("hotkey", "scene", "test", "api")
MAX_TEXT_CHARS = 100_000
"""Hard cap on any text field at the wire (the pipeline applies the configured limits)."""

E = TypeVar("E", bound="_EventBase")


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class _EventBase:
    wire_type: ClassVar[str]
    """The ``type`` of this event on the wire."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.wire_type}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = sorted(value) if isinstance(value, frozenset) else value
        return out

    @classmethod
    def from_dict(cls: type[E], data: Any) -> E:
        if not isinstance(data, dict):
            raise BadRequest(f"a {cls.wire_type} event must be a JSON object")
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name in data and data[f.name] is not None:
                values[f.name] = _check(cls.wire_type, f, data[f.name])
        try:
            return cls(**values)
        except TypeError as exc:  # a required field is missing
            raise BadRequest(f"{cls.wire_type}: {exc}") from None


def _check(kind: str, f: dataclasses.Field[Any], value: Any) -> Any:
    """One field's value, checked against its declared type (str, int, float, bool, frozenset)."""
    want = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    where = f"{kind}.{f.name}"
    if want.startswith("frozenset"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise BadRequest(f"{where} must be a list of strings")
        return frozenset(value)
    if want == "str":
        if not isinstance(value, str):
            raise BadRequest(f"{where} must be a string, got {type(value).__name__}")
        if len(value) > MAX_TEXT_CHARS:
            raise BadRequest(f"{where} is over {MAX_TEXT_CHARS} characters")
        return value
    if want == "bool":
        if not isinstance(value, bool):
            raise BadRequest(f"{where} must be true or false")
        return value
    if want in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BadRequest(f"{where} must be a number")
        if not (-1e15 <= value <= 1e15) or value != value:
            raise BadRequest(f"{where} is out of range")
        return int(value) if want == "int" else float(value)
    raise BadRequest(f"{where}: unsupported field type {want}")  # pragma: no cover


@dataclass(frozen=True)
class ChatMessage(_EventBase):
    """A viewer's chat line (Twitch PRIVMSG, YouTube text message, Bilibili danmu, ...)."""

    wire_type: ClassVar[str] = "chat"
    source: str
    text: str
    login: str = ""
    """Stable user name (lower case on Twitch), used by block/allow lists, cooldowns, mutes."""
    display_name: str = ""
    user_id: str = ""
    channel: str = ""
    roles: frozenset[str] = frozenset()
    bits: int = 0
    emote_only: bool = False
    id: str = field(default_factory=new_id)
    received_at: float = field(default_factory=time.time)
    """Wall-clock seconds when the engine received it."""

    @property
    def user(self) -> str:
        return self.display_name or self.login


@dataclass(frozen=True)
class StreamEvent(_EventBase):
    """A stream event: subscription, gift, raid, bits, donation, follow, ..."""

    wire_type: ClassVar[str] = "stream_event"
    source: str
    kind: str
    user: str = ""
    message: str = ""
    amount: float = 0.0
    currency: str = ""
    count: int = 0
    """Months for resubs, gifts in a bundle, viewers in a raid, ..."""
    id: str = field(default_factory=new_id)
    received_at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if self.kind not in STREAM_EVENT_KINDS:
            raise BadRequest(f"stream_event.kind must be one of {', '.join(STREAM_EVENT_KINDS)}")


@dataclass(frozen=True)
class Announcement(_EventBase):
    """Something the streamer wants said: a hotkey slot, a scene message, the test button, the API."""

    wire_type: ClassVar[str] = "announcement"
    text: str
    source: str = "api"
    voice: str = ""
    backend: str = ""
    id: str = field(default_factory=new_id)
    received_at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if self.source not in ANNOUNCEMENT_SOURCES:
            raise BadRequest(f"announcement.source must be one of {', '.join(ANNOUNCEMENT_SOURCES)}")


Event = ChatMessage | StreamEvent | Announcement
EVENT_TYPES: dict[str, type[ChatMessage] | type[StreamEvent] | type[Announcement]] = {
    cls.wire_type: cls for cls in (ChatMessage, StreamEvent, Announcement)
}


def event_from_dict(data: Any) -> Event:
    """The event a wire mapping describes (its ``type`` picks the class)."""
    if not isinstance(data, dict):
        raise BadRequest("an event must be a JSON object with a 'type'")
    kind = data.get("type")
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise BadRequest(f"event 'type' must be one of {', '.join(EVENT_TYPES)}")
    return cls.from_dict(data)
