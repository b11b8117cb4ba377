"""One IRC connection of the Twitch source: registration state, nick retries and the join, and
what each received line means (``Session.handle``). ``SessionEnd`` ends the connection with the
reason and the state the source shows until it retries."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

from ..pipeline.events import ChatMessage, StreamEvent
from ..secrets import Secrets
from .irc import IrcMessage, IrcParseError, parse_line
from .twitch_events import chat_message, stream_event


class TwitchSource(Protocol):
    """What a session uses of its source (``engine.sources.twitch.TwitchSource``)."""

    nick: str
    channel: str
    tags_enabled: bool
    secrets: Secrets
    options: Any

    @property
    def address(self) -> str: ...

    def anonymous_nick(self) -> str: ...

    def send_line(self, writer: asyncio.StreamWriter, line: str) -> None: ...

    def _emit(self, event: ChatMessage | StreamEvent) -> None: ...

    def _error(self, what: str) -> None: ...

    def _set_state(self, state: str, detail: str) -> None: ...

_LOGGER = logging.getLogger(__name__)

JOIN_REFUSED = {"403", "405", "471", "473", "474", "475", "476"}
"""Numerics that refuse a JOIN (no such channel, banned, invite only, ...)."""
AUTH_NOTICES = ("login authentication failed", "improperly formatted auth", "login unsuccessful")
MAX_NICK_RETRIES = 5


class SessionEnd(Exception):
    """Ends one connection: why, the state to show until the retry, and whether to retry soon."""

    def __init__(self, reason: str, *, state: str = "reconnecting", reset: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.state, self.reset = reason, state, reset


class Session:
    """What one connection knows: registration, nick retries, join; handles each line."""

    def __init__(self, source: TwitchSource, writer: asyncio.StreamWriter) -> None:
        self.source, self.writer = source, writer
        self.registered = False
        self.joined = False
        self.nick_retries = 0
        # command -> handler; other commands (and numerics not in JOIN_REFUSED) are ignored
        self._handlers: dict[str, Callable[[IrcMessage], None]] = {
            "PING": self._on_ping, "CAP": self._on_cap, "JOIN": self._on_join,
            "ROOMSTATE": self._on_roomstate, "RECONNECT": self._on_reconnect,
            "ERROR": self._on_error, "NOTICE": self._on_notice,
            "PRIVMSG": self._on_privmsg, "USERNOTICE": self._on_usernotice,
            "001": self._on_welcome, "433": self._on_nick_in_use,
            "464": self._on_password_mismatch, "366": self._on_end_of_names}

    def handle(self, line: str) -> None:
        src = self.source
        try:
            msg = parse_line(line)
        except IrcParseError as exc:
            src._error(f"{exc.message}: {line[:120]!r}")
            return
        handler = self._handlers.get(msg.command)
        if handler is not None:
            handler(msg)
        elif msg.command in JOIN_REFUSED:
            raise SessionEnd(f"cannot join #{src.channel}: {msg.param(-1)[:200]}", state="offline")

    def _on_welcome(self, msg: IrcMessage) -> None:
        self.registered = True
        self.source.nick = msg.param(0) or self.source.nick
        self.source.send_line(self.writer, f"JOIN #{self.source.channel}")

    def _on_password_mismatch(self, msg: IrcMessage) -> None:
        raise SessionEnd("the server refused the login", state="auth_failed")

    def _on_end_of_names(self, msg: IrcMessage) -> None:
        self._joined()

    def _on_nick_in_use(self, msg: IrcMessage) -> None:
        src = self.source
        if self.registered:
            return
        self.nick_retries += 1
        if self.nick_retries > MAX_NICK_RETRIES:
            raise SessionEnd(f"nick {src.nick} is in use")
        named = src.options.nick
        src.nick = named + "_" * self.nick_retries if named else src.anonymous_nick()
        _LOGGER.info("twitch: nick in use, trying %s", src.nick)
        src.send_line(self.writer, f"NICK {src.nick}")

    def _joined(self) -> None:
        if not self.joined:
            self.joined = True
            src = self.source
            src._set_state("connected", f"reading #{src.channel} on {src.address}"
                           + ("" if src.tags_enabled else " (no Twitch tags)"))

    def _on_ping(self, msg: IrcMessage) -> None:
        self.source.send_line(self.writer, "PONG :" + (msg.param(0) or "tmi.twitch.tv"))

    def _on_cap(self, msg: IrcMessage) -> None:
        sub = msg.param(1).upper()
        if sub == "ACK" and "twitch.tv/tags" in msg.param(-1).split():
            self.source.tags_enabled = True
        elif sub == "NAK":
            _LOGGER.info("twitch: the server has no Twitch capabilities; reading without tags")

    def _on_join(self, msg: IrcMessage) -> None:
        if msg.nick.lower() == self.source.nick.lower():
            self._joined()

    def _on_roomstate(self, msg: IrcMessage) -> None:
        self._joined()

    def _on_reconnect(self, msg: IrcMessage) -> None:
        raise SessionEnd("the server asked to reconnect", reset=True)

    def _on_error(self, msg: IrcMessage) -> None:
        raise SessionEnd(f"server error: {msg.param(-1)[:200]}")

    def _on_notice(self, msg: IrcMessage) -> None:
        text = msg.param(-1)
        if not self.joined and any(n in text.lower() for n in AUTH_NOTICES):
            raise SessionEnd(f"login refused: {text[:200]}", state="auth_failed")
        if msg.tags.get("msg-id") in ("msg_channel_suspended", "msg_banned"):
            raise SessionEnd(f"cannot read #{self.source.channel}: {text[:200]}", state="offline")
        _LOGGER.info("twitch: notice: %s", self.source.secrets.redact(text[:200]))

    def _on_privmsg(self, msg: IrcMessage) -> None:
        event = chat_message(msg, self.source.channel)
        if event is not None:
            self.source._emit(event)

    def _on_usernotice(self, msg: IrcMessage) -> None:
        event = stream_event(msg, self.source.channel)
        if event is not None:
            self.source._emit(event)
