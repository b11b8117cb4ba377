"""Make OBS speak (chat line, hotkey, scene switch, /v1/say), record it, and check the recording
against the PCM the engine sent.

The engine splits a text into parts (each its own job, each its own Media Source play); the
plugin logs every part it starts with its job id, so the expected clips are exactly what the
engine served for those jobs (``GET /v1/jobs/<id>.wav``), in the order they played.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import recording
from .stack import Stack
from .xserver import HarnessError

MATCH_MIN = 0.8
"""Lowest envelope correlation that counts as "the recording carries this clip"."""
OVERLAP_TOLERANCE_S = 0.1
"""Envelope frames and AAC priming blur a clip's edges by a few frames."""
_PLAYING = re.compile(r"Playing (\S+) utterance (\S+) part (\d+)/(\d+) \(job (\w*)\): Media Source playing "
                      r"(\d+) ms")


@dataclass(frozen=True)
class PlayedPart:
    """One "Playing ..." line of the plugin: a part the Media Source started."""

    source: str
    utterance: str
    part: int
    """1-based, as logged."""
    parts: int
    job: str
    ms: int
    """From the engine publishing the part to the Media Source PLAYING, as the plugin saw it."""


def played_parts(stack: Stack, *, since: int = 0) -> list[PlayedPart]:
    """Parts the plugin logged as playing, after character ``since`` of the script log."""
    return [PlayedPart(m[1], m[2], int(m[3]), int(m[4]), m[5], int(m[6]))
            for m in _PLAYING.finditer(stack.obs.script_log()[since:])]


def log_mark(stack: Stack) -> int:
    return len(stack.obs.script_log())


def chat(stack: Stack, login: str, text: str) -> float:
    """A viewer says a line on the IRC server; returns the monotonic time it was sent."""
    return stack.viewers.say(login, text)


def say(stack: Stack, text: str) -> float:
    sent = time.monotonic()
    status, _, body = stack.engine.call("POST", "/v1/say", {"text": text}, timeout_s=10)
    if status != 202:
        raise HarnessError(f"POST /v1/say answered {status}: {body[:300]!r}")
    return sent


def finished_utterances(parts: list[PlayedPart]) -> list[str]:
    """Utterances whose last part has started, in that order."""
    return [p.utterance for p in parts if p.part == p.parts]


def wait_played(stack: Stack, since: int, *, utterances: int, timeout_s: float) -> list[PlayedPart]:
    deadline = time.monotonic() + timeout_s
    while True:
        parts = played_parts(stack, since=since)
        if len(finished_utterances(parts)) >= utterances:
            return parts
        stack.obs.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(finished_utterances(parts))} of {utterances} utterances played within "
                               f"{timeout_s:g} s; script log:\n{stack.obs.script_log()[-2500:]}\n"
                               f"engine log:\n{stack.engine.log_text()[-2000:]}")
        time.sleep(0.05)


def record_speech(stack: Stack, trigger: Callable[[], Any], *, utterances: int = 1,
                  timeout_s: float = 60) -> tuple[Path, list[PlayedPart]]:
    """Record while ``trigger()`` makes OBS speak, until the last part of ``utterances``
    utterances has played and the Media Source stayed quiet a moment. Returns the recording and
    the parts played meanwhile, in order."""
    stack.wait_idle(quiet_s=0.3, timeout_s=timeout_s)
    with stack.recording() as out:
        time.sleep(0.5)  # some silence before the speech
        since = log_mark(stack)
        trigger()
        wait_played(stack, since, utterances=utterances, timeout_s=timeout_s)
        stack.wait_idle(quiet_s=0.8, timeout_s=timeout_s)
    return out[0], played_parts(stack, since=since)


def engine_clips(stack: Stack, parts: list[PlayedPart]) -> list[np.ndarray]:
    """The envelopes of the clips the engine served for these parts' jobs."""
    if not parts:
        raise AssertionError(f"no part played; script log:\n{stack.obs.script_log()[-2000:]}")
    return [recording.envelope(recording.pcm_to_float(stack.engine.job_pcm(p.job))) for p in parts]


def recorded(path: Path) -> np.ndarray:
    return recording.envelope(recording.decode(path))


def assert_spoken(stack: Stack, rec_env: np.ndarray, clips: list[np.ndarray], *, what: str,
                  after_s: float = 0.0) -> list[recording.Match]:
    """The recording carries every clip, in order and without overlap: loud enough, long enough,
    and the same envelope shape. Returns where each one matched."""
    log = f"\nscript log:\n{stack.obs.script_log()[-2500:]}"
    clip_voiced = sum(recording.voiced_seconds(c) for c in clips)
    rec_voiced = recording.voiced_seconds(rec_env)
    assert rec_voiced >= 0.8 * clip_voiced, (
        f"{what}: the recording has {rec_voiced:.2f} s of sound, the engine's clips {clip_voiced:.2f} s; "
        f"sound in the recording at {recording.segments(rec_env)}{log}")
    matches: list[recording.Match] = []
    for i, clip in enumerate(clips):
        start = matches[-1].end_s - OVERLAP_TOLERANCE_S if matches else after_s
        match = recording.best_match(rec_env, clip, after_s=max(0.0, start))
        name = f"{what}, part {i + 1} of {len(clips)}"
        assert match.level_dbfs > -40, f"{name}: the matched span is only {match.level_dbfs:.1f} dBFS{log}"
        assert match.correlation > MATCH_MIN, (
            f"{name}: the recording's loudness envelope matches the engine's clip only at "
            f"r={match.correlation:.2f} (want > {MATCH_MIN}); best lag {match.start_s:.2f} s{log}")
        matches.append(match)
    return matches
