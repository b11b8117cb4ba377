"""The Bilibili source against a loopback fake of the live API and danmu WebSocket servers."""

from __future__ import annotations

import asyncio
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
from engine.sources.bilibili import BilibiliOptions, BilibiliSource
from engine.sources.bilibili_events import BadCommand, Gift, GiftMerger, parse

from .bilibili_fake import (
    OWNER_UID,
    ROOM_ID,
    SHORT_ID,
    TOKEN,
    USER_UID,
    FakeBilibili,
    danmu,
    frame,
    gift,
)

SESSDATA = "sessdata-abcdef0123456789"
BUVID = "buvid3-F00D-CAFE-1234"


async def until(check: Callable[[], bool], *, timeout_s: float = 10.0, what: str = "") -> None:
    end = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what or check}")
        await asyncio.sleep(0.02)


@pytest.fixture
async def fake() -> AsyncIterator[FakeBilibili]:
    server = FakeBilibili(hosts=2)
    await server.start()
    yield server
    await server.close()


def make(fake: FakeBilibili, events: list[SourceEvent], *, secrets: Secrets | None = None,
         **options: Any) -> BilibiliSource:
    opts = BilibiliOptions(**{"enabled": True, "room_id": SHORT_ID, "api_base": fake.base,
                              "account_api_base": fake.base, "tls": False, "gift_merge_s": 0.3,
                              "heartbeat_s": 0.2, "reconnect_max_s": 0.3, "connect_timeout_s": 3.0,
                              "fallback_url": "",
                              **options})
    return BilibiliSource(opts, emit=events.append, secrets=secrets or Secrets(),
                          rng=random.Random(1))


@pytest.fixture
def events() -> list[SourceEvent]:
    return []


async def test_registry_names_the_class() -> None:
    assert source_class("bilibili") is BilibiliSource


async def test_danmu_superchat_guard_follow_over_brotli_zlib_and_plain(
        fake: FakeBilibili, events: list[SourceEvent]) -> None:
    source = make(fake, events)
    await source.start()
    try:
        await until(lambda: source.status().state == "connected", what="connected")
        assert fake.requests[0][:2] == ("/room/v1/Room/room_init", {"id": str(SHORT_ID)})
        assert fake.requests[1][0] == "/x/web-interface/nav"
        info = fake.requests[2][1]
        assert (info["id"], info["type"], len(info["w_rid"])) == (str(ROOM_ID), "0", 32)
        assert fake.hosts[0].auths == [{"uid": 0, "roomid": ROOM_ID, "protover": 3, "platform": "web",
                                        "type": 2, "key": TOKEN}]
        assert "anonymous" in source.status().detail
        await fake.send([danmu("你好主播"), danmu("我是主播", OWNER_UID, "主播"),
                         danmu("房管来了", 7, "房管", admin=1, guard=3)], ver=3)
        await fake.send([{"cmd": "SUPER_CHAT_MESSAGE", "data": {
            "price": 30, "message": "加油", "uid": 8, "user_info": {"uname": "土豪"}}},
            {"cmd": "GUARD_BUY", "data": {"uid": 9, "username": "舰长君", "guard_level": 3,
                                          "num": 1, "price": 198000, "gift_name": "舰长"}},
            {"cmd": "INTERACT_WORD", "data": {"uid": 10, "uname": "路人", "msg_type": 1}},
            {"cmd": "INTERACT_WORD", "data": {"uid": 11, "uname": "新粉丝", "msg_type": 2}}], ver=2)
        await fake.send([{"cmd": "ONLINE_RANK_COUNT", "data": {"count": 3}},
                         {"cmd": "DANMU_MSG", "info": []}, danmu("最后一条")], ver=0)
        await until(lambda: len(events) == 7, what="seven events")
        await until(lambda: source.popularity > 1000 and fake.hosts[0].heartbeats >= 2,
                    what="heartbeats answered")
    finally:
        await source.close()
    chats = [e for e in events if isinstance(e, ChatMessage)]
    assert [(c.text, c.login, c.user_id, c.channel, c.roles) for c in chats] == [
        ("你好主播", "观众甲", "1001", str(ROOM_ID), frozenset()),
        ("我是主播", "主播", str(OWNER_UID), str(ROOM_ID), frozenset({"broadcaster"})),
        ("房管来了", "房管", "7", str(ROOM_ID), frozenset({"moderator", "subscriber"})),
        ("最后一条", "观众甲", "1001", str(ROOM_ID), frozenset())]
    stream = [e for e in events if isinstance(e, StreamEvent)]
    assert [(e.kind, e.user, e.message, e.amount, e.currency, e.count) for e in stream] == [
        ("superchat", "土豪", "加油", 30.0, "CNY", 0),
        ("guard", "舰长君", "舰长", 198.0, "CNY", 1),
        ("follow", "新粉丝", "", 0.0, "", 0)]
    status = source.status()
    assert (status.state, status.events, status.errors, status.connects) == ("off", 7, 1, 1)


async def test_gift_bursts_become_one_event_each(fake: FakeBilibili, events: list[SourceEvent]) -> None:
    source = make(fake, events, gift_merge_s=0.5)
    await source.start()
    try:
        await until(lambda: source.status().state == "connected", what="connected")
        await fake.send([gift(1, "甲", "辣条", combo="c1"), gift(1, "甲", "辣条", combo="c1")], ver=3)
        await fake.send([gift(1, "甲", "辣条", 3, combo="c1"), gift(2, "乙", "辣条")], ver=2)
        await fake.send([gift(1, "甲", "小心心", 1, price=0)], ver=0)
        await asyncio.sleep(0.2)
        assert events == []  # still inside the window
        await fake.send([gift(1, "甲", "辣条", 15, combo="c2"),
                         {"cmd": "COMBO_SEND", "data": {"uid": 1, "uname": "甲", "gift_name": "辣条",
                                                        "combo_num": 5, "total_num": 5,
                                                        "batch_combo_id": "c1"}}], ver=3)
        await until(lambda: len(events) == 3, what="three merged gifts")
        await fake.send([gift(3, "丙", "B坷垃")], ver=3)
        await until(lambda: source._merger.pending == 1, what="a pending gift")
    finally:
        await source.close()  # flushes the pending one
    got = sorted((e.user, e.message, e.count, e.amount) for e in events if isinstance(e, StreamEvent))
    assert got == [("丙", "B坷垃", 1, 0.1), ("乙", "辣条", 1, 0.1), ("甲", "小心心", 1, 0.0),
                   ("甲", "辣条", 20, 2.0)]
    assert all(e.kind == "gift_item" for e in events if isinstance(e, StreamEvent))


async def test_combo_totals_add_only_gifts_not_seen() -> None:
    out: list[StreamEvent] = []
    merger = GiftMerger(window_s=0, emit=out.append)
    merger.add(Gift(1, "甲", "辣条", 2, combo_id="c"))
    merger.add(Gift(1, "甲", "辣条", 0, combo_id="c", combo_total=2))  # nothing new
    merger.add(Gift(1, "甲", "辣条", 0, combo_id="c", combo_total=6))  # 4 we never saw
    assert [e.count for e in out if e.count] == [2, 4]


async def test_a_killed_host_is_replaced_by_the_next(fake: FakeBilibili, events: list[SourceEvent]) -> None:
    source = make(fake, events)
    await source.start()
    try:
        await until(lambda: source.status().state == "connected", what="connected")
        assert source.host == f"127.0.0.1:{fake.hosts[0].port}"
        await fake.send([danmu("before")])
        await until(lambda: len(events) == 1, what="first danmu")
        await fake.stop_host(fake.hosts[0])
        await until(lambda: len(fake.hosts[1].auths) == 1 and source.status().state == "connected",
                    what="reconnected to host 1")
        assert source.host == f"127.0.0.1:{fake.hosts[1].port}"
        await fake.send([danmu("after")], host=1)
        await until(lambda: len(events) == 2, what="danmu from host 1")
        assert source.status().connects == 2
    finally:
        await source.close()
    assert [e.text for e in events if isinstance(e, ChatMessage)] == ["before", "after"]


async def test_login_cookie_is_sent_and_never_logged(fake: FakeBilibili, events: list[SourceEvent],
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake.logged_in_sessdata = SESSDATA
    secrets = Secrets({"bilibili_sessdata": SESSDATA, "bilibili_buvid3": BUVID})
    source = make(fake, events, secrets=secrets)
    await source.start()
    try:
        await until(lambda: source.status().state == "connected", what="connected")
        assert f"uid {USER_UID}" in source.status().detail
        await fake.send([danmu("hi")])
        await until(lambda: len(events) == 1, what="danmu")
    finally:
        await source.close()
    assert all(cookie == f"SESSDATA={SESSDATA}; buvid3={BUVID}" for _, _, cookie in fake.requests)
    assert {p for p, _, _ in fake.requests} >= {"/x/web-interface/nav", "/room/v1/Room/room_init"}
    auth = fake.hosts[0].auths[0]
    assert (auth["uid"], auth["buvid"]) == (USER_UID, BUVID)
    assert SESSDATA not in caplog.text and BUVID not in caplog.text
    assert "bilibili" in caplog.text  # the source did log


@pytest.mark.parametrize("setup, state, words", [
    ("bad_cookie", "auth_failed", "cookie was refused"),
    ("auth_refused", "auth_failed", "refused the auth packet (code -101)"),
    ("auth_garbled", "auth_failed", "refused the auth packet (code None)"),
    ("no_room", "offline", "not found"),
    ("risk_control", "reconnecting", "getDanmuInfo refused"),
    ("risk_control_fallback", "connected", "no token"),
])
async def test_failures_show_a_clear_state(fake: FakeBilibili, events: list[SourceEvent], setup: str,
                                           state: str, words: str) -> None:
    secrets = Secrets({"bilibili_sessdata": SESSDATA}) if setup == "bad_cookie" else Secrets()
    for host in fake.hosts:
        host.auth_code = -101 if setup == "auth_refused" else 0
        host.auth_reply = b"\xff not json" if setup == "auth_garbled" else b""
    fake.danmu_info_code = -352 if setup.startswith("risk_control") else 0
    fallback = f"ws://127.0.0.1:{fake.hosts[1].port}/sub" if setup.endswith("fallback") else ""
    source = make(fake, events, secrets=secrets, room_id=999 if setup == "no_room" else SHORT_ID,
                  reconnect_max_s=30, fallback_url=fallback)
    await source.start()
    try:
        await until(lambda: words in source.status().detail, what=words)
        assert source.status().state == state
        assert ("retrying in" in source.status().detail) == (state != "connected")
    finally:
        await source.close()
    assert source.status().state == "off"


async def test_messages_in_the_auth_reply_frame_are_read(fake: FakeBilibili,
                                                         events: list[SourceEvent]) -> None:
    fake.hosts[0].after_auth = frame([danmu("right after auth")], 2)
    source = make(fake, events)
    await source.start()
    try:
        await until(lambda: len(events) == 1, what="the danmu sent with the auth reply")
    finally:
        await source.close()
    assert isinstance(events[0], ChatMessage) and events[0].text == "right after auth"


async def test_bad_frames_are_counted_and_skipped(fake: FakeBilibili, events: list[SourceEvent]) -> None:
    source = make(fake, events)
    await source.start()
    try:
        await until(lambda: source.status().state == "connected", what="connected")
        await fake.send_raw(b"\x00\x00\x00\x20\x00\x12junk")
        await fake.send([danmu("still here")], ver=2)
        await until(lambda: len(events) == 1, what="danmu after junk")
        assert source.status().errors == 1 and source.status().connects == 1
    finally:
        await source.close()


def test_options_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"sources\.bilibili\.room_id"):
        BilibiliSource.check_options(BilibiliOptions(enabled=True), "sources.bilibili")
    with pytest.raises(ConfigError, match="api_base"):
        BilibiliSource.check_options(BilibiliOptions(api_base="ftp://x"), "sources.bilibili")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=9) | st.dictionaries(st.text(max_size=10), inner, max_size=6),
    max_leaves=30)
COMMANDS = ["DANMU_MSG", "DANMU_MSG:4:0:2:2:2:0", "SEND_GIFT", "COMBO_SEND", "SUPER_CHAT_MESSAGE",
            "GUARD_BUY", "INTERACT_WORD", "OTHER"]
FIELDS = ["uid", "uname", "giftName", "gift_name", "num", "total_num", "price", "coin_type", "message",
          "user_info", "guard_level", "username", "msg_type", "batch_combo_id"]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(COMMANDS), json_values,
       st.dictionaries(st.sampled_from(FIELDS), json_values | st.integers(0, 5), max_size=10))
def test_commands_of_any_shape_give_an_event_or_bad_command(cmd: str, info: Any,
                                                            data: dict[str, Any]) -> None:
    try:
        event = parse({"cmd": cmd, "info": info, "data": data}, room_id=1, owner_uid=2)
    except BadCommand:
        return
    assert event is None or isinstance(event, (ChatMessage, StreamEvent, Gift))


async def test_a_danmu_is_spoken_by_a_running_engine(fake: FakeBilibili, start_engine: Any,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))  # no user secrets file
    monkeypatch.delenv("STREAMER_TTS_SECRETS_FILE", raising=False)
    options = {"enabled": True, "room_id": SHORT_ID, "api_base": fake.base,
               "account_api_base": fake.base, "tls": False, "fallback_url": "", "gift_merge_s": 0.2}
    running = await start_engine(chat={"mode": "all", "user_cooldown_s": 0},
                                 sources={"bilibili": options})
    async with aiohttp.ClientSession(headers=running.headers) as http, \
            http.get(f"{running.url}/v1/subscribe") as sub:
        await asyncio.wait_for(fake.authed.wait(), 10)
        await fake.send([danmu("hello from bilibili", uname="viewer")])
        play = await next_play(sub)
        assert "hello from bilibili" in play["text"] and play["source"] == "bilibili"
        async with http.get(f"{running.url}/health") as resp:
            sources = (await resp.json())["speech"]["sources"]
    assert sources["bilibili"]["state"] == "connected" and sources["bilibili"]["events"] == 1


async def next_play(resp: aiohttp.ClientResponse, *, timeout_s: float = 30.0) -> dict[str, Any]:
    end = time.monotonic() + timeout_s
    while True:
        line = await asyncio.wait_for(resp.content.readline(), max(0.1, end - time.monotonic()))
        assert line.endswith(b"\n"), f"stream ended: {line!r}"
        event = json.loads(line)
        if event["type"] == "play":
            return event  # type: ignore[no-any-return]
