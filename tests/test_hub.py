"""The hub through the real server and the real Piper voice: events in, ``play`` events out in
priority order, playback reports move the stage on, steering and moderation act at once, and the
journal brings unfinished announcements back after a restart."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import make_config, running_engine

CHAT_ALL = {"chat": {"mode": "all", "user_cooldown_s": 0}}


async def next_event(resp: aiohttp.ClientResponse, *, kinds: tuple[str, ...] = ("play", "cancel"),
                     timeout: float = 20.0) -> dict[str, Any]:
    """The next event of one of ``kinds`` (heartbeats and hellos are skipped)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        line = await asyncio.wait_for(resp.content.readline(), max(0.1, end - loop.time()))
        assert line.endswith(b"\n"), f"stream ended: {line!r}"
        event = json.loads(line)
        if event["type"] in kinds:
            return event


async def play_through(http: aiohttp.ClientSession, url: str, event: dict[str, Any]) -> bytes:
    """Do what OBS does with a part: fetch its WAV, report started, then ended."""
    async with http.get(url + event["wav_url"]) as resp:
        assert resp.status == 200
        wav = await resp.read()
    for state in ("started", "ended"):
        async with http.post(f"{url}/v1/playback", json={"utterance": event["utterance"],
                                                        "part": event["part"], "state": state}) as r:
            assert r.status == 200 and (await r.json())["known"] is True
    return wav


def announcement(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "announcement", "source": "hotkey", "id": uuid.uuid4().hex, "text": text, **extra}


def chat(text: str, login: str = "viewer") -> dict[str, Any]:
    return {"type": "chat", "source": "twitch", "text": text, "login": login, "id": uuid.uuid4().hex}


async def test_an_announcement_is_published_played_and_finished(start_engine: Any) -> None:
    running = await start_engine()
    async with aiohttp.ClientSession(headers=running.headers) as http, \
            http.get(f"{running.url}/v1/subscribe") as sub:
        body = announcement("Thanks for the raid, everyone!")
        async with http.post(f"{running.url}/v1/events", json=body) as resp:
            assert resp.status == 202, await resp.text()
            reply = await resp.json()
            assert reply["accepted"] and reply["journaled"] and reply["id"] == body["id"]
        event = await next_event(sub)
        assert event["type"] == "play" and event["utterance"] == body["id"]
        assert event["part"] == 0 and event["parts"] == 1 and event["priority"] == "announcement"
        wav = await play_through(http, running.url, event)
        assert wav[:4] == b"RIFF" and len(wav) > 48_000  # more than half a second of speech
        async with http.post(f"{running.url}/v1/events", json=body) as resp:  # the outbox resends
            assert resp.status == 200 and (await resp.json())["duplicate"] is True
        async with http.get(f"{running.url}/v1/queue") as resp:
            status = await resp.json()
    assert status["stage"]["counters"]["utterances_played"] == 1
    assert status["stage"]["outstanding"] == []


async def test_parts_follow_priority_and_reports(start_engine: Any) -> None:
    running = await start_engine(**CHAT_ALL, speech={"outstanding_parts": 1})
    async with aiohttp.ClientSession(headers=running.headers) as http:
        # queued before anyone listens: nothing is published yet
        for body in (chat("first chat line here"), chat("second chat line", "other"),
                     announcement("An announcement jumps the queue.")):
            async with http.post(f"{running.url}/v1/events", json=body) as resp:
                assert resp.status == 202, await resp.text()
        async with http.get(f"{running.url}/v1/subscribe") as sub:
            order = []
            for _ in range(3):
                event = await next_event(sub)
                order.append(event["text"])
                await play_through(http, running.url, event)
    assert order[0] == "An announcement jumps the queue."
    assert order[1].endswith("first chat line here") and order[2].endswith("second chat line")


async def test_nothing_speakable_is_refused_and_filtered_chat_says_why(start_engine: Any) -> None:
    running = await start_engine()
    async with aiohttp.ClientSession(headers=running.headers) as http:
        async with http.post(f"{running.url}/v1/events", json=announcement("?!")) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"]["message"]
        async with http.post(f"{running.url}/v1/events", json=chat("no prefix here")) as resp:
            reply = await resp.json()
            assert resp.status == 200 and reply["accepted"] is False and reply["reason"]
        async with http.post(f"{running.url}/v1/events", json={"type": "chat", "text": 5}) as resp:
            assert resp.status == 400


async def test_skip_clear_and_pause(start_engine: Any) -> None:
    running = await start_engine(**CHAT_ALL, speech={"outstanding_parts": 1})
    async with aiohttp.ClientSession(headers=running.headers) as http, \
            http.get(f"{running.url}/v1/subscribe") as sub:
        async with http.post(f"{running.url}/v1/control", json={"command": "pause"}) as resp:
            assert (await resp.json())["paused"] is True
        for i in range(3):
            async with http.post(f"{running.url}/v1/events", json=chat(f"line number {i}", f"u{i}")):
                pass
        async with http.post(f"{running.url}/v1/control", json={"command": "resume"}):
            pass
        first = await next_event(sub)
        async with http.post(f"{running.url}/v1/control", json={"command": "skip"}) as resp:
            assert (await resp.json())["skipped"] == first["utterance"]
        cancel = await next_event(sub)
        assert cancel["type"] == "cancel" and cancel["utterance"] == first["utterance"]
        second = await next_event(sub)
        assert second["type"] == "play" and second["utterance"] != first["utterance"]
        async with http.post(f"{running.url}/v1/control", json={"command": "clear"}) as resp:
            assert (await resp.json())["cleared"] >= 2
        async with http.post(f"{running.url}/v1/control", json={"command": "dance"}) as resp:
            assert resp.status == 400


async def test_muting_a_user_removes_their_lines_at_once(start_engine: Any) -> None:
    running = await start_engine(**CHAT_ALL)
    async with aiohttp.ClientSession(headers=running.headers) as http:
        for text in ("spam one here", "spam two here"):
            async with http.post(f"{running.url}/v1/events", json=chat(text, "troll")):
                pass
        async with http.post(f"{running.url}/v1/moderation",
                             json={"action": "mute", "login": "Troll", "seconds": 600}) as resp:
            assert resp.status == 200 and (await resp.json())["removed"] == 2
        async with http.post(f"{running.url}/v1/events", json=chat("spam three", "troll")) as resp:
            reply = await resp.json()
            assert reply["accepted"] is False and "mute" in reply["reason"]
        async with http.get(f"{running.url}/v1/queue") as resp:
            assert (await resp.json())["items"] == []


async def test_unfinished_announcements_come_back_after_a_restart(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    text = ("This is the first sentence of a long announcement for everyone. "
            "Here comes the second sentence of it, which is also long enough. "
            "And this third sentence ends the announcement for tonight.")
    body = announcement(text)
    async with (running_engine(config) as first, aiohttp.ClientSession(headers=first.headers) as http,
                http.get(f"{first.url}/v1/subscribe") as sub):
        async with http.post(f"{first.url}/v1/events", json=body) as resp:
            assert resp.status == 202
        event = await next_event(sub)
        assert event["parts"] >= 2
        await play_through(http, first.url, event)  # part 0 played, then OBS goes away
    async with (running_engine(config) as second, aiohttp.ClientSession(headers=second.headers) as http,
                http.get(f"{second.url}/v1/subscribe") as sub):
        event = await next_event(sub)
        assert event["utterance"] == body["id"] and event["part"] == 1
        async with http.post(f"{second.url}/v1/events", json=body) as resp:
            assert (await resp.json())["duplicate"] is True
