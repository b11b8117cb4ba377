"""Output PCM (48 kHz s16le mono) -> the formats of OpenAI's speech API, streamed.

Every encoder takes PCM as it is synthesized (``feed``) and returns the bytes ready to send, so
a reply can leave sentence by sentence; ``flush`` returns the tail. MP3, Ogg Opus, AAC (ADTS)
and FLAC are encoded and muxed by FFmpeg through PyAV into a write-only sink: a sink that cannot
seek makes each muxer write frame by frame and never go back to patch a header (no Xing frame,
a FLAC STREAMINFO with an unknown length), which every decoder accepts. ``wav`` is our 48 kHz
PCM behind a streaming header; ``pcm`` is raw 24 kHz s16le, OpenAI's rate, resampled by soxr.

``TempoStretch`` changes speed without changing pitch (FFmpeg's ``atempo``, WSOLA), on the
output PCM, so it works the same for every backend and for clips served from the cache.
"""

from __future__ import annotations

import fractions
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import audio
from ..errors import EngineError

FRAME_SAMPLES = 960
"""Samples per frame handed to FFmpeg (20 ms): small, so a filter's or muxer's hold-back is short."""
PCM_RATE = 24_000
"""OpenAI's ``pcm``: 24 kHz s16le mono."""
MIN_SPEED, MAX_SPEED = 0.25, 4.0
"""OpenAI's ``speed`` range."""


@dataclass(frozen=True)
class AudioFormat:
    """One ``response_format``: its MIME type, and how it is made."""

    name: str
    content_type: str
    sample_rate: int
    container: str = ""
    """FFmpeg muxer; empty: written here (``wav``, ``pcm``)."""
    codec: str = ""
    bit_rate: int = 0
    options: tuple[tuple[str, str], ...] = ()
    """Muxer options."""


FORMATS: dict[str, AudioFormat] = {f.name: f for f in (
    AudioFormat("mp3", "audio/mpeg", audio.SAMPLE_RATE, "mp3", "libmp3lame", 128_000),
    AudioFormat("opus", "audio/ogg; codecs=opus", audio.SAMPLE_RATE, "ogg", "libopus", 64_000,
                (("page_duration", "100000"),)),  # an Ogg page per 100 ms, not per second
    AudioFormat("aac", "audio/aac", audio.SAMPLE_RATE, "adts", "aac", 128_000),
    AudioFormat("flac", "audio/flac", audio.SAMPLE_RATE, "flac", "flac"),
    AudioFormat("wav", "audio/wav", audio.SAMPLE_RATE),
    AudioFormat("pcm", "audio/pcm", PCM_RATE),  # as OpenAI: raw, 24 kHz s16le mono
)}
"""``response_format`` -> format, in OpenAI's order (``mp3`` is the default)."""


class EncodeError(EngineError):
    """FFmpeg refused our own audio: a bug or a broken install, never the client's fault."""

    code = "encode_failed"


class Encoder:
    """PCM in, encoded bytes out. The base class passes PCM through unchanged."""

    def feed(self, pcm: bytes) -> bytes:
        return pcm

    def flush(self) -> bytes:
        return b""


class WavEncoder(Encoder):
    """A WAV header whose sizes say "unknown" (a stream), then the PCM."""

    def __init__(self) -> None:
        self._header = audio.wav_header(None)

    def feed(self, pcm: bytes) -> bytes:
        head, self._header = self._header, b""
        return head + pcm

    def flush(self) -> bytes:
        return self.feed(b"")


class ResampleEncoder(Encoder):
    """Raw s16le at ``rate`` (soxr's streaming resampler keeps its state across pieces)."""

    def __init__(self, rate: int) -> None:
        import soxr

        self._stream = soxr.ResampleStream(audio.SAMPLE_RATE, rate, 1, dtype="int16", quality="HQ")
        self._samples = _Samples()

    def feed(self, pcm: bytes) -> bytes:
        return self._run(pcm, last=False)

    def flush(self) -> bytes:
        return self._run(b"", last=True)

    def _run(self, pcm: bytes, *, last: bool) -> bytes:
        samples = self._samples(pcm)
        return bytes(self._stream.resample_chunk(samples, last=last).astype("<i2").tobytes())


class _Sink:
    """What the muxer writes to: collects bytes; no ``seek``, so FFmpeg treats it as a stream."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        out, self.parts = b"".join(self.parts), []
        return out


class AvEncoder(Encoder):
    """MP3, Ogg Opus, AAC or FLAC through PyAV, muxed frame by frame."""

    def __init__(self, fmt: AudioFormat) -> None:
        import av

        self._sink = _Sink()
        self._samples = _Samples()
        self._pts = 0
        try:
            self._container: Any = av.open(self._sink, "w", format=fmt.container, buffer_size=4096,
                                           options=dict(fmt.options))
            self._stream: Any = self._container.add_stream(fmt.codec, rate=fmt.sample_rate,
                                                           layout="mono")
            if fmt.bit_rate:
                self._stream.codec_context.bit_rate = fmt.bit_rate
        except av.error.FFmpegError as exc:
            raise EncodeError(f"cannot start the {fmt.name} encoder: {exc}") from exc

    def feed(self, pcm: bytes) -> bytes:
        samples = self._samples(pcm)
        for start in range(0, len(samples), FRAME_SAMPLES):
            self._encode(_frame(samples[start:start + FRAME_SAMPLES], self._pts))
            self._pts += len(samples[start:start + FRAME_SAMPLES])
        return self._sink.take()

    def flush(self) -> bytes:
        self._encode(None)
        self._container.close()
        return self._sink.take()

    def _encode(self, frame: Any) -> None:
        import av

        try:
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        except av.error.FFmpegError as exc:
            raise EncodeError(f"cannot encode the audio: {exc}") from exc


class TempoStretch:
    """Speed ``speed`` times without changing pitch: FFmpeg's ``atempo`` (chained, each factor
    within 0.5-2.0, so every FFmpeg version takes it). Output is about ``1/speed`` as long."""

    def __init__(self, speed: float) -> None:
        import av.filter

        self._graph: Any = av.filter.Graph()
        node = self._graph.add_abuffer(format="s16", sample_rate=audio.SAMPLE_RATE, layout="mono",
                                       time_base=fractions.Fraction(1, audio.SAMPLE_RATE))
        for factor in tempo_factors(speed):
            step = self._graph.add("atempo", f"{factor:.6f}")
            node.link_to(step)
            node = step
        sink = self._graph.add("abuffersink")
        node.link_to(sink)
        self._graph.configure()
        self._samples = _Samples()
        self._pts = 0

    def feed(self, pcm: bytes) -> bytes:
        samples = self._samples(pcm)
        out = []
        for start in range(0, len(samples), FRAME_SAMPLES):  # small frames: the graph holds one
            piece = samples[start:start + FRAME_SAMPLES]
            self._graph.push(_frame(piece, self._pts))
            self._pts += len(piece)
            out.append(self._pull())
        return b"".join(out)

    def flush(self) -> bytes:
        self._graph.push(None)
        return self._pull()

    def _pull(self) -> bytes:
        import av

        out: list[bytes] = []
        while True:
            try:
                frame = self._graph.pull()
            except (av.error.BlockingIOError, av.error.EOFError):
                return b"".join(out)
            out.append(frame.to_ndarray().astype("<i2").tobytes())


def tempo_factors(speed: float) -> list[float]:
    """``speed`` as a product of factors in [0.5, 2.0] (``[]`` for 1.0)."""
    factors = []
    while speed > 2.0:
        factors.append(2.0)
        speed /= 2.0
    while speed < 0.5:
        factors.append(0.5)
        speed /= 0.5
    if abs(speed - 1.0) > 1e-6:
        factors.append(speed)
    return factors


class Pipeline(Encoder):
    """Stretch (when ``speed`` is not 1), then encode."""

    def __init__(self, fmt: AudioFormat, *, speed: float = 1.0) -> None:
        self.format = fmt
        self._tempo = TempoStretch(speed) if tempo_factors(speed) else None
        self._encoder = new_encoder(fmt)

    def feed(self, pcm: bytes) -> bytes:
        if self._tempo is not None:
            pcm = self._tempo.feed(pcm)
        return self._encoder.feed(pcm)

    def flush(self) -> bytes:
        out = b""
        if self._tempo is not None:
            out = self._encoder.feed(self._tempo.flush())
        return out + self._encoder.flush()


def new_encoder(fmt: AudioFormat) -> Encoder:
    if fmt.container:
        return AvEncoder(fmt)
    if fmt.name == "wav":
        return WavEncoder()
    return ResampleEncoder(fmt.sample_rate) if fmt.sample_rate != audio.SAMPLE_RATE else Encoder()


class _Samples:
    """Bytes -> int16 samples; an odd trailing byte waits for the next piece."""

    def __init__(self) -> None:
        self._odd = b""

    def __call__(self, pcm: bytes) -> np.ndarray:
        data = self._odd + pcm
        cut = len(data) - len(data) % 2
        self._odd = data[cut:]
        return np.frombuffer(data[:cut], dtype="<i2")


def _frame(samples: np.ndarray, pts: int) -> Any:
    import av

    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples).reshape(1, -1), format="s16",
                                       layout="mono")
    frame.sample_rate = audio.SAMPLE_RATE
    frame.pts = pts
    frame.time_base = fractions.Fraction(1, audio.SAMPLE_RATE)
    return frame
