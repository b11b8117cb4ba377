"""The dashboard (``/``) in a real headless Chromium against a running engine, and its settings API.

The test is the OBS plugin too (``/v1/subscribe`` + ``/v1/playback``): what is speaking, the
queue, recent messages, moderation clicks, the charts and the alerts must follow the engine.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from engine.http.monitor import MONITOR_KEY
from engine.http.settings_api import LOCAL_FILE, with_local
from tests.browser import Browser, Page
from tests.conftest import RunningEngine, make_config, running_engine
from tests.fake_nvml import FakeNvml
from tests.test_hub import CHAT_ALL, chat, next_event
from tests.test_overlay import report

DOCS = Path(__file__).resolve().parents[1] / "docs"
"""Where the README's pictures go when ``STREAMER_TTS_WRITE_DOCS=1`` (otherwise the test's own
temp folder: a test run leaves the checkout clean)."""
CHANNEL = "UC" + "abcdefghijklmnopqrstuv"


async def queue_ids(page: Page) -> list[str]:
    return list(await page.eval(
        "[...document.querySelectorAll('#queue-list li[data-id]')].map((li) => li.dataset.id)"))


async def queued(http: aiohttp.ClientSession, url: str) -> list[dict[str, Any]]:
    async with http.get(f"{url}/v1/queue") as r:
        return list((await r.json())["items"])


async def post_chat(http: aiohttp.ClientSession, url: str, text: str, login: str) -> dict[str, Any]:
    async with http.post(f"{url}/v1/events", json=chat(text, login)) as r:
        return dict(await r.json())


@pytest.fixture
async def gpu_engine(tmp_path: Path) -> AsyncIterator[tuple[RunningEngine, FakeNvml]]:
    """An engine whose GPU readings come from a scripted NVML (this machine has no GPU)."""
    nvml = FakeNvml(temperature_c=62.0, memory_used_bytes=7 * 2**30, power_mw=185_000)
    config = make_config(tmp_path, **CHAT_ALL, alerts={"queue_length": 2, "queue_length_margin": 0},
                         performance={"gpu": {"enabled": True}})
    async with running_engine(config, extra={"nvml": nvml}) as running:
        running.engine.gpu.max_age_s = 0  # every sample reads the board
        yield running, nvml


async def test_the_dashboard_follows_speech_and_steers_it(
        gpu_engine: tuple[RunningEngine, FakeNvml], tmp_path: Path) -> None:
    running, nvml = gpu_engine
    url = running.url
    async with Browser.launch() as browser, aiohttp.ClientSession(headers=running.headers) as http, \
            http.get(f"{url}/v1/subscribe") as sub:
        page = await browser.new_page(width=1280, height=1100)
        await page.goto(f"{url}/?token={running.token}")
        assert await page.eval("location.pathname + location.search") == "/"  # token out of the bar
        assert await page.eval("document.cookie") == ""  # HttpOnly: no script can read it
        await page.wait_for("window.dashboard.queue !== null", what="the first poll")
        assert await page.eval("document.getElementById('access-banner').hidden") is True

        # what is speaking now, and the recent message with backend, cache and timing
        async with http.post(f"{url}/v1/say", json={"text": "Thanks for the raid, everyone!"}) as r:
            assert r.status == 202
        event = await next_event(sub)
        async with http.get(url + event["wav_url"]) as r:  # as the plugin: fetch, then play
            assert r.status == 200 and len(await r.read()) > 1000
        await report(http, url, event, "started")
        now = f"document.getElementById('now-text').textContent === {json.dumps(event['text'])}"
        await page.wait_for(now,
                            what="the part OBS started, as speaking now")
        row = f"#recent-list li[data-id='{event['utterance']}']"
        await page.wait_for(f"document.querySelector(\"{row}\")?.dataset.state === 'playing'")
        meta = await page.eval(f"document.querySelector(\"{row} .meta\").textContent")
        assert "piper" in meta and "ms to first audio" in meta and "synthesized" in meta, meta
        await report(http, url, event, "ended")
        await page.wait_for(f"document.querySelector(\"{row}\")?.dataset.state === 'played'")
        await page.wait_for("document.getElementById('now-text').textContent === 'Nothing'")

        # pause, then the queue with a remove button per line
        await page.click("#btn-pause")
        await page.wait_for("document.getElementById('btn-pause').textContent === 'Resume'")
        for text, login in (("first line from the troll", "troll"), ("a kind line here", "viewer"),
                            ("another kind line", "viewer2")):
            assert (await post_chat(http, url, text, login))["accepted"] is True
        await page.wait_for("document.querySelectorAll('#queue-list li[data-id]').length === 3")
        victim = (await queue_ids(page))[2]
        await page.click(f"#queue-list li[data-id='{victim}'] button.remove")
        await page.wait_for(f"!document.querySelector(\"#queue-list li[data-id='{victim}']\")")
        assert victim not in [u["id"] for u in await queued(http, url)]

        # one click mutes the troll for 10 minutes: their queued line goes, the next one is dropped
        troll = next(u["id"] for u in await queued(http, url) if u["user"] == "troll")
        await page.click(f"#queue-list li[data-id='{troll}'] button.mute10")
        await page.wait_for("document.getElementById('muted-list').textContent.includes('troll')")
        assert troll not in [u["id"] for u in await queued(http, url)]
        reply = await post_chat(http, url, "second line from the troll", "troll")
        assert reply["accepted"] is False and "mute" in reply["reason"]
        await page.wait_for(f"document.querySelector(\"#recent-list li[data-id='{reply['id']}']\")"
                            "?.dataset.state === 'dropped'", what="the dropped line with its reason")

        # block a word from the form
        await page.type_into("#word-input", "spoiler")
        await page.click("#word-form button")
        await page.wait_for("document.getElementById('words-list').textContent.includes('spoiler')")
        reply = await post_chat(http, url, "the ending is a big spoiler", "viewer3")
        assert reply["accepted"] is False

        # replay the last message: it comes back as an announcement
        await page.click("#btn-replay")
        await page.wait_for("[...document.querySelectorAll('#queue-list li')].some((li) =>"
                            " li.textContent.includes('Thanks for the raid'))")
        items = await queued(http, url)
        assert [u["priority"] for u in items if "raid" in u["text"]] == ["announcement"]

        # the alert (queue over 2) and the charts of the last hour
        for i in range(3):
            await post_chat(http, url, f"filler line number {i}", f"filler{i}")
        nvml.temperature_c = 86.0
        monitor = running.app[MONITOR_KEY]
        monitor.sample()  # the sampler's next tick, without waiting 5 s for it
        for alert in ("queue_length", "gpu_temperature"):
            await page.wait_for(f"document.querySelector('#alerts-list [data-alert=\"{alert}\"]')",
                                what=f"the {alert} alert")
        await page.wait_for("window.dashboard.history"
                            " && window.dashboard.history.samples.some((s) => s.latency_p50_ms !== null)"
                            " && window.dashboard.history.samples.some((s) => s.queue_length >= 3)"
                            " && window.dashboard.history.samples.some((s) => s.gpu_temperature_c === 86)",
                            timeout=20, what="history samples with the latency, the queue and the hot GPU")
        for name in ("latency", "queue", "cache", "gpu"):
            assert await page.eval(f"!!document.querySelector('#chart-{name} canvas')"), name
        assert await page.eval("window.dashboard.charts.latency.data[1].some((v) => v !== null)")
        gpu = await page.eval("window.dashboard.charts.gpu.data.slice(1).map((s) => Math.max(...s))")
        assert gpu == [86, 7, 185], gpu  # °C, VRAM GiB, W

        # resume: the replayed announcement plays first, and the page shows it as speaking now
        await page.click("#btn-pause")
        event = await next_event(sub)
        assert "raid" in event["text"]
        await report(http, url, event, "started")
        await page.wait_for("document.getElementById('now-text').textContent.includes('raid')")
        await page.eval("new Promise((ok) => setTimeout(ok, 300))")
        png = await page.screenshot(shots(tmp_path) / "dashboard.png")
        stats = await page.pixel_stats(png)
        assert stats.width == 1280 and stats.stdev > 10, stats

        await page.size(350, 1000)  # an OBS Custom Browser Dock
        await page.eval("new Promise((ok) => setTimeout(ok, 1500))")
        assert await page.eval("document.documentElement.scrollWidth") <= 360  # no sideways scroll
        png = await page.screenshot(shots(tmp_path) / "dock.png")
        stats = await page.pixel_stats(png)
        assert stats.width == 350 and stats.stdev > 10, stats

        # clear empties the queue
        await page.click("#btn-clear")
        await page.wait_for("document.querySelectorAll('#queue-list li[data-id]').length === 0")
        assert await queued(http, url) == []
        assert not [m for m in browser.console if m.startswith("exception")], browser.console


async def test_a_page_without_the_token_cannot_steer(start_engine: Any) -> None:
    running = await start_engine()
    async with Browser.launch() as browser:
        page = await browser.new_page(width=800, height=600)
        await page.goto(f"{running.url}/")
        await page.wait_for("!document.getElementById('access-banner').hidden", what="the banner")
        assert await page.eval("document.getElementById('btn-skip').disabled") is True
        for method, path, body in (("POST", "/v1/control", {"command": "pause"}),
                                   ("POST", "/v1/say", {"text": "not from this page"}),
                                   ("PUT", "/v1/settings", {"chat": {"mode": "all"}}),
                                   ("GET", "/v1/queue", None)):
            status, code = await page.eval(
                f"fetch({json.dumps(path)}, {{method: {json.dumps(method)}, headers: {{'Content-Type':"
                f" 'application/json'}}, body: {json.dumps(json.dumps(body) if body else None)}}})"
                ".then(async (r) => [r.status, (await r.json()).error.code])")
            assert (status, code) == (403, "token_required"), path
        await page.goto(f"{running.url}/?token=wrong-{running.token}")
        assert await page.eval("document.documentElement.dataset.access") == "wrong_token"
        assert await page.eval("document.cookie") == ""
    async with aiohttp.ClientSession(headers=running.headers) as http, \
            http.get(f"{running.url}/v1/queue") as r:
        state = await r.json()
        assert state["queue"]["paused"] is False and state["items"] == []  # nothing got through


async def test_settings_are_validated_saved_applied_and_secrets_never_shown(
        start_engine: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets_file = tmp_path / "secrets" / "secrets.yaml"
    secrets_file.parent.mkdir(mode=0o700)
    secrets_file.write_text("# tokens saved from the dashboard land here\n")
    secrets_file.chmod(0o600)
    monkeypatch.setenv("STREAMER_TTS_SECRETS_FILE", str(secrets_file))
    running = await start_engine()
    url, token = running.url, "oauth:" + "s3cr3t" * 5
    async with aiohttp.ClientSession(headers=running.headers) as http:
        async with http.put(f"{url}/v1/settings", json={"chat": {"mode": "sometimes"}}) as r:
            assert r.status == 400 and "chat.mode" in (await r.json())["error"]["message"]
        async with http.put(f"{url}/v1/settings", json={"sources": {"twitch": {"port": 0}}}) as r:
            assert r.status == 400 and "sources.twitch.port" in (await r.json())["error"]["message"]
        assert not (running.engine.config.data_path() / LOCAL_FILE).exists()  # nothing written
        assert (await post_chat(http, url, "no command prefix here", "viewer"))["accepted"] is False
        body = {"chat": {"mode": "all", "blocked_words": ["darn"]},
                "sources": {"twitch": {"channel": "somestreamer", "nick": "reader"}},
                "secrets": {"twitch_oauth": token}}
        async with http.put(f"{url}/v1/settings", json=body) as r:
            text = await r.text()
            assert r.status == 200 and token not in text
        settings = json.loads(text)
        twitch = settings["sources"]["twitch"]
        assert twitch["secrets"][0]["name"] == "twitch_oauth" and twitch["secrets"][0]["set"] is True
        assert {f["key"]: f["value"] for f in twitch["fields"]}["channel"] == "somestreamer"
        async with http.get(f"{url}/v1/settings") as r:
            assert token not in await r.text()
        # applied at once: chat mode all speaks a line without the prefix, the blocked word drops
        assert (await post_chat(http, url, "no command prefix here", "viewer"))["accepted"] is True
        assert (await post_chat(http, url, "oh darn it", "viewer2"))["accepted"] is False
    local = running.engine.config.data_path() / LOCAL_FILE
    saved = yaml.safe_load(local.read_text())
    assert saved == {"chat": {"mode": "all", "blocked_words": ["darn"]},
                     "sources": {"twitch": {"channel": "somestreamer", "nick": "reader"}}}
    assert token not in local.read_text()
    assert yaml.safe_load(secrets_file.read_text()) == {"twitch_oauth": token}
    assert stat.S_IMODE(os.stat(secrets_file).st_mode) == 0o600
    # the next start merges the saved settings over config.yaml
    again = with_local(make_config(tmp_path))
    assert again.chat.mode == "all" and again.source_options("twitch").channel == "somestreamer"


async def test_the_settings_form_saves_sources_and_filters_and_masks_secrets(
        start_engine: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets_file = tmp_path / "secrets.yaml"
    monkeypatch.setenv("STREAMER_TTS_SECRETS_FILE", str(secrets_file))
    secrets_file.write_text("")
    secrets_file.chmod(0o600)
    running = await start_engine()
    key = "AIza" + "k" * 35
    async with Browser.launch() as browser:
        page = await browser.new_page(width=1000, height=900)
        await page.goto(f"{running.url}/?token={running.token}")
        await page.wait_for("window.dashboard.queue !== null && window.dashboard.history !== null")
        await page.eval("new Promise((ok) => setTimeout(ok, 300))")  # the first render settles
        await page.click("#settings summary")
        await page.wait_for("document.getElementById('set-source:youtube-channel_id')", what="the form")
        await page.eval(f"document.getElementById('set-source:youtube-channel_id').value = '{CHANNEL}'")
        await page.eval("document.getElementById('set-chat-user_cooldown_s').value = '3'")
        await page.type_into("#secret-youtube_api_key", key)
        assert await page.eval("document.getElementById('secret-youtube_api_key').type") == "password"
        await page.click("#btn-save")
        await page.wait_for("document.getElementById('settings-result').textContent === 'Saved.'",
                            what="the save")
        placeholder = await page.eval("document.getElementById('secret-youtube_api_key').placeholder")
        assert placeholder.startswith("set") and await page.eval(
            "document.getElementById('secret-youtube_api_key').value") == ""
        assert key not in await page.eval("document.documentElement.outerHTML")
    saved = yaml.safe_load((running.engine.config.data_path() / LOCAL_FILE).read_text())
    assert saved == {"chat": {"user_cooldown_s": 3.0}, "sources": {"youtube": {"channel_id": CHANNEL}}}
    assert yaml.safe_load(secrets_file.read_text()) == {"youtube_api_key": key}


def shots(tmp_path: Path) -> Path:
    return DOCS if os.environ.get("STREAMER_TTS_WRITE_DOCS") == "1" else tmp_path
