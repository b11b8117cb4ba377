"""Edge TTS: Microsoft's free online voices through edge-tts.

The service answers with MP3 (24 kHz, 48 kbps), decoded here to output PCM as it arrives and
handed on in pieces of about ``chunk_ms``. Chat text is XML-escaped by edge-tts before it goes
into the SSML (checked by tests/test_edge.py); voice, rate, pitch and volume are validated
here, so no request can inject markup. Every failure is a ``BackendError`` with one of
``edge_stream.REASONS``, within ``connect_timeout_s`` before any audio has arrived; the router's
breaker then skips Edge for a cool-down (at once for the ``UNREACHABLE`` reasons).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..audio import BYTES_PER_SECOND
from ..errors import BackendError, ConfigError, UnknownVoice
from .base import Backend, BackendContext, Voice
from .edge_stream import (UNREACHABLE, Progress, WatchedConnector, bounded, classify,
                          edge_timeout)
from .edge_voices import VOICE_NAME, VoiceCatalogue

_LOGGER = logging.getLogger(__name__)
_PROSODY = {"rate": re.compile(r"[+-]\d{1,3}%"), "volume": re.compile(r"[+-]\d{1,3}%"),
            "pitch": re.compile(r"[+-]\d{1,4}Hz")}
_EXAMPLES = {"rate": "+10% or -20%", "volume": "+0% or -50%", "pitch": "+0Hz or -20Hz"}


@dataclass(frozen=True)
class EdgeOptions:
    enabled: bool = False
    voice: str = "en-US-AriaNeural"
    """Default voice, an Edge short name (``python -m engine voices`` lists them)."""
    rate: str = "+0%"
    """Speaking rate change, e.g. ``+10%`` (faster) or ``-20%``."""
    pitch: str = "+0Hz"
    """Pitch change in Hertz, e.g. ``-5Hz``."""
    volume: str = "+0%"
    """Volume change, e.g. ``-10%``."""
    connect_timeout_s: float = field(default=3.0, metadata={"min": 0.1, "max": 60})
    """Longest wait, in seconds, for the service to answer and send its first audio; a failed
    request falls back to the next backend after at most this long."""
    receive_timeout_s: float = field(default=10.0, metadata={"min": 0.5, "max": 300})
    """Longest silence mid-stream, in seconds."""
    chunk_ms: int = field(default=200, metadata={"min": 20, "max": 5000})
    """Decoded audio is handed on in pieces of about this many milliseconds."""
    voices_ttl_s: float = field(default=86_400, metadata={"min": 0})
    """The voice list is fetched again after this many seconds (kept on disk meanwhile)."""
    breaker_failures: int = field(default=3, metadata={"min": 1, "max": 100})
    """Failures in a row that make the engine skip Edge for a cool-down. An unreachable
    service (dns, connect refused/failed/timeout, http 403, http 429) does so at once."""
    breaker_cooldown_s: float = field(default=30.0, metadata={"min": 0.1, "max": 86_400})
    """Seconds Edge is skipped before one probe request tries it again."""
    breaker_max_cooldown_s: float = field(default=300.0, metadata={"min": 0.1, "max": 86_400})
    """Each failed probe doubles the cool-down, up to this many seconds."""

    def __post_init__(self) -> None:
        for name, pattern in _PROSODY.items():
            value = getattr(self, name)
            if not isinstance(value, str) or not pattern.fullmatch(value):
                raise ConfigError(f"tts.backends.edge.{name}: {value!r} is not valid; expected "
                                  f"a signed change such as {_EXAMPLES[name]}")
        if not VOICE_NAME.fullmatch(self.voice):
            raise ConfigError(f"tts.backends.edge.voice: {self.voice!r} is not an Edge voice "
                              "name; expected one like en-US-AriaNeural or zh-CN-XiaoxiaoNeural")


class EdgeBackend(Backend):
    name = "edge"
    extra = "edge"
    requires = ("edge_tts", "av")
    Options = EdgeOptions
    breaker_trip_reasons: ClassVar[frozenset[str]] = UNREACHABLE
    """Failure reasons that open the breaker on the first occurrence (read by the router)."""

    def __init__(self, options: EdgeOptions, context: BackendContext) -> None:
        super().__init__(options, context)
        self.catalogue = VoiceCatalogue(
            context.data_dir / "edge" / "voices.json", ttl_s=options.voices_ttl_s,
            fetch_timeout_s=options.connect_timeout_s + options.receive_timeout_s)
        self.last_error = ""

    async def start(self) -> None:
        self.check_installed()
        self.catalogue.load_disk()  # no network at start: the list is fetched when asked for

    def default_voice(self) -> str:
        return self.options.voice

    async def resolve_voice(self, voice: str | None) -> str:
        if voice is None:
            return self.options.voice
        if not VOICE_NAME.fullmatch(voice):
            raise UnknownVoice(f"{voice[:80]!r} is not an Edge voice name "
                               "(like en-US-AriaNeural)")
        known = self.catalogue.known_names()
        if known is not None and voice not in known:
            raise UnknownVoice(f"Edge has no voice {voice!r}; GET /v1/voices lists them")
        return voice

    async def list_voices(self) -> list[Voice]:
        return list(await self.catalogue.voices(self._fetch_voices))

    async def _fetch_voices(self) -> Any:
        import edge_tts

        progress = Progress(time.monotonic())
        connector = WatchedConnector(progress)
        try:
            return await edge_tts.list_voices(connector=connector)
        except Exception as exc:
            raise classify(exc, progress) from exc
        finally:
            await connector.shutdown()

    def cache_identity(self, voice: str) -> str:
        o = self.options
        return f"edge|{voice}|rate={o.rate}|pitch={o.pitch}|volume={o.volume}|mp3-24k"

    async def stream(self, text: str, voice: str, *, rate: float = 1.0) -> AsyncIterator[bytes]:
        import edge_tts

        from .mp3 import Mp3Decoder

        o = self.options
        progress = Progress(time.monotonic())
        connector = WatchedConnector(progress)
        decoder = Mp3Decoder()
        piece_bytes = max(2, o.chunk_ms * BYTES_PER_SECOND // 1000 // 2 * 2)
        pending = bytearray()
        try:
            communicate = edge_tts.Communicate(
                text, voice, rate=scaled_rate(o.rate, rate), pitch=o.pitch, volume=o.volume,
                boundary="SentenceBoundary", connector=connector,
                connect_timeout=edge_timeout(o.connect_timeout_s),
                receive_timeout=edge_timeout(o.receive_timeout_s))
            async for message in bounded(communicate.stream(), progress,
                                         connect_timeout_s=o.connect_timeout_s,
                                         receive_timeout_s=o.receive_timeout_s):
                if message["type"] != "audio":
                    continue
                pending += decoder.feed(message["data"])
                if len(pending) >= piece_bytes:
                    yield bytes(pending)
                    pending.clear()
            _check_turns_ended(communicate, decoder.mp3_bytes)
            pending += decoder.flush()
            if not pending:
                raise BackendError("Edge sent audio that decodes to nothing", reason="no audio")
            yield bytes(pending)
        except BackendError as exc:
            self.last_error = f"{exc.reason}: {exc.message}"
            _LOGGER.debug("Edge request failed after %.3f s: %s", time.monotonic()
                          - progress.started, self.last_error)
            raise
        finally:
            await connector.shutdown()

    def status(self) -> dict[str, Any]:
        o = self.options
        return {"voice": o.voice, "connect_timeout_s": o.connect_timeout_s,
                "receive_timeout_s": o.receive_timeout_s, "last_error": self.last_error,
                **self.catalogue.status()}


def _check_turns_ended(communicate: Any, received: int) -> None:
    """edge-tts ends quietly when the service closes mid-turn; it only counts a turn's audio
    in ``cumulative_audio_bytes`` once ``turn.end`` arrives, so a shortfall is a cut stream."""
    counted = communicate.state.get("cumulative_audio_bytes")
    if isinstance(counted, int) and counted != received:
        raise BackendError(f"the Edge stream was cut off after {received} bytes of MP3, "
                           "before the end of the turn", reason="broken stream")


def scaled_rate(base: str, rate: float) -> str:
    """Edge's prosody rate for ``base`` (``"+10%"``) spoken ``rate`` times as fast:
    ``scaled_rate("+10%", 1.5) == "+65%"``."""
    percent = (100 + int(base.rstrip("%"))) * rate - 100
    return f"{round(percent):+d}%"
