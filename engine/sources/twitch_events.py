"""Twitch IRC messages -> typed pipeline events.

``PRIVMSG`` becomes a ``ChatMessage`` (cheers keep their ``bits``; the pipeline decides how to
speak them). ``USERNOTICE`` becomes a ``StreamEvent`` for subs, resubs, gifts and raids. On a
plain IRC server without tags the same functions still work: the login comes from the prefix.
"""

from __future__ import annotations

import logging

from ..pipeline.events import ChatMessage, StreamEvent, new_id
from .irc import IrcMessage

_LOGGER = logging.getLogger(__name__)

SOURCE = "twitch"
_BADGE_ROLES = {"broadcaster": "broadcaster", "moderator": "moderator", "vip": "vip",
                "subscriber": "subscriber", "founder": "subscriber"}
_FLAG_ROLES = {"mod": "moderator", "vip": "vip", "subscriber": "subscriber"}
_SUB_KINDS = {"sub": "sub", "resub": "resub", "subgift": "gift", "anonsubgift": "gift",
              "submysterygift": "gift", "anonsubmysterygift": "gift", "raid": "raid"}
"""USERNOTICE ``msg-id`` -> ``StreamEvent.kind``; other notices are ignored."""


def parse_badges(value: str) -> dict[str, str]:
    """``moderator/1,subscriber/12`` -> ``{"moderator": "1", "subscriber": "12"}``."""
    out: dict[str, str] = {}
    for item in value.split(","):
        name, _, version = item.partition("/")
        if name:
            out[name] = version
    return out


def roles(tags: dict[str, str], *, login: str = "", channel: str = "") -> frozenset[str]:
    """Badges and the ``mod``/``vip``/``subscriber`` flags as pipeline roles; the channel's
    own login is the broadcaster even without tags."""
    found = {_BADGE_ROLES[b] for b in parse_badges(tags.get("badges", "")) if b in _BADGE_ROLES}
    found |= {role for flag, role in _FLAG_ROLES.items() if tags.get(flag) == "1"}
    if login and login == channel:
        found.add("broadcaster")
    return frozenset(found)


def parse_emotes(value: str) -> list[tuple[int, int]]:
    """``25:0-4,12-16/1902:6-10`` -> sorted inclusive character ranges; bad parts are skipped."""
    ranges: list[tuple[int, int]] = []
    for emote in value.split("/"):
        _, _, spans = emote.partition(":")
        for span in spans.split(","):
            start, sep, end = span.partition("-")
            if sep and start.isdigit() and end.isdigit() and int(start) <= int(end):
                ranges.append((int(start), int(end)))
    return sorted(ranges)


def is_emote_only(text: str, tags: dict[str, str]) -> bool:
    """The ``emote-only`` flag, or ``emotes`` ranges that cover every non-space character."""
    if tags.get("emote-only") == "1":
        return True
    ranges = parse_emotes(tags.get("emotes", ""))
    if not ranges or not text.strip():
        return False
    covered: set[int] = set()
    for start, end in ranges:
        covered.update(range(start, min(end, len(text) - 1) + 1))
    return all(i in covered for i, ch in enumerate(text) if not ch.isspace())


def int_tag(tags: dict[str, str], key: str, default: int = 0) -> int:
    value = tags.get(key, "")
    return int(value) if value.isdigit() and len(value) < 16 else default


def chat_message(msg: IrcMessage, channel: str) -> ChatMessage | None:
    """A PRIVMSG to ``#channel`` as a ``ChatMessage``; ``None`` for anything else."""
    if msg.command != "PRIVMSG" or len(msg.params) < 2 or not msg.nick:
        return None
    if msg.params[0].lstrip("#").lower() != channel:
        return None
    text = msg.params[1]
    if text.startswith("\x01ACTION ") and text.endswith("\x01"):
        text = text[8:-1]  # /me waves -> "waves"
    elif text.startswith("\x01"):
        return None  # other CTCP requests are not chat
    tags = msg.tags
    login = (tags.get("login") or msg.nick).lower()
    return ChatMessage(
        source=SOURCE, channel=channel, text=text, login=login,
        display_name=tags.get("display-name", "") or msg.nick, user_id=tags.get("user-id", ""),
        roles=roles(tags, login=login, channel=channel), bits=int_tag(tags, "bits"),
        emote_only=is_emote_only(text, tags), id=tags.get("id") or new_id())


def stream_event(msg: IrcMessage, channel: str) -> StreamEvent | None:
    """A USERNOTICE for a sub, resub, gift or raid as a ``StreamEvent``; ``None`` otherwise.

    Each gift of a mystery-gift bundle also arrives as its own ``subgift`` carrying
    ``msg-param-community-gift-id``; those are left out, the bundle's event already counts them.
    """
    if msg.command != "USERNOTICE" or msg.param(0).lstrip("#").lower() != channel:
        return None
    tags = msg.tags
    msg_id = tags.get("msg-id", "")
    kind = _SUB_KINDS.get(msg_id)
    if kind is None:
        _LOGGER.debug("twitch: USERNOTICE %s ignored", msg_id[:40])
        return None
    if msg_id in ("subgift", "anonsubgift") and tags.get("msg-param-community-gift-id"):
        return None
    user = tags.get("display-name") or tags.get("login") or msg.nick
    if kind in ("sub", "resub"):
        count = int_tag(tags, "msg-param-cumulative-months", 1)
    elif msg_id.endswith("mysterygift"):
        count = int_tag(tags, "msg-param-mass-gift-count", 1)
    elif kind == "gift":
        count = 1
    else:  # raid
        user = tags.get("msg-param-displayName") or tags.get("msg-param-login") or user
        count = int_tag(tags, "msg-param-viewerCount")
    return StreamEvent(source=SOURCE, kind=kind, user=user, message=msg.param(1), count=count,
                       id=tags.get("id") or new_id())
