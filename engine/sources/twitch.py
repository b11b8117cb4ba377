"""Twitch chat over IRC: anonymous (``justinfanNNNNN``) or with a token, TLS by default.

It registers the way RFC 1459/2812 servers expect (``CAP LS 302``, ``CAP REQ`` for Twitch's tags,
``PASS`` only with a token, ``NICK``, ``USER``, ``CAP END``), so any IRC server works; a server
that refuses the Twitch capabilities (``CAP NAK``) is read without tags. It joins the channel
after ``001``, answers ``PING``, pings a silent server, takes a new anonymous nick on ``433``,
follows ``RECONNECT``/``ERROR`` and reconnects with bounded exponential backoff and jitter.
Each line is handled by ``twitch_session``; ``PRIVMSG`` and ``USERNOTICE`` become events (see
``twitch_events``). A malformed or overlong line is counted and skipped. It only reads:
nothing from chat is ever sent back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import ssl
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..secrets import Secrets
from .base import Emit, Source, require
from .irc import LineSplitter
from .twitch_session import Session, SessionEnd

_LOGGER = logging.getLogger(__name__)

_CHANNEL = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,49}")
_NICK = re.compile(r"[A-Za-z\[\]\\`_^{|}][A-Za-z0-9\[\]\\`_^{|}\-]{0,29}")



@dataclass(frozen=True)
class TwitchOptions:
    enabled: bool = False
    channel: str = ""
    """Channel to read, without ``#`` (the streamer's login)."""
    host: str = "irc.chat.twitch.tv"
    port: int = field(default=6697, metadata={"min": 1, "max": 65535})
    tls: bool = True
    """TLS with the system's trust store (port 6697); false for plain IRC (port 6667)."""
    nick: str = ""
    """Login to read as; ``""`` reads anonymously as ``justinfanNNNNN``. A named login needs the
    ``twitch_oauth`` secret (secrets file or STREAMER_TTS_TWITCH_OAUTH), never this file."""
    reconnect_max_s: float = field(default=60.0, metadata={"min": 0.1, "max": 3600})
    """Longest wait between reconnect attempts (seconds); the wait doubles from 1 s, with jitter."""
    connect_timeout_s: float = field(default=10.0, metadata={"min": 0.1, "max": 300})
    """Time allowed to connect and to be welcomed (``001``), in seconds."""
    idle_ping_s: float = field(default=240.0, metadata={"min": 1, "max": 3600})
    """After this many silent seconds we send PING; no answer within a quarter of it: reconnect."""


class TwitchSource(Source):
    """Reads one Twitch channel (or a channel on any IRC server) and emits chat and stream events."""

    name: ClassVar[str] = "twitch"
    Options: ClassVar[type] = TwitchOptions
    STABLE_S: ClassVar[float] = 30.0
    """A connection that stayed joined this long resets the backoff."""

    def __init__(self, options: TwitchOptions, *, emit: Emit, secrets: Secrets,
                 ssl_context: ssl.SSLContext | None = None, rng: random.Random | None = None) -> None:
        super().__init__(options, emit=emit, secrets=secrets)
        self.options: TwitchOptions = options
        self.channel = options.channel.lower().lstrip("#")
        self._ssl_context = ssl_context
        self._rng = rng or random.Random()
        self._stopping = False
        """Set by ``close``: the loops end even if a cancellation was swallowed (Python 3.11's
        ``wait_for`` loses one that races with its inner future finishing)."""
        self._writer: asyncio.StreamWriter | None = None
        self.nick = ""
        """The nick of the current (or last) connection."""
        self.tags_enabled = False
        """Whether the server acknowledged the Twitch tags capability on this connection."""

    @classmethod
    def check_options(cls, options: Any, path: str) -> None:
        channel = options.channel.lstrip("#")
        require(not options.enabled or bool(channel), f"{path}.channel", "required when enabled")
        require(not channel or bool(_CHANNEL.fullmatch(channel)), f"{path}.channel",
                "letters, digits and _ . - only (the streamer's login)")
        require(not options.nick or bool(_NICK.fullmatch(options.nick)), f"{path}.nick",
                "not a valid IRC nick")
        require(bool(options.host) and not any(c.isspace() for c in options.host), f"{path}.host",
                "expected a host name")

    @property
    def address(self) -> str:
        return f"{self.options.host}:{self.options.port}"

    async def start(self) -> None:
        if self._task is None:
            self.check_options(self.options, "sources.twitch")
            self._stopping = False
            self._set_state("connecting", f"connecting to {self.address}")
            self._task = asyncio.create_task(self._run(), name="source-twitch")

    async def close(self) -> None:
        self._stopping = True
        writer = self._writer
        if writer is not None and not writer.is_closing():
            writer.write(b"QUIT :bye\r\n")
        await self._stop_task()
        if self._writer is not None:
            self._writer.close()
        self._set_state("off", "closed")

    # -- connection loop ---------------------------------------------------------------------------
    async def _run(self) -> None:
        attempt = 0
        while not self._stopping:
            joined_at: list[float] = []
            try:
                await self._session(joined_at)
                end = SessionEnd("the connection ended")
            except SessionEnd as exc:
                end = exc
            except TimeoutError:  # before OSError, its base class
                end = SessionEnd(f"no connection within {self.options.connect_timeout_s:g} s")
            except OSError as exc:  # ssl.SSLError is an OSError too
                end = SessionEnd(f"disconnected ({exc.strerror or exc or type(exc).__name__})")
            except Exception as exc:  # a bug must not end reading for good: log it, retry
                _LOGGER.exception("twitch: the reader failed")
                self._errors += 1
                end = SessionEnd(f"internal error ({type(exc).__name__})")
            if self._stopping:
                return
            stable = bool(joined_at) and time.monotonic() - joined_at[0] >= self.STABLE_S
            attempt = 1 if (end.reset or stable) else attempt + 1
            delay = self.backoff_s(attempt)
            if end.state in ("auth_failed", "offline"):
                delay = self.options.reconnect_max_s
            self._set_state(end.state, f"{end.reason} ({self.address}); retrying in {delay:.1f} s")
            await asyncio.sleep(delay)
            self._set_state("reconnecting", f"reconnecting to {self.address}")

    async def _session(self, joined_at: list[float]) -> None:
        opts = self.options
        context = (self._ssl_context or ssl.create_default_context()) if opts.tls else None
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(opts.host, opts.port, ssl=context,
                                    server_hostname=opts.host if context else None,
                                    limit=2**16),
            opts.connect_timeout_s)
        self._writer, self._connects = writer, self._connects + 1
        try:
            self._register(writer)
            await self._read(reader, writer, joined_at)
        finally:
            self._writer = None
            writer.close()
            with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    def _register(self, writer: asyncio.StreamWriter) -> None:
        token = self.secrets.get("twitch_oauth") if self.options.nick else None
        if self.secrets.get("twitch_oauth") and not self.options.nick:
            _LOGGER.warning("twitch: a twitch_oauth secret is set but sources.twitch.nick is empty; "
                            "reading anonymously")
        self.nick = self.options.nick or self.anonymous_nick()
        self.tags_enabled = False
        self.send_line(writer, "CAP LS 302")
        self.send_line(writer, "CAP REQ :twitch.tv/tags twitch.tv/commands")
        if token:
            self.send_line(writer, "PASS " + (token if token.startswith("oauth:") else "oauth:" + token))
        self.send_line(writer, f"NICK {self.nick}")
        self.send_line(writer, f"USER {self.nick} 0 * :{self.nick}")
        self.send_line(writer, "CAP END")

    def anonymous_nick(self) -> str:
        return f"justinfan{self._rng.randint(10000, 99999)}"

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    joined_at: list[float]) -> None:
        splitter = LineSplitter()
        session = Session(self, writer)
        deadline = time.monotonic() + self.options.connect_timeout_s
        pinged = False
        while not self._stopping:
            if session.registered:
                timeout = self.options.idle_ping_s * (0.25 if pinged else 1.0)
            else:
                timeout = max(0.0, deadline - time.monotonic())
            try:
                data = await asyncio.wait_for(reader.read(4096), timeout)
            except TimeoutError:
                if not session.registered:
                    raise SessionEnd(f"not welcomed within {self.options.connect_timeout_s:g} s") from None
                if pinged:
                    raise SessionEnd("no reply to PING") from None
                self.send_line(writer, "PING :tts")
                pinged = True
                continue
            if not data:
                raise SessionEnd("the server closed the connection")
            pinged = False
            overlong = splitter.overlong
            for line in splitter.feed(data):
                session.handle(line)
                if session.joined and not joined_at:
                    joined_at.append(time.monotonic())
            for _ in range(splitter.overlong - overlong):
                self._error("an IRC line over the length limit")

    def send_line(self, writer: asyncio.StreamWriter, line: str) -> None:
        if "\r" in line or "\n" in line or "\0" in line:  # only our own lines are ever sent
            raise ValueError("refusing to send a line with CR, LF or NUL")
        _LOGGER.debug("twitch >> %s", "PASS ***" if line.startswith("PASS ") else line)
        writer.write(line.encode("utf-8") + b"\r\n")
