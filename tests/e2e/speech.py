"""Make OBS speak (chat line, hotkey, scene switch, /v1/say), record it, and check the recording
against the PCM the engine sent.

The plugin may speak a long text as several parts (one per sentence group, each its own engine
job and its own Media Source play): the expected parts come from the plugin's own
``split_sentences``, and each part's clip must appear in the recording, in order.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from . import recording
from .stack import CHANNEL, MEDIA_SOURCE, PLUGIN, Stack
from .xserver import HarnessError

MATCH_MIN = 0.8
"""Lowest envelope correlation that counts as "the recording carries this clip"."""
OVERLAP_TOLERANCE_S = 0.1
"""Envelope frames and AAC priming blur a clip's edges by a few frames."""


def chat(stack: Stack, login: str, text: str) -> float:
    """Inject a chat line; returns the monotonic time it was sent."""
    return stack.irc.privmsg(CHANNEL, login=login.lower(), display_name=login, text=text)


def say(stack: Stack, text: str) -> float:
    sent = time.monotonic()
    status, _, body = stack.engine.call("POST", "/v1/say", {"text": text}, timeout_s=10)
    if status != 202:
        raise HarnessError(f"POST /v1/say answered {status}: {body[:300]!r}")
    return sent


@cache
def _plugin_playback() -> Any:
    spec = importlib.util.spec_from_file_location("_e2e_plugin_playback", PLUGIN.parent / "playback.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def parts_of(text: str) -> list[str]:
    """How the plugin (stream mode) cuts ``text`` into separately played parts."""
    split = getattr(_plugin_playback(), "split_sentences", None)
    return list(split(text)) if split is not None else [text]


def record_speech(stack: Stack, trigger: Callable[[], Any], *, plays: int = 1,
                  timeout_s: float = 60) -> Path:
    """Record while ``trigger()`` makes OBS speak, until the Media Source has finished ``plays``
    plays (obs-websocket's MediaInputPlaybackEnded) and stayed quiet a moment."""
    stack.wait_idle(quiet_s=0.3, timeout_s=timeout_s)
    with stack.recording() as out:
        time.sleep(0.5)  # some silence before the speech
        start = time.monotonic()
        trigger()
        deadline = start + timeout_s
        while len(_ended(stack, start)) < plays:
            stack.obs.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(_ended(stack, start))} of {plays} plays ended within "
                                   f"{timeout_s:g} s; script log:\n{stack.obs.script_log()[-2500:]}")
            time.sleep(0.05)
        stack.wait_idle(quiet_s=0.8, timeout_s=timeout_s)
    return out[0]


def _ended(stack: Stack, since: float) -> list[Any]:
    return [e for e in stack.ws.events_since(since, "MediaInputPlaybackEnded")
            if e.data.get("inputName") == MEDIA_SOURCE]


def engine_clip(stack: Stack, text: str, **options: Any) -> np.ndarray:
    """The envelope of the clip the engine sent for ``text``: a cache hit, so the same PCM."""
    pcm, headers = stack.engine.synthesize_pcm(text, **options)
    if headers.get("x-tts-cached") != "true":
        raise AssertionError(f"the engine had no cached clip for {text!r}: the plugin did not ask it for "
                             f"this text (script log:\n{stack.obs.script_log()[-2000:]})")
    return recording.envelope(recording.pcm_to_float(pcm))


def engine_clips(stack: Stack, text: str, **options: Any) -> list[np.ndarray]:
    return [engine_clip(stack, part, **options) for part in parts_of(text)]


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
