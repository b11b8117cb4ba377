"""The audio stream framing of ``POST /v1/synthesize`` (``application/x-tts-frames``).

A frame is one line of JSON (UTF-8, ending in ``\\n``) and, when the header has
``payload_length``, that many bytes of payload right after the newline::

    {"type": "start", "sample_rate": 48000, "channels": 1, "sample_format": "s16le", ...}\\n
    {"type": "audio", "payload_length": 19200}\\n<19200 bytes of PCM>
    ...
    {"type": "end", "duration_ms": 3576, "cached": false, ...}\\n

A stream ends with exactly one ``end`` or ``error`` frame. Header lines are capped at
``MAX_HEADER_BYTES`` and payloads at ``MAX_PAYLOAD_BYTES``; a reader that sees more raises
``FrameError`` (a protocol error, distinct from a clean end of stream).
"""

from __future__ import annotations

import json
from typing import Any, Final

CONTENT_TYPE: Final = "application/x-tts-frames"
MAX_HEADER_BYTES: Final = 64 * 1024
MAX_PAYLOAD_BYTES: Final = 16 * 2**20


class FrameError(Exception):
    """A malformed frame: bad JSON, an oversized header or payload, a truncated payload."""


def encode(header: dict[str, Any], payload: bytes = b"") -> bytes:
    if payload:
        header = {**header, "payload_length": len(payload)}
    return json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n" + payload


def decode_header(line: bytes) -> dict[str, Any]:
    if len(line) > MAX_HEADER_BYTES:
        raise FrameError(f"frame header over {MAX_HEADER_BYTES} bytes")
    try:
        header = json.loads(line)
    except ValueError as exc:
        raise FrameError(f"frame header is not JSON: {exc}") from None
    if not isinstance(header, dict) or not isinstance(header.get("type"), str):
        raise FrameError("frame header must be a JSON object with a 'type'")
    size = header.get("payload_length", 0)
    if not isinstance(size, int) or not 0 <= size <= MAX_PAYLOAD_BYTES:
        raise FrameError(f"bad payload_length {size!r}")
    return header


def read_frames(stream: Any) -> Any:
    """Iterate ``(header, payload)`` from a blocking binary file-like object (stdlib clients)."""
    while True:
        line = stream.readline(MAX_HEADER_BYTES + 1)
        if not line:
            return
        if not line.endswith(b"\n"):
            raise FrameError("truncated frame header")
        header = decode_header(line)
        size = header.get("payload_length", 0)
        payload = stream.read(size) if size else b""
        if len(payload) != size:
            raise FrameError(f"truncated payload: {len(payload)} of {size} bytes")
        yield header, payload
