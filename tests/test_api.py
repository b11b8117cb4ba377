"""The HTTP/WebSocket API against a real engine on a temp Unix socket and on 127.0.0.1:0,
with the real Piper voice."""

from __future__ import annotations

import asyncio
import io
import json
import os
import stat
import wave
from typing import Any

import aiohttp
import pytest

from engine.http import framing
from tests.conftest import RunningEngine, post_unix

CHAT = "Thanks for the follow!"
ANNOUNCEMENT = ("Welcome to the stream. Today we build a speech engine. It streams sentence by "
                "sentence. The cache makes repeats instant. Enjoy the show!")


def parse_frames(body: bytes) -> list[tuple[dict[str, Any], bytes]]:
    return list(framing.read_frames(io.BytesIO(body)))


async def post(engine: RunningEngine, route: str, body: Any, **kw: Any) -> tuple[int, dict, bytes]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with aiohttp.ClientSession() as s, s.post(engine.url + route, data=data, **kw) as r:
        return r.status, dict(r.headers), await r.read()


async def test_synthesize_streams_frames_over_the_unix_socket(start_engine: Any) -> None:
    engine = await start_engine()
    status, headers, body = await post_unix(engine.unix, "/v1/synthesize", {"text": ANNOUNCEMENT})
    assert status == 200 and headers["Content-Type"] == framing.CONTENT_TYPE
    frames = parse_frames(body)
    kinds = [h["type"] for h, _ in frames]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("audio") >= 5  # one per sentence
    start, end = frames[0][0], frames[-1][0]
    assert start["sample_rate"] == 48000 and start["channels"] == 1 and start["sample_format"] == "s16le"
    assert start["backend"] == "piper" and start["voice"] == "en_US-joe-medium" and start["cached"] is False
    pcm = b"".join(p for h, p in frames if h["type"] == "audio")
    assert end["duration_ms"] == round(len(pcm) / 96)
    assert 6000 < end["duration_ms"] < 20000
    samples = memoryview(pcm).cast("h")
    assert max(abs(s) for s in samples[::50]) > 1000  # speech, not silence


async def test_first_sentence_leaves_before_the_rest_is_synthesized(start_engine: Any) -> None:
    engine = await start_engine()
    async with aiohttp.ClientSession() as s, s.post(engine.url + "/v1/synthesize",
                                                   json={"text": ANNOUNCEMENT}) as r:
        await r.content.readline()  # start frame
        audio = json.loads(await r.content.readline())
        assert audio["type"] == "audio"
        job = engine.engine.job(r.headers["X-TTS-Request-Id"])
        assert job is not None and not job.done  # still synthesizing later sentences
        async with s.get(engine.url + "/health") as h:  # the event loop is not blocked meanwhile
            assert h.status == 200
        assert not job.done
        await r.read()


async def test_second_request_is_a_cache_hit_with_identical_audio(start_engine: Any) -> None:
    engine = await start_engine()
    first = parse_frames((await post(engine, "/v1/synthesize", {"text": CHAT}))[2])
    second = parse_frames((await post(engine, "/v1/synthesize", {"text": "  Thanks   for the follow!"}))[2])
    assert second[0][0]["cached"] is True and first[0][0]["cached"] is False
    pcm = [b"".join(p for h, p in f if h["type"] == "audio") for f in (first, second)]
    assert pcm[0] == pcm[1]
    health = json.loads((await _get(engine, "/health"))[1])
    assert health["cache"]["hits"] == 1 and health["cache"]["entries"] == 1


async def test_wav_and_pcm_formats_and_jobs(start_engine: Any) -> None:
    engine = await start_engine()
    status, headers, body = await post(engine, "/v1/synthesize", {"text": CHAT, "format": "wav"})
    assert status == 200 and headers["X-TTS-Backend"] == "piper"
    with wave.open(io.BytesIO(body)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (48000, 1, 2)
    status, _, pcm = await post(engine, "/v1/synthesize", {"text": CHAT, "format": "pcm"})
    assert status == 200 and len(pcm) % 2 == 0 and pcm == body[44:]
    status, _, created = await post(engine, "/v1/jobs", {"text": "A job for the media source."})
    job = json.loads(created)
    assert status == 202 and job["wav_url"].endswith(".wav")
    status, wav = await _get(engine, job["wav_url"])
    assert status == 200 and wav[:4] == b"RIFF" and len(wav) > 44 + 48000
    meta = json.loads((await _get(engine, job["status_url"]))[1])
    assert meta["state"] == "done" and meta["backend"] == "piper"


async def test_websocket_of_the_user_guide(start_engine: Any) -> None:
    engine = await start_engine()
    async with aiohttp.ClientSession() as s, s.ws_connect(engine.url + "/ws") as ws:
        await ws.send_str(json.dumps({"type": "tts", "text": CHAT, "voice": "en_US-joe-medium"}))
        start = await ws.receive_json(timeout=30)
        assert start["type"] == "start" and start["sample_rate"] == 48000
        audio = b""
        while True:
            msg = await ws.receive(timeout=30)
            if msg.type == aiohttp.WSMsgType.BINARY:
                audio += msg.data
                continue
            end = json.loads(msg.data)
            break
        assert end["type"] == "end" and end["duration_ms"] == round(len(audio) / 96)
        await ws.send_str(json.dumps({"type": "tts", "text": ""}))
        err = await ws.receive_json(timeout=30)
        assert err["type"] == "error" and "empty" in err["message"]
        await ws.send_str("{not json")
        assert (await ws.receive_json(timeout=30))["code"] == "bad_request"


BAD_REQUESTS = [
    ({"text": ""}, 400, "empty"),
    ({"text": " \n\t "}, 400, "empty"),
    ({"text": " ".join(f"w{i}" for i in range(300))}, 413, "limit is 1000"),
    ({"text": "?! -- ..."}, 400, "nothing to speak"),  # never reaches (or trips) a backend
    (b'{"text": "caf\xe9"}', 400, "not valid UTF-8"),
    (b'{"text": ', 400, "not valid JSON"),
    (b'["text"]', 400, "JSON object"),
    ({"text": 42}, 400, "'text' must be a string"),
    ({"text": "hi", "voice": 7}, 400, "'voice' must be a string"),
    ({"text": "hi", "priority": "urgent"}, 400, "'priority' must be one of"),
    ({"text": "hi", "deadline_ms": "soon"}, 400, "deadline_ms"),
    ({"text": "hi", "voice": "no-such-voice"}, 404, "no-such-voice"),
    ({"text": "hi", "backend": "festival"}, 404, "festival"),
    ({"text": "hi", "format": "ogg"}, 400, "'format' must be one of"),
    (b'{"text": "' + b"a" * 70_000 + b'"}', 413, "max_body_bytes"),
]


@pytest.mark.parametrize("body, status, message", BAD_REQUESTS)
async def test_bad_input_gets_a_clear_4xx_and_the_engine_keeps_serving(
        start_engine: Any, body: Any, status: int, message: str) -> None:
    engine = await start_engine()
    for send in ("tcp", "unix"):
        if send == "tcp":
            got, _, reply = await post(engine, "/v1/synthesize", body)
        else:
            got, _, reply = await post_unix(engine.unix, "/v1/synthesize", body)
        error = json.loads(reply)["error"]
        assert got == status and message in error["message"], (send, error)
    ok, _, after = await post(engine, "/v1/synthesize", {"text": "Still here.", "format": "pcm"})
    assert ok == 200 and len(after) > 48000


async def test_cross_origin_browser_requests_are_refused(start_engine: Any) -> None:
    engine = await start_engine()
    status, _, body = await post(engine, "/v1/synthesize", {"text": CHAT},
                                 headers={"Origin": "https://evil.example"})
    assert status == 403 and b"cross_origin" in body
    async with aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await s.ws_connect(engine.url + "/ws", headers={"Origin": "https://evil.example"})
    allowed = await start_engine(server={"allowed_origins": ["http://localhost:3000"],
                                         "unix_socket": ""})
    status, _, _ = await post(allowed, "/v1/synthesize", {"text": CHAT, "format": "pcm"},
                              headers={"Origin": "http://localhost:3000"})
    assert status == 200


async def test_unix_socket_is_user_only(start_engine: Any) -> None:
    engine = await start_engine()
    mode = stat.S_IMODE(os.stat(engine.unix).st_mode)
    assert mode == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(engine.unix)).st_mode) & 0o077 == 0
    assert engine.tcp.startswith("127.0.0.1:")


async def test_a_full_queue_answers_busy_while_others_are_served(start_engine: Any) -> None:
    engine = await start_engine(performance={"queue": {"max_concurrent": 1, "max_queued": 1},
                                             "cache": {"enabled": False}})
    texts = [f"Line number {i} of a flood of chat." for i in range(6)]
    results = await asyncio.gather(*[post(engine, "/v1/synthesize", {"text": t, "format": "pcm"})
                                     for t in texts])
    codes = sorted(r[0] for r in results)
    assert codes.count(200) >= 2 and 503 in codes
    busy = next(json.loads(r[2]) for r in results if r[0] == 503)
    assert busy["error"]["code"] == "busy" and "retry" in busy["error"]["message"]


async def test_voices_and_health(start_engine: Any) -> None:
    engine = await start_engine()
    voices = json.loads((await _get(engine, "/v1/voices"))[1])["voices"]
    assert {"name": "en_US-joe-medium", "backend": "piper"}.items() <= voices[0].items()
    health = json.loads((await _get(engine, "/health"))[1])
    assert health["status"] == "ok" and health["listen"]["tcp"] == engine.tcp
    assert {"queue", "cache", "backends", "gpu"} <= health.keys()
    assert health["speech"]["stage"]["listeners"] == 0  # no OBS plugin listening
    await post(engine, "/v1/synthesize", {"text": "Count me.", "format": "pcm"})
    status, metrics = await _get(engine, "/metrics")
    text = metrics.decode()
    assert status == 200 and 'tts_backend_requests_total{backend="piper",outcome="served"} 1.0' in text
    assert 'tts_time_to_first_audio_seconds_count{backend="piper",cached="false"} 1.0' in text
    assert 'tts_queue_length{queue="synthesis"} 0.0' in text


async def _get(engine: RunningEngine, route: str) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as s, s.get(engine.url + route) as r:
        return r.status, await r.read()


async def test_identical_requests_in_flight_are_synthesized_once(start_engine: Any) -> None:
    engine = await start_engine(performance={"cache": {"enabled": False}})
    results = await asyncio.gather(*[post(engine, "/v1/synthesize", {"text": ANNOUNCEMENT, "format": "pcm"})
                                     for _ in range(5)])
    assert {r[0] for r in results} == {200} and len({r[2] for r in results}) == 1
    health = json.loads((await _get(engine, "/health"))[1])
    assert health["backends"]["piper"]["served"] == 1 and health["queue"]["deduplicated"] == 4


async def test_stale_chat_is_dropped_with_a_stated_reason(start_engine: Any) -> None:
    engine = await start_engine(performance={"queue": {"max_concurrent": 1}, "cache": {"enabled": False}})
    long_one = asyncio.create_task(post(engine, "/v1/synthesize",
                                        {"text": ANNOUNCEMENT * 3, "priority": "announcement"}))
    for _ in range(400):  # bounded: until the long one holds the only synthesis slot
        if engine.engine.scheduler.running:
            break
        await asyncio.sleep(0.025)
    status, _, body = await post(engine, "/v1/synthesize", {"text": "old chat", "deadline_ms": 1})
    error = json.loads(body)["error"]
    assert status == 503 and error["code"] == "expired" and "deadline of 1 ms" in error["message"]
    assert (await long_one)[0] == 200
    health = json.loads((await _get(engine, "/health"))[1])
    assert health["queue"]["expired"] == 1


async def test_finished_jobs_are_kept_within_a_byte_budget(start_engine: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from engine import service

    monkeypatch.setattr(service, "JOBS_KEPT_BYTES", 200_000)
    engine = await start_engine()
    ids = []
    for i in range(4):
        _, _, created = await post(engine, "/v1/jobs", {"text": f"Kept job number {i}, a longer line."})
        job_id = json.loads(created)["request_id"]
        ids.append(job_id)
        await asyncio.wait_for(engine.engine.job(job_id).wait_begun(), timeout=30)
        async for _ in engine.engine.job(job_id).chunks():
            pass
    assert engine.engine.job(ids[-1]) is not None  # the newest stays addressable
    assert engine.engine.job(ids[0]) is None  # the oldest finished audio was let go
    kept = [engine.engine.job(i) for i in ids if engine.engine.job(i) is not None]
    assert sum(j.size_bytes for j in kept[:-1]) <= 200_000
