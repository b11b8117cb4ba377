"""Coqui XTTS-v2: voice-cloning TTS on torch, on the GPU when there is one.

The model folder (``config.json``, ``model.pth``, ``vocab.json``, optionally
``speakers_xtts.pth``) loads through coqui's own ``Xtts.load_checkpoint`` on the first request
and unloads after ``idle_unload_s`` without one, which frees VRAM and idle power. Voices are
reference clips ``NAME.wav`` in ``voices_dir`` plus the built-in speakers of
``speakers_xtts.pth``; a clip's conditioning latents are computed once and cached in memory and
under ``data_dir/xtts-latents`` (keyed by the clip's hash and the model). Synthesis streams
(``inference_stream``) one sentence at a time on a worker thread; a CUDA out-of-memory error
fails only that request (the router falls back) and the backend frees the CUDA cache.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..audio import to_output_pcm
from ..errors import BackendError, BackendUnavailable, EngineError, UnknownVoice
from . import xtts_model
from .base import Backend, Voice, iterate_in_thread

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class XttsOptions:
    enabled: bool = False
    model_dir: str = "~/.local/share/streamer-tts/xtts_v2"
    """Folder with config.json, model.pth, vocab.json (and speakers_xtts.pth)."""
    voice: str = "default"
    """Default voice: a reference clip name in ``voices_dir`` or a built-in speaker."""
    voices_dir: str = "~/.local/share/streamer-tts/xtts-voices"
    """Reference WAVs for cloning: ``NAME.wav`` is voice NAME."""
    language: str = "en"
    max_requests_per_hour: int = field(default=0, metadata={"min": 0})
    """Rate limit over a sliding hour; 0 means unlimited."""
    download_model: bool = False
    """With no model in ``model_dir``, fetch XTTS-v2 (about 1.8 GB) through coqui's model
    manager. Setting this accepts the Coqui Public Model License (non-commercial use)."""
    idle_unload_s: float = field(default=600.0, metadata={"min": 0})
    """Unload the model after this many seconds without a request (frees VRAM); 0 = never."""
    stream_chunk_size: int = field(default=20, metadata={"min": 0, "max": 1000})
    """On a GPU: audio tokens (about 46 ms of speech each) per streamed chunk. Smaller gives
    earlier first audio, but every chunk decodes the sentence so far again; 0 = one chunk per
    sentence."""
    cpu_stream_chunk_size: int = field(default=0, metadata={"min": 0, "max": 1000})
    """The same on the CPU, where decoding again costs most: 0 (whole sentences, which still
    stream one by one) measured fastest in total (bench/xtts_cpu.py)."""
    temperature: float = field(default=0.75, metadata={"min": 0.01, "max": 2.0})
    """Sampling temperature of the GPT; lower is steadier, higher more varied."""
    speed: float = field(default=1.0, metadata={"min": 0.25, "max": 4.0})
    """Speaking pace: >1 faster."""


class XttsBackend(Backend):
    name = "xtts"
    extra = "xtts"
    requires = ("TTS", "torch", "soundfile")
    uses_gpu = True
    Options = XttsOptions

    def __init__(self, options: XttsOptions, context: Any) -> None:
        super().__init__(options, context)
        self._lock = threading.Lock()
        """Held while loading, synthesizing or unloading the model."""
        self._loaded: xtts_model.LoadedModel | None = None
        self._clock: Callable[[], float] = context.extra.get("xtts_clock", time.monotonic)
        self._before_inference: Callable[[], None] | None = context.extra.get("xtts_before_inference")
        """Test seam: called on the worker thread right before each inference call."""
        self._last_used = self._clock()
        self._latents: dict[str, tuple[Any, Any]] = {}
        self._hashes: dict[Path, tuple[float, int, str]] = {}
        self._identities: dict[str, str] = {}
        """Voice -> the clip or speaker part of its cache identity, from ``resolve_voice``."""
        self._model_id = ""
        """The checkpoint's identity, read once when the model folder is known."""
        self._speaker_names: list[str] = []
        self._model_folder: Path | None = None
        self._download_error: tuple[float, str] | None = None
        self._device_reason = ""
        self._unloader: asyncio.Task[None] | None = None
        self.loads = 0
        self.out_of_memory_events = 0

    # -- files and voices ---------------------------------------------------------------------

    @property
    def model_dir(self) -> Path:
        return Path(os.path.expanduser(self.options.model_dir))

    @property
    def voices_dir(self) -> Path:
        return Path(os.path.expanduser(self.options.voices_dir))

    @property
    def latents_dir(self) -> Path:
        return Path(self.context.data_dir) / "xtts-latents"

    def _clips(self) -> dict[str, Path]:
        if not self.voices_dir.is_dir():
            return {}
        return {p.stem: p for p in sorted(self.voices_dir.glob("*.wav")) if p.is_file()}

    def _voice_names(self) -> list[str]:
        return list(dict.fromkeys([*self._clips(), *self._speaker_names]))

    async def start(self) -> None:
        self.check_installed()
        missing = xtts_model.missing_files(self.model_dir)
        if missing and not self.options.download_model:
            raise BackendUnavailable(
                f"no XTTS model in {self.model_dir} (missing {', '.join(missing)}): put XTTS-v2's "
                "config.json, model.pth, vocab.json and speakers_xtts.pth there, or set "
                "tts.backends.xtts.download_model: true", reason="model missing")
        if not missing:
            self._model_folder = self.model_dir
            self._speaker_names = await asyncio.to_thread(xtts_model.speaker_names, self.model_dir)
            self._model_id = await asyncio.to_thread(xtts_model.model_identity, self.model_dir)
        if self.options.idle_unload_s > 0:
            self._unloader = asyncio.create_task(self._unload_when_idle(), name="xtts-idle-unload")

    async def close(self) -> None:
        if self._unloader is not None:
            self._unloader.cancel()
            await asyncio.gather(self._unloader, return_exceptions=True)
        await asyncio.to_thread(self._unload, "engine closing")
        await super().close()

    def default_voice(self) -> str:
        return self.options.voice

    async def resolve_voice(self, voice: str | None) -> str:
        """The voice to use; its cache identity is worked out here, off the event loop, so
        ``cache_identity`` (called on the loop for every request) touches no file."""
        name = await asyncio.to_thread(self._resolve, voice)
        return name

    def _resolve(self, voice: str | None) -> str:
        names = self._voice_names()
        if voice is None:
            name = self.options.voice if self.options.voice in names or not names else names[0]
        elif voice in names:
            name = voice
        else:
            name = ""
        if name:
            clip = self._clips().get(name)
            self._identities[name] = (f"clip:{self._clip_hash(clip)[:24]}" if clip is not None
                                      else f"speaker:{name}")
            return name
        raise UnknownVoice(f"unknown XTTS voice {voice!r}; put a reference clip {voice}.wav in "
                           f"{self.voices_dir}. Available: {', '.join(names) or 'none'}")

    async def voice_language(self, voice: str) -> str:
        """Every XTTS voice speaks the configured ``language`` (one per engine for now)."""
        return self.options.language

    async def list_voices(self) -> list[Voice]:
        clips = self._clips()
        lang = self.options.language
        return [Voice(n, self.name, lang, f"XTTS clone of {clips[n].name}" if n in clips
                      else "XTTS built-in speaker") for n in self._voice_names()]

    def unavailable_reason(self) -> str | None:
        if self._download_error is not None and self._clock() - self._download_error[0] < 300:
            return self._download_error[1]
        if self._model_folder is not None and not self._voice_names():
            return f"no XTTS voice: add a reference clip NAME.wav to {self.voices_dir}"
        return None

    def _clip_hash(self, path: Path) -> str:
        stat = path.stat()
        known = self._hashes.get(path)
        if known is not None and known[:2] == (stat.st_mtime, stat.st_size):
            return known[2]
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        self._hashes[path] = (stat.st_mtime, stat.st_size, digest)
        return digest

    def cache_identity(self, voice: str) -> str:
        who = self._identities.get(voice) or f"speaker:{voice}"
        model = self._model_id or "download"
        o = self.options
        return (f"{model}|{who}|{o.language}|t={o.temperature}|s={o.speed}|"
                f"c={o.stream_chunk_size},{o.cpu_stream_chunk_size}")

    # -- model life cycle (all on worker threads, under self._lock) ----------------------------

    def _device(self) -> str:
        gpu = self.context.gpu
        if gpu is None:
            self._device_reason = "performance.gpu.enabled is false"
            return "cpu"
        device = gpu.torch_device()
        if device is not None and device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                gpu.fall_back("torch sees no CUDA device (CPU-only torch or a driver problem)")
                device = gpu.torch_device()
        if device is None:
            raise BackendUnavailable(gpu.blocked_reason() or "GPU disabled", reason="gpu unavailable")
        self._device_reason = gpu.reason if device == "cpu" else "GPU in use"
        return device

    def _ensure_loaded(self) -> xtts_model.LoadedModel:
        if self._loaded is not None:
            return self._loaded
        if self._model_folder is None:
            try:
                self._model_folder = xtts_model.download(Path(self.context.data_dir))
                self._model_id = xtts_model.model_identity(self._model_folder)
            except BackendUnavailable as exc:
                self._download_error = (self._clock(), exc.message)
                raise
            self._speaker_names = xtts_model.speaker_names(self._model_folder)
        device = self._device()
        gpu = self.context.gpu
        loaded: xtts_model.LoadedModel | None = None
        try:
            loaded = xtts_model.load(
                self._model_folder, device, language=self.options.language,
                memory_fraction=gpu.config.memory_fraction if gpu is not None else None)
        except EngineError:
            raise
        except Exception as exc:
            if not xtts_model.is_out_of_memory(exc):
                raise BackendUnavailable(f"cannot load the XTTS model from {self._model_folder}: "
                                         f"{exc}", reason="load failed") from exc
        if loaded is None:  # raised outside the handler, so the half-loaded tensors can be freed
            raise self._out_of_memory("loading the model")
        self._loaded = loaded
        self.loads += 1
        return loaded

    def _unload(self, why: str, *, idle_s: float | None = None) -> None:
        with self._lock:
            if self._loaded is None:
                return
            if idle_s is not None and self._clock() - self._last_used < idle_s:
                return  # a request came in meanwhile
            self._loaded = None
            xtts_model.free_cuda()
            _LOGGER.info("Unloaded the XTTS model (%s)", why)

    async def _unload_when_idle(self) -> None:
        idle_s = self.options.idle_unload_s
        while True:
            await asyncio.sleep(min(max(idle_s / 4, 0.05), 30.0))
            if self._loaded is None or self._lock.locked():
                continue
            if self._clock() - self._last_used >= idle_s:
                await asyncio.to_thread(self._unload, f"idle for {idle_s:g} s", idle_s=idle_s)

    def _out_of_memory(self, during: str) -> BackendError:
        self.out_of_memory_events += 1
        if self.context.gpu is not None:
            self.context.gpu.record_out_of_memory()
        xtts_model.free_cuda()
        _LOGGER.warning("CUDA out of memory while %s; the request falls back, cache emptied", during)
        return BackendError(f"GPU out of memory while {during}", reason="gpu out of memory")

    def _conditioning(self, loaded: xtts_model.LoadedModel, voice: str) -> tuple[Any, Any]:
        clip = self._clips().get(voice)
        if clip is None:
            speaker = loaded.builtin_speakers.get(voice)
            if speaker is None:
                raise BackendError(f"XTTS voice {voice!r} is gone", reason="no voice")
            return speaker["gpt_cond_latent"], speaker["speaker_embedding"]
        key = xtts_model.conditioning_key(loaded, self._clip_hash(clip))
        if key in self._latents:
            return self._latents[key]
        path = self.latents_dir / f"{key}.pt"
        latents = xtts_model.load_latents(path)
        if latents is None:
            started = time.monotonic()
            latents = xtts_model.compute_latents(loaded, clip)
            xtts_model.save_latents(path, latents)
            _LOGGER.info("Computed XTTS latents for voice %s in %.1f s", voice, time.monotonic() - started)
        self._latents[key] = latents
        return latents

    # -- synthesis ----------------------------------------------------------------------------

    def _synthesize(self, text: str, voice: str, rate: float = 1.0) -> Iterator[bytes]:
        """Runs on the worker thread with ``self._lock`` held."""
        o = self.options
        out_of_memory = False
        try:
            loaded = self._ensure_loaded()
            latent, embedding = self._conditioning(loaded, voice)
            limit = loaded.model.tokenizer.char_limits.get(o.language.split("-")[0], 250)
            chunk = o.stream_chunk_size if loaded.device.startswith("cuda") else o.cpu_stream_chunk_size
            for sentence in xtts_model.split_text(text, limit):
                if self._before_inference is not None:
                    self._before_inference()
                for wav in loaded.model.inference_stream(
                        sentence, o.language, latent, embedding, stream_chunk_size=chunk,
                        temperature=o.temperature, speed=o.speed * rate):
                    yield to_output_pcm(wav.float().cpu().numpy(), xtts_model.OUTPUT_SAMPLE_RATE)
        except Exception as exc:
            if not xtts_model.is_out_of_memory(exc):
                raise
            out_of_memory = True
        finally:
            self._last_used = self._clock()
        if out_of_memory:  # outside the handler: the failed step's tensors are released first
            raise self._out_of_memory("synthesizing")

    async def stream(self, text: str, voice: str, *, rate: float = 1.0) -> AsyncIterator[bytes]:
        reason = self.unavailable_reason()
        if reason is not None:
            raise BackendUnavailable(reason, reason="unavailable")
        self._last_used = self._clock()
        async for pcm in iterate_in_thread(lambda: self._synthesize(text, voice, rate), self._lock,
                                           workers=self.workers):
            yield pcm
        self._last_used = self._clock()

    def status(self) -> dict[str, Any]:
        loaded = self._loaded
        return {"loaded": loaded is not None, "device": loaded.device if loaded else None,
                "device_reason": self._device_reason or None,
                "model_dir": str(self._model_folder or self.model_dir),
                "load_seconds": round(loaded.load_seconds, 2) if loaded else None, "loads": self.loads,
                "idle_s": round(self._clock() - self._last_used, 1),
                "idle_unload_s": self.options.idle_unload_s, "voices_with_latents": len(self._latents),
                "out_of_memory_events": self.out_of_memory_events}

