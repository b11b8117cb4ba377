"""Edge TTS: Microsoft's free online voices through edge-tts. (Work in progress: options only.)"""

from __future__ import annotations

from dataclasses import dataclass, field

from .base import Backend


@dataclass(frozen=True)
class EdgeOptions:
    enabled: bool = False
    voice: str = "en-US-AriaNeural"
    rate: str = "+0%"
    """Speaking rate change, e.g. ``+10%``."""
    pitch: str = "+0Hz"
    volume: str = "+0%"
    connect_timeout_s: float = field(default=3.0, metadata={"min": 0.1, "max": 60})
    receive_timeout_s: float = field(default=10.0, metadata={"min": 0.5, "max": 300})


class EdgeBackend(Backend):  # completed by the Edge backend work
    name = "edge"
    extra = "edge"
    requires = ("edge_tts",)
    Options = EdgeOptions
