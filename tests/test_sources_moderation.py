"""One engine, every source at once, each on its real protocol peer on loopback (ngircd for
Twitch, the YouTube Data API, Bilibili's danmu WebSocket, StreamLabs' Socket.IO): the pipeline's
filters and moderation treat a line the same whichever platform it came from.

Chat mode ``all``; a clean line from each chat source is queued; a configured blocked word, one
blocked at run time, ``chat.min_length``, ``chat.max_length`` and the link filter drop a line from
each with the same reason; muting each platform's login (as its source fills
``ChatMessage.login``) removes their queued line at once and drops their next one; a StreamLabs
donation under ``events.donation.min_amount`` is dropped with its reason, one above it is queued.
Nothing plays (no listener): the assertions read ``/v1/queue``, ``/v1/recent`` and ``/health``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from .chat_peers import CHAT_SOURCES, STREAMLABS_TOKEN, YOUTUBE_KEY, ChatPeers
from .conftest import RunningEngine

DEADLINE_S = 20.0
CHAT = {"mode": "all", "user_cooldown_s": 0, "min_length": 4, "max_length": 60,
        "remove_links": True, "blocked_words": ["spoiler"]}
SPEECH = {"chat_deadline_s": 0, "speedup_after_s": 3600, "collapse_after_s": 3600,
          "max_backlog_s": 3600}
"""No deadline or backlog trimming: nothing plays here, and lines must stay queued."""
EVENTS = {"donation": {"min_amount": 5}}


@dataclass(frozen=True)
class View:
    """What the engine shows: queued items, the queue's drops, and the recent outcomes."""

    items: list[dict[str, Any]]
    queue_drops: list[dict[str, Any]]
    outcomes: list[dict[str, Any]]
    sources: dict[str, Any]

    def queued(self, source: str, contains: str) -> list[dict[str, Any]]:
        return [i for i in self.items if i["source"] == source and contains in i["text"]]

    def dropped(self, source: str, text: str) -> dict[str, Any] | None:
        """The pipeline's drop of the line ``text`` from ``source`` (a ``/v1/recent`` outcome)."""
        return next((o for o in self.outcomes if o["source"] == source and o["text"] == text
                     and o["state"] == "dropped"), None)


@pytest.fixture
async def peers(tmp_path: Path) -> AsyncIterator[ChatPeers]:
    server = ChatPeers(tmp_path / "peers")
    server.workdir.mkdir()
    await server.start()
    yield server
    await server.close()


async def view(http: aiohttp.ClientSession, running: RunningEngine) -> View:
    async with http.get(f"{running.url}/v1/queue") as resp:
        assert resp.status == 200, await resp.text()
        queue = await resp.json()
    async with http.get(f"{running.url}/v1/recent", params={"limit": "200"}) as resp:
        assert resp.status == 200, await resp.text()
        recent = await resp.json()
    return View(queue["items"], queue["recent_drops"], recent["recent"], queue["sources"])


async def wait_view(http: aiohttp.ClientSession, running: RunningEngine,
                    ready: Callable[[View], bool], what: str) -> View:
    end = time.monotonic() + DEADLINE_S
    while True:
        seen = await view(http, running)
        if ready(seen):
            return seen
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {DEADLINE_S} s waiting for {what}: "
                                 f"items={seen.items} outcomes={seen.outcomes[:20]} "
                                 f"sources={seen.sources}")
        await asyncio.sleep(0.05)


async def moderate(http: aiohttp.ClientSession, running: RunningEngine, **body: Any) -> dict[str, Any]:
    async with http.post(f"{running.url}/v1/moderation", json=body) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()  # type: ignore[no-any-return]


async def drops_are(http: aiohttp.ClientSession, running: RunningEngine, peers: ChatPeers,
                    lines: dict[str, str], reason: Callable[[str], str]) -> None:
    """Each chat source's line ``lines[source]`` (said by alice) is dropped with ``reason(source)``."""
    for source in CHAT_SOURCES:
        await peers.say(source, "alice", lines[source])
    seen = await wait_view(http, running, lambda v: all(v.dropped(s, lines[s]) for s in CHAT_SOURCES),
                           f"drops of {lines}")
    reasons = {s: (seen.dropped(s, lines[s]) or {}).get("reason") for s in CHAT_SOURCES}
    assert reasons == {s: reason(s) for s in CHAT_SOURCES}


async def test_filters_and_moderation_apply_alike_to_every_source(
        peers: ChatPeers, start_engine: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))  # no secrets file of the user's
    monkeypatch.delenv("STREAMER_TTS_SECRETS_FILE", raising=False)
    monkeypatch.delenv("STREAMER_TTS_TWITCH_OAUTH", raising=False)  # anonymous on ngircd
    monkeypatch.setenv("STREAMER_TTS_YOUTUBE_API_KEY", YOUTUBE_KEY)
    monkeypatch.setenv("STREAMER_TTS_STREAMLABS_TOKEN", STREAMLABS_TOKEN)
    running = await start_engine(chat=CHAT, speech=SPEECH, events=EVENTS,
                                 sources=peers.sources_config())
    async with aiohttp.ClientSession(headers=running.headers) as http:
        await wait_view(http, running, lambda v: all(
            v.sources.get(s, {}).get("state") == "connected" for s in (*CHAT_SOURCES, "streamlabs")),
            "every source connected")
        await wait_view(http, running, lambda v: len(peers.youtube.chat_requests()) >= 2,
                        "YouTube polled past its backlog")

        # A clean line from each chat source is queued; so is mallory's, muted later.
        for source in CHAT_SOURCES:
            await peers.say(source, "alice", f"hello from {source}")
            await peers.say(source, "mallory", f"mallory on {source} here")
        seen = await wait_view(http, running, lambda v: all(
            v.queued(s, f"hello from {s}") and v.queued(s, f"mallory on {s} here")
            for s in CHAT_SOURCES), "a clean line from each source queued")
        for source in CHAT_SOURCES:
            [hello] = seen.queued(source, f"hello from {source}")
            assert (hello["text"], hello["priority"]) == (
                f"{peers.name(source, 'alice')} says hello from {source}", "chat")

        # The config's blocked word, then one blocked at run time.
        await drops_are(http, running, peers, {s: f"no spoiler please {s}" for s in CHAT_SOURCES},
                        lambda s: "contains a blocked word")
        await moderate(http, running, action="block_word", word="Zebra")
        await drops_are(http, running, peers, {s: f"a zebra walks into {s}" for s in CHAT_SOURCES},
                        lambda s: "contains a blocked word")

        # Length and links: too short, too long, only a link; a link inside a line is removed.
        await drops_are(http, running, peers, {s: "hey" for s in CHAT_SOURCES},
                        lambda s: "shorter than chat.min_length (4)")
        await drops_are(http, running, peers, {s: f"{s} " + "x" * 80 for s in CHAT_SOURCES},
                        lambda s: f"{len(s) + 81} characters, over chat.max_length (60)")
        await drops_are(http, running, peers, {s: f"https://example.com/{s}" for s in CHAT_SOURCES},
                        lambda s: "nothing left to say")
        for source in CHAT_SOURCES:
            await peers.say(source, "alice", f"see www.example.com/{source} for {source} news")
        seen = await wait_view(http, running, lambda v: all(
            v.queued(s, f"for {s} news") for s in CHAT_SOURCES), "lines with links queued")
        for source in CHAT_SOURCES:
            [line] = seen.queued(source, f"for {source} news")
            assert line["text"] == f"{peers.name(source, 'alice')} says see for {source} news"

        # Muting each platform's login removes the queued line at once, then drops the next.
        for source in CHAT_SOURCES:
            answer = await moderate(http, running, action="mute",
                                    login=peers.name(source, "mallory"), seconds=600)
            assert answer["removed"] == 1, (source, answer)
        seen = await view(http, running)
        assert not [i for i in seen.items if "mallory" in i["text"]], seen.items
        removed = {d["source"]: d["reason"] for d in seen.queue_drops}
        assert removed == {s: "user muted for 600 s" for s in CHAT_SOURCES}
        for source in CHAT_SOURCES:
            await peers.say(source, "mallory", f"mallory again on {source}")
        seen = await wait_view(http, running, lambda v: all(
            v.dropped(s, f"mallory again on {s}") for s in CHAT_SOURCES), "muted lines dropped")
        for source in CHAT_SOURCES:
            drop = seen.dropped(source, f"mallory again on {source}") or {}
            assert drop["reason"] == f"{peers.login(source, 'mallory')} is muted", (source, drop)
        for source in CHAT_SOURCES:  # alice is not muted anywhere
            await peers.say(source, "alice", f"still here on {source}")
        await wait_view(http, running, lambda v: all(
            v.queued(s, f"still here on {s}") for s in CHAT_SOURCES), "alice still spoken")

        # StreamLabs: a donation under events.donation.min_amount is dropped, one above is queued.
        await peers.donate("Penny", 2, "small one")
        await peers.donate("Rich", 10, "big one")
        seen = await wait_view(http, running, lambda v: bool(
            v.dropped("streamlabs", "small one") and v.queued("streamlabs", "Rich")), "donations")
        small = seen.dropped("streamlabs", "small one") or {}
        assert small["reason"] == "$2.00 is under events.donation.min_amount (5)"
        [rich] = seen.queued("streamlabs", "Rich")
        assert (rich["text"], rich["priority"]) == ("Rich donated $10.00: big one", "event")

        async with http.get(f"{running.url}/health") as resp:
            counters = (await resp.json())["speech"]["pipeline_drops"]
    per_source = len(CHAT_SOURCES)
    assert counters == {"blocked_word": 2 * per_source, "too_short": per_source,
                        "too_long": per_source, "empty": per_source, "muted": per_source,
                        "under_min_amount": 1}, counters
