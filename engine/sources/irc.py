"""IRC wire format (RFC 1459/2812 with IRCv3 message tags): bounded line splitting and parsing.

``LineSplitter`` turns received bytes into lines and skips (and counts) any line over
``MAX_LINE_BYTES``; ``parse_line`` turns one line into an ``IrcMessage`` or raises
``IrcParseError``. Neither ever sees more than one bounded line, so a hostile server can make us
skip lines but not grow memory or crash the reader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import EngineError

MAX_TAGS_BYTES = 8191
"""IRCv3: the tags part, with its ``@`` and trailing space, is at most 8191 bytes."""
MAX_LINE_BYTES = MAX_TAGS_BYTES + 512
"""Longest line accepted, tags included, CRLF excluded (bytes)."""
_TAG_ESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_COMMAND = re.compile(r"[A-Za-z]+|[0-9]{3}")


class IrcParseError(EngineError):
    """A line from an IRC server that is not a valid IRC message (it is skipped, never fatal)."""

    status = 502
    code = "bad_irc_line"


@dataclass(frozen=True)
class IrcMessage:
    """One parsed IRC line."""

    command: str
    """Upper-case command (``PRIVMSG``) or three-digit numeric (``001``)."""
    params: tuple[str, ...] = ()
    """Middle parameters, then the trailing one (the part after `` :``), unescaped as sent."""
    tags: dict[str, str] = field(default_factory=dict)
    """IRCv3 tags with their values unescaped; a tag without a value maps to ``""``."""
    prefix: str = ""
    """``nick!user@host`` or a server name, without the leading colon."""

    @property
    def nick(self) -> str:
        return self.prefix.split("!", 1)[0].split("@", 1)[0]

    def param(self, index: int, default: str = "") -> str:
        return self.params[index] if -len(self.params) <= index < len(self.params) else default


def unescape_tag(value: str) -> str:
    """IRCv3 tag value unescaping (``\\s`` -> space, ``\\:`` -> ``;`` ...)."""
    out: list[str] = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            out.append(_TAG_ESCAPES.get(value[i + 1], value[i + 1]))
            i += 2
        elif ch == "\\":
            i += 1  # a trailing lone backslash is dropped
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def escape_tag(value: str) -> str:
    """The inverse of ``unescape_tag`` (used by test servers)."""
    return (value.replace("\\", "\\\\").replace(";", "\\:").replace(" ", "\\s")
            .replace("\r", "\\r").replace("\n", "\\n"))


def parse_tags(raw: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in raw.split(";"):
        if item:
            key, _, value = item.partition("=")
            tags[key] = unescape_tag(value)
    return tags


def parse_line(line: str) -> IrcMessage:
    """One IRC line (a trailing CR/LF is allowed) -> ``IrcMessage``; ``IrcParseError`` if invalid."""
    rest = line.rstrip("\r\n")
    if len(rest.encode("utf-8", "surrogateescape")) > MAX_LINE_BYTES:
        raise IrcParseError(f"IRC line over {MAX_LINE_BYTES} bytes")
    if any(c in rest for c in "\0\r\n"):
        raise IrcParseError("IRC line contains NUL, CR or LF")
    tags: dict[str, str] = {}
    if rest.startswith("@"):
        raw_tags, _, rest = rest[1:].partition(" ")
        if len(raw_tags) + 2 > MAX_TAGS_BYTES:
            raise IrcParseError(f"IRC tags over {MAX_TAGS_BYTES} bytes")
        tags = parse_tags(raw_tags)
    rest = rest.lstrip(" ")
    prefix = ""
    if rest.startswith(":"):
        prefix, _, rest = rest[1:].partition(" ")
        rest = rest.lstrip(" ")
    trailing: str | None = None
    if rest.startswith(":"):
        rest, trailing = "", rest[1:]
    elif " :" in rest:
        rest, _, trailing = rest.partition(" :")
    words = rest.split()
    if not words:
        raise IrcParseError(f"IRC line without a command: {line[:80]!r}")
    command = words.pop(0)
    if not _COMMAND.fullmatch(command):
        raise IrcParseError(f"invalid IRC command {command[:20]!r}")
    if trailing is not None:
        words.append(trailing)
    return IrcMessage(command.upper(), tuple(words), tags, prefix)


class LineSplitter:
    """Splits a byte stream into lines of at most ``max_bytes``; longer lines are dropped whole.

    ``feed(data)`` returns the complete lines (decoded as UTF-8, invalid bytes replaced, CR/LF
    stripped, empty lines left out); ``overlong`` counts the lines dropped for length.
    """

    def __init__(self, *, max_bytes: int = MAX_LINE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.overlong = 0
        self._buffer = b""
        self._discarding = False
        """True while skipping the rest of an overlong line, up to its newline."""

    def feed(self, data: bytes) -> list[str]:
        self._buffer += data
        lines: list[str] = []
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                break
            raw, self._buffer = self._buffer[:end], self._buffer[end + 1:]
            if self._discarding:
                self._discarding = False
                continue
            raw = raw.rstrip(b"\r")
            if len(raw) > self.max_bytes:
                self.overlong += 1
                continue
            if raw.strip():
                lines.append(raw.decode("utf-8", "replace"))
        if len(self._buffer) > self.max_bytes + 1:  # + 1: a CR may still precede the LF
            if not self._discarding:
                self.overlong += 1
            self._buffer, self._discarding = b"", True
        return lines
