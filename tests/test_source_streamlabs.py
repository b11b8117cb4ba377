"""The StreamLabs source against a real Socket.IO v2 server (python-socketio 4.x, Engine.IO 3) on
loopback: StreamLabs-shaped alerts, duplicate ids, a refused token, pings, a server restart."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from engine.pipeline.events import StreamEvent
from engine.secrets import Secrets
from engine.sources import REGISTRY, SourceEvent, source_class
from engine.sources.socketio2 import SocketIOError, endpoint, parse_socketio
from engine.sources.streamlabs import StreamLabsOptions, StreamLabsSource
from engine.sources.streamlabs_events import parse_event

from .streamlabs_fake import FakeStreamLabs, alert
from .test_hub import next_event

TOKEN = "sl-socket-token-0123456789abcdef"
MakeSource = Callable[..., Awaitable[StreamLabsSource]]


async def until(check: Callable[[], bool], *, timeout_s: float = 10.0, what: str = "") -> None:
    end = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what or check}")
        await asyncio.sleep(0.02)


@pytest.fixture
def events() -> list[SourceEvent]:
    return []


@pytest.fixture
async def server() -> AsyncIterator[FakeStreamLabs]:
    fake = FakeStreamLabs(TOKEN)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def make_source(events: list[SourceEvent]) -> AsyncIterator[MakeSource]:
    made: list[StreamLabsSource] = []

    async def make(url: str, *, token: str | None = TOKEN, **options: Any) -> StreamLabsSource:
        opts = StreamLabsOptions(enabled=True, url=url, **{"reconnect_max_s": 0.5,
                                                           "connect_timeout_s": 3.0, **options})
        secrets = Secrets({"streamlabs_token": token} if token else {})
        src = StreamLabsSource(opts, emit=events.append, secrets=secrets, rng=random.Random(1))
        made.append(src)
        await src.start()
        return src

    yield make
    for src in made:
        await src.close()


def connected(src: StreamLabsSource) -> Callable[[], bool]:
    return lambda: src.status().state == "connected"


async def test_alerts_become_typed_stream_events(server: FakeStreamLabs, make_source: MakeSource,
                                                 events: list[SourceEvent]) -> None:
    src = await make_source(server.url)
    await until(connected(src), what="connected")
    await server.emit(alert("donation", "streamlabs", _id="d1", name="Ana", **{"from": "Ana B"},
                            amount="12.50", formatted_amount="€12.50", currency="EUR",
                            message="for the cat"))
    await server.emit(alert("resub", "twitch_account", _id="r1", name="bob", months=7,
                            streak_months=3, message="seven!"))
    await server.emit(alert("bits", "twitch_account", _id="b1", name="cheery", amount="500",
                            message="cheer500 hi"))
    await server.emit(alert("raid", "twitch_account", _id="ra1", name="raider", raiders=42))
    await server.emit(alert("follow", "twitch_account", _id="f1", name="newbie"))
    await server.emit(alert("donation", "streamlabs", _id="d1", name="Ana", amount="12.50",
                            currency="EUR", message="for the cat"))  # resent: same _id
    await server.emit(alert("merch", "streamlabs", _id="m1", name="fan", product="Hoodie",
                            message=None))
    await server.emit(alert("superchat", "youtube_account", _id="s1", name="yt fan",
                            amount="5000000", currency="USD", displayString="$5.00", comment="hello"))
    await server.emit(alert("subscription", "youtube_account", _id="y1", name="member", months=1))
    await server.emit({"type": "streamlabels", "message": {"data": {}}})  # not an alert we speak
    await server.emit({"type": "donation", "for": "streamlabs", "message": [{"amount": "x"}]})
    await server.send_raw('2["event",{broken')  # a malformed packet is counted, the session goes on
    await server.emit(alert("follow", "twitch_account", _id="f2", name="after the broken one"))
    await until(lambda: len(events) == 9 and src.status().errors == 2, what="9 events, 2 errors")

    assert all(isinstance(e, StreamEvent) and e.source == "streamlabs" for e in events)
    by_id = {e.id: e for e in events if isinstance(e, StreamEvent)}
    assert list(by_id) == ["streamlabs:" + i for i in ("d1", "r1", "b1", "ra1", "f1", "m1", "s1", "y1", "f2")]
    donation = by_id["streamlabs:d1"]
    assert (donation.kind, donation.user, donation.amount, donation.currency, donation.message) == \
        ("donation", "Ana B", 12.5, "EUR", "for the cat")
    resub = by_id["streamlabs:r1"]
    assert (resub.kind, resub.user, resub.count, resub.message) == ("resub", "bob", 7, "seven!")
    bits = by_id["streamlabs:b1"]
    assert (bits.kind, bits.amount, bits.currency) == ("bits", 500.0, "")
    assert (by_id["streamlabs:ra1"].kind, by_id["streamlabs:ra1"].count) == ("raid", 42)
    assert by_id["streamlabs:f1"].kind == "follow"
    assert (by_id["streamlabs:m1"].kind, by_id["streamlabs:m1"].message) == ("merch", "Hoodie")
    superchat = by_id["streamlabs:s1"]
    assert (superchat.kind, superchat.amount, superchat.currency, superchat.message) == \
        ("superchat", 5.0, "USD", "hello")
    assert by_id["streamlabs:y1"].kind == "member"
    assert src.duplicates == 1
    status = src.status()
    assert (status.state, status.events, status.connects) == ("connected", 9, 1)
    assert TOKEN not in status.detail


async def test_bad_token_is_auth_failed_and_never_logged(server: FakeStreamLabs, make_source: MakeSource,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bad = "wrong-token-abcdef0123456789"
    src = await make_source(server.url, token=bad)
    await until(lambda: src.status().state == "auth_failed", what="auth_failed")
    assert server.refused >= 1 and server.connects == 0
    assert "401" in src.status().detail
    assert bad not in caplog.text and bad not in src.status().detail


async def test_no_token_is_auth_failed_without_connecting(server: FakeStreamLabs,
                                                          make_source: MakeSource) -> None:
    src = await make_source(server.url, token=None)
    assert src.status().state == "auth_failed"
    assert "streamlabs_token" in src.status().detail
    await asyncio.sleep(0.2)
    assert server.refused == 0 and server.connects == 0


async def test_pings_keep_the_session_alive() -> None:
    fake = FakeStreamLabs(TOKEN, ping_interval_s=0.3, ping_timeout_s=0.5)
    await fake.start()
    src = StreamLabsSource(StreamLabsOptions(enabled=True, url=fake.url, reconnect_max_s=0.5),
                           emit=lambda e: None, secrets=Secrets({"streamlabs_token": TOKEN}))
    try:
        await src.start()
        await until(connected(src), what="connected")
        await asyncio.sleep(2.0)  # the server drops a client that has not pinged within 0.8 s
        assert src.status().state == "connected" and fake.connects == 1
    finally:
        await src.close()
        await fake.stop()


async def test_server_restart_reconnects(server: FakeStreamLabs, make_source: MakeSource,
                                         events: list[SourceEvent]) -> None:
    src = await make_source(server.url)
    await until(connected(src), what="connected")
    await server.stop()
    await until(lambda: src.status().state == "reconnecting", what="reconnecting")
    assert "closed" in src.status().detail or "connect" in src.status().detail
    await server.start()  # the same port
    await until(lambda: server.connects == 2 and src.status().state == "connected", what="reconnected")
    await server.emit(alert("follow", "twitch_account", _id="after", name="late"))
    await until(lambda: len(events) == 1, what="an event after the restart")
    assert src.status().connects == 2


async def test_source_is_registered() -> None:
    assert REGISTRY["streamlabs"] == "engine.sources.streamlabs:StreamLabsSource"
    assert source_class("streamlabs") is StreamLabsSource


def test_parse_event_edges() -> None:
    test_alert = alert("donation", "streamlabs", _id="t", name="x", amount=1, currency="usd", isTest=True)
    assert parse_event(test_alert, include_tests=False).tests == 1
    assert parse_event(test_alert).events[0].currency == "USD"
    assert parse_event({"type": "host", "message": [{"name": "h"}]}).ignored == 1
    assert parse_event(["not", "a", "dict"]).malformed == 1
    no_id = {"type": "follow", "for": "twitch_account", "event_id": "E",
             "message": [{"name": "a"}, {"name": "b"}]}
    assert [e.id for e in parse_event(no_id).events] == ["streamlabs:E:0", "streamlabs:E:1"]
    negative = alert("donation", "streamlabs", _id="n", name="x", amount="-5", currency="EUR")
    assert parse_event(negative).malformed == 1


def test_socketio_framing() -> None:
    assert str(endpoint("https://sockets.example", {"token": "a b"})) == \
        "wss://sockets.example/socket.io/?EIO=3&transport=websocket&token=a+b"
    assert parse_socketio('2["event",{"type":"follow"}]') == ("2", "/", ["event", {"type": "follow"}])
    assert parse_socketio('2/admin,12["x"]') == ("2", "/admin", ["x"])
    assert parse_socketio("0") == ("0", "/", None)
    for bad in ("", "x", '51-["bin"]', "2{nope"):
        with pytest.raises(SocketIOError):
            parse_socketio(bad)


async def test_alerts_spoken_through_the_engine(server: FakeStreamLabs, start_engine: Any, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The real engine runs the source (hub), the pipeline templates the alerts in their own
    currency, applies each kind's minimum, and a resent alert is spoken once."""
    monkeypatch.setenv("STREAMER_TTS_STREAMLABS_TOKEN", TOKEN)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))  # no secrets file of the user's
    monkeypatch.delenv("STREAMER_TTS_SECRETS_FILE", raising=False)
    running = await start_engine(sources={"streamlabs": {"enabled": True, "url": server.url}},
                                 events={"bits": {"min_amount": 200}})
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=running.unix)) as http, \
            http.get("http://localhost/v1/subscribe") as sub:  # the Unix socket needs no token
        await asyncio.wait_for(server.connected.wait(), 10)
        donation = alert("donation", "streamlabs", _id="d9", name="Ana", **{"from": "Ana B"},
                         amount=12.5, currency="EUR", message="for the cat")
        await server.emit(donation)
        first = await next_event(sub)
        assert first["text"] == "Ana B donated €12.50: for the cat"
        await server.emit(donation)  # resent
        await server.emit(alert("bits", "twitch_account", _id="b9", name="small", amount=100))
        await server.emit(alert("raid", "twitch_account", _id="r9", name="raider", raiders=42))
        second = await next_event(sub)
        assert second["text"] == "raider is raiding with 42 viewers!"
        async with http.get("http://localhost/v1/queue") as resp:
            status = (await resp.json())["sources"]["streamlabs"]
        assert status["state"] == "connected" and status["events"] == 3
        assert TOKEN not in json.dumps(status)
