"""The Chinese voice in OBS: the tiny generated Piper voice (tests/piper_tiny.py, espeak ``cmn``,
loaded by the real ``PiperVoice.load``) installed in the engine's voices folder under the name the
engine's config gives Chinese (``tts.languages.zh.piper``, by default ``zh_CN-huayan-medium``),
and how its audio is told apart in OBS's recording.

The tiny voice is a tone per phoneme (441 to 1100 Hz) at a steady level, so the loudness-envelope
match used for joe's speech says nothing about it. Its clips are found instead by the recording's
sound lasting as long as the clips' and by its spectrum, averaged over the sounding windows,
having the same fine structure as theirs (joe's speech has none of it: the tests show both).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from engine.config import DEFAULT_LANGUAGES
from tests.piper_tiny import make_voice

from . import recording
from .stack import Stack

ZH_VOICE = DEFAULT_LANGUAGES["zh"]["piper"]
"""The voice configured for Chinese in the e2e engine (it uses the default ``tts.languages``)."""
SPECTRUM_MIN = 0.8
"""Lowest spectrum correlation that counts as "the recording carries the zh voice's clips"."""
_WINDOW, _HOP = 4096, 2048
_BAND_HZ = (100.0, 4000.0)
_SMOOTH = 31
"""Bins (of ~11.7 Hz) in the moving average taken off the log spectrum."""


def install(stack: Stack) -> None:
    """Put the tiny zh voice where the running engine's Piper looks (it rescans per request)."""
    make_voice(stack.engine.workdir / "voices", ZH_VOICE)


def spectrum(samples: np.ndarray, *, rate: int = recording.RATE) -> np.ndarray:
    """Mean magnitude spectrum of the sounding windows (Hann, ~85 ms), 100 to 4000 Hz."""
    if len(samples) < _WINDOW:
        return np.zeros(1)
    windows = sliding_window_view(samples, _WINDOW)[::_HOP].astype(np.float64)
    rms = np.sqrt(np.mean(windows ** 2, axis=1))
    sounding = windows[recording.dbfs(rms) > recording.SPEECH_DBFS]
    if not len(sounding):
        return np.zeros(1)
    mags = np.abs(np.fft.rfft(sounding * np.hanning(_WINDOW), axis=1)).mean(axis=0)
    freqs = np.fft.rfftfreq(_WINDOW, 1 / rate)
    return np.asarray(mags[(freqs >= _BAND_HZ[0]) & (freqs <= _BAND_HZ[1])])


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two spectra's fine structure: the log magnitude less its moving average
    (~360 Hz), so the tiny voice's comb of tone peaks counts and the overall tilt (which all
    speech shares) does not. 0 when either is empty or flat."""
    if len(a) != len(b) or len(a) < 4 * _SMOOTH:
        return 0.0
    fine_a, fine_b = _fine(a), _fine(b)
    if not fine_a.std() or not fine_b.std():
        return 0.0
    return float(np.corrcoef(fine_a, fine_b)[0, 1])


def _fine(spec: np.ndarray) -> np.ndarray:
    log = np.log(spec + 1e-9)
    trend = np.convolve(log, np.ones(_SMOOTH) / _SMOOTH, mode="same")
    return np.asarray((log - trend)[_SMOOTH:-_SMOOTH])  # the edges' averages are cut short


def assert_zh_spoken(rec: np.ndarray, clips: list[np.ndarray], *, what: str, log: str = "") -> float:
    """The recording (samples) carries the zh clips (samples): as much sound, the same spectrum.
    Returns the spectrum correlation."""
    clip = np.concatenate(clips)
    rec_s = recording.voiced_seconds(recording.envelope(rec))
    clip_s = recording.voiced_seconds(recording.envelope(clip))
    assert clip_s > 0.3, f"{what}: the engine's clips have only {clip_s:.2f} s of sound"
    assert 0.8 * clip_s <= rec_s <= 1.2 * clip_s + 0.3, (
        f"{what}: the recording has {rec_s:.2f} s of sound, the zh clips {clip_s:.2f} s; sound at "
        f"{recording.segments(recording.envelope(rec))}{log}")
    r = similarity(spectrum(rec), spectrum(clip))
    assert r > SPECTRUM_MIN, (f"{what}: the recording's spectrum matches the zh voice's clips only "
                              f"at r={r:.2f} (want > {SPECTRUM_MIN}){log}")
    return r
