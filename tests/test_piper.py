"""The Piper backend with the real bundled voice: voices by name, by path, from a folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.backends import BackendContext
from engine.backends.piper import DEFAULT_VOICE, PiperBackend, PiperOptions, bundled_voices
from engine.errors import UnknownVoice


def backend(tmp_path: Path, **options: object) -> PiperBackend:
    opts = PiperOptions(voices_dir=str(tmp_path / "voices"), **options)  # type: ignore[arg-type]
    return PiperBackend(opts, BackendContext(data_dir=tmp_path))


def copy_bundled_voice(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model = bundled_voices()[DEFAULT_VOICE]
    shutil.copy(model, folder / f"{name}.onnx")
    shutil.copy(f"{model}.json", folder / f"{name}.onnx.json")
    return folder / f"{name}.onnx"


async def collect(b: PiperBackend, text: str, voice: str) -> list[bytes]:
    return [chunk async for chunk in b.stream(text, voice)]


async def test_bundled_voice_speaks_one_chunk_per_sentence(tmp_path: Path) -> None:
    b = backend(tmp_path)
    await b.start()
    chunks = await collect(b, "First sentence. Second sentence! Third one?", DEFAULT_VOICE)
    assert len(chunks) == 3 and all(len(c) > 9600 and len(c) % 2 == 0 for c in chunks)
    assert (await b.list_voices())[0].name == DEFAULT_VOICE


async def test_voice_by_name_from_the_voices_folder_and_by_path(tmp_path: Path) -> None:
    copy_bundled_voice(tmp_path / "voices", "en_US-copy-medium")
    path = copy_bundled_voice(tmp_path / "elsewhere", "my-voice")
    b = backend(tmp_path)
    await b.start()
    assert {v.name for v in await b.list_voices()} == {DEFAULT_VOICE, "en_US-copy-medium"}
    assert await b.resolve_voice("en_US-copy-medium") == "en_US-copy-medium"
    assert await b.resolve_voice(str(path)) == str(path)
    for voice in ("en_US-copy-medium", str(path)):
        assert len(b"".join(await collect(b, "Hello.", voice))) > 9600
    # a copy of the same model has the same identity: same audio, same cache entry family
    assert b.cache_identity("en_US-copy-medium") == b.cache_identity(DEFAULT_VOICE)


async def test_half_written_voice_is_ignored_and_unknown_voices_say_how_to_fetch(tmp_path: Path) -> None:
    voices = tmp_path / "voices"
    voices.mkdir()
    (voices / "en_US-partial-low.onnx").write_bytes(b"half a download")  # no .onnx.json beside it
    b = backend(tmp_path)
    with pytest.raises(UnknownVoice, match="download-voice en_US-partial-low"):
        await b.resolve_voice("en_US-partial-low")
    with pytest.raises(UnknownVoice, match="does not exist"):
        await b.resolve_voice(str(tmp_path / "nope.onnx"))


async def test_a_missing_default_voice_fails_start_with_a_clear_error(tmp_path: Path) -> None:
    b = backend(tmp_path, voice="en_GB-nobody-high")
    with pytest.raises(UnknownVoice, match="unknown Piper voice 'en_GB-nobody-high'"):
        await b.start()


async def test_synthesis_settings_change_the_cache_identity(tmp_path: Path) -> None:
    slow = backend(tmp_path, length_scale=1.5)
    assert slow.cache_identity(DEFAULT_VOICE) != backend(tmp_path).cache_identity(DEFAULT_VOICE)


async def test_parts_started_together_are_synthesized_in_the_order_they_were_started(tmp_path: Path) -> None:
    import asyncio

    b = backend(tmp_path)
    await b.start()
    order: list[int] = []

    async def run(n: int) -> None:
        async for _ in b.stream(f"Part number {n} of a long message, one sentence.", DEFAULT_VOICE):
            order.append(n)

    for _ in range(3):
        order.clear()
        await asyncio.gather(*(run(n) for n in range(4)))
        assert order == [0, 1, 2, 3]
