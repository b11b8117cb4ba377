"""The YouTube source against a loopback fake of the Data API v3 live chat."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import ConfigError
from engine.pipeline.events import ChatMessage, StreamEvent
from engine.secrets import Secrets
from engine.sources import SourceEvent, source_class
from engine.sources.youtube import YouTubeOptions, YouTubeSource
from engine.sources.youtube_events import BadItem, to_event

from .youtube_fake import CHANNEL_ID, CHAT_ID, KEY, VIDEO_ID, FakeYouTube, author, item


async def until(check: Callable[[], bool], *, timeout_s: float = 10.0, what: str = "") -> None:
    end = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what or check}")
        await asyncio.sleep(0.02)


@pytest.fixture
async def fake() -> AsyncIterator[FakeYouTube]:
    server = FakeYouTube()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def events() -> list[SourceEvent]:
    return []


def make(fake: FakeYouTube, events: list[SourceEvent], *, key: str | None = KEY,
         **options: Any) -> YouTubeSource:
    opts = YouTubeOptions(**{"enabled": True, "video_id": VIDEO_ID, "api_base": fake.base,
                             "min_poll_s": 0.05, "offline_retry_s": 30, "reconnect_max_s": 30,
                             "quota_retry_max_s": 30, "request_timeout_s": 3.0, **options})
    secrets = Secrets({"youtube_api_key": key} if key else {})
    return YouTubeSource(opts, emit=events.append, secrets=secrets, rng=random.Random(1))


async def test_registry_names_the_class() -> None:
    assert source_class("youtube") is YouTubeSource


async def test_backlog_is_skipped_then_every_kind_is_spoken(fake: FakeYouTube,
                                                            events: list[SourceEvent]) -> None:
    fake.add(item("textMessageEvent", author("old"), messageText="said before we came"))
    fake.add(item("superChatEvent", author("old"), amountMicros="1000000", currency="USD"))
    source = make(fake, events)
    await source.start()
    try:
        await until(lambda: source.status().state == "connected", what="connected")
        assert source.skipped_backlog == 2 and "skipped 2" in source.status().detail
        fake.add(item("textMessageEvent", author("Streamer", owner=True), messageText="hello chat"))
        fake.add(item("textMessageEvent", author("Mod", mod=True, member=True), messageText="hi"))
        fake.add(item("superChatEvent", author("Fan"), amountMicros="5000000", currency="USD",
                      amountDisplayString="$5.00", userComment="great stream", tier=2))
        fake.add(item("superStickerEvent", author("Fan2"), amountMicros="2000000", currency="EUR",
                      amountDisplayString="€2.00", superStickerMetadata={"altText": "Thumbs up"}))
        fake.add(item("newSponsorEvent", author("Newbie"), memberLevelName="Gold", isUpgrade=False))
        fake.add(item("memberMilestoneChatEvent", author("Old timer", member=True), memberMonth=12,
                      userComment="a year!", memberLevelName="Gold"))
        fake.add(item("membershipGiftingEvent", author("Giver"), giftMembershipsCount=5,
                      giftMembershipsLevelName="Gold"))
        fake.add(item("messageDeletedEvent", author("Mod", mod=True)))
        fake.add({"kind": "youtube#liveChatMessage", "id": "bad", "snippet": "nope"})
        await until(lambda: len(events) == 7, what="seven events")
        await until(lambda: source.status().errors == 1, what="the bad item counted")
    finally:
        await source.close()
    chats = [e for e in events if isinstance(e, ChatMessage)]
    assert [(c.text, c.login, c.channel, c.roles) for c in chats] == [
        ("hello chat", "Streamer", CHAT_ID, frozenset({"broadcaster"})),
        ("hi", "Mod", CHAT_ID, frozenset({"moderator", "subscriber"}))]
    assert chats[0].id.startswith("msg-") and chats[0].user_id.startswith("UCStreamer")
    stream = [(e.kind, e.user, e.message, e.amount, e.currency, e.count)
              for e in events if isinstance(e, StreamEvent)]
    assert stream == [("superchat", "Fan", "great stream", 5.0, "USD", 0),
                      ("supersticker", "Fan2", "Thumbs up", 2.0, "EUR", 0),
                      ("member", "Newbie", "Gold", 0.0, "", 0),
                      ("member", "Old timer", "a year!", 0.0, "", 12),
                      ("gift", "Giver", "Gold", 0.0, "", 5)]
    tokens = [r.query.get("pageToken") for r in fake.chat_requests()]
    assert tokens[0] is None and tokens[1] == "2"
    assert all(r.query["part"] == "snippet,authorDetails" and r.query["key"] == KEY
               for r in fake.chat_requests())


@pytest.mark.parametrize("interval_ms, min_poll_s, expect_s", [(300, 0.05, 0.3), (10, 0.25, 0.25)])
async def test_polls_at_the_interval_the_server_asks_never_below_the_floor(
        fake: FakeYouTube, events: list[SourceEvent], interval_ms: int, min_poll_s: float,
        expect_s: float) -> None:
    fake.interval_ms = interval_ms
    source = make(fake, events, min_poll_s=min_poll_s)
    await source.start()
    try:
        await until(lambda: len(fake.chat_requests()) >= 4, what="four polls")
    finally:
        await source.close()
    times = [r.at for r in fake.chat_requests()]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= expect_s * 0.9, gaps


async def test_a_channel_id_finds_its_live_broadcast(fake: FakeYouTube, events: list[SourceEvent]) -> None:
    source = make(fake, events, video_id="", channel_id=CHANNEL_ID)
    await source.start()
    try:
        await until(lambda: source.status().state == "connected", what="connected")
        fake.add(item("textMessageEvent", author("viewer"), messageText="found you"))
        await until(lambda: len(events) == 1, what="a message")
    finally:
        await source.close()
    search = [r.query for r in fake.requests if r.path == "/search"]
    assert search[0] | {"key": ""} == {"part": "id", "channelId": CHANNEL_ID, "eventType": "live",
                                       "type": "video", "key": ""}
    assert source.video_id == VIDEO_ID


@pytest.mark.parametrize("setup, state, words", [
    ("quota", "offline", "quota exhausted"),
    ("ended", "offline", "the chat has ended"),
    ("not_found", "offline", "the chat has ended"),
    ("chat_ended_event", "offline", "the chat has ended"),
    ("offline_at", "offline", "the chat has ended"),
    ("not_live", "offline", "no active live chat"),
    ("channel_not_live", "offline", "is not live"),
    ("bad_key", "auth_failed", "refused the key"),
    ("unauthorized", "auth_failed", "refused the key"),
    ("forbidden", "auth_failed", "refused the key"),
    ("no_key", "auth_failed", "secret is not set"),
    ("server", "reconnecting", "HTTP 503"),
])
async def test_each_failure_shows_a_clear_state_then_backs_off(
        fake: FakeYouTube, events: list[SourceEvent], caplog: pytest.LogCaptureFixture,
        setup: str, state: str, words: str) -> None:
    caplog.set_level(logging.DEBUG)
    options: dict[str, Any] = {}
    key: str | None = KEY
    if setup in ("quota", "ended", "not_found", "unauthorized", "forbidden", "server"):
        fake.fail = setup
    elif setup == "chat_ended_event":
        fake.messages.append(item("chatEndedEvent", author("YouTube")))
    elif setup == "offline_at":
        fake.offline_at = "2026-12-01T11:00:00Z"
    elif setup in ("not_live", "channel_not_live"):
        fake.live = False
        options = {"video_id": "", "channel_id": CHANNEL_ID} if setup == "channel_not_live" else {}
    elif setup == "bad_key":
        key = "AIzaWRONG-but-still-secret-42"
    elif setup == "no_key":
        key = None
    source = make(fake, events, key=key, **options)
    await source.start()
    try:
        await until(lambda: words in source.status().detail, what=words)
        status = source.status()
        assert status.state == state and "retrying in" in status.detail, status
        if setup == "quota":
            assert "retrying in 30.0 s" in status.detail  # quota_retry_max_s
        requests = len(fake.requests)
        await asyncio.sleep(0.3)
        assert len(fake.requests) == requests  # backing off, not hammering the API
    finally:
        await source.close()
    for secret in (KEY, "AIzaWRONG-but-still-secret-42"):
        assert secret not in caplog.text and secret not in status.detail
    assert "youtube" in caplog.text


async def test_after_an_error_it_goes_on_from_the_last_page(fake: FakeYouTube,
                                                            events: list[SourceEvent]) -> None:
    source = make(fake, events, reconnect_max_s=0.2)
    await source.start()
    try:
        await until(lambda: source.status().state == "connected", what="connected")
        fake.add(item("textMessageEvent", author("a"), messageText="one"))
        await until(lambda: len(events) == 1, what="first message")
        fake.fail = "server"
        await until(lambda: source.status().state == "reconnecting" and "503" in source.status().detail,
                    what="the outage shown")
        fake.add(item("textMessageEvent", author("b"), messageText="sent during the outage"))
        fake.fail = ""
        await until(lambda: len(events) == 2, what="the message sent during the outage")
        assert "going on where it stopped" in source.status().detail
    finally:
        await source.close()
    assert [e.text for e in events if isinstance(e, ChatMessage)] == ["one", "sent during the outage"]


def test_quota_waits_until_the_daily_reset() -> None:
    source = YouTubeSource(YouTubeOptions(quota_reset_hour_utc=8), emit=lambda e: None, secrets=Secrets())
    at = dt.datetime(2026, 12, 1, 6, 30, tzinfo=dt.timezone.utc)
    assert source.quota_wait_s(at) == 90 * 60
    assert source.quota_wait_s(at.replace(hour=9)) == 22.5 * 3600
    assert source.quota_wait_s(at.replace(hour=7, minute=59, second=30)) == 60  # at least a minute


def test_options_are_checked() -> None:
    for options, key in [(YouTubeOptions(enabled=True), "video_id"),
                         (YouTubeOptions(video_id="short"), "video_id"),
                         (YouTubeOptions(channel_id="UCnope"), "channel_id"),
                         (YouTubeOptions(api_base="ftp://x"), "api_base")]:
        with pytest.raises(ConfigError, match=rf"sources\.youtube\.{key}"):
            YouTubeSource.check_options(options, "sources.youtube")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True)
    | st.sampled_from(["inf", "nan", "-1e400", "12", "x"]) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=25)
KINDS = ["textMessageEvent", "superChatEvent", "superStickerEvent", "newSponsorEvent",
         "memberMilestoneChatEvent", "membershipGiftingEvent", "chatEndedEvent", "pollEvent"]
DETAIL_KEYS = ["messageText", "amountMicros", "currency", "userComment", "superStickerMetadata",
               "memberLevelName", "memberMonth", "giftMembershipsCount", "giftMembershipsLevelName"]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(KINDS), st.dictionaries(st.sampled_from(DETAIL_KEYS), json_values, max_size=6),
       json_values, json_values)
def test_items_of_any_shape_give_an_event_or_bad_item(kind: str, details: dict[str, Any],
                                                      who: Any, junk: Any) -> None:
    message = item(kind, author("x"), **details)
    if isinstance(who, dict):
        message["authorDetails"] = who
    for candidate in (message, junk, {"snippet": junk, "authorDetails": {}}):
        try:
            event = to_event(candidate, chat_id="c")
        except BadItem:
            continue
        assert event is None or isinstance(event, (ChatMessage, StreamEvent))


async def test_chat_and_a_super_chat_are_spoken_by_a_running_engine(
        fake: FakeYouTube, start_engine: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))  # no user secrets file
    monkeypatch.delenv("STREAMER_TTS_SECRETS_FILE", raising=False)
    monkeypatch.setenv("STREAMER_TTS_YOUTUBE_API_KEY", KEY)
    options = {"enabled": True, "video_id": VIDEO_ID, "api_base": fake.base, "min_poll_s": 0.05}
    running = await start_engine(chat={"mode": "all", "user_cooldown_s": 0},
                                 sources={"youtube": options})
    async with aiohttp.ClientSession(headers=running.headers) as http, \
            http.get(f"{running.url}/v1/subscribe") as sub:
        await until(lambda: len(fake.chat_requests()) >= 2, what="polling")
        fake.add(item("textMessageEvent", author("viewer"), messageText="hello from youtube"))
        fake.add(item("superChatEvent", author("Fan"), amountMicros="5000000", currency="USD",
                      amountDisplayString="$5.00", userComment="great stream"))
        texts = [(await next_play(sub))["text"] for _ in range(2)]
        async with http.get(f"{running.url}/health") as resp:
            health = await resp.text()
    assert any("hello from youtube" in t for t in texts), texts
    assert any("Fan" in t and "great stream" in t for t in texts), texts
    assert json.loads(health)["speech"]["sources"]["youtube"]["state"] == "connected"
    assert KEY not in caplog.text and KEY not in health


async def next_play(resp: aiohttp.ClientResponse, *, timeout_s: float = 30.0) -> dict[str, Any]:
    end = time.monotonic() + timeout_s
    while True:
        line = await asyncio.wait_for(resp.content.readline(), max(0.1, end - time.monotonic()))
        assert line.endswith(b"\n"), f"stream ended: {line!r}"
        event = json.loads(line)
        if event["type"] == "play":
            return event  # type: ignore[no-any-return]
