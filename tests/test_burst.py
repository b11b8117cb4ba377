"""Bursts that do not back up, through the real engine and Piper voice: past a backlog chat is
read faster, repeats are collapsed into the waiting line, and the oldest chat is dropped with a
reason; announcements are never trimmed."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp

from engine.pipeline.options import SpeechOptions
from engine.speech.burst import BurstPolicy
from tests.test_hub import next_event

LINE = "this is chat line number {n} from the burst, and it goes on for a while"


def chat(text: str, login: str) -> dict[str, Any]:
    return {"type": "chat", "source": "twitch", "text": text, "login": login, "id": uuid.uuid4().hex}


def test_the_rate_ramps_from_the_threshold_to_the_maximum() -> None:
    policy = BurstPolicy(SpeechOptions(speedup_after_s=20, max_rate=1.5))
    assert [policy.rate(s) for s in (0, 20, 30, 40, 400)] == [1.0, 1.0, 1.25, 1.5, 1.5]


async def post(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> dict[str, Any]:
    async with http.post(f"{url}/v1/events", json=body) as resp:
        assert resp.status in (200, 202), await resp.text()
        return await resp.json()  # type: ignore[no-any-return]


async def test_a_burst_is_sped_up_collapsed_and_trimmed_with_reasons(start_engine: Any) -> None:
    running = await start_engine(
        chat={"mode": "all", "user_cooldown_s": 0},
        speech={"speedup_after_s": 10, "max_rate": 1.5, "collapse_after_s": 15,
                "max_backlog_s": 40, "outstanding_parts": 1})
    async with aiohttp.ClientSession(headers=running.headers) as http:
        accepted = [await post(http, running.url, chat(LINE.format(n=n), f"viewer{n}"))
                    for n in range(31)]
        assert all(a["accepted"] for a in accepted)
        first = await post(http, running.url, chat("LOL!! so good", "fan1"))
        repeat = await post(http, running.url, chat("lol so good", "fan2"))
        assert first["accepted"] and repeat["accepted"] is False
        assert repeat["reason"].startswith("collapsed into the same line from fan1")
        announcement = {"type": "announcement", "source": "hotkey", "id": uuid.uuid4().hex,
                        "text": "The announcement is never trimmed."}
        assert (await post(http, running.url, announcement))["accepted"]
        async with http.get(f"{running.url}/v1/queue") as resp:
            queue = await resp.json()
        assert queue["burst"]["backlog_s"] <= 40 + 8  # trimmed to the limit (one line's slack)
        assert queue["burst"]["chat_rate"] == 1.5
        reasons = [d["reason"] for d in queue["recent_drops"]]
        assert reasons and all("oldest chat dropped" in r for r in reasons)
        assert queue["queue"]["drops"].get("backlog", 0) == len(reasons)
        assert any(item["priority"] == "announcement" for item in queue["items"])
        async with http.get(f"{running.url}/v1/subscribe") as sub:
            played = await next_event(sub)  # the announcement first
            assert played["priority"] == "announcement"
            async with http.post(f"{running.url}/v1/playback", json={
                    "utterance": played["utterance"], "part": 0, "state": "ended"}):
                pass
            chat_part = await next_event(sub)
        async with http.get(f"{running.url}{chat_part['wav_url'].removesuffix('.wav')}") as resp:
            job = await resp.json()
    assert chat_part["priority"] == "chat" and job["rate"] > 1.0
