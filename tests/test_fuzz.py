"""Property-based fuzzing (hypothesis) of what strangers and careless users feed the engine.

- the wire framing reader (``engine.http.framing``): any bytes end cleanly or raise ``FrameError``;
- the IRC line parser and splitter (``engine.sources.irc``): only ``IrcParseError``, lines bounded;
- config loading (``engine.config.load``): any bytes, any YAML mapping -> a config or a
  ``ConfigError`` whose message starts with the key (or the file) at fault, never a traceback;
- the HTTP API: any JSON value or bytes as the body of every POST route -> never a 5xx;
- ``/ws``: any text, JSON value or binary message -> one ``error`` (or an answer), and the
  connection stays open.

The Bilibili codec is fuzzed in tests/test_bilibili_codec.py; coverage-guided harnesses of the
same targets are in fuzz/ (tests/test_fuzz_atheris.py runs them briefly); schemathesis drives the
HTTP API from its OpenAPI description in tests/test_openapi.py.
"""

from __future__ import annotations

import asyncio
import http.client
import io
import json
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import config as config_mod
from engine.http import framing
from engine.errors import ConfigError
from engine.sources.irc import MAX_LINE_BYTES, IrcParseError, LineSplitter, parse_line
from tests.conftest import RunningEngine, make_config, running_engine

FAST = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
SLOW = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
SECTIONS = [f for f in config_mod.EngineConfig.__dataclass_fields__]

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=10**17),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)), max_leaves=20)


# -- framing ---------------------------------------------------------------------------------
@FAST
@given(st.binary(max_size=2000))
def test_framing_reader_only_raises_frame_error(data: bytes) -> None:
    try:
        for header, payload in framing.read_frames(io.BytesIO(data)):
            assert isinstance(header["type"], str) and len(payload) == header.get("payload_length", 0)
    except framing.FrameError:
        pass


@FAST
@given(st.lists(st.tuples(st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
                          st.binary(max_size=300)), max_size=5))
def test_framing_round_trips(frames: list[tuple[dict[str, str], bytes]]) -> None:
    wire = b"".join(framing.encode({**h, "type": "audio"}, p) for h, p in frames)
    got = list(framing.read_frames(io.BytesIO(wire)))
    assert [p for _h, p in got] == [p for _h, p in frames]


# -- IRC -------------------------------------------------------------------------------------
@FAST
@given(st.text(max_size=600))
def test_irc_parser_only_raises_its_error(line: str) -> None:
    try:
        msg = parse_line(line)
    except IrcParseError:
        return
    assert msg.command and (msg.command.isalpha() or msg.command.isdigit())


@FAST
@given(st.lists(st.binary(max_size=3000), max_size=8), st.integers(min_value=16, max_value=MAX_LINE_BYTES))
def test_irc_splitter_bounds_every_line(chunks: list[bytes], limit: int) -> None:
    splitter = LineSplitter(max_bytes=limit)
    for chunk in chunks:
        for line in splitter.feed(chunk):
            assert len(line.encode("utf-8", "surrogatepass")) <= limit * 3  # U+FFFD is 3 bytes
            assert "\n" not in line


# -- config ----------------------------------------------------------------------------------
def _load(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(raw)
    try:
        config_mod.load(path)
    except ConfigError as exc:
        assert exc.message and "Traceback" not in exc.message


@FAST
@given(st.binary(max_size=500))
def test_config_bytes_load_or_config_error(tmp_path_factory: pytest.TempPathFactory, raw: bytes) -> None:
    _load(tmp_path_factory.mktemp("cfg"), raw)


@SLOW
@given(st.sampled_from(SECTIONS), json_values)
def test_config_errors_name_their_key(tmp_path_factory: pytest.TempPathFactory, section: str,
                                      value: Any) -> None:
    path = tmp_path_factory.mktemp("cfg") / "config.yaml"
    path.write_text(yaml.safe_dump({section: value}))
    try:
        config_mod.load(path)
    except ConfigError as exc:
        key = exc.message.split(":", 1)[0]
        assert key.split(".", 1)[0].split("[", 1)[0] in (section, "tts", "config"), exc.message


@pytest.mark.parametrize("text, key", [
    ("- 1\n- 2\n", "config"), ("tts: [1]\n", "tts"), ("performance:\n  gpu:\n    memory_fraction: .nan\n",
                                                      "performance.gpu.memory_fraction"),
    ("server:\n  idle_timeout_s: .inf\n", "server.idle_timeout_s"),
    ("performance:\n  cache:\n    ttl_seconds: " + "9" * 400 + "\n", "performance.cache.ttl_seconds"),
    ("server:\n  port: -.inf\n", "server.port"), ("chat: 5\n", "chat")])
def test_known_bad_configs_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        config_mod.load(path)
    assert info.value.message.startswith(key + ":"), info.value.message


DEEP_MAPPING = ("x:\n" + "".join(" " * (i + 1) + f"k{i}:\n" for i in range(2000))).encode()


@pytest.mark.parametrize("raw", [b"server:\n  host: \xff\xfe\n", b"a: " + b"[" * 3000 + b"]" * 3000,
                                 DEEP_MAPPING])
def test_undecodable_and_deep_files_are_config_errors(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(raw)
    with pytest.raises(ConfigError, match=str(path)):
        config_mod.load(path)


# -- the running engine ----------------------------------------------------------------------
@contextmanager
def engine_in_thread(tmp_path: Path) -> Iterator[RunningEngine]:
    """A real engine served from its own event loop in a thread, so hypothesis (synchronous)
    can drive it example after example."""
    loop = asyncio.new_event_loop()
    ready: asyncio.Future[RunningEngine] = loop.create_future()
    stop = asyncio.Event()

    async def serve() -> None:
        async with running_engine(make_config(tmp_path, server={"max_text_chars": 60})) as running:
            ready.set_result(running)
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    try:
        yield asyncio.run_coroutine_threadsafe(_wait(ready), loop).result(timeout=120)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
        loop.close()


async def _wait(future: asyncio.Future[RunningEngine]) -> RunningEngine:
    return await future


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEngine]:
    with engine_in_thread(tmp_path_factory.mktemp("fuzz-engine")) as running:
        yield running


POST_ROUTES = ["/v1/synthesize", "/v1/jobs", "/v1/events", "/v1/say", "/v1/control", "/v1/moderation",
               "/v1/playback", "/v1/audio/speech", "/v1/replay"]


def post(running: RunningEngine, route: str, body: bytes) -> int:
    host, port = running.tcp.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        conn.request("POST", route, body, {"Content-Type": "application/json", **running.headers})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def _dumps(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


@SLOW
@given(st.sampled_from(POST_ROUTES), st.one_of(json_values.map(_dumps), st.binary(max_size=200),
                                               st.integers(1, 20_000).map(lambda n: b"[" * n)))
def test_no_body_makes_a_server_error(engine: RunningEngine, route: str, body: bytes) -> None:
    status = post(engine, route, body)
    assert status < 500 or status in (502, 503), (route, body[:200], status)


ws_messages = st.one_of(json_values.map(lambda v: json.dumps(v, allow_nan=True)),
                        st.text(max_size=200), st.binary(max_size=100),
                        st.fixed_dictionaries({"type": st.sampled_from(["tts", "say", "x"])},
                                              optional={"text": scalars, "priority": json_values,
                                                        "deadline_ms": scalars, "voice": scalars}
                                              ).map(json.dumps))


@SLOW
@given(st.lists(ws_messages, min_size=1, max_size=6))
def test_websocket_survives_any_message(engine: RunningEngine, messages: list[str | bytes]) -> None:
    asyncio.run(_ws_exchange(engine, messages))


async def _ws_exchange(running: RunningEngine, messages: list[str | bytes]) -> None:
    async with aiohttp.ClientSession(headers=running.headers) as http, \
            http.ws_connect(f"{running.url}/ws", timeout=aiohttp.ClientWSTimeout(ws_close=5)) as ws:
        for message in messages:
            await (ws.send_bytes(message) if isinstance(message, bytes) else ws.send_str(message))
            reply = await _json_reply(ws)
            assert reply["type"] in ("error", "said", "end"), reply
            assert reply["type"] != "error" or (reply["code"] != "internal" and reply["message"])
        await ws.send_str(json.dumps({"type": "tts", "text": "?!"}))  # still open and answering
        assert (await _json_reply(ws))["code"] == "nothing_to_speak"
        assert not ws.closed


async def _json_reply(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    """The next JSON message, skipping a ``start`` and the audio of a spoken one."""
    while True:
        msg = await asyncio.wait_for(ws.receive(), timeout=60)
        assert msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY), msg
        if msg.type == aiohttp.WSMsgType.TEXT:
            data = json.loads(msg.data)
            if data["type"] != "start":
                assert not any(isinstance(v, float) and math.isnan(v) for v in data.values())
                return dict(data)
