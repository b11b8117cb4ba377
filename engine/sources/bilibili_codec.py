"""Bilibili's danmu WebSocket packet format: encode and decode, bounded.

Every packet is a 16-byte big-endian header (packet length u32, header length u16 = 16,
protocol version u16, operation u32, sequence u32) and a body. A WebSocket frame holds one or
more packets back to back. A protover 2 (zlib) or 3 (brotli) body is itself a run of packets,
normally protover 0 (plain JSON) ones; ``decode_frame`` returns those inner packets. Lengths,
nesting and decompressed sizes are capped; anything malformed raises ``BilibiliProtocolError``
(the end of a stream is the WebSocket's close, never this error).
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass
from typing import Any

import brotli

from ..errors import EngineError

HEADER = struct.Struct(">IHHII")
HEADER_BYTES = 16
MAX_PACKET_BYTES = 1 << 20
"""Largest packet accepted, header included (bytes)."""
MAX_DECOMPRESSED_BYTES = 4 << 20
"""Largest body a compressed packet may expand to (bytes)."""
MAX_PACKETS = 10_000
"""Most packets one frame may hold, nested ones included."""

# protocol versions (the body's encoding)
VER_JSON, VER_INT, VER_ZLIB, VER_BROTLI = 0, 1, 2, 3
# operations
OP_HEARTBEAT, OP_HEARTBEAT_REPLY, OP_MESSAGE, OP_AUTH, OP_AUTH_REPLY = 2, 3, 5, 7, 8


class BilibiliProtocolError(EngineError):
    """A danmu frame that does not follow the packet format (bad length, header, body)."""

    status = 502
    code = "bilibili_protocol"


@dataclass(frozen=True)
class Packet:
    """One packet, after decompression when it was compressed."""

    operation: int
    body: bytes = b""
    protover: int = VER_JSON
    sequence: int = 1

    def json(self) -> Any:
        """The body as JSON (op 5 messages, op 8 auth reply); ``BilibiliProtocolError`` if not."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise BilibiliProtocolError(f"op {self.operation}: body is not UTF-8 JSON") from None

    def popularity(self) -> int:
        """The heartbeat reply's (op 3) 4-byte popularity counter."""
        if len(self.body) < 4:
            raise BilibiliProtocolError("heartbeat reply shorter than 4 bytes")
        return int.from_bytes(self.body[:4], "big")


def encode(packet: Packet) -> bytes:
    """The packet's bytes, body as given (use ``compress`` for protover 2/3)."""
    length = HEADER_BYTES + len(packet.body)
    if length > MAX_PACKET_BYTES:
        raise BilibiliProtocolError(f"packet of {length} bytes is over {MAX_PACKET_BYTES}")
    return HEADER.pack(length, HEADER_BYTES, packet.protover, packet.operation,
                       packet.sequence) + packet.body


def compress(packets: list[Packet], protover: int = VER_BROTLI) -> bytes:
    """One op 5 packet whose body is ``packets`` encoded back to back, then zlib (2) or brotli (3)
    compressed: what the server sends."""
    if protover not in (VER_ZLIB, VER_BROTLI):
        raise ValueError(f"protover {protover} is not a compressed version")
    raw = b"".join(encode(p) for p in packets)
    body = zlib.compress(raw) if protover == VER_ZLIB else brotli.compress(raw)
    return encode(Packet(OP_MESSAGE, body, protover))


def auth_packet(*, room_id: int, key: str, uid: int = 0, buvid: str = "") -> bytes:
    """The first packet of a connection (op 7): who we are and which room to read."""
    body: dict[str, Any] = {"uid": uid, "roomid": room_id, "protover": VER_BROTLI,
                            "platform": "web", "type": 2, "key": key}
    if buvid:
        body["buvid"] = buvid
    return encode(Packet(OP_AUTH, json.dumps(body, separators=(",", ":")).encode(), VER_INT))


def heartbeat_packet() -> bytes:
    """The heartbeat (op 2) the server expects every 30 s; it answers op 3."""
    return encode(Packet(OP_HEARTBEAT, b"[object Object]", VER_INT))


def decode_frame(data: bytes) -> list[Packet]:
    """Every packet in one WebSocket frame, compressed bodies expanded into their packets."""
    out: list[Packet] = []
    _decode_into(data, out, depth=0)
    return out


def _decode_into(data: bytes, out: list[Packet], *, depth: int) -> None:
    offset = 0
    if not data:
        raise BilibiliProtocolError("empty frame")
    while offset < len(data):
        if len(data) - offset < HEADER_BYTES:
            raise BilibiliProtocolError(f"truncated header at byte {offset}")
        length, header_len, ver, op, seq = HEADER.unpack_from(data, offset)
        if header_len != HEADER_BYTES:
            raise BilibiliProtocolError(f"header length {header_len}, expected {HEADER_BYTES}")
        if not HEADER_BYTES <= length <= MAX_PACKET_BYTES:
            raise BilibiliProtocolError(f"packet length {length} out of range")
        if offset + length > len(data):
            raise BilibiliProtocolError(f"packet of {length} bytes truncated at byte {offset}")
        body = data[offset + HEADER_BYTES:offset + length]
        offset += length
        if ver in (VER_ZLIB, VER_BROTLI):
            if depth >= 1:
                raise BilibiliProtocolError("compressed packet nested in a compressed packet")
            _decode_into(_inflate(body, ver), out, depth=depth + 1)
        elif ver in (VER_JSON, VER_INT):
            out.append(Packet(op, body, ver, seq))
        else:
            raise BilibiliProtocolError(f"unknown protocol version {ver}")
        if len(out) > MAX_PACKETS:
            raise BilibiliProtocolError(f"over {MAX_PACKETS} packets in one frame")


def _inflate(body: bytes, ver: int) -> bytes:
    limit = MAX_DECOMPRESSED_BYTES
    try:
        if ver == VER_ZLIB:
            z = zlib.decompressobj()
            out = z.decompress(body, limit + 1)
            finished = z.eof
        else:
            b = brotli.Decompressor()
            out = b.process(body, output_buffer_limit=limit + 1)
            finished = b.is_finished()
    except (zlib.error, brotli.error):
        raise BilibiliProtocolError(f"protover {ver} body does not decompress") from None
    if len(out) > limit:
        raise BilibiliProtocolError(f"protover {ver} body expands past {limit} bytes")
    if not finished:
        raise BilibiliProtocolError(f"protover {ver} body is truncated")
    return out
