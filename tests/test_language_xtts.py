"""XTTS speaks the language of ``tts.backends.xtts.language`` (here ``zh-cn``): a Chinese
announcement goes to it, an English one skips it ("no voice for en") and Piper speaks it. Real
coqui code (``Xtts.load_checkpoint``, its ``zh-cn`` text path through pypinyin) on the tiny
random-weight model of tests/xtts_fixture.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import make_config, running_engine
from tests.xtts_fixture import SPEAKER, build_xtts

pytestmark = pytest.mark.xtts


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_xtts(tmp_path_factory.mktemp("xtts-zh") / "model", max_audio_tokens=16)


async def test_xtts_speaks_its_configured_language_and_is_skipped_for_others(
        tiny_model: Path, tmp_path: Path) -> None:
    config = make_config(tmp_path, tts={"routing": {"announcement": "xtts"}, "backends": {"xtts": {
        "enabled": True, "model_dir": str(tiny_model), "voices_dir": str(tmp_path / "xtts-voices"),
        "voice": SPEAKER, "language": "zh-cn", "cpu_stream_chunk_size": 5, "idle_unload_s": 0}}})
    async with running_engine(config) as engine, aiohttp.ClientSession() as http:
        async def say(text: str) -> tuple[dict[str, str], int]:
            body = {"text": text, "format": "wav", "priority": "announcement"}
            async with http.post(f"{engine.url}/v1/synthesize", json=body) as resp:
                assert resp.status == 200, await resp.text()
                return dict(resp.headers), len(await resp.read()) - 44

        headers, audio = await say("欢迎来到直播间")
        assert (headers["X-TTS-Backend"], headers["X-TTS-Voice"]) == ("xtts", SPEAKER) and audio > 0
        headers, audio = await say("Welcome to the stream, everyone.")
        assert headers["X-TTS-Backend"] == "piper" and audio > 0
        assert json.loads(headers["X-TTS-Skipped"]) == [{"backend": "xtts", "reason": "no voice for en"}]
        async with http.get(f"{engine.url}/v1/voices") as resp:
            voices: list[dict[str, Any]] = (await resp.json())["voices"]
        assert {"name": SPEAKER, "backend": "xtts", "language": "zh-cn"} in [
            {k: v[k] for k in ("name", "backend", "language")} for v in voices]
