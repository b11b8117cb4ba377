"""XTTS-v2 model files, loading, device placement and voice conditioning (coqui-tts on torch).

Kept apart from the backend (``xtts.py``) so that the backend module imports no heavy package:
everything here imports torch and TTS inside the functions that need them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BackendError, BackendUnavailable

_LOGGER = logging.getLogger(__name__)

REQUIRED_FILES = ("config.json", "model.pth", "vocab.json")
SPEAKERS_FILE = "speakers_xtts.pth"
COQUI_MODEL_NAME = "tts_models/multilingual/multi-dataset/xtts_v2"
"""The name coqui's model manager knows XTTS-v2 by."""
OUTPUT_SAMPLE_RATE = 24_000
"""XTTS-v2's output rate in Hertz (``config.audio.output_sample_rate``)."""


def missing_files(folder: Path) -> list[str]:
    return [name for name in REQUIRED_FILES if not (folder / name).is_file()]


def file_identity(path: Path) -> str:
    """Name, size and a hash of the first MiB: cheap, and it changes with the file."""
    stat = path.stat()
    with path.open("rb") as f:
        head = hashlib.sha256(f.read(2**20)).hexdigest()[:16]
    return f"{path.name}:{stat.st_size}:{head}"


def model_identity(folder: Path) -> str:
    """One string naming the checkpoint and config; part of cache keys and latent file names."""
    return "|".join(file_identity(folder / name) for name in ("model.pth", "config.json"))


def download(data_dir: Path) -> Path:
    """Fetch XTTS-v2 with coqui's own model manager; returns the model folder.

    Fails fast offline (``BackendUnavailable``). The caller has the user's consent to the
    Coqui Public Model License (option ``download_model``)."""
    os.environ["COQUI_TOS_AGREED"] = "1"  # the manager would otherwise ask on stdin
    from TTS.utils.manage import ModelManager

    started = time.monotonic()
    try:
        manager = ModelManager(output_prefix=data_dir / "coqui", progress_bar=False)
        model_path, _config, _item = manager.download_model(COQUI_MODEL_NAME)
    except Exception as exc:
        raise BackendUnavailable(
            f"cannot fetch XTTS-v2 through coqui's model manager ({type(exc).__name__}: {exc}); "
            "check the internet connection or put the model files in tts.backends.xtts.model_dir",
            reason="model download failed") from exc
    folder = Path(model_path)
    folder = folder if folder.is_dir() else folder.parent
    _LOGGER.info("XTTS-v2 is in %s (fetched or found in %.1f s)", folder, time.monotonic() - started)
    return folder


@dataclass
class LoadedModel:
    model: Any
    """``TTS.tts.models.xtts.Xtts`` in eval mode, on ``device``."""
    device: str
    identity: str
    load_seconds: float

    @property
    def builtin_speakers(self) -> dict[str, Any]:
        manager = getattr(self.model, "speaker_manager", None)
        return dict(manager.speakers) if manager is not None else {}


def load(folder: Path, device: str, *, memory_fraction: float | None, language: str) -> LoadedModel:
    """Load a model folder through coqui's own ``Xtts.load_checkpoint`` onto ``device``.

    On a CUDA device the process is first held to ``memory_fraction`` of the GPU's memory."""
    import torch
    from TTS.tts.configs.xtts_config import XttsConfig
    from TTS.tts.models.xtts import Xtts

    started = time.monotonic()
    if device.startswith("cuda") and memory_fraction is not None:
        torch.cuda.set_per_process_memory_fraction(memory_fraction, device=torch.device(device))
    config = XttsConfig()
    config.load_json(str(folder / "config.json"))
    if language not in config.languages:
        raise BackendUnavailable(f"XTTS model in {folder} does not speak {language!r}; it speaks "
                                 f"{', '.join(config.languages)}", reason="unsupported language")
    speakers = folder / SPEAKERS_FILE
    model = Xtts(config)
    model.load_checkpoint(config, checkpoint_dir=str(folder), eval=True,
                          speaker_file_path=str(speakers) if speakers.is_file() else None)
    model.to(torch.device(device))
    seconds = time.monotonic() - started
    _LOGGER.info("Loaded XTTS from %s on %s in %.1f s", folder, device, seconds)
    return LoadedModel(model, device, model_identity(folder), seconds)


def read_reference(path: Path, *, max_seconds: float) -> tuple[Any, int]:
    """A reference WAV as a mono float tensor ``[1, samples]`` and its rate in Hertz.

    Read with soundfile, so cloning needs no FFmpeg (torchaudio 2.9 would go through torchcodec)."""
    import numpy as np
    import soundfile
    import torch

    try:
        audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:
        raise BackendError(f"cannot read reference audio {path}: {exc}",
                           reason="bad reference audio") from exc
    mono = np.clip(audio.mean(axis=1)[: int(rate * max_seconds)], -1.0, 1.0)
    return torch.from_numpy(np.ascontiguousarray(mono)).unsqueeze(0), int(rate)


def compute_latents(loaded: LoadedModel, wav: Path) -> tuple[Any, Any]:
    """GPT conditioning latents and speaker embedding for a reference clip, on the CPU."""
    import torch
    import torchaudio

    model = loaded.model
    cfg = model.config
    audio, rate = read_reference(wav, max_seconds=float(cfg.max_ref_len))
    if rate != 22_050:
        audio = torchaudio.functional.resample(audio, rate, 22_050)
    if cfg.sound_norm_refs:
        audio = audio / max(float(torch.abs(audio).max()), 1e-6) * 0.75
    audio = audio.to(loaded.device)
    try:
        latent = model.get_gpt_cond_latents(audio, 22_050, length=cfg.gpt_cond_len,
                                            chunk_length=cfg.gpt_cond_chunk_len)
        embedding = model.get_speaker_embedding(audio, 22_050)
    except RuntimeError as exc:
        if isinstance(exc, torch.cuda.OutOfMemoryError):
            raise
        raise BackendError(f"cannot clone the voice from {wav}: {exc}", reason="bad reference audio") from exc
    return latent.cpu(), embedding.cpu()


def conditioning_key(loaded: LoadedModel, wav_hash: str) -> str:
    """File name of a voice's cached latents: the clip's hash, the model and the settings."""
    cfg = loaded.model.config
    settings = f"{loaded.identity}|{cfg.gpt_cond_len}|{cfg.gpt_cond_chunk_len}|{cfg.max_ref_len}|" \
               f"{cfg.sound_norm_refs}"
    return f"{wav_hash[:24]}-{hashlib.sha256(settings.encode()).hexdigest()[:16]}"


def save_latents(path: Path, latents: tuple[Any, Any]) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save({"gpt_cond_latent": latents[0], "speaker_embedding": latents[1]}, tmp)
    os.replace(tmp, path)


def load_latents(path: Path) -> tuple[Any, Any] | None:
    """Cached latents, or ``None`` if absent or unreadable (then they are computed again)."""
    import torch

    if not path.is_file():
        return None
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
        return data["gpt_cond_latent"], data["speaker_embedding"]
    except Exception as exc:
        _LOGGER.warning("Ignoring unreadable cached XTTS latents %s: %s", path, exc)
        return None


_SENTENCE_END = re.compile(r"(?<=[.!?…。！？;])\s+")


def split_text(text: str, limit: int) -> list[str]:
    """Sentences of at most ``limit`` characters (XTTS's per-language limit), in order.

    Each is synthesized on its own, so the first sentence's audio leaves before the rest exist."""
    out: list[str] = []
    for sentence in _SENTENCE_END.split(text.strip()):
        sentence = sentence.strip()
        if len(sentence) <= limit:
            out += [sentence] if sentence else []
        else:
            out += textwrap.wrap(sentence, width=limit, break_on_hyphens=False)
    return out


def speaker_names(folder: Path) -> list[str]:
    """Built-in speakers of ``speakers_xtts.pth`` (empty when the file is absent)."""
    path = folder / SPEAKERS_FILE
    if not path.is_file():
        return []
    import torch

    try:
        return sorted(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as exc:
        _LOGGER.warning("Cannot read XTTS speakers from %s: %s", path, exc)
        return []


def is_out_of_memory(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError)


def free_cuda() -> None:
    import gc

    gc.collect()
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
