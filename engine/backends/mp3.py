"""Incremental MP3 -> output PCM, for services that only speak MP3 (Edge).

PyAV (FFmpeg's decoder) parses MP3 frames out of bytes as they arrive, so audio can leave
while the rest is still on the wire; a streaming soxr resampler carries its filter state across
pieces, so there are no clicks where pieces meet.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..audio import SAMPLE_RATE, float_to_pcm
from ..errors import BackendError


class Mp3Decoder:
    """Feed MP3 bytes with ``feed``; get output PCM (48 kHz s16le mono) back; ``flush`` at the end."""

    def __init__(self) -> None:
        import av

        self._codec: Any = av.CodecContext.create("mp3float", "r")
        self._resampler: Any = None
        self.input_rate = 0
        """Sample rate of the MP3 in Hz (known after the first frame)."""
        self.mp3_bytes = 0
        self.samples_out = 0

    def feed(self, data: bytes) -> bytes:
        """Decode as much of the stream as ``data`` completes; returns PCM, maybe empty."""
        self.mp3_bytes += len(data)
        return self._decode(data)

    def flush(self) -> bytes:
        """The last frames held back by the parser and the resampler's tail."""
        pcm = self._decode(b"")
        try:
            frames = list(self._codec.decode(None))
        except Exception:  # already drained
            frames = []
        pcm += self._resample(frames, last=True)
        return pcm

    def _decode(self, data: bytes) -> bytes:
        import av

        frames = []
        try:
            for packet in self._codec.parse(data):
                frames += self._codec.decode(packet)
        except av.error.FFmpegError as exc:
            raise BackendError(f"cannot decode the MP3 audio: {exc}", reason="bad audio") from exc
        return self._resample(frames, last=False)

    def _resample(self, frames: list[Any], *, last: bool) -> bytes:
        parts = [self._samples(f) for f in frames]
        audio = np.concatenate(parts) if parts else np.zeros(0, np.float32)
        if self._resampler is None:
            if not audio.size:
                return b""
            import soxr

            self._resampler = soxr.ResampleStream(self.input_rate, SAMPLE_RATE, 1,
                                                  dtype="float32", quality="HQ")
        out = self._resampler.resample_chunk(audio, last=last)
        self.samples_out += len(out)
        return float_to_pcm(out)

    def _samples(self, frame: Any) -> np.ndarray:
        if not self.input_rate:
            self.input_rate = int(frame.sample_rate)
        elif frame.sample_rate != self.input_rate:
            raise BackendError(f"the MP3 changed sample rate mid-stream ({self.input_rate} -> "
                               f"{frame.sample_rate} Hz)", reason="bad audio")
        data = frame.to_ndarray()
        if data.dtype == np.int16:
            data = data.astype(np.float32) / 32768.0
        elif data.dtype != np.float32:
            data = data.astype(np.float32)
        if data.ndim == 2 and not frame.format.is_planar:  # packed: (1, samples * channels)
            data = data.reshape(-1, len(frame.layout.channels)).T
        return data.mean(axis=0) if data.ndim == 2 else data
