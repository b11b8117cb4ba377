"""Languages end to end: detection and runs, the voice per language on each backend, fallback
that keeps the language, refusals that name the fix, and mixed-language lines as one clip.

Chinese goes through Piper's real loading (``PiperVoice.load``) and espeak-ng's ``cmn``
phonemizer, offline, with the tiny generated voice of tests/piper_tiny.py; Edge is the real
edge-tts code against tests/edge_fake.py.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from engine import cli
from engine import config as config_mod
from engine.errors import ConfigError
from engine.pipeline.language import LanguageDetector, Run, base_language
from tests.conftest import RunningEngine, make_config
from tests.edge_fake import FakeEdge, piper_speech_mp3, point_edge_tts_at
from tests.piper_tiny import make_voice

ZH_VOICE = "zh_CN-tiny-medium"
WS_EXAMPLE = {"type": "tts", "text": "观众弹幕内容", "voice": "zh-CN-XiaoxiaoNeural"}
"""The user guide's /ws example."""
LABELLED = [
    ("en", "hello everyone"), ("en", "gg wp"), ("en", "lol that was close"), ("en", "Probe."),
    ("zh", "你好"), ("zh", "主播好厉害"), ("zh", "观众弹幕内容"), ("zh", "这个游戏叫什么名字？"),
    ("ja", "こんにちは"), ("ja", "今日は何のゲーム？"), ("ja", "かわいい"),
    ("ko", "안녕하세요"), ("ko", "ㅋㅋㅋㅋ"), ("ko", "이 게임 재밌어요"),
    ("ru", "привет всем"), ("ru", "да"), ("ru", "спасибо за стрим"),
    ("ar", "مرحبا"), ("ar", "كيف حالك؟"),
    ("es", "hola a todos"), ("es", "qué juego es este?"), ("es", "gracias por el stream"),
    ("de", "wie heißt das spiel?"), ("de", "sehr gut gespielt"),
    ("fr", "bonjour tout le monde"), ("fr", "c'est quoi ce jeu ?"), ("fr", "merci beaucoup"),
]


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    found = LanguageDetector.shared(config_mod.DEFAULT_LANGUAGES, default="en")
    found.load()
    return found


def test_short_chat_lines_get_their_language(detector: LanguageDetector) -> None:
    wrong = [(text, lang, detector.detect(text)) for lang, text in LABELLED
             if detector.detect(text) != lang]
    assert wrong == []


def test_mixed_lines_split_into_runs_with_punctuation_and_digits_kept_in_place(
        detector: LanguageDetector) -> None:
    assert detector.runs("mixed 中文 and English 一起") == [
        Run("mixed", "en"), Run("中文", "zh"), Run("and English", "en"), Run("一起", "zh")]
    assert detector.runs("谢谢 boss!!! 666") == [Run("谢谢", "zh"), Run("boss!!! 666", "en")]
    assert detector.runs("今日は何のゲーム？") == [Run("今日は何のゲーム？", "ja")]  # kanji + kana
    assert detector.runs("I love 中国 x") == [Run("I love", "en"), Run("中国 x", "zh")]  # "x" is tiny
    assert detector.runs("Γειά σου नमस्ते") == [Run("Γειά σου", "el"), Run("नमस्ते", "hi")]
    assert detector.runs("ᚠᚢᚦ runes") == [Run("ᚠᚢᚦ", "und"), Run("runes", "en")]  # never letter names
    assert detector.runs("?!") == [Run("?!", "en")]
    assert detector.runs("   ") == []


@pytest.mark.parametrize(("tag", "language"), [
    ("zh_CN", "zh"), ("zh-CN-XiaoxiaoNeural", "zh"), ("zh-cn", "zh"), ("cmn", "zh"),
    ("en_US-joe-medium", "en"), ("ja-JP-NanamiNeural", "ja"), ("default", ""), ("Ana Florence", "")])
def test_language_tags(tag: str, language: str) -> None:
    assert base_language(tag) == language


def test_config_languages_merge_with_the_defaults_and_bad_entries_name_the_key() -> None:
    cfg = config_mod.parse({"tts": {"languages": {"zh": {"piper": "zh_CN-mine-low"}, "ja": None,
                                                  "it": {"edge": "it-IT-ElsaNeural"}}}})
    assert cfg.tts.languages["zh"] == {"piper": "zh_CN-mine-low", "edge": "zh-CN-XiaoxiaoNeural"}
    assert "ja" not in cfg.tts.languages and cfg.tts.languages["it"] == {"edge": "it-IT-ElsaNeural"}
    assert cfg.tts.missing_language_voice == "skip"
    for bad, key in [({"languages": {"Chinese": {}}}, "tts.languages.Chinese"),
                     ({"languages": {"zh": {"espeak": "x"}}}, "tts.languages.zh.espeak"),
                     ({"missing_language_voice": "guess"}, "tts.missing_language_voice")]:
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            config_mod.parse({"tts": bad})


# -- through a real engine --------------------------------------------------------------------


@pytest.fixture
async def fake_edge() -> AsyncIterator[FakeEdge]:
    server = await FakeEdge(piper_speech_mp3()[0]).start()
    with point_edge_tts_at(server.ws_url, server.voices_url):
        yield server
    await server.stop()


async def start(start_engine: Any, tmp_path: Path, *, zh_voice: bool = True, edge: bool = False,
                **tts: Any) -> RunningEngine:
    if zh_voice:
        make_voice(tmp_path / "voices", ZH_VOICE)
    overrides: dict[str, Any] = {"performance": {"cache": {"enabled": True}}, "tts": dict(tts)}
    if edge:
        overrides["tts"].update(routing={"chat": "edge"}, backends={"edge": {
            "enabled": True, "connect_timeout_s": 1.0, "receive_timeout_s": 2.0}})
    return await start_engine(make_config(tmp_path, **overrides))  # type: ignore[no-any-return]


async def synthesize(engine: RunningEngine, text: str, **extra: Any) -> tuple[int, dict[str, Any]]:
    """POST /v1/synthesize as WAV; (status, the job's metadata or the error)."""
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{engine.url}/v1/synthesize",
                             json={"text": text, "format": "wav", **extra}) as resp:
            body = await resp.read()
            if resp.status != 200:
                return resp.status, json.loads(body)["error"]
            job_id = resp.headers["X-TTS-Request-Id"]
        async with http.get(f"{engine.url}/v1/jobs/{job_id}") as resp:
            meta = await resp.json()
    meta["audio_bytes"] = len(body) - 44
    return 200, meta


async def ws_say(engine: RunningEngine, message: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """One /ws request: the JSON messages and the bytes of audio received."""
    frames: list[dict[str, Any]] = []
    audio = 0
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{engine.url}/ws") as ws:
        await ws.send_json(message)
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.BINARY:
                audio += len(msg.data)
                continue
            frames.append(json.loads(msg.data))
            if frames[-1]["type"] in ("end", "error"):
                break
    return frames, audio


async def test_a_chinese_line_is_spoken_by_the_chinese_piper_voice(start_engine: Any, tmp_path: Path) -> None:
    engine = await start(start_engine, tmp_path)
    status, meta = await synthesize(engine, "你好，世界！今天天气很好。")
    assert status == 200, meta
    assert (meta["backend"], meta["voice"], meta["language"]) == ("piper", ZH_VOICE, "zh")
    assert meta["audio_bytes"] > 48_000 * 2 // 2  # over half a second at 48 kHz s16le
    status, meta = await synthesize(engine, "Hello there, this is fine.")
    assert (meta["voice"], meta["language"]) == ("en_US-joe-medium", "en")
    async with aiohttp.ClientSession() as http, http.get(f"{engine.url}/v1/voices") as resp:
        voices = {v["name"]: v["language"] for v in (await resp.json())["voices"]}
    assert voices == {"en_US-joe-medium": "en_US", ZH_VOICE: "zh_CN"}


async def test_the_ws_example_speaks_chinese_with_a_chinese_voice(start_engine: Any, tmp_path: Path) -> None:
    engine = await start(start_engine, tmp_path)  # Edge off: its voice name picks the language
    frames, audio = await ws_say(engine, WS_EXAMPLE)
    assert [f["type"] for f in frames] == ["start", "end"], frames
    assert (frames[0]["backend"], frames[0]["voice"], frames[0]["language"]) == ("piper", ZH_VOICE, "zh")
    assert audio > 0 and frames[-1]["duration_ms"] > 500


async def test_the_ws_example_without_a_chinese_voice_is_refused_with_the_fix(
        start_engine: Any, tmp_path: Path) -> None:
    engine = await start(start_engine, tmp_path, zh_voice=False)
    frames, audio = await ws_say(engine, WS_EXAMPLE)
    assert audio == 0 and frames[-1]["code"] == "no_voice_for_language", frames
    assert "no voice for zh" in frames[-1]["message"]
    assert "python -m engine download-voice zh_CN-huayan-medium" in frames[-1]["message"]
    status, error = await synthesize(engine, "观众弹幕内容")
    assert status == 422 and error["code"] == "no_voice_for_language"
    status, meta = await synthesize(engine, "English still works.")  # not a backend fault
    assert status == 200 and meta["backend"] == "piper"


async def test_japanese_with_no_japanese_voice_is_refused_with_the_reason(
        start_engine: Any, tmp_path: Path) -> None:
    engine = await start(start_engine, tmp_path)
    status, error = await synthesize(engine, "今日は何のゲーム？")
    assert status == 422 and error["code"] == "no_voice_for_language"
    assert "no voice for ja (piper: no voice for ja)" in error["message"]
    assert "ja-JP-NanamiNeural" in error["message"]  # the configured Edge voice is the fix


async def test_missing_language_voice_default_reads_it_with_the_default_voice(
        start_engine: Any, tmp_path: Path) -> None:
    engine = await start(start_engine, tmp_path, zh_voice=False, missing_language_voice="default")
    status, meta = await synthesize(engine, "观众弹幕内容")
    assert status == 200 and meta["voice"] == "en_US-joe-medium"
    assert {"backend": "piper", "reason": "no voice for zh"} in meta["skipped"]


async def test_a_mixed_line_is_one_clip_of_runs_from_two_voices(start_engine: Any, tmp_path: Path) -> None:
    engine = await start(start_engine, tmp_path)
    status, meta = await synthesize(engine, "mixed 中文 and English 一起")
    assert status == 200, meta
    runs = meta["runs"]
    assert [(r["text"], r["language"], r["voice"]) for r in runs] == [
        ("mixed", "en", "en_US-joe-medium"), ("中文", "zh", ZH_VOICE),
        ("and English", "en", "en_US-joe-medium"), ("一起", "zh", ZH_VOICE)]
    pauses_ms = 120 * (len(runs) - 1)
    assert all(0 < r["duration_ms"] < meta["duration_ms"] for r in runs)
    assert abs(meta["duration_ms"] - sum(r["duration_ms"] for r in runs) - pauses_ms) <= len(runs)
    assert abs(meta["audio_bytes"] / 96 - meta["duration_ms"]) < 1  # 96 bytes per ms at 48 kHz
    again = (await synthesize(engine, "mixed 中文 and English 一起"))[1]
    assert again["cached"] is True and again["audio_bytes"] == meta["audio_bytes"]


async def test_a_mixed_line_speaks_the_runs_it_has_voices_for(start_engine: Any, tmp_path: Path) -> None:
    engine = await start(start_engine, tmp_path)
    status, meta = await synthesize(engine, "Hello 안녕하세요 friends")
    assert status == 200, meta
    assert [(r["language"], r["voice"]) for r in meta["runs"]] == [
        ("en", "en_US-joe-medium"), ("ko", None), ("en", "en_US-joe-medium")]
    assert "no voice for ko" in meta["runs"][1]["error"] and meta["runs"][1]["duration_ms"] == 0
    status, error = await synthesize(engine, "안녕하세요 今日は")  # no run can be spoken
    assert status == 422 and error["code"] == "no_voice_for_language"


async def test_fallback_keeps_the_language(fake_edge: FakeEdge, start_engine: Any, tmp_path: Path) -> None:
    engine = await start(start_engine, tmp_path, edge=True)
    status, meta = await synthesize(engine, "观众弹幕内容")  # Edge up: its Chinese voice
    assert (meta["backend"], meta["voice"]) == ("edge", "zh-CN-XiaoxiaoNeural"), meta
    assert "(zh-CN, XiaoxiaoNeural)" in fake_edge.received[-1].ssml
    fake_edge.behaviour = "http403"
    status, meta = await synthesize(engine, "谢谢老板的礼物")  # Edge down: Piper's Chinese voice
    assert status == 200 and (meta["backend"], meta["voice"]) == ("piper", ZH_VOICE), meta
    assert meta["skipped"] == [{"backend": "edge", "reason": "failed: http 403"}]
    frames, _ = await ws_say(engine, {**WS_EXAMPLE, "text": "欢迎来到直播间"})  # named Edge voice
    assert (frames[0]["backend"], frames[0]["voice"]) == ("piper", ZH_VOICE), frames


async def test_edge_down_and_no_offline_chinese_voice_names_the_fix(
        fake_edge: FakeEdge, start_engine: Any, tmp_path: Path) -> None:
    fake_edge.behaviour = "http403"
    engine = await start(start_engine, tmp_path, zh_voice=False, edge=True)
    status, error = await synthesize(engine, "观众弹幕内容")
    assert status == 503 and "piper: no voice for zh" in error["message"], error
    assert "download-voice zh_CN-huayan-medium" in error["message"]
    status, meta = await synthesize(engine, "But English falls back to Piper.")
    assert status == 200 and meta["backend"] == "piper"


@pytest.fixture
def catalogue(tmp_path: Path) -> Iterator[str]:
    """A Piper voice catalogue on loopback offering the tiny voice as zh_CN-huayan-medium."""
    name, rel = "zh_CN-huayan-medium", "zh/zh_CN/huayan/medium/zh_CN-huayan-medium.onnx"
    model = make_voice(tmp_path / "catalogue", name)
    files = {rel: model.read_bytes(), rel + ".json": Path(f"{model}.json").read_bytes()}
    entry = {"key": name, "name": "huayan", "quality": "medium", "num_speakers": 1,
             "language": {"code": "zh_CN", "family": "zh", "region": "CN"}, "aliases": [],
             "files": {p: {"size_bytes": len(b), "md5_digest": hashlib.md5(b).hexdigest()}
                       for p, b in files.items()}}
    files["voices.json"] = json.dumps({name: entry}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = files.get(self.path.split("?", 1)[0].removeprefix("/v/"))
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v"
    httpd.shutdown()
    httpd.server_close()
    thread.join(10)


async def test_download_voice_makes_chinese_speak_with_no_config_change(
        catalogue: str, start_engine: Any, tmp_path: Path) -> None:
    """The README's fix: `python -m engine download-voice zh_CN-huayan-medium` (the real
    download code; install.py --voice runs the same command), then Chinese is spoken."""
    voices = tmp_path / "voices"
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump({"tts": {"backends": {"piper": {
        "voices_dir": str(voices), "catalogue_url": catalogue}}}}))
    assert cli.main(["--config", str(config_file), "download-voice", "zh_CN-huayan-medium"]) == 0
    engine = await start(start_engine, tmp_path, zh_voice=False)
    status, meta = await synthesize(engine, "观众弹幕内容")
    assert status == 200 and (meta["voice"], meta["language"]) == ("zh_CN-huayan-medium", "zh"), meta
