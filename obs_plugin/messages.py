"""Typed messages: what OBS's callbacks and the plugin's worker threads put into the inbox (the
timer's thread handles them, see ``controller.HANDLERS``), and what the plugin sends the engine
(docs/hub.md: ``POST /v1/events``, ``/v1/control``, ``/v1/playback``; ``play``/``cancel``)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from settings import PluginSettings


class BadEvent(ValueError):
    """An engine event is missing a field or has one of the wrong type."""


def _str(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise BadEvent(f"the {data.get('type')!r} event has no {key!r}")
    return value


def _int(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadEvent(f"the {data.get('type')!r} event has no valid {key!r}")
    return value


# -- from the engine (GET /v1/subscribe) ---------------------------------------------------------
@dataclass(frozen=True)
class PlayPart:
    """A ``play`` event: part ``part`` of ``parts`` of utterance ``utterance``."""

    utterance: str
    part: int
    parts: int
    job: str
    wav_url: str
    text: str = ""
    priority: str = ""
    source: str = ""
    epoch: int = 0
    """Which subscription (connection count) delivered it."""
    received: float = field(default_factory=time.monotonic)

    @property
    def key(self) -> tuple[str, int]:
        return (self.utterance, self.part)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, epoch: int) -> PlayPart:
        return cls(_str(data, "utterance"), _int(data, "part"), max(1, _int(data, "parts")),
                   str(data.get("job") or ""), _str(data, "wav_url"), str(data.get("text") or ""),
                   str(data.get("priority") or ""), str(data.get("source") or ""), epoch)


@dataclass(frozen=True)
class Cancel:
    utterance: str
    reason: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cancel:
        return cls(_str(data, "utterance"), str(data.get("reason") or ""))


# -- to the engine -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Announcement:
    """``POST /v1/events``; ``id`` is made once per press, so a resend is deduped by the engine."""

    id: str
    source: str
    text: str
    voice: str = ""
    backend: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"type": "announcement", "id": self.id, "source": self.source, "text": self.text,
                "voice": self.voice, "backend": self.backend}


@dataclass(frozen=True)
class Control:
    """``POST /v1/control``: skip, clear, pause, resume or toggle_pause."""

    command: str

    def to_dict(self) -> dict[str, Any]:
        return {"command": self.command}


@dataclass(frozen=True)
class PlaybackReport:
    """``POST /v1/playback``: ``started``, ``ended`` or ``failed`` (with ``reason``)."""

    utterance: str
    part: int
    state: str
    reason: str = ""
    epoch: int = 0
    created: float = field(default_factory=time.monotonic)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"utterance": self.utterance, "part": self.part, "state": self.state}
        if self.reason:
            body["reason"] = self.reason
        return body


# -- inbox: from OBS's callbacks -----------------------------------------------------------------
@dataclass(frozen=True)
class SettingsChanged:
    settings: PluginSettings


@dataclass(frozen=True)
class FrontendLoaded:
    """OBS finished loading (the scenes exist); ``scene`` is the current one."""

    scene: str


@dataclass(frozen=True)
class SceneChanged:
    scene: str


@dataclass(frozen=True)
class HotkeyPressed:
    action: str
    """``announce_1`` .. ``announce_5``, ``skip``, ``clear``, ``pause``."""


@dataclass(frozen=True)
class TestClicked:
    pass


@dataclass(frozen=True)
class OpenPageClicked:
    pass


# -- inbox: from the plugin's worker threads -----------------------------------------------------
@dataclass(frozen=True)
class EngineUp:
    address: str


@dataclass(frozen=True)
class EngineDown:
    reason: str


@dataclass(frozen=True)
class HealthReport:
    health: dict[str, Any]


@dataclass(frozen=True)
class VoicesListed:
    voices: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class Subscribed:
    epoch: int


@dataclass(frozen=True)
class SubscribeFailed:
    reason: str
    status: int = 0
    """The HTTP status when the engine refused (403, 404, ...); 0 when it did not answer."""


@dataclass(frozen=True)
class PlayReceived:
    part: PlayPart


@dataclass(frozen=True)
class CancelReceived:
    cancel: Cancel


@dataclass(frozen=True)
class Fetched:
    key: tuple[str, int]
    job: str
    path: str


@dataclass(frozen=True)
class FetchFailed:
    key: tuple[str, int]
    job: str
    reason: str


@dataclass(frozen=True)
class EventDelivered:
    id: str
    duplicate: bool


@dataclass(frozen=True)
class EventDropped:
    id: str
    reason: str


@dataclass(frozen=True)
class ControlDone:
    command: str
    state: dict[str, Any]


@dataclass(frozen=True)
class ControlFailed:
    command: str
    reason: str


@dataclass(frozen=True)
class Note:
    """A worker's line for the log and, when ``failure``, the status line's last failure."""

    text: str
    failure: bool = False
