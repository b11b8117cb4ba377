"""The seam between two parts of one clip (clause-first synthesis): the first part's trailing
silence set to a comma's pause, so the stitched clip sounds like the whole sentence.

Piper ends every piece it renders with a sentence's trailing silence (about 350 ms with the
bundled en_US-joe-medium) and starts the next with about 40-50 ms; the same voice pauses 410-450 ms
at the first comma of a sentence and up to 730 ms at a later one (``bench/first_audio.py``
measures both), so a seam of 380 ms plus the next part's lead sits at a comma's pause. Keeping
``SEAM_TRAIL_MS`` of the first part's trailing silence puts the seam inside that range whatever
the backend appended, and pads a piece that ended too abruptly. A part's voiced audio is
sent as soon as it is rendered; only its trailing silence waits to see whether more follows.
"""

from __future__ import annotations

import numpy as np

from ..audio import SAMPLE_RATE

SEAM_TRAIL_MS = 380
"""Trailing silence kept (or padded to) at the end of a part that another part follows."""
FRAME_MS = 10
SILENCE_RATIO = 0.02
"""A 10 ms frame is silent when its RMS is under this fraction of the loudest frame's."""


def split_trailing_silence(pcm: bytes) -> tuple[bytes, bytes]:
    """``pcm`` (s16le mono at ``audio.SAMPLE_RATE``) as (up to its last voiced 10 ms frame, the
    silence after it). All silence: ``(b"", pcm)``."""
    rms = _frame_rms(pcm)
    frame = SAMPLE_RATE * FRAME_MS // 1000 * 2
    if rms.size == 0 or rms.max() <= 0:
        return b"", pcm
    voiced = np.flatnonzero(rms >= rms.max() * SILENCE_RATIO)
    end = (int(voiced[-1]) + 1) * frame
    return pcm[:end], pcm[end:]


def seam(silence: bytes, *, keep_ms: int = SEAM_TRAIL_MS) -> bytes:
    """A part's trailing ``silence`` cut or zero-padded to ``keep_ms``: what goes between it and
    the next part."""
    keep = keep_ms * SAMPLE_RATE // 1000 * 2
    return silence[:keep] + bytes(max(0, keep - len(silence)))


def _frame_rms(pcm: bytes) -> np.ndarray:
    samples = np.frombuffer(pcm[:len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.float32)
    size = SAMPLE_RATE * FRAME_MS // 1000
    n = samples.size // size
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    frames = samples[:n * size].reshape(n, size)
    return np.sqrt(np.mean(frames * frames, axis=1))
