"""``POST /v1/audio/speech`` through the official ``openai`` client, against a real engine with
the real Piper voice on loopback; every result decoded with PyAV."""

from __future__ import annotations

import base64
import io
import json
import time
from typing import Any

import aiohttp
import av
import numpy as np
import openai
import pytest

from engine.http import encode
from tests.conftest import RunningEngine

LINE = "Thanks for the raid, welcome everyone to the stream!"
LONG = ("Welcome to the stream. Today we build a speech engine. It streams sentence by sentence. "
        "The cache makes repeats instant. Enjoy the show!")


def client(engine: RunningEngine) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{engine.url}/v1", api_key=engine.token, max_retries=0,
                              timeout=60)


def decode(data: bytes, fmt: str) -> tuple[int, np.ndarray]:
    """(sample rate, mono float samples) of an encoded reply."""
    if fmt == "pcm":
        return encode.PCM_RATE, np.frombuffer(data, "<i2").astype(np.float32) / 32768
    parts, rate = [], 0
    with av.open(io.BytesIO(data), "r") as container:
        for frame in container.decode(audio=0):
            rate = frame.sample_rate
            samples = frame.to_ndarray().astype(np.float32)
            if frame.format.name.startswith("s16"):
                samples /= 32768
            parts.append(samples.reshape(-1) if samples.shape[0] == 1 else samples.mean(axis=0))
    return rate, np.concatenate(parts)


def seconds(data: bytes, fmt: str) -> float:
    rate, samples = decode(data, fmt)
    return len(samples) / rate


async def test_every_format_decodes_at_its_rate_with_the_wavs_length(start_engine: Any) -> None:
    engine = await start_engine()
    api = client(engine)
    wav = await api.audio.speech.create(model="tts-1", voice="alloy", input=LINE, response_format="wav")
    reference = seconds(wav.content, "wav")
    assert 2.0 < reference < 8.0
    for fmt in encode.FORMATS:
        raw = await api.audio.speech.with_raw_response.create(
            model="tts-1", voice="alloy", input=LINE, response_format=fmt)  # type: ignore[arg-type]
        assert raw.headers["content-type"] == encode.FORMATS[fmt].content_type
        assert raw.headers["x-tts-backend"] == "piper"
        rate, samples = decode(raw.content, fmt)
        assert rate == (24_000 if fmt == "pcm" else 48_000), fmt
        assert abs(len(samples) / rate - reference) < max(0.08, 0.03 * reference), fmt
        assert float(np.abs(samples).max()) > 0.1, fmt  # speech, not silence
    await api.close()


async def test_default_format_is_mp3(start_engine: Any) -> None:
    engine = await start_engine()
    async with aiohttp.ClientSession(headers=engine.headers) as s, s.post(
            engine.url + "/v1/audio/speech", json={"model": "tts-1", "voice": "echo", "input": LINE}) as r:
        body = await r.read()
        assert r.status == 200 and r.headers["Content-Type"] == "audio/mpeg"
        assert r.headers.get("Transfer-Encoding") == "chunked"
    with av.open(io.BytesIO(body), "r") as container:
        assert container.format.name == "mp3" and container.streams.audio[0].codec_context.name in (
            "mp3", "mp3float")


@pytest.mark.parametrize("fmt", ["mp3", "wav"])
async def test_audio_streams_before_the_clip_is_done(start_engine: Any, fmt: str) -> None:
    engine = await start_engine(performance={"cache": {"enabled": False}})
    api = client(engine)
    began = time.monotonic()
    chunks: list[bytes] = []
    async with api.audio.speech.with_streaming_response.create(
            model="tts-1", voice="alloy", input=LONG, response_format=fmt) as r:  # type: ignore[arg-type]
        job = engine.engine.job(r.headers["x-tts-request-id"])
        async for chunk in r.iter_bytes():
            if not chunks:
                first = time.monotonic() - began
                first_done = job.done
            chunks.append(chunk)
    total = time.monotonic() - began
    assert first < total and not first_done  # the first audio left while later sentences ran
    assert abs(seconds(b"".join(chunks), fmt) - job.size_bytes / 96_000) < 0.1
    await api.close()


async def test_speed_changes_duration(start_engine: Any) -> None:
    engine = await start_engine()
    api = client(engine)
    normal = (await api.audio.speech.create(model="tts-1", voice="alloy", input=LINE,
                                            response_format="wav")).content
    fast = (await api.audio.speech.create(model="tts-1", voice="alloy", input=LINE,
                                          response_format="wav", speed=2.0)).content
    slow = (await api.audio.speech.create(model="tts-1", voice="alloy", input=LINE,
                                          response_format="flac", speed=0.5)).content
    base = seconds(normal, "wav")
    assert abs(seconds(fast, "wav") / base - 0.5) < 0.025
    assert abs(seconds(slow, "flac") / base - 2.0) < 0.1
    await api.close()


async def test_errors_have_openais_shape(start_engine: Any) -> None:
    engine = await start_engine()
    api = client(engine)
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"voice": "nobody-like-this"}, "voice", "unknown_voice"),
        ({"response_format": "ogg"}, "response_format", "invalid_value"),
        ({"model": "tts-9"}, "model", "model_not_found"),
        ({"speed": 5.0}, "speed", "invalid_value"),
        ({"input": "a" * 1001}, "input", "string_above_max_length"),
        ({"stream_format": "video"}, "stream_format", "invalid_value"),
    ]
    for change, param, code in cases:
        args: dict[str, Any] = {"model": "tts-1", "voice": "alloy", "input": LINE, **change}
        with pytest.raises(openai.BadRequestError) as caught:
            await api.audio.speech.create(**args)
        error = caught.value.body
        assert isinstance(error, dict), error
        assert error["type"] == "invalid_request_error" and error["param"] == param, error
        assert error["code"] == code and error["message"], error
    with pytest.raises(openai.BadRequestError) as caught:
        await api.audio.speech.create(model="tts-1", voice="alloy", input="a" * 1001)
    assert "1000 (this engine's server.max_text_chars)" in str(caught.value)
    await api.close()
    async with aiohttp.ClientSession(headers=engine.headers) as s:
        for body, status, code in ((b"{not json", 400, "bad_request"),
                                   (b'{"input": "' + b"a" * 70_000 + b'"}', 413, "body_too_large")):
            async with s.post(engine.url + "/v1/audio/speech", data=body) as r:
                error = (await r.json())["error"]
                assert r.status == status and error["code"] == code, error
                assert error["type"] == "invalid_request_error" and error["message"], error


async def test_voices_models_and_instructions(start_engine: Any) -> None:
    engine = await start_engine(tts={"openai_voices": {"Nova": "en_US-joe-medium"}})
    api = client(engine)
    for voice, model in (("nova", "gpt-4o-mini-tts"), ("en_US-joe-medium", "piper"),
                         ("verse", "tts-1-hd")):
        raw = await api.audio.speech.with_raw_response.create(
            model=model, voice=voice, input=LINE, instructions="Speak cheerfully.")
        assert raw.headers["x-tts-voice"] == "en_US-joe-medium"
        assert seconds(raw.content, "mp3") > 1.0
    with pytest.raises(openai.BadRequestError) as caught:
        await api.audio.speech.create(model="edge", voice="alloy", input=LINE)  # not running here
    assert "piper" in str(caught.value)
    await api.close()


async def test_sse_stream_carries_base64_audio_then_done(start_engine: Any) -> None:
    engine = await start_engine()
    async with aiohttp.ClientSession(headers=engine.headers) as s, s.post(
            engine.url + "/v1/audio/speech", json={"model": "tts-1", "voice": "alloy", "input": LONG,
                                                   "response_format": "aac", "stream_format": "sse"}) as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/event-stream")
        events = [json.loads(line[6:]) for line in (await r.text()).splitlines()
                  if line.startswith("data: ")]
    kinds = [e["type"] for e in events]
    assert kinds[-1] == "speech.audio.done" and set(kinds[:-1]) == {"speech.audio.delta"}
    assert len(kinds) > 3  # sentence by sentence
    audio = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    assert seconds(audio, "aac") > 5.0


def test_tempo_factors_cover_openais_range() -> None:
    assert encode.tempo_factors(1.0) == []
    assert encode.tempo_factors(4.0) == [2.0, 2.0]
    assert encode.tempo_factors(0.25) == [0.5, 0.5]
    assert encode.tempo_factors(3.0) == [2.0, 1.5]
    tone = (np.sin(np.arange(96_000) * 2 * np.pi * 220 / 48_000) * 12_000).astype("<i2").tobytes()
    for speed in (0.25, 0.5, 1.5, 3.0, 4.0):
        pipe = encode.Pipeline(encode.FORMATS["pcm"], speed=speed)
        out = pipe.feed(tone[:50_001]) + pipe.feed(tone[50_001:]) + pipe.flush()  # odd split
        assert abs(len(out) / 2 / encode.PCM_RATE - 2.0 / speed) < 0.05 * 2.0 / speed, speed
        spectrum = np.abs(np.fft.rfft(np.frombuffer(out, "<i2").astype(np.float32)))
        peak_hz = np.argmax(spectrum) * encode.PCM_RATE / (len(out) // 2)
        assert abs(peak_hz - 220) < 3, (speed, peak_hz)  # the pitch is kept (resampling: 220*speed)
