"""Anonymous Twitch chat over IRC (TLS by default): parsing with IRCv3 tags, and a reader thread
that answers PING, follows RECONNECT and reconnects with backoff. Any IRC server works: host,
port and TLS are settings (the tests use a server on loopback)."""

from __future__ import annotations

import random
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from collections.abc import Callable

from filters import ChatLine
import contextlib

MAX_LINE_BYTES = 16 * 1024
_TAG_ESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}


@dataclass
class IrcMessage:
    command: str
    params: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    prefix: str = ""

    @property
    def nick(self) -> str:
        return self.prefix.split("!", 1)[0]


def unescape_tag(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            out.append(_TAG_ESCAPES.get(value[i + 1], value[i + 1]))
            i += 2
        elif ch == "\\":
            i += 1  # a trailing lone backslash is dropped (IRCv3)
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def parse_line(line: str) -> IrcMessage:
    """One IRC line (without CRLF) -> ``IrcMessage``; raises ``ValueError`` for an empty line."""
    rest = line.rstrip("\r\n")
    tags: dict[str, str] = {}
    if rest.startswith("@"):
        raw_tags, _, rest = rest[1:].partition(" ")
        for item in raw_tags.split(";"):
            if item:
                key, _, value = item.partition("=")
                tags[key] = unescape_tag(value)
    rest = rest.lstrip(" ")
    prefix = ""
    if rest.startswith(":"):
        prefix, _, rest = rest[1:].partition(" ")
    trailing = None
    if rest.startswith(":"):
        rest, trailing = "", rest[1:]
    elif " :" in rest:
        rest, _, trailing = rest.partition(" :")
    params = rest.split()
    if not params:
        raise ValueError(f"not an IRC line: {line!r}")
    command = params.pop(0).upper()
    if trailing is not None:
        params.append(trailing)
    return IrcMessage(command, params, tags, prefix)


def parse_badges(value: str) -> dict[str, str]:
    """``moderator/1,subscriber/12`` -> ``{"moderator": "1", "subscriber": "12"}``."""
    out = {}
    for item in value.split(","):
        name, _, version = item.partition("/")
        if name:
            out[name] = version
    return out


def parse_emotes(value: str) -> list[tuple[int, int]]:
    """``25:0-4,12-16/1902:6-10`` -> sorted inclusive ranges; malformed parts are skipped."""
    ranges = []
    for emote in value.split("/"):
        _, _, spans = emote.partition(":")
        for span in spans.split(","):
            start, sep, end = span.partition("-")
            if sep and start.isdigit() and end.isdigit() and int(start) <= int(end):
                ranges.append((int(start), int(end)))
    return sorted(ranges)


def chat_line(msg: IrcMessage) -> ChatLine | None:
    """A PRIVMSG as a ``ChatLine`` (None for anything else)."""
    if msg.command != "PRIVMSG" or len(msg.params) < 2:
        return None
    text, action = msg.params[1], False
    if text.startswith("\x01ACTION ") and text.endswith("\x01"):
        text, action = text[8:-1], True
    bits = msg.tags.get("bits", "0")
    return ChatLine(
        channel=msg.params[0].lstrip("#"),
        login=msg.nick.lower(),
        text=text,
        display_name=msg.tags.get("display-name", "") or msg.nick,
        badges=parse_badges(msg.tags.get("badges", "")),
        bits=int(bits) if bits.isdigit() else 0,
        emotes=parse_emotes(msg.tags.get("emotes", "")),
        tags=msg.tags,
        action=action,
    )


class IrcReader:
    """Reads one channel on a daemon thread; ``on_line`` and ``on_status`` are called from it."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        tls: bool,
        channel: str,
        on_line: Callable[[ChatLine], None],
        on_status: Callable[[str], None],
        connect_timeout_s: float = 10.0,
        idle_ping_s: float = 240.0,
        max_backoff_s: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host, self.port, self.tls, self.channel = host, port, tls, channel.lower().lstrip("#")
        self.on_line, self.on_status = on_line, on_status
        self.connect_timeout_s, self.idle_ping_s, self.max_backoff_s = (
            connect_timeout_s,
            idle_ping_s,
            max_backoff_s,
        )
        self.ssl_context = ssl_context
        self.nick = f"justinfan{random.randint(10000, 99999)}"
        self.connects = 0
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._joined = False
        self._thread = threading.Thread(target=self._run, name="tts-irc", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self, *, timeout_s: float = 2.0) -> None:
        self._stop.set()
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=timeout_s)

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            self._joined = False
            try:
                self._session()
            except (OSError, ValueError, UnicodeError) as exc:
                if not self._stop.is_set():
                    self.on_status(
                        f"chat: disconnected from {self.host}:{self.port} ({exc or type(exc).__name__})"
                    )
            finally:
                sock, self._sock = self._sock, None
                if sock is not None:
                    sock.close()
            attempt = 1 if self._joined else attempt + 1
            delay = min(self.max_backoff_s, 2 ** (attempt - 1)) * (0.8 + 0.4 * random.random())
            self._stop.wait(delay)

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout_s)
        if self.tls:
            context = self.ssl_context or ssl.create_default_context()
            try:
                sock = context.wrap_socket(sock, server_hostname=self.host)
            except (OSError, ssl.SSLError):
                sock.close()
                raise
        return sock

    def _session(self) -> None:
        """One connection; ``_joined`` says whether the channel was joined (resets the backoff)."""
        sock = self._sock = self._connect()
        self.connects += 1
        sock.settimeout(1.0)
        self._send(sock, "CAP REQ :twitch.tv/tags twitch.tv/commands")
        self._send(sock, f"NICK {self.nick}")
        self._send(sock, f"JOIN #{self.channel}")
        buffer, last_rx, pinged = b"", time.monotonic(), False
        while not self._stop.is_set():
            try:
                data = sock.recv(4096)
            except TimeoutError:
                idle = time.monotonic() - last_rx
                if idle > self.idle_ping_s * 1.25 and pinged:
                    raise OSError("no reply to PING") from None
                if idle > self.idle_ping_s and not pinged:
                    self._send(sock, "PING :tts")
                    pinged = True
                continue
            if not data:
                raise OSError("the server closed the connection")
            last_rx, pinged = time.monotonic(), False
            buffer += data
            if len(buffer) > MAX_LINE_BYTES and b"\n" not in buffer:
                raise ValueError("an IRC line is too long")
            *lines, buffer = buffer.split(b"\n")
            for raw in lines:
                if not raw.strip():
                    continue
                msg = parse_line(raw.decode("utf-8", "replace"))
                if msg.command == "PING":
                    self._send(sock, "PONG :" + (msg.params[0] if msg.params else "tmi.twitch.tv"))
                elif msg.command == "RECONNECT":
                    raise OSError("the server asked to reconnect")
                elif msg.command in ("JOIN", "ROOMSTATE") and not self._joined:
                    self._joined = True
                    self.on_status(f"chat: reading #{self.channel} on {self.host}:{self.port}")
                elif msg.command == "NOTICE" and not self._joined:
                    self.on_status(f"chat: {msg.params[-1] if msg.params else 'notice'}")
                else:
                    line = chat_line(msg)
                    if line is not None:
                        self.on_line(line)

    @staticmethod
    def _send(sock: socket.socket, line: str) -> None:
        sock.sendall(line.encode("utf-8") + b"\r\n")
