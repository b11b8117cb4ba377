"""Coqui XTTS-v2: voice-cloning TTS on torch, GPU first. (Work in progress: options only.)"""

from __future__ import annotations

from dataclasses import dataclass, field

from .base import Backend


@dataclass(frozen=True)
class XttsOptions:
    enabled: bool = False
    model_dir: str = "~/.local/share/streamer-tts/xtts_v2"
    """Folder with config.json, model.pth, vocab.json (and speakers_xtts.pth)."""
    voice: str = "default"
    voices_dir: str = "~/.local/share/streamer-tts/xtts-voices"
    """Reference WAVs for cloning: ``NAME.wav`` is voice NAME."""
    language: str = "en"
    max_requests_per_hour: int = field(default=0, metadata={"min": 0})
    """Rate limit; 0 means unlimited."""


class XttsBackend(Backend):  # completed by the XTTS backend work
    name = "xtts"
    extra = "xtts"
    requires = ("TTS", "torch")
    Options = XttsOptions
