"""The e2e harness's own pieces, without OBS: the envelope analysis finds a clip where it was put
and rejects silence and a different clip; the viewers talk on a real ngircd."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.ircd import Ngircd

from . import recording
from .irc_client import Viewers
from .xserver import HarnessError, require

RATE = recording.RATE


def _speechlike(seed: int, seconds: float) -> np.ndarray:
    """Noise shaped by a random syllable-rate envelope: loud and quiet stretches like speech."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    syllables = np.repeat(rng.uniform(0, 1, int(seconds * 8) + 1) ** 2, RATE // 8)[:n]
    return (0.5 * syllables * rng.standard_normal(n)).astype(np.float32)


def test_best_match_finds_the_clip_where_it_was_placed() -> None:
    clip = _speechlike(1, 2.0)
    track = np.zeros(6 * RATE, dtype=np.float32)
    track[int(1.5 * RATE): int(1.5 * RATE) + len(clip)] += 0.5 * clip  # quieter, like OBS's mix
    track += 1e-4 * np.random.default_rng(9).standard_normal(len(track)).astype(np.float32)
    match = recording.best_match(recording.envelope(track), recording.envelope(clip))
    assert match.correlation > 0.95
    assert abs(match.start_s - 1.5) < 0.05
    other = recording.best_match(recording.envelope(track), recording.envelope(_speechlike(2, 2.0)))
    assert other.correlation < match.correlation - 0.2


def test_silence_has_no_speech_segments() -> None:
    env = recording.envelope(np.zeros(3 * RATE, dtype=np.float32))
    assert recording.segments(env) == []
    assert recording.voiced_seconds(env) == 0.0
    assert recording.best_match(env, recording.envelope(_speechlike(3, 1.0))).level_dbfs < -100


def test_segments_bridge_short_pauses_and_split_long_ones() -> None:
    loud = _speechlike(4, 1.0) + 0.05
    gap_short, gap_long = np.zeros(RATE // 5, np.float32), np.zeros(RATE, np.float32)
    env = recording.envelope(np.concatenate([loud, gap_short, loud, gap_long, loud]))
    spans = recording.segments(env)
    assert len(spans) == 2
    assert spans[0][0] == pytest.approx(0.0, abs=0.02)
    assert spans[1][0] == pytest.approx(3.2, abs=0.02)


def test_missing_tool_is_an_error_naming_the_package() -> None:
    with pytest.raises(HarnessError, match="apt-get install -y some-package"):
        require("no-such-tool-here", "some-package")


def test_viewers_on_a_real_ngircd_see_each_other(tmp_path: Path) -> None:
    """The chat the end-to-end tests use: Debian's ngircd and plain IRC users (no Twitch fake)."""
    ircd = Ngircd(tmp_path)
    ircd.start()
    viewers = Viewers(ircd.port, "chan")
    try:
        listener = viewers.user("Listener")
        viewers.say("Alice", "hello there")
        line = next(x for x in listener._lines_until("PRIVMSG", 5.0) if "PRIVMSG" in x)
        assert line.startswith(":Alice!") and line.endswith("PRIVMSG #chan :hello there")
        assert {"Listener", "Alice"} <= set(listener.members())
        with pytest.raises(HarnessError, match="did not join"):
            viewers.wait_engine_joined(timeout_s=0.5)  # nobody else is there
    finally:
        viewers.close()
        ircd.stop()
