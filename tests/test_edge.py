"""The Edge backend, driving the real edge-tts code against a local stand-in of the service
(tests/edge_fake.py) that sends real MP3 made from Piper speech, and against real dead ends:
an unresolvable host, a closed port, a port whose accept queue is full, a mute listener."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.audio import BYTES_PER_SECOND
from engine.backends.base import BackendContext
from engine.backends.edge import EdgeBackend, EdgeOptions
from engine.backends.edge_stream import REASONS
from engine.errors import BackendError, ConfigError, UnknownVoice
from tests.conftest import make_config
from tests.edge_fake import (FakeEdge, blackhole, edge_url, mute_listener, piper_speech_mp3,
                             point_edge_tts_at, refusing_port)

SSML_NS = "{http://www.w3.org/2001/10/synthesis}"


@pytest.fixture
async def fake() -> AsyncIterator[FakeEdge]:
    server = await FakeEdge(piper_speech_mp3()[0]).start()
    with point_edge_tts_at(server.ws_url, server.voices_url):
        yield server
    await server.stop()


def make_backend(tmp_path: Path, **options: Any) -> EdgeBackend:
    opts = {"enabled": True, "connect_timeout_s": 1.0, "receive_timeout_s": 1.0, **options}
    return EdgeBackend(EdgeOptions(**opts), BackendContext(data_dir=tmp_path / "data"))


async def collect(backend: EdgeBackend, text: str = "Hello chat!",
                  voice: str = "en-US-AriaNeural") -> list[bytes]:
    return [pcm async for pcm in backend.stream(text, voice)]


async def failure(backend: EdgeBackend, got: list[bytes] | None = None) -> tuple[BackendError, float]:
    """The classified error of one request and the seconds it took."""
    started = time.monotonic()
    with pytest.raises(BackendError) as info:
        async for pcm in backend.stream("Hello chat!", "en-US-AriaNeural"):
            if got is not None:
                got.append(pcm)
    assert info.value.reason in REASONS
    return info.value, time.monotonic() - started


async def test_streams_speech_decoded_to_output_pcm(fake: FakeEdge, tmp_path: Path) -> None:
    backend = make_backend(tmp_path, chunk_ms=200)
    await backend.start()
    chunks = await collect(backend)
    speech_s = piper_speech_mp3()[1]
    pcm = b"".join(chunks)
    seconds = len(pcm) / BYTES_PER_SECOND
    assert abs(seconds - speech_s) < 0.15, (seconds, speech_s)  # MP3 adds < 100 ms of padding
    assert len(chunks) >= 5 and all(len(c) % 2 == 0 for c in chunks)
    assert all(len(c) >= 0.2 * BYTES_PER_SECOND for c in chunks[:-1])  # pieces of ~chunk_ms
    samples = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768
    assert 0.02 < float(np.sqrt(np.mean(samples**2))) < 0.5  # speech, not silence or noise
    assert len(fake.received) == 1


async def test_audio_leaves_before_the_stream_ends(fake: FakeEdge, tmp_path: Path) -> None:
    """The stand-in sends a third of the audio and then stalls: those pieces arrive first."""
    fake.behaviour = "stall_mid_stream"
    got: list[bytes] = []
    error, _ = await failure(make_backend(tmp_path, chunk_ms=100), got)
    assert error.reason == "receive timeout" and "mid-stream" in error.message
    assert sum(map(len, got)) > 0.5 * BYTES_PER_SECOND


@pytest.mark.parametrize("text", [
    "</prosody></voice><voice name='en-US-GuyNeural'>hijack",
    "<speak version='1.0'><prosody rate='+500%'>loud</prosody></speak>",
    'Tom & Jerry &amp; "quotes" \'single\' <3 &lt;b&gt; ]]> <!-- x -->',
])
async def test_chat_text_cannot_inject_ssml(fake: FakeEdge, tmp_path: Path, text: str) -> None:
    backend = make_backend(tmp_path, rate="+10%", pitch="-5Hz", volume="-20%")
    await collect(backend, text)
    root = ET.fromstring(fake.received[-1].ssml)  # well-formed XML
    voices = root.findall(f"{SSML_NS}voice")
    assert len(voices) == 1
    assert voices[0].get("name") == "Microsoft Server Speech Text to Speech Voice (en-US, AriaNeural)"
    prosody = voices[0].findall(f"{SSML_NS}prosody")
    assert len(prosody) == 1 and list(prosody[0]) == []  # no child elements
    assert prosody[0].attrib == {"pitch": "-5Hz", "rate": "+10%", "volume": "-20%"}
    assert prosody[0].text == text  # spoken literally, markup and all


@pytest.mark.parametrize(("behaviour", "reason"), [
    ("http403", "http 403"), ("http429", "http 429"), ("no_audio", "no audio"),
    ("silent_after_upgrade", "receive timeout"),
])
async def test_failures_before_audio_are_classified_and_bounded(
        fake: FakeEdge, tmp_path: Path, behaviour: str, reason: str) -> None:
    fake.behaviour = behaviour
    backend = make_backend(tmp_path, connect_timeout_s=1.0, receive_timeout_s=30.0)
    error, seconds = await failure(backend)
    assert error.reason == reason, error.message
    assert seconds < 1.0 + 1.0  # before any audio: at most the connect timeout
    assert "Sec-MS-GEC" not in error.message and "TrustedClientToken" not in error.message
    assert backend.status()["last_error"].startswith(reason)


@pytest.mark.parametrize("behaviour", ["close_mid_stream", "abort_mid_stream"])
async def test_a_cut_stream_is_a_broken_stream(fake: FakeEdge, tmp_path: Path, behaviour: str) -> None:
    """edge-tts itself ends quietly when the service closes mid-turn; the backend notices."""
    fake.behaviour = behaviour
    got: list[bytes] = []
    error, _ = await failure(make_backend(tmp_path, chunk_ms=100), got)
    assert error.reason == "broken stream", error.message
    assert got  # the audio before the cut had already left


async def test_network_failures(tmp_path: Path) -> None:
    backend = make_backend(tmp_path, connect_timeout_s=1.0)
    with point_edge_tts_at(edge_url(443, "nonexistent.invalid")):
        error, seconds = await failure(backend)
    assert error.reason == "dns", error.message
    assert seconds < 1.0 + 1.0
    with refusing_port() as port, point_edge_tts_at(edge_url(port)):
        error, seconds = await failure(backend)
    assert error.reason == "connect refused", error.message
    assert seconds < 1.0 + 1.0
    with blackhole() as port, point_edge_tts_at(edge_url(port)):
        error, seconds = await failure(backend)
    assert error.reason == "connect timeout" and "connecting" in error.message
    assert seconds < 1.0 + 1.0
    with mute_listener() as port, point_edge_tts_at(edge_url(port)):
        error, seconds = await failure(backend)
    assert error.reason == "connect timeout" and "handshake" in error.message
    assert seconds < 1.0 + 1.0


async def test_voice_list_is_fetched_cached_and_kept_on_disk(fake: FakeEdge, tmp_path: Path) -> None:
    backend = make_backend(tmp_path)
    await backend.start()
    names = [v.name for v in await backend.list_voices()]
    assert names == ["en-US-AriaNeural", "en-US-GuyNeural", "zh-CN-XiaoxiaoNeural"]
    await backend.list_voices()
    assert fake.voice_requests == 1  # in memory while fresh
    saved = json.loads((tmp_path / "data" / "edge" / "voices.json").read_text())
    assert [v["ShortName"] for v in saved["voices"]] == names
    # A restart while the service is down: the disk copy serves, however old.
    fake.voices_status = 503
    again = make_backend(tmp_path, voices_ttl_s=0)
    await again.start()
    assert [v.name for v in await again.list_voices()] == names
    assert fake.voice_requests == 2
    status = again.status()["voice_list"]
    assert status["source"] == "disk" and status["last_error"] == "http error"
    await again.list_voices()
    assert fake.voice_requests == 2  # a failed fetch is not retried at once
    # The cached list now decides which requested voices exist.
    assert await again.resolve_voice("zh-CN-XiaoxiaoNeural") == "zh-CN-XiaoxiaoNeural"
    with pytest.raises(UnknownVoice):
        await again.resolve_voice("en-US-NobodyNeural")


async def test_offline_voice_names_resolve_without_the_network(tmp_path: Path) -> None:
    backend = make_backend(tmp_path)
    with refusing_port() as port, point_edge_tts_at(edge_url(port)):
        await backend.start()
        for name in ("en-US-AriaNeural", "zh-CN-XiaoxiaoNeural", "zh-CN-liaoning-XiaobeiNeural"):
            assert await backend.resolve_voice(name) == name
        assert await backend.resolve_voice(None) == "en-US-AriaNeural"
        for bad in ("en_US-joe-medium", "en-US-Aria' name='x", "en-US-<b>Neural", ""):
            with pytest.raises(UnknownVoice):
                await backend.resolve_voice(bad)
        with pytest.raises(BackendError) as info:
            await backend.list_voices()
        assert "connect refused" in info.value.message
    assert backend.status()["voice_list"]["source"] == "none"


@pytest.mark.parametrize(("key", "value"), [
    ("rate", "fast"), ("pitch", "+5%"), ("volume", "+10"), ("rate", "+10%' x='1"),
    ("voice", "en-US-Aria'/><x"), ("voice", "Aria"),
])
def test_bad_options_are_refused_at_config_load(tmp_path: Path, key: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        make_config(tmp_path, tts={"backends": {"edge": {"enabled": True, key: value}}})
    assert f"tts.backends.edge.{key}" in info.value.message


def test_cache_identity_follows_voice_and_prosody(tmp_path: Path) -> None:
    one = make_backend(tmp_path).cache_identity("en-US-AriaNeural")
    assert one != make_backend(tmp_path, rate="+10%").cache_identity("en-US-AriaNeural")
    assert one != make_backend(tmp_path).cache_identity("en-US-GuyNeural")
    assert one == make_backend(tmp_path).cache_identity("en-US-AriaNeural")


def test_decoding_piece_by_piece_gives_the_same_audio_as_all_at_once() -> None:
    """The decoder and resampler keep their state across pieces: no clicks where pieces meet."""
    from engine.backends.mp3 import Mp3Decoder

    mp3 = piper_speech_mp3()[0]
    whole = Mp3Decoder()
    expected = whole.feed(mp3) + whole.flush()
    pieces = Mp3Decoder()
    got = b"".join(pieces.feed(mp3[i:i + 333]) for i in range(0, len(mp3), 333)) + pieces.flush()
    assert got == expected and pieces.input_rate == 24_000
    assert abs(len(got) / BYTES_PER_SECOND - piper_speech_mp3()[1]) < 0.15


async def test_audio_that_is_not_mp3_is_bad_audio(tmp_path: Path) -> None:
    server = await FakeEdge(b"\x00not an mp3 frame" * 400).start()
    try:
        with point_edge_tts_at(server.ws_url):
            error, _ = await failure(make_backend(tmp_path))
    finally:
        await server.stop()
    assert error.reason == "bad audio", error.message
