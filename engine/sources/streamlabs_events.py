"""StreamLabs socket ``event`` payloads -> ``StreamEvent``.

A payload is ``{"type": ..., "for": "streamlabs"|"twitch_account"|"youtube_account"|...,
"message": [{...}, ...], "event_id": ...}``; each item of ``message`` is one alert. What is
spoken, each kind's switch and minimum amount are the pipeline's job (``events`` in config.yaml);
this only maps fields. Amounts keep the alert's own currency.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..errors import BadRequest
from ..pipeline.events import StreamEvent, new_id

SOURCE = "streamlabs"
MAX_USER_CHARS = 100
MAX_MESSAGE_CHARS = 2000
MAX_AMOUNT = 1e9
MAX_ITEMS = 50
"""Alerts read from one payload (StreamLabs sends one, sometimes a few)."""
SUPERCHAT_MICROS = 1_000_000
"""YouTube Super Chat amounts come in millionths of the currency unit."""

_KINDS: dict[tuple[str, str], str] = {
    ("donation", "*"): "donation",
    ("follow", "*"): "follow",
    ("subscription", "twitch_account"): "sub",
    ("subscription", "youtube_account"): "member",
    ("subscription", "*"): "sub",
    ("resub", "*"): "resub",
    ("bits", "*"): "bits",
    ("raid", "*"): "raid",
    ("superchat", "*"): "superchat",
    ("merch", "*"): "merch",
}
"""(StreamLabs ``type``, ``for``) -> our kind; ``*`` matches any platform."""


@dataclass(frozen=True)
class Parsed:
    """What one payload held: the events, how many alerts could not be used (malformed), and how
    many were of a type we do not speak (``streamlabels``, ``alertPlaying``, ``host``, ...)."""

    events: tuple[StreamEvent, ...]
    malformed: int = 0
    ignored: int = 0
    tests: int = 0
    """Alerts marked ``isTest`` (the dashboard's test buttons) that were left out."""


def kind_of(sl_type: str, platform: str) -> str | None:
    return _KINDS.get((sl_type, platform)) or _KINDS.get((sl_type, "*"))


def parse_event(payload: Any, *, include_tests: bool = True) -> Parsed:
    """The stream events in one ``event`` payload."""
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        return Parsed((), malformed=1)
    kind = kind_of(payload["type"], str(payload.get("for") or ""))
    if kind is None:
        return Parsed((), ignored=1)
    items = payload.get("message")
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list) or not items:
        return Parsed((), malformed=1)
    events: list[StreamEvent] = []
    malformed = tests = 0
    top_id = _text(payload.get("event_id"), 100)
    for index, item in enumerate(items[:MAX_ITEMS]):
        if not isinstance(item, dict):
            malformed += 1
            continue
        if item.get("isTest") is True and not include_tests:
            tests += 1
            continue
        try:
            events.append(_event(kind, item, top_id, index, len(items)))
        except (BadRequest, ValueError, TypeError):
            malformed += 1
    return Parsed(tuple(events), malformed + max(0, len(items) - MAX_ITEMS), tests=tests)


def _event(kind: str, item: dict[str, Any], top_id: str, index: int, count: int) -> StreamEvent:
    user = _text(item.get("from") if kind == "donation" else None, MAX_USER_CHARS) \
        or _text(item.get("name"), MAX_USER_CHARS)
    message = _text(item.get("comment") if kind == "superchat" else item.get("message"),
                    MAX_MESSAGE_CHARS)
    amount, currency, number = 0.0, "", 0
    if kind in ("donation", "superchat"):
        amount = _number(item.get("amount"))
        if kind == "superchat":
            amount /= SUPERCHAT_MICROS
        currency = _text(item.get("currency"), 8).upper()
    elif kind == "bits":
        amount = _number(item.get("amount"))
    elif kind in ("sub", "resub", "member"):
        number = int(_number(item.get("months") or 0))
    elif kind == "raid":
        number = int(_number(item.get("raiders") or item.get("viewers") or 0))
    elif kind == "merch":
        message = message or _text(item.get("product"), MAX_MESSAGE_CHARS)
    if not user:
        raise ValueError("an alert without a name")
    return StreamEvent(source=SOURCE, kind=kind, user=user, message=message, amount=amount,
                       currency=currency, count=number, id=_event_id(item, top_id, index, count))


def _event_id(item: dict[str, Any], top_id: str, index: int, count: int) -> str:
    """The alert's own ``_id`` (StreamLabs' id, stable across resends); else the payload's
    ``event_id`` (with the index when the payload holds several); else a fresh one."""
    own = _text(item.get("_id"), 100) or _text(item.get("event_id"), 100)
    if own:
        return f"{SOURCE}:{own}"
    if top_id:
        return f"{SOURCE}:{top_id}" + (f":{index}" if count > 1 else "")
    return new_id()


def _text(value: Any, limit: int) -> str:
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, (int, float)):
        value = str(value)
    if not isinstance(value, str):
        return ""
    return value.strip()[:limit]


def _number(value: Any) -> float:
    """``5`` or ``"5.00"`` -> a finite number in range; else ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError("not a number")
    number = float(value)
    if not math.isfinite(number) or not 0 <= number <= MAX_AMOUNT:
        raise ValueError("amount out of range")
    return number
