"""The Bilibili packet codec: known bytes, compressed runs, bounds, and hypothesis fuzzing."""

from __future__ import annotations

import json
import struct
import zlib

import brotli
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import EngineError
from engine.sources.bilibili_wbi import keys_from_nav, mixin_key, sign
from engine.sources.bilibili_codec import (
    MAX_DECOMPRESSED_BYTES,
    MAX_PACKET_BYTES,
    OP_AUTH,
    OP_HEARTBEAT,
    OP_MESSAGE,
    BilibiliProtocolError,
    Packet,
    auth_packet,
    compress,
    decode_frame,
    encode,
    heartbeat_packet,
)


def raw(op: int, body: bytes, ver: int = 0, header_len: int = 16, length: int | None = None) -> bytes:
    """Packed by hand, independently of the codec."""
    size = 16 + len(body) if length is None else length
    return struct.pack(">IHHII", size, header_len, ver, op, 1) + body


def test_heartbeat_and_auth_bytes() -> None:
    assert heartbeat_packet() == raw(2, b"[object Object]", 1)
    packet = auth_packet(room_id=7734200, key="tok", uid=42, buvid="B-1")
    length, header_len, ver, op, seq = struct.unpack(">IHHII", packet[:16])
    assert (length, header_len, ver, op, seq) == (len(packet), 16, 1, OP_AUTH, 1)
    assert json.loads(packet[16:]) == {"uid": 42, "roomid": 7734200, "protover": 3,
                                       "platform": "web", "type": 2, "key": "tok", "buvid": "B-1"}


def test_several_packets_and_zlib_and_brotli_bodies() -> None:
    inner = raw(5, b'{"cmd":"A"}') + raw(5, b'{"cmd":"B"}')
    frame = (raw(3, (1234).to_bytes(4, "big"), 1) + raw(5, zlib.compress(inner), 2)
             + raw(5, brotli.compress(inner), 3))
    packets = decode_frame(frame)
    assert [p.operation for p in packets] == [3, 5, 5, 5, 5]
    assert packets[0].popularity() == 1234
    assert [p.json()["cmd"] for p in packets[1:]] == ["A", "B", "A", "B"]


@pytest.mark.parametrize("frame, why", [
    (b"", "empty"),
    (raw(5, b"{}")[:10], "truncated header"),
    (raw(5, b"{}", header_len=18), "header length"),
    (raw(5, b"{}", length=MAX_PACKET_BYTES + 1), "out of range"),
    (raw(5, b"{}", length=8), "out of range"),
    (raw(5, b"{}", length=40), "truncated"),
    (raw(5, b"{}", ver=9), "unknown protocol version"),
    (raw(5, b"not zlib", ver=2), "does not decompress"),
    (raw(5, zlib.compress(raw(5, b"{}"))[:-4], ver=2), "truncated"),
    (raw(5, zlib.compress(raw(5, zlib.compress(raw(5, b"{}")), ver=2)), ver=2), "nested"),
])
def test_bad_frames_raise_the_protocol_error(frame: bytes, why: str) -> None:
    with pytest.raises(BilibiliProtocolError, match=why) as info:
        decode_frame(frame)
    assert isinstance(info.value, EngineError)


@pytest.mark.parametrize("ver", [2, 3])
def test_decompression_bombs_are_refused(ver: int) -> None:
    bomb = b"\0" * (MAX_DECOMPRESSED_BYTES + 16)
    body = zlib.compress(bomb, 9) if ver == 2 else brotli.compress(bomb)
    assert len(body) < 64 * 1024
    with pytest.raises(BilibiliProtocolError, match="expands past"):
        decode_frame(raw(5, body, ver=ver))


def test_json_body_errors_are_protocol_errors() -> None:
    with pytest.raises(BilibiliProtocolError, match="not UTF-8 JSON"):
        Packet(OP_MESSAGE, b"\xff{").json()
    with pytest.raises(BilibiliProtocolError, match="shorter"):
        Packet(3, b"\0").popularity()
    with pytest.raises(BilibiliProtocolError, match="over"):
        encode(Packet(OP_MESSAGE, b"x" * MAX_PACKET_BYTES))


plain_packets = st.builds(Packet, operation=st.sampled_from([OP_HEARTBEAT, 3, OP_MESSAGE, 8]),
                          body=st.binary(max_size=300), protover=st.sampled_from([0, 1]),
                          sequence=st.integers(0, 2**32 - 1))


@settings(max_examples=300, deadline=None)
@given(st.lists(plain_packets, min_size=1, max_size=6), st.sampled_from([2, 3]))
def test_round_trip(packets: list[Packet], ver: int) -> None:
    assert decode_frame(b"".join(encode(p) for p in packets)) == packets
    assert decode_frame(compress(packets, ver)) == packets


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=400))
def test_decoding_junk_raises_only_the_protocol_error(data: bytes) -> None:
    try:
        packets = decode_frame(data)
    except BilibiliProtocolError:
        return
    assert packets and all(p.protover in (0, 1) for p in packets)


@settings(max_examples=500, deadline=None)
@given(st.lists(plain_packets, min_size=1, max_size=4), st.integers(0, 2000), st.integers(0, 255),
       st.sampled_from([0, 2, 3]))
def test_mutated_frames_raise_only_the_protocol_error(packets: list[Packet], where: int, byte: int,
                                                      ver: int) -> None:
    frame = bytearray(compress(packets, ver) if ver else b"".join(encode(p) for p in packets))
    frame[where % len(frame)] = byte
    try:
        decoded = decode_frame(bytes(frame))
    except BilibiliProtocolError:
        return
    assert decoded and all(p.protover in (0, 1) for p in decoded)


def test_wbi_signature_matches_the_documented_example() -> None:
    nav = {"code": -101, "data": {"isLogin": False, "wbi_img": {
        "img_url": "https://i0.hdslb.com/bfs/wbi/7cd084941338484aae1ad9425b84077c.png",
        "sub_url": "https://i0.hdslb.com/bfs/wbi/4932caff0ff746eab6f01bf08b70ac45.png"}}}
    keys = keys_from_nav(nav)
    assert keys is not None and mixin_key(*keys) == "ea1db124af3c7062474693fa704f4ff8"
    assert sign({"foo": "114", "bar": "514", "zab": 1919810}, keys, wts=1702204169) == (
        "bar=514&foo=114&wts=1702204169&zab=1919810&w_rid=8f6f2b5b3d485fe1886cec6a0be8c5d4")
    assert sign({"q": "one one!four/"}, keys, wts=1).startswith("q=one%20onefour%2F&wts=1&")
    assert keys_from_nav({"data": {}}) is None and keys_from_nav("junk") is None
