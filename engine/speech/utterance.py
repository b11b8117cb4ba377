"""An utterance: one thing to say, split into parts, with its priority and deadline."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import BadRequest

PRIORITIES = ("announcement", "event", "chat")
"""Most urgent first."""
RANK = {name: i for i, name in enumerate(PRIORITIES)}


@dataclass
class Utterance:
    id: str
    """The event's id: the queue and the journal dedupe by it."""
    text: str
    parts: list[str]
    """``text`` split once (``speech.split.split_parts``); played in this order."""
    priority: str
    """``announcement``, ``event`` or ``chat``."""
    source: str
    """Where it came from: ``twitch``, ``hotkey``, ``scene``, ``test``, ``api``, ..."""
    user: str = ""
    """Display name of the viewer (chat, stream events)."""
    login: str = ""
    """Stable login of the viewer (moderation removes a user's lines by it)."""
    voice: str | None = None
    backend: str | None = None
    created: float = field(default_factory=time.time)
    """Wall-clock seconds when the event arrived."""
    deadline: float | None = None
    """Wall-clock seconds after which it is dropped unspoken (None: never)."""
    kind: str = ""
    """``chat``, the stream event's kind (``sub``, ``raid``...) or the announcement's source."""
    message: str = ""
    """The viewer's own words before the template (chat): repeats are recognised by it."""

    def __post_init__(self) -> None:
        if self.priority not in RANK:
            raise BadRequest(f"utterance.priority must be one of {', '.join(PRIORITIES)}")

    @property
    def rank(self) -> int:
        """0 for announcements, 1 for stream events, 2 for chat: lower plays first."""
        return RANK[self.priority]

    @property
    def journaled(self) -> bool:
        """Announcements and stream events go to the journal; stale chat is worse than none."""
        return self.priority != "chat"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Utterance:
        """The utterance ``to_dict`` wrote; ``BadRequest`` naming the bad field otherwise."""
        if not isinstance(data, dict):
            raise BadRequest("an utterance must be a JSON object")
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            values[f.name] = _check(f.name, str(f.type), value)
        try:
            return cls(**values)
        except TypeError as exc:
            raise BadRequest(f"utterance: {exc}") from None


def _check(name: str, want: str, value: Any) -> Any:
    optional = "None" in want
    if value is None and optional:
        return None
    if want.startswith("list"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise BadRequest(f"utterance.{name} must be a list of strings")
        return list(value)
    if want.startswith("float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BadRequest(f"utterance.{name} must be a number")
        return float(value)
    if not isinstance(value, str):
        raise BadRequest(f"utterance.{name} must be a string")
    return value
