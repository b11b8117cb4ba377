"""The caption overlay (``/overlay``) in a real headless Chromium against a running engine.

The test plays the OBS plugin's part: it subscribes to ``/v1/subscribe`` and reports playback on
``/v1/playback``; the overlay must show a part's text from ``started`` to ``ended``, styled by
its URL parameters, on a transparent page, with CJK text drawn by a CJK font.
"""

from __future__ import annotations

import os

from pathlib import Path
from typing import Any

import aiohttp

from tests.browser import Browser, Page
from tests.test_hub import next_event

DOCS = Path(__file__).resolve().parents[1] / "docs"
"""Where the README's pictures go when ``STREAMER_TTS_WRITE_DOCS=1`` (otherwise the test's own
temp folder: a test run leaves the checkout clean)."""
CJK_TEXT = "大家好，欢迎来到直播间！"
STYLE = "size=48&position=top&user=1&badge=1&color=%23ffee00&outline=3&background=none"


async def report(http: aiohttp.ClientSession, url: str, event: dict[str, Any], state: str) -> None:
    """What the OBS plugin posts when a part starts or ends."""
    async with http.post(f"{url}/v1/playback", json={"utterance": event["utterance"],
                                                    "part": event["part"], "state": state}) as r:
        assert r.status == 200 and (await r.json())["known"] is True


async def shown(page: Page) -> bool:
    return bool(await page.eval("document.getElementById('caption').classList.contains('shown')"))


async def platform_fonts(page: Page, selector: str) -> list[dict[str, Any]]:
    """The fonts Chromium really drew ``selector``'s text with (DevTools' CSS domain)."""
    await page.send("DOM.enable")
    await page.send("CSS.enable")
    root = (await page.send("DOM.getDocument"))["root"]["nodeId"]
    node = (await page.send("DOM.querySelector", nodeId=root, selector=selector))["nodeId"]
    return list((await page.send("CSS.getPlatformFontsForNode", nodeId=node))["fonts"])


async def test_the_overlay_shows_what_obs_plays_from_started_to_ended(start_engine: Any,
                                                                     tmp_path: Path) -> None:
    running = await start_engine(tts={"missing_language_voice": "default"})
    async with Browser.launch() as browser, aiohttp.ClientSession(headers=running.headers) as http, \
            http.get(f"{running.url}/v1/subscribe") as sub:
        page = await browser.new_page(width=1280, height=300)
        await page.send("Emulation.setDefaultBackgroundColorOverride",
                        color={"r": 0, "g": 0, "b": 0, "a": 0})
        await page.goto(f"{running.url}/overlay?{STYLE}")  # no token: captions are read-only
        await page.wait_for("window.overlay && window.overlay.updates >= 1", what="the first caption")
        assert not await shown(page)

        async with http.post(f"{running.url}/v1/say", json={"text": CJK_TEXT}) as r:
            assert r.status == 202
        event = await next_event(sub)
        assert event["type"] == "play"
        await page.eval("new Promise((ok) => setTimeout(ok, 300))")
        assert not await shown(page)  # queued and synthesized is not on screen yet: OBS decides

        await report(http, running.url, event, "started")
        await page.wait_for("document.getElementById('caption').classList.contains('shown')",
                            what="the caption at 'started'")
        assert await page.eval("document.getElementById('text').textContent") == event["text"]
        assert await page.eval("document.getElementById('badge').textContent") == "api"
        style = await page.eval("(() => { const s = getComputedStyle(document.getElementById('caption'));"
                                " return [s.fontSize, s.color, s.textShadow !== 'none',"
                                " getComputedStyle(document.body).backgroundColor,"
                                " document.getElementById('box').getBoundingClientRect().top]; })()")
        assert style[:3] == ["48px", "rgb(255, 238, 0)", True]
        assert style[3] == "rgba(0, 0, 0, 0)" and style[4] < 10  # transparent, at the top
        fonts = await platform_fonts(page, "#text")
        cjk = [f for f in fonts if "CJK" in f["familyName"]]
        assert cjk and sum(f["glyphCount"] for f in cjk) >= 10, fonts  # no tofu boxes

        await page.eval("new Promise((ok) => setTimeout(ok, 400))")  # the fade-in
        png = await page.screenshot(shots(tmp_path) / "overlay.png")
        stats = await page.pixel_stats(png)
        assert (stats.width, stats.height) == (1280, 300)
        assert stats.transparent_share > 0.5, stats  # the scene shows through around the text
        assert stats.stdev > 5, stats  # and the text is drawn

        await report(http, running.url, event, "ended")
        await page.wait_for("!document.getElementById('caption').classList.contains('shown')",
                            what="the caption hidden at 'ended'")


async def test_a_skip_hides_the_caption_and_other_sites_cannot_read_it(start_engine: Any) -> None:
    running = await start_engine()
    async with Browser.launch() as browser, aiohttp.ClientSession(headers=running.headers) as http, \
            http.get(f"{running.url}/v1/subscribe") as sub:
        page = await browser.new_page(width=800, height=200)
        await page.goto(f"{running.url}/overlay")
        await page.wait_for("window.overlay && window.overlay.updates >= 1")
        async with http.post(f"{running.url}/v1/say", json={"text": "Skip me if you can."}) as r:
            assert r.status == 202
        event = await next_event(sub)
        await report(http, running.url, event, "started")
        await page.wait_for("document.getElementById('caption').classList.contains('shown')")
        async with http.post(f"{running.url}/v1/control", json={"command": "skip"}) as r:
            assert (await r.json())["skipped"] == event["utterance"]
        await page.wait_for("!document.getElementById('caption').classList.contains('shown')",
                            what="the caption hidden by a skip")
        assert (await next_event(sub, kinds=("cancel",)))["utterance"] == event["utterance"]
    async with aiohttp.ClientSession() as anyone:
        async with anyone.get(f"{running.url}/v1/captions",
                              headers={"Origin": "https://evil.example"}) as r:
            assert r.status == 403 and (await r.json())["error"]["code"] == "cross_origin"
        async with anyone.get(f"{running.url}/v1/captions",
                              headers={"Host": "rebound.example"}) as r:
            assert r.status == 403


def test_the_speech_log_is_bounded_and_a_repeated_id_does_not_rewrite_history() -> None:
    from engine.captions import SpeechLog
    from engine.pipeline.pipeline import Drop

    log = SpeechLog(lambda job_id: None, size=3)
    for i in range(5):
        log.on_stage("play", {"utterance": f"u{i}", "part": 0, "parts": 1, "text": f"line {i}",
                              "source": "twitch", "user": "Viewer", "job": f"j{i}"})
    assert [o.id for o in log.recent()] == ["u4", "u3", "u2"]  # newest first, at most 3
    log.on_stage("started", {"utterance": "u4", "part": 0, "text": "line 4", "user": "Viewer",
                             "source": "twitch"})
    assert log.caption.visible and log.caption.text == "line 4"
    log.on_stage("ended", {"utterance": "u4", "part": 0})
    assert not log.caption.visible and log.recent()[0].state == "played"
    last = log.last_played()
    assert last is not None and last.text == "line 4"
    log.dropped(Drop("u4", "twitch", "Viewer", "duplicate", "line 4"))
    assert log.recent()[0].state == "played"  # a resent id does not undo what happened
    log.dropped(Drop("u3", "twitch", "Viewer", "expired: waited too long", "line 3"))
    assert log.recent()[1].state == "dropped" and log.recent()[1].reason.startswith("expired")


def shots(tmp_path: Path) -> Path:
    return DOCS if os.environ.get("STREAMER_TTS_WRITE_DOCS") == "1" else tmp_path
