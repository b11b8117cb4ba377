"""The Twitch source against a real ngircd on loopback (registration, CAP NAK, 433, PING,
restart) and against a TLS fake that sends Twitch's tagged lines (chat, bits, subs, gifts, raid)."""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from engine import config
from engine.errors import ConfigError
from engine.pipeline.events import ChatMessage, StreamEvent
from engine.secrets import Secrets
from engine.sources import SourceEvent
from engine.sources.twitch import TwitchOptions, TwitchSource

from .ircd import FakeTwitch, IrcClient, Ngircd

TOKEN = "oauth:sekrit0123456789abcdef"
MakeSource = Callable[..., Awaitable[TwitchSource]]


async def until(check: Callable[[], bool], *, timeout_s: float = 10.0, what: str = "") -> None:
    end = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what or check}")
        await asyncio.sleep(0.02)


def connected(src: TwitchSource) -> Callable[[], bool]:
    return lambda: src.status().state == "connected"


@pytest.fixture
def ngircd(tmp_path: Path) -> Iterator[Ngircd]:
    server = Ngircd(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def events() -> list[SourceEvent]:
    return []


@pytest.fixture
async def make_source(events: list[SourceEvent]) -> AsyncIterator[MakeSource]:
    made: list[TwitchSource] = []

    async def make(port: int, *, secrets: Secrets | None = None, ssl_context: ssl.SSLContext | None = None,
                   rng: random.Random | None = None, **options: Any) -> TwitchSource:
        opts = TwitchOptions(enabled=True, channel="#Chan", host="127.0.0.1", port=port, tls=False,
                             reconnect_max_s=0.5, connect_timeout_s=5.0)
        src = TwitchSource(replace(opts, **options), emit=events.append, secrets=secrets or Secrets(),
                           ssl_context=ssl_context, rng=rng)
        made.append(src)
        await src.start()
        return src

    yield make
    for src in made:
        await src.close()
    leftover = [t for t in asyncio.all_tasks() if t.get_name() == "source-twitch" and not t.done()]
    assert not leftover, "close() left the reader running"


async def test_registers_on_ngircd_despite_cap_nak_and_reads_chat(
        ngircd: Ngircd, make_source: MakeSource, events: list[SourceEvent]) -> None:
    src = await make_source(ngircd.port)
    await until(connected(src), what="001 and JOIN on ngircd")
    assert src.nick.startswith("justinfan") and not src.tags_enabled  # ngircd NAKs Twitch's caps
    assert "reading #chan" in src.status().detail
    alice = await IrcClient.connect(ngircd.port, "alice")
    await alice.send("JOIN #chan")
    await alice.expect(lambda m: m.command == "366")
    await alice.send(f"PRIVMSG {src.nick} :private, not chat", "PRIVMSG #chan :hello",
                     "PRIVMSG #chan :\x01ACTION waves\x01")
    await until(lambda: len(events) >= 2, what="two chat messages")
    await alice.close()
    first, second = events
    assert isinstance(first, ChatMessage) and isinstance(second, ChatMessage)
    assert (first.source, first.channel, first.login, first.user, first.text) == (
        "twitch", "chan", "alice", "alice", "hello")
    assert first.roles == frozenset() and first.bits == 0 and not first.emote_only
    assert second.text == "waves"
    status = src.status()
    assert (status.events, status.errors, status.connects) == (2, 0, 1)


async def test_nick_in_use_takes_another_anonymous_nick(ngircd: Ngircd, make_source: MakeSource) -> None:
    taken = f"justinfan{random.Random(7).randint(10000, 99999)}"
    squatter = await IrcClient.connect(ngircd.port, taken)
    src = await make_source(ngircd.port, rng=random.Random(7))  # would pick `taken` first
    await until(connected(src), what="registration after 433")
    assert src.nick != taken and src.nick.startswith("justinfan")
    assert src.status().connects == 1
    await squatter.close()


async def test_answers_the_daemons_ping(ngircd: Ngircd, make_source: MakeSource,
                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="engine.sources")
    src = await make_source(ngircd.port)
    await until(connected(src))
    await until(lambda: "twitch >> PONG" in caplog.text, timeout_s=15, what="ngircd's PING (5 s idle)")
    await asyncio.sleep(6)  # past ngircd's PongTimeout: an unanswered PING would have closed us
    status = src.status()
    assert (status.state, status.connects) == ("connected", 1), ngircd.log()[-1500:]


async def test_reconnects_with_backoff_when_the_daemon_restarts(
        ngircd: Ngircd, make_source: MakeSource, events: list[SourceEvent]) -> None:
    src = await make_source(ngircd.port, reconnect_max_s=1.0)
    await until(connected(src))
    ngircd.stop()
    await until(lambda: src.status().state == "reconnecting", what="reconnecting after the stop")
    assert "retrying in" in src.status().detail
    await asyncio.sleep(1.5)  # a few refused attempts, each waiting out its backoff
    assert src.status().state == "reconnecting" and src.status().connects == 1
    ngircd.start()
    await until(connected(src), timeout_s=15, what="connected after the restart")
    assert src.status().connects == 2
    bob = await IrcClient.connect(ngircd.port, "bob")
    await bob.send("PRIVMSG #chan :back again")
    await until(lambda: any(getattr(e, "text", "") == "back again" for e in events))
    await bob.close()


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    src = TwitchSource(TwitchOptions(reconnect_max_s=8.0), emit=lambda e: None, secrets=Secrets(),
                       rng=random.Random(1))
    waits = [src.backoff_s(n) for n in range(1, 8)]
    for n, wait in enumerate(waits[:3], start=1):
        assert 0.8 * 2 ** (n - 1) <= wait <= 1.2 * 2 ** (n - 1)
    assert max(waits) <= 8.0 and waits[-1] == 8.0 and src.backoff_s(10_000) == 8.0


def test_config_sources_section() -> None:
    cfg = config.parse({"sources": {"twitch": {"enabled": True, "channel": "#Streamer", "tls": False}}})
    assert isinstance(cfg.sources["twitch"], TwitchOptions) and cfg.enabled_sources() == ["twitch"]
    assert cfg.sources["twitch"].port == 6697 and not cfg.sources["twitch"].tls
    assert config.parse({}).source_options("twitch") == TwitchOptions()  # off unless configured


@pytest.mark.parametrize(("sources", "message"), [
    ({"irc": {}}, "sources.irc: unknown source"),
    ({"twitch": {"port": 70000}}, "sources.twitch.port: 70000 is out of range"),
    ({"twitch": {"oauth": "oauth:abc"}}, "sources.twitch.oauth: unknown key"),  # secrets live elsewhere
    ({"twitch": {"enabled": True}}, "sources.twitch.channel: required when enabled"),
    ({"twitch": {"channel": "chan\r\nPRIVMSG #x :hi"}}, "sources.twitch.channel: letters"),
    ({"twitch": {"nick": "two words"}}, "sources.twitch.nick: not a valid IRC nick"),
    ("twitch", "sources: expected a mapping"),
])
def test_config_refuses_bad_sources(sources: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config.parse({"sources": sources})


# -- Twitch's dialect over TLS ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def tls_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=60)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    return server, ssl.create_default_context(cafile=str(cert))


@pytest.fixture
async def fake(tls_pair: tuple[ssl.SSLContext, ssl.SSLContext]) -> AsyncIterator[FakeTwitch]:
    server = FakeTwitch(ssl_context=tls_pair[0])
    await server.start()
    yield server
    await server.close()


def notice(msg_id: str, tags: str, text: str = "") -> str:
    trailing = f" :{text}" if text else ""
    return f"@msg-id={msg_id};{tags} :tmi.twitch.tv USERNOTICE #chan{trailing}"


async def test_tls_tags_chat_bits_and_stream_events(
        fake: FakeTwitch, tls_pair: tuple[ssl.SSLContext, ssl.SSLContext], make_source: MakeSource,
        events: list[SourceEvent], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="engine")
    src = await make_source(fake.port, tls=True, ssl_context=tls_pair[1], nick="streamerbot",
                            secrets=Secrets({"twitch_oauth": TOKEN}))
    await fake.wait_joined()
    await until(connected(src))
    assert src.tags_enabled and fake.received[:7] == [
        "CAP LS 302", "CAP REQ :twitch.tv/tags twitch.tv/commands", f"PASS {TOKEN}",
        "NICK streamerbot", "USER streamerbot 0 * :streamerbot", "CAP END", "JOIN #chan"]
    user = ":someuser!someuser@someuser.tmi.twitch.tv"
    await fake.broadcast(
        "@badge-info=subscriber/8;badges=moderator/1,subscriber/6;bits=100;display-name=Some\\sUser;"
        f"emotes=;id=m-1;user-id=42 {user} PRIVMSG #chan :Cheer100 great stream",
        f"@emotes=25:0-4,6-10;id=m-2;vip=1 {user} PRIVMSG #chan :Kappa Kappa",
        notice("sub", "display-name=Subber;msg-param-cumulative-months=1;id=n-1"),
        notice("resub", "display-name=Old;msg-param-cumulative-months=7;id=n-2", "seven months!"),
        notice("submysterygift", "display-name=Santa;msg-param-mass-gift-count=5;id=n-3"),
        notice("subgift", "display-name=Santa;msg-param-community-gift-id=9;id=n-4"),
        notice("subgift", "display-name=Elf;msg-param-recipient-display-name=Kid;id=n-5"),
        notice("raid", "display-name=raider;msg-param-displayName=Raider;msg-param-viewerCount=42;id=n-6"),
        notice("announcement", "id=n-7", "not a stream event"),
        "@badtags-only",
        f"{user} PRIVMSG #chan :" + "x" * 9000,
        f"@id=m-9 {user} PRIVMSG #chan :last")
    await until(lambda: any(e.id == "m-9" for e in events), what="the last line")
    chat, emotes, sub, resub, bundle, gift, raid, last = events
    assert isinstance(chat, ChatMessage) and isinstance(emotes, ChatMessage)
    assert (chat.user, chat.login, chat.user_id, chat.bits, chat.id) == (
        "Some User", "someuser", "42", 100, "m-1")
    assert chat.roles == {"moderator", "subscriber"} and not chat.emote_only
    assert emotes.emote_only and emotes.roles == {"vip"}
    stream = [(e.kind, e.user, e.count, e.message, e.id) for e in (sub, resub, bundle, gift, raid)
              if isinstance(e, StreamEvent)]
    assert stream == [("sub", "Subber", 1, "", "n-1"), ("resub", "Old", 7, "seven months!", "n-2"),
                      ("gift", "Santa", 5, "", "n-3"), ("gift", "Elf", 1, "", "n-5"),
                      ("raid", "Raider", 42, "", "n-6")]
    assert isinstance(last, ChatMessage) and last.text == "last"
    status = src.status()
    assert (status.events, status.errors, status.connects) == (8, 2, 1)
    assert "sekrit" not in caplog.text and "sekrit" not in repr(status) and "PASS ***" in caplog.text


async def test_tls_uses_the_system_trust_store_by_default(fake: FakeTwitch, make_source: MakeSource) -> None:
    src = await make_source(fake.port, tls=True)  # our self-signed cert is not trusted there
    await until(lambda: "certificate" in src.status().detail, what="a certificate error")
    assert src.status().state == "reconnecting" and fake.received == []


async def test_refused_login_shows_auth_failed_without_the_token(
        tls_pair: tuple[ssl.SSLContext, ssl.SSLContext], make_source: MakeSource,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="engine")
    server = FakeTwitch(refuse_login=True)  # echoes the password back in its NOTICE
    await server.start()
    try:
        src = await make_source(server.port, nick="streamerbot", secrets=Secrets({"twitch_oauth": TOKEN}))
        await until(lambda: src.status().state == "auth_failed", what="auth_failed")
        assert "Login authentication failed" in src.status().detail
        assert "sekrit" not in src.status().detail and "sekrit" not in caplog.text
    finally:
        await server.close()


async def test_follows_reconnect_and_a_dropped_connection(make_source: MakeSource) -> None:
    server = FakeTwitch()
    await server.start()
    try:
        src = await make_source(server.port)
        await server.wait_joined()
        await server.broadcast(":tmi.twitch.tv RECONNECT")
        await server.wait_joined(count=2)
        await until(lambda: src.status().connects == 2 and connected(src)())
        await server.drop_all()
        await until(lambda: src.status().connects == 3 and connected(src)(), what="third connection")
    finally:
        await server.close()


async def test_chat_and_tags_never_make_us_send_anything(make_source: MakeSource,
                                                         events: list[SourceEvent]) -> None:
    server = FakeTwitch()
    await server.start()
    try:
        src = await make_source(server.port)
        await server.wait_joined()
        await until(connected(src))
        sent = len(server.received)
        await server.broadcast(
            "@display-name=Evil\\r\\nJOIN\\s#other;id=x-1 :evil!e@e PRIVMSG #chan :hi\r\nJOIN #other",
            "@id=x-2 :v!v@v PRIVMSG #chan :QUIT :bye")
        await until(lambda: any(e.id == "x-2" for e in events))
        evil, done = events
        assert isinstance(evil, ChatMessage) and evil.display_name == "Evil\r\nJOIN #other"
        assert isinstance(done, ChatMessage) and done.text == "QUIT :bye"
        assert server.received[sent:] == [] and src.status().connects == 1
    finally:
        await server.close()


async def test_close_is_bounded_while_retrying(make_source: MakeSource) -> None:
    src = await make_source(1, reconnect_max_s=60.0)  # nothing listens on port 1
    await until(lambda: src.status().state == "reconnecting")
    started = time.monotonic()
    await src.close()
    await src.close()
    assert time.monotonic() - started < 3 and src.status().state == "off"
