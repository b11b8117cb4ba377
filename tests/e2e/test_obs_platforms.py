"""Issue 9 in a real OBS: a Bilibili danmu and a StreamLabs donation, each sent by a protocol
peer on loopback (tests/bilibili_fake.py: the live API and the danmu WebSocket packet format;
tests/streamlabs_fake.py: a Socket.IO v2 server), read by the engine's own sources and spoken in
OBS's recording.

Both sources are switched on while the engine runs, through the dashboard's settings route
(``PUT /v1/settings``), and the StreamLabs token goes in as the form sends it: into the secrets
file, which this module points at a temp file (``STREAMER_TTS_SECRETS_FILE``) before the engine
starts. The danmu is Chinese, so the voice configured for Chinese (the tiny generated Piper
voice) speaks it; the donation is English, spoken by joe.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.secrets import FILE_ENV
from tests.bilibili_fake import SHORT_ID, FakeBilibili, danmu
from tests.streamlabs_fake import FakeStreamLabs, alert

from . import engine_api, recording, zh_voice
from .loop_thread import LoopThread
from .speech import assert_spoken, engine_clips, record_speech, recorded
from .stack import Stack

pytestmark = pytest.mark.obs

TOKEN = "sl-e2e-socket-token-5f0c1e2d3a4b"
DANMU = "主播晚上好，今天玩什么游戏？"
FAKE_TIMEOUT_S = 15


@pytest.fixture(scope="module", autouse=True)
def secrets_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Before the engine starts (autouse runs first): its secrets file is a temp one, empty and
    the owner's alone (a file named by the variable must exist)."""
    path = tmp_path_factory.mktemp("secrets") / "secrets.yaml"
    path.touch(mode=0o600)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(FILE_ENV, str(path))
        yield path


@dataclass
class Platforms:
    stack: Stack
    loop: LoopThread
    bilibili: FakeBilibili
    streamlabs: FakeStreamLabs


async def _fakes() -> tuple[FakeBilibili, FakeStreamLabs]:
    # Engine.IO 3: the client pings every ping interval; the server waits ping_timeout for it
    bilibili, streamlabs = FakeBilibili(hosts=1), FakeStreamLabs(TOKEN, ping_interval_s=5.0,
                                                                 ping_timeout_s=20.0)
    await bilibili.start()
    await streamlabs.start()
    return bilibili, streamlabs


@pytest.fixture(scope="module")
def platforms(obs_stack: Stack, secrets_file: Path) -> Iterator[Platforms]:
    with LoopThread() as loop:
        bilibili, streamlabs = loop.run(_fakes(), timeout_s=FAKE_TIMEOUT_S)
        try:
            zh_voice.install(obs_stack)
            engine_api.put_settings(obs_stack, {
                "chat": {"template": "{message}"},
                "sources": {
                    "bilibili": {"enabled": True, "room_id": SHORT_ID, "api_base": bilibili.base,
                                 "account_api_base": bilibili.base, "tls": False, "fallback_url": "",
                                 "reconnect_max_s": 1.0, "connect_timeout_s": 5.0},
                    "streamlabs": {"enabled": True, "url": streamlabs.url, "reconnect_max_s": 1.0,
                                   "connect_timeout_s": 5.0}},
                "secrets": {"streamlabs_token": TOKEN}})
            engine_api.wait_sources(obs_stack, ("bilibili", "streamlabs"), timeout_s=30)
            assert TOKEN in secrets_file.read_text() and secrets_file.stat().st_mode & 0o077 == 0
            yield Platforms(obs_stack, loop, bilibili, streamlabs)
        finally:
            loop.run(_close(bilibili, streamlabs), timeout_s=FAKE_TIMEOUT_S)


async def _close(bilibili: FakeBilibili, streamlabs: FakeStreamLabs) -> None:
    await bilibili.close()
    await streamlabs.stop()


def test_bilibili_danmu_is_spoken_in_obs(platforms: Platforms) -> None:
    stack, loop = platforms.stack, platforms.loop
    path, parts = record_speech(
        stack, lambda: loop.run(platforms.bilibili.send([danmu(DANMU)], ver=3), timeout_s=FAKE_TIMEOUT_S))
    assert {p.source for p in parts} == {"bilibili"}, parts
    jobs = [engine_api.job(stack, p.job) for p in parts]
    assert {(j["backend"], j["voice"], j.get("language")) for j in jobs} == \
        {("piper", zh_voice.ZH_VOICE, "zh")}, jobs
    played = [o for o in engine_api.recent(stack) if o.id == parts[0].utterance]
    assert [(o.state, o.text) for o in played] == [("played", unicodedata.normalize("NFKC", DANMU))]
    clips = [recording.pcm_to_float(stack.engine.job_pcm(p.job)) for p in parts]
    r = zh_voice.assert_zh_spoken(recording.decode(path), clips, what="Bilibili danmu",
                                  log=f"\nscript log:\n{stack.obs.script_log()[-2000:]}")
    print(f"danmu: spectrum r={r:.3f} against its clips")


def test_streamlabs_donation_is_spoken_in_obs(platforms: Platforms) -> None:
    stack, loop = platforms.stack, platforms.loop
    donation = alert("donation", "streamlabs", _id="e2e-d1", name="ana", **{"from": "Ana"},
                     amount="5.00", formatted_amount="€5.00", currency="EUR", message="for the cat")
    path, parts = record_speech(
        stack, lambda: loop.run(platforms.streamlabs.emit(donation), timeout_s=FAKE_TIMEOUT_S))
    assert {p.source for p in parts} == {"streamlabs"}, parts
    played = [o for o in engine_api.recent(stack) if o.id == parts[0].utterance]
    assert [(o.state, o.text) for o in played] == [("played", "Ana donated €5.00: for the cat")], played
    jobs = [engine_api.job(stack, p.job) for p in parts]
    assert {(j["backend"], j["voice"], j["priority"]) for j in jobs} == \
        {("piper", "en_US-joe-medium", "event")}, jobs
    assert_spoken(stack, recorded(path), engine_clips(stack, parts), what="StreamLabs donation")
    assert TOKEN not in stack.engine.log_path.read_text(errors="replace"), "the engine logged the token"
