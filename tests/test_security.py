"""Issue 12's urgent fixes against a real engine on loopback (real Piper voice): the queue cannot
be jammed, voices are named (never file paths), and no input gets a 5xx or drops the WebSocket.
Hosts, origins and connection limits are in ``test_security_http.py``."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import aiohttp
import pytest

from engine.errors import BadRequest, Expired
from engine.speech.jobs import Job, SynthesisRequest
from engine.speech.scheduler import Scheduler
from tests.conftest import RunningEngine, post_unix

HUGE = int("9" * 400)


async def call(engine: RunningEngine, method: str, route: str, body: Any = None,
               headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """One request over TCP; the reply's JSON (or its bytes when it is not JSON)."""
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as s, \
            s.request(method, engine.url + route, data=data,
                      headers={**engine.headers, **(headers or {})}) as r:
        raw = await r.content.read(65536) if route == "/v1/subscribe" and r.status == 200 else await r.read()
        try:
            return r.status, json.loads(raw.splitlines()[0] if route == "/v1/subscribe" else raw)
        except (ValueError, IndexError):
            return r.status, raw


# -- 1. the queue cannot be jammed -------------------------------------------------------------

async def test_a_hundred_huge_deadlines_are_refused_and_a_normal_job_still_runs(start_engine: Any) -> None:
    engine = await start_engine()
    for i in range(100):
        status, body = await call(engine, "POST", "/v1/jobs", {"text": f"line {i}", "deadline_ms": HUGE})
        assert status == 400 and "deadline_ms" in body["error"]["message"], body
    bad: Any
    for bad in (-1, 3_600_001, 1.5, "10", True, [], {}):
        status, body = await call(engine, "POST", "/v1/jobs", {"text": "hi", "deadline_ms": bad})
        assert status == 400 and "deadline_ms" in body["error"]["message"], (bad, body)
    status, body = await call(engine, "GET", "/health")
    assert body["queue"]["queued"] == 0 and body["queue"]["refused_busy"] == 0
    status, job = await call(engine, "POST", "/v1/jobs",
                             {"text": "Still speaking.", "deadline_ms": 3_600_000})
    assert status == 202
    status, wav = await call(engine, "GET", job["wav_url"])
    assert status == 200 and wav[:4] == b"RIFF" and len(wav) > 44 + 9600


async def test_a_job_that_cannot_be_scheduled_leaves_nothing_in_the_queue() -> None:
    ran: list[str] = []
    gate = asyncio.Event()

    async def runner(job: Job) -> None:
        ran.append(job.request.text)
        if job.request.text == "blocker":
            await gate.wait()
        job.finish("done")

    sched = Scheduler(runner, max_concurrent=1, max_queued=1)
    with pytest.raises(BadRequest, match="deadline_ms"):
        SynthesisRequest("x", deadline_ms=HUGE)
    broken = Job(SynthesisRequest("broken", deadline_ms=10), key="k1")
    broken.request.deadline_ms = HUGE  # changed after validation: the scheduler still copes
    with pytest.raises(OverflowError):
        sched.submit(broken)
    assert sched.queued == 0 and sched.find("k1") is None
    blocker = sched.submit(Job(SynthesisRequest("blocker"), key="k2"))
    waiting = sched.submit(Job(SynthesisRequest("withdrawn", deadline_ms=60_000), key="k3"))
    assert sched.queued == 1
    sched.discard(waiting)  # its request failed after queueing
    assert sched.queued == 0 and waiting.done and sched.find("k3") is None
    assert not isinstance(waiting.error, Expired)
    gate.set()
    await asyncio.wait_for(blocker.wait_begun(), 5)
    ok = sched.submit(Job(SynthesisRequest("fine"), key="k4"))
    for _ in range(100):
        if ok.done:
            break
        await asyncio.sleep(0.01)
    assert ran == ["blocker", "fine"] and ok.state == "done"


async def test_jobs_refused_as_busy_are_not_kept(start_engine: Any) -> None:
    engine = await start_engine(performance={"queue": {"max_concurrent": 1, "max_queued": 1},
                                             "cache": {"enabled": False}})
    results = await asyncio.gather(*[call(engine, "POST", "/v1/jobs", {"text": f"Flood line {i}."})
                                     for i in range(20)])
    accepted = [body["request_id"] for status, body in results if status == 202]
    assert len(accepted) < 20 and {status for status, _ in results} == {202, 503}
    assert sorted(engine.engine._jobs) == sorted(accepted)  # nothing refused lingers as "queued"


# -- 2. voices by name only ----------------------------------------------------------------------

PATHS = ["/etc/passwd", "~/x.onnx", "../../x", "/proc/kmsg", "en_US-joe-medium.onnx",
         "..\\..\\x", "voice\x00", "/no/such/file.onnx"]


async def test_voice_paths_are_refused_alike_and_quickly_and_never_reach_piper(start_engine: Any) -> None:
    engine = await start_engine()
    replies = set()
    for voice in PATHS:
        for route in ("/v1/synthesize", "/v1/jobs", "/v1/say"):
            began = time.monotonic()
            status, body = await call(engine, "POST", route, {"text": "hi", "voice": voice})
            assert time.monotonic() - began < 2.0, (voice, route)
            replies.add((status, body["error"]["code"], body["error"]["message"]))
        status, body = await call(engine, "POST", "/v1/audio/speech", {"input": "hi", "voice": voice})
        replies.add((status, body["error"]["code"], body["error"]["message"]))
        status, body = await call(engine, "POST", "/v1/events", {
            "type": "announcement", "id": f"v{len(voice)}{voice[:3]}", "source": "test", "text": "hi",
            "voice": voice})
        replies.add((status, body["error"]["code"], body["error"]["message"]))
    assert len(replies) == 1, replies  # an existing file and a missing one look the same
    status, code, message = replies.pop()
    assert status == 400 and code == "bad_request" and "not a file path" in message
    async with aiohttp.ClientSession(headers=engine.headers) as s, s.ws_connect(engine.url + "/ws") as ws:
        for voice in ("/etc/passwd", "/proc/kmsg"):
            await ws.send_json({"type": "tts", "text": "hi", "voice": voice})
            err = await ws.receive_json(timeout=5)
            assert err["type"] == "error" and "not a file path" in err["message"]
    _, health = await call(engine, "GET", "/health")
    piper = health["backends"]["piper"]
    assert piper["breaker"]["state"] == "closed" and piper["breaker"]["consecutive_failures"] == 0
    assert piper["failed"] == 0 and piper["loaded_voices"] == ["en_US-joe-medium"]


# -- 4. no 5xx from any input, and the WebSocket stays open --------------------------------------

DEEP = b"[" * 10_000 + b"]" * 10_000
MALFORMED = [
    DEEP, b'{"text": ' + DEEP + b"}", b'{"text": "hi", "priority": []}', b'{"text": "hi", "priority": {}}',
    b'{"text": "hi", "voice": [[[]]]}', b'{"text": "hi", "backend": {"a": 1}}',
    b'{"text": "hi", "deadline_ms": 1e400}', b'{"text": "hi", "format": []}',
    b'{"input": [], "voice": {}, "response_format": []}', b'{"input": "hi", "model": [], "voice": []}',
    b"\xff\xfe", b"null", b"[]", b'"text"', b"",
    b'{"text": "' + b"a" * 300 + b'", "voice": "' + b"v" * 300 + b'"}',
]
POST_ROUTES = ("/v1/synthesize", "/v1/jobs", "/v1/say", "/v1/audio/speech")
HUB_ROUTES = ("/v1/events", "/v1/control", "/v1/moderation", "/v1/playback")


async def test_malformed_bodies_get_a_json_4xx_on_every_endpoint(start_engine: Any) -> None:
    engine = await start_engine()
    for route in POST_ROUTES + HUB_ROUTES:
        for body in [*MALFORMED, b'{"type": []}', b'{"command": []}', b'{"action": [], "login": {}}',
                     b'{"utterance": [], "part": 1e400, "state": {}}']:  # some are valid somewhere
            status, reply = await call(engine, "POST", route, body)
            assert status < 500 and isinstance(reply, dict), (route, body[:40], status, reply)
        unhashable = b'{"input": "hi", "voice": []}' if route == "/v1/audio/speech" else \
            b'{"text": "hi", "priority": []}'
        for body in (DEEP, b'{"text": ' + DEEP + b"}", b'{"input": ' + DEEP + b"}", unhashable):
            status, reply = await call(engine, "POST", route, body)
            assert status == 400 and reply["error"]["code"] == "bad_request", (route, body[:40], reply)
    status, _, raw = await post_unix(engine.unix, "/v1/jobs", b'{"text": "hi", "priority": []}')
    assert status == 400 and json.loads(raw)["error"]["code"] == "bad_request"


async def test_malformed_websocket_messages_are_answered_and_the_socket_stays_open(start_engine: Any) -> None:
    engine = await start_engine()
    async with aiohttp.ClientSession(headers=engine.headers) as s, s.ws_connect(engine.url + "/ws") as ws:
        for body in [b for b in MALFORMED if b"format" not in b and b"input" not in b]:
            for kind in ("tts", "say"):
                text = body.decode("utf-8", "replace")
                if text.startswith("{") and text.endswith("}"):
                    text = f'{{"type": "{kind}", {text[1:]}' if len(text) > 2 else text
                await ws.send_str(text)
                reply = await ws.receive_json(timeout=10)
                assert reply["type"] == "error", (text[:40], reply)
        await ws.send_json({"type": "tts", "text": "Still open."})
        assert (await ws.receive_json(timeout=30))["type"] == "start"
        while (msg := await ws.receive(timeout=30)).type == aiohttp.WSMsgType.BINARY:
            pass
        assert json.loads(msg.data)["type"] == "end"


async def test_random_json_never_gets_a_5xx(start_engine: Any) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    engine = await start_engine(performance={"queue": {"max_queued": 1000}})
    scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
    values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)
    keys = st.sampled_from(["text", "input", "voice", "backend", "priority", "deadline_ms", "format",
                            "response_format", "model", "type", "id", "source", "command", "action",
                            "login", "seconds", "utterance", "part", "state"])
    words = st.sampled_from(["hi", "chat", "piper", "wav", "say", "announcement", "test", "skip",
                             "mute", "ended"])
    bodies = st.dictionaries(keys, values | words, max_size=6) | values

    @settings(max_examples=120, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(route=st.sampled_from(POST_ROUTES + HUB_ROUTES), body=bodies)
    def check(route: str, body: Any) -> None:
        status, reply = _post_blocking(engine.tcp, route, json.dumps(body).encode())
        assert status < 500 or reply.get("error", {}).get("code") in ("busy", "expired"), (route, body)

    await asyncio.to_thread(check)


def _post_blocking(tcp: str, route: str, body: bytes) -> tuple[int, Any]:
    import http.client

    host, port = tcp.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("POST", route, body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read()
        try:
            return resp.status, json.loads(raw)
        except ValueError:
            return resp.status, {}
    finally:
        conn.close()


async def test_clients_that_hang_up_mid_stream_log_no_warning(
        start_engine: Any, caplog: pytest.LogCaptureFixture) -> None:
    engine = await start_engine(performance={"cache": {"enabled": False}})
    caplog.set_level(logging.DEBUG)
    long_text = "A sentence that takes a while to speak. " * 12
    for fmt in ("frames", "wav", "pcm"):
        async with aiohttp.ClientSession() as s, s.post(engine.url + "/v1/synthesize",
                                                       json={"text": long_text + fmt, "format": fmt}) as r:
            await r.content.read(100)  # the first bytes, then hang up mid-stream
            r.close()
    async with aiohttp.ClientSession(headers=engine.headers) as s, s.ws_connect(engine.url + "/ws") as ws:
        await ws.send_json({"type": "tts", "text": long_text + "ws"})
        await ws.receive(timeout=30)
    for _ in range(300):  # until the engine has written into the closed connections
        if engine.engine.scheduler.running == 0:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    left = [r for r in caplog.records if r.getMessage().startswith("Client left during POST")]
    assert len(left) >= 3 and all(r.levelno == logging.DEBUG for r in left)  # seen, quietly
    assert not loud, [(r.name, r.getMessage()) for r in loud]
    status, _ = await call(engine, "GET", "/health")
    assert status == 200


async def test_an_unexpected_exception_is_one_json_500_and_one_log_line(
        start_engine: Any, caplog: pytest.LogCaptureFixture) -> None:
    engine = await start_engine()

    def broken(data: dict[str, Any]) -> Any:
        raise ValueError("a bug")

    engine.engine.make_request = broken  # a bug stand-in: the handler raises a non-engine error
    caplog.set_level(logging.DEBUG)
    status, reply = await call(engine, "POST", "/v1/jobs", {"text": "hi"})
    assert status == 500 and reply["error"]["code"] == "internal"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "ValueError: a bug" in errors[0].getMessage() and errors[0].exc_info is None
