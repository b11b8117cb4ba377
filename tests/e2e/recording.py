"""Analysis of OBS's recording: decode the audio track to PCM (ffmpeg), a loudness envelope,
speech segments, and where a reference clip (the engine's PCM) best matches.

OBS resamples, mixes to stereo and AAC-encodes, so clips are compared by their loudness
envelopes (RMS per 10 ms frame), never sample by sample.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .xserver import require

RATE = 48000
"""Hz: the engine's output and the OBS profile's audio rate."""
FRAME_MS = 10
SPEECH_DBFS = -45.0
"""A frame louder than this counts as sound (the silent track reads about -91 dBFS)."""


@dataclass(frozen=True)
class Match:
    correlation: float
    """Pearson correlation of the two envelopes at the best lag (1.0 = same shape)."""
    start_s: float
    """Where the clip starts in the recording."""
    duration_s: float
    level_dbfs: float
    """RMS level of the recording over the matched span."""

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


def decode(path: Path, *, timeout_s: float = 60) -> np.ndarray:
    """The first audio track as float32 mono at ``RATE``."""
    ffmpeg = require("ffmpeg", "ffmpeg")
    out = subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-i", str(path), "-map", "0:a:0",
                          "-ac", "1", "-ar", str(RATE), "-f", "s16le", "-"],
                         capture_output=True, check=True, timeout=timeout_s).stdout
    return pcm_to_float(out)


def pcm_to_float(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0


def envelope(samples: np.ndarray, *, rate: int = RATE) -> np.ndarray:
    """RMS per ``FRAME_MS`` frame."""
    frame = rate * FRAME_MS // 1000
    usable = len(samples) // frame * frame
    frames = samples[:usable].reshape(-1, frame)
    return np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))


def dbfs(rms: float | np.ndarray) -> float | np.ndarray:
    return 20 * np.log10(np.maximum(rms, 1e-9))


def voiced_seconds(env: np.ndarray) -> float:
    return float(np.count_nonzero(dbfs(env) > SPEECH_DBFS)) * FRAME_MS / 1000


def segments(env: np.ndarray, *, min_gap_s: float = 0.6,
             min_len_s: float = 0.15) -> list[tuple[float, float]]:
    """Spans of sound (start, end in seconds); pauses shorter than ``min_gap_s`` are bridged."""
    loud = dbfs(env) > SPEECH_DBFS
    spans: list[list[int]] = []
    gap = int(min_gap_s * 1000 / FRAME_MS)
    for i in np.flatnonzero(loud):
        if spans and i - spans[-1][1] <= gap:
            spans[-1][1] = int(i) + 1
        else:
            spans.append([int(i), int(i) + 1])
    step = FRAME_MS / 1000
    return [(a * step, b * step) for a, b in spans if (b - a) * step >= min_len_s]


def best_match(recording: np.ndarray, reference: np.ndarray, *, after_s: float = 0.0) -> Match:
    """Where the reference envelope fits the recording envelope best (from ``after_s`` on)."""
    offset = int(after_s * 1000 / FRAME_MS)
    rec, ref = recording[offset:], _trim(reference)
    if len(ref) < 10 or len(rec) < len(ref):
        return Match(0.0, after_s, len(ref) * FRAME_MS / 1000, -120.0)
    windows = sliding_window_view(rec, len(ref))
    w = windows - windows.mean(axis=1, keepdims=True)
    r = ref - ref.mean()
    denom = np.sqrt((w * w).sum(axis=1) * (r * r).sum())
    corr = np.where(denom > 0, (w @ r) / np.maximum(denom, 1e-12), 0.0)
    lag = int(np.argmax(corr))
    span = rec[lag: lag + len(ref)]
    level = float(dbfs(np.sqrt(np.mean(span ** 2))))
    lead = int(np.argmax(dbfs(reference) > SPEECH_DBFS))
    return Match(float(corr[lag]), (offset + lag - lead) * FRAME_MS / 1000,
                 len(reference) * FRAME_MS / 1000, level)


def _trim(env: np.ndarray) -> np.ndarray:
    """Drop the reference's leading and trailing near-silence so the lag is the speech onset."""
    loud = np.flatnonzero(dbfs(env) > SPEECH_DBFS)
    return env[loud[0]: loud[-1] + 1] if len(loud) else env[:0]
