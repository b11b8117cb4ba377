"""``speakerbot`` in config.yaml: the Speaker.bot-compatible API (``engine.http.speakerbot``).

Kept apart from the server so ``engine.config`` can hold it without importing the HTTP layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SpeakerbotOptions:
    """``speakerbot`` in config.yaml."""

    enabled: bool = False
    port: int = field(default=7580, metadata={"min": 0, "max": 65535})
    """WebSocket port on 127.0.0.1 (Speaker.bot's default is 7580; 0: any free port)."""
    path: str = "/"
    """WebSocket endpoint path (Speaker.bot's default ``/``)."""
    udp: bool = True
    """Also take Speaker.bot's UDP commands."""
    udp_port: int = field(default=6669, metadata={"min": 0, "max": 65535})
    """UDP port on 127.0.0.1 (Speaker.bot's is 6669; 0: any free port)."""
    voice_aliases: dict[str, str] = field(default_factory=dict)
    """Speaker.bot voice alias -> our voice (``EventVoice: en_US-joe-medium``)."""
