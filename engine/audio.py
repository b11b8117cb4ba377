"""The engine's one output format, and conversions into it.

Every backend's audio leaves the engine as PCM signed 16-bit little-endian, 48,000 Hz, mono
(OBS's default mixing rate), so clients never resample.
"""

from __future__ import annotations

import struct
from typing import Final

import numpy as np
import soxr

SAMPLE_RATE: Final = 48_000
"""Output sample rate in Hertz."""
CHANNELS: Final = 1
SAMPLE_WIDTH: Final = 2
"""Bytes per sample (s16le)."""
BYTES_PER_SECOND: Final = SAMPLE_RATE * CHANNELS * SAMPLE_WIDTH
FORMAT_ID: Final = "pcm_s16le_48000_mono"
"""Part of every cache key, so a format change never serves stale clips."""


def to_output_pcm(samples: np.ndarray, sample_rate: int) -> bytes:
    """Convert mono samples (int16 or float in [-1, 1]) at ``sample_rate`` Hz to output PCM."""
    if samples.dtype == np.int16:
        audio = samples.astype(np.float32) / 32768.0
    else:
        audio = samples.astype(np.float32, copy=False)
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    if sample_rate != SAMPLE_RATE and audio.size:
        audio = soxr.resample(audio, sample_rate, SAMPLE_RATE, quality="HQ")
    return float_to_pcm(audio)


def float_to_pcm(audio: np.ndarray) -> bytes:
    """Clip float samples to [-1, 1] and pack them as s16le."""
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def duration_ms(pcm_bytes: int) -> int:
    """Length in milliseconds of ``pcm_bytes`` bytes of output PCM."""
    return round(pcm_bytes * 1000 / BYTES_PER_SECOND)


def wav_header(data_bytes: int | None = None) -> bytes:
    """A 44-byte RIFF/WAVE header for output PCM.

    With ``data_bytes=None`` the sizes are set to the maximum, the usual marker for a WAV
    whose length is not known yet (a stream); ffmpeg and OBS read such a stream progressively.
    """
    data = 0xFFFFFFFF - 36 if data_bytes is None else data_bytes
    riff = 0xFFFFFFFF if data_bytes is None else 36 + data_bytes
    return b"RIFF" + struct.pack("<I", riff) + b"WAVE" + b"fmt " + struct.pack(
        "<IHHIIHH", 16, 1, CHANNELS, SAMPLE_RATE, BYTES_PER_SECOND, CHANNELS * SAMPLE_WIDTH, 16
    ) + b"data" + struct.pack("<I", data)


def wav_bytes(pcm: bytes) -> bytes:
    """A complete WAV file holding ``pcm``."""
    return wav_header(len(pcm)) + pcm
