"""Make OBS speak (chat line, hotkey, scene switch, /v1/say), record it, and check the recording
against the PCM the engine sent; also the latency from a line arriving to the Media Source playing."""

from __future__ import annotations

import functools
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import recording
from .stack import CHANNEL, IDLE_STATES, PLAYING, Stack
from .xserver import HarnessError

MATCH_MIN = 0.8
"""Lowest envelope correlation that counts as "the recording carries this clip"."""


def chat(stack: Stack, login: str, text: str) -> float:
    """Inject a chat line; returns the monotonic time it was sent."""
    return stack.irc.privmsg(CHANNEL, login=login.lower(), display_name=login, text=text)


def say(stack: Stack, text: str) -> float:
    sent = time.monotonic()
    status, _, body = stack.engine.call("POST", "/v1/say", {"text": text}, timeout_s=10)
    if status != 202:
        raise HarnessError(f"POST /v1/say answered {status}: {body[:300]!r}")
    return sent


def record_speech(stack: Stack, trigger: Callable[[], Any], *, messages: int = 1,
                  timeout_s: float = 60) -> Path:
    """Record while ``trigger()`` makes OBS speak ``messages`` messages, until it is quiet again."""
    stack.wait_idle(quiet_s=0.3, timeout_s=timeout_s)
    with stack.recording() as out:
        time.sleep(0.5)  # some silence before the speech
        trigger()
        for _ in range(messages):
            stack.wait_state((PLAYING,), timeout_s=timeout_s)
            stack.wait_state(IDLE_STATES, timeout_s=timeout_s)
        stack.wait_idle(quiet_s=0.8, timeout_s=timeout_s)
    return out[0]


def engine_clip(stack: Stack, text: str, **options: Any) -> np.ndarray:
    """The envelope of the clip the engine sent for ``text``: a cache hit, so the same PCM."""
    pcm, headers = stack.engine.synthesize_pcm(text, **options)
    if headers.get("x-tts-cached") != "true":
        raise AssertionError(f"the engine had no cached clip for {text!r}: the plugin did not ask it for "
                             f"this text (script log:\n{stack.obs.script_log()[-2000:]})")
    return recording.envelope(recording.pcm_to_float(pcm))


def recorded(path: Path) -> np.ndarray:
    return recording.envelope(recording.decode(path))


def assert_spoken(stack: Stack, rec_env: np.ndarray, clip_env: np.ndarray, *, what: str,
                  after_s: float = 0.0) -> recording.Match:
    """The recording carries the clip: loud enough, long enough, and the same envelope shape."""
    match = recording.best_match(rec_env, clip_env, after_s=after_s)
    clip_voiced, rec_voiced = recording.voiced_seconds(clip_env), recording.voiced_seconds(rec_env)
    log = f"\nscript log:\n{stack.obs.script_log()[-2500:]}"
    assert rec_voiced >= 0.8 * clip_voiced, (
        f"{what}: the recording has {rec_voiced:.2f} s of sound, the engine's clip {clip_voiced:.2f} s; "
        f"sound in the recording at {recording.segments(rec_env)}{log}")
    assert match.level_dbfs > -40, f"{what}: the matched span is only {match.level_dbfs:.1f} dBFS{log}"
    assert match.correlation > MATCH_MIN, (
        f"{what}: the recording's loudness envelope matches the engine's clip only at "
        f"r={match.correlation:.2f} (want > {MATCH_MIN}); best lag {match.start_s:.2f} s{log}")
    return match


# -- latency ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Latency:
    kind: str
    text: str
    playing_ms: float
    """From the line being sent to a GetMediaInputStatus poll seeing PLAYING."""
    audible_ms: float | None
    """From the line being sent to the media time starting to run: the first poll with a cursor
    above 0, minus that cursor (OBS may say PLAYING while it still waits for the first samples)."""
    event_ms: float | None
    """From the line being sent to obs-websocket's MediaInputPlaybackStarted event arriving."""
    plugin_ms: float | None
    """What the plugin logged ("Media Source playing N ms after it arrived")."""


_PLUGIN_LATENCY = re.compile(r"Playing (\w+) message #\d+ .*playing (\d+) ms after it arrived")


def measure(stack: Stack, kind: str, text: str, trigger: Callable[[], float], *,
            timeout_s: float = 30) -> Latency:
    """One measurement: wait until idle, ``trigger()`` (returns the send time), poll until PLAYING."""
    stack.wait_idle(quiet_s=0.3, timeout_s=60)
    before = len(_plugin_latencies(stack))
    sent = trigger()
    seen = stack.wait_state((PLAYING,), timeout_s=timeout_s, poll_s=0.002)
    audible = _audible(stack, timeout_s=timeout_s)
    events = stack.ws.events_since(sent, "MediaInputPlaybackStarted")
    stack.wait_idle(quiet_s=0.3, timeout_s=60)
    logged = _plugin_latencies(stack)[before:]
    return Latency(kind, text, (seen - sent) * 1000, (audible - sent) * 1000 if audible else None,
                   (events[0].received - sent) * 1000 if events else None,
                   float(logged[0]) if logged else None)


def _audible(stack: Stack, *, timeout_s: float) -> float | None:
    """Monotonic time the media clock started: first poll with a running cursor, minus it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        asked = time.monotonic()
        status = stack.media_status()
        cursor = status.get("mediaCursor") or 0
        if status["mediaState"] != PLAYING:
            return None
        if cursor > 0:
            return asked - cursor / 1000
        time.sleep(0.002)
    return None


def _plugin_latencies(stack: Stack) -> list[str]:
    return [m.group(2) for m in _PLUGIN_LATENCY.finditer(stack.obs.script_log())]


SHORT_LINES = ("hello there", "nice play", "good luck", "what a save", "love the stream",
               "first time here", "that was close", "gg everyone", "big brain move")
FIVE_SENTENCES = ("Attention everyone, announcement number {n} is here. The giveaway starts in five minutes. "
                  "Make sure you follow the channel to enter. The winner will be drawn live on stream. "
                  "Good luck and thank you all for watching.")


def latency_runs(stack: Stack, *, runs: int) -> list[Latency]:
    """``runs`` short chat lines and ``runs`` five-sentence /v1/say announcements, each new text
    (no cache hits)."""
    out = []
    for i in range(runs):
        line = f"{SHORT_LINES[i % len(SHORT_LINES)]} {i}"
        out.append(measure(stack, "chat", line, functools.partial(chat, stack, "Dana", line)))
    for i in range(runs):
        text = FIVE_SENTENCES.format(n=i + 1)
        out.append(measure(stack, "say5", text, functools.partial(say, stack, text)))
    return out


def summary(results: list[Latency]) -> dict[str, dict[str, float]]:
    """Median (and max) per kind and measure."""
    out: dict[str, dict[str, float]] = {}
    for kind in sorted({r.kind for r in results}):
        rows = [r for r in results if r.kind == kind]
        entry = {"runs": float(len(rows)), "playing_median_ms": statistics.median(r.playing_ms for r in rows),
                 "playing_max_ms": max(r.playing_ms for r in rows)}
        audible = [r.audible_ms for r in rows if r.audible_ms is not None]
        if audible:
            entry["audible_median_ms"] = statistics.median(audible)
        events = [r.event_ms for r in rows if r.event_ms is not None]
        if events:
            entry["event_median_ms"] = statistics.median(events)
        plugin = [r.plugin_ms for r in rows if r.plugin_ms is not None]
        if plugin:
            entry["plugin_median_ms"] = statistics.median(plugin)
        out[kind] = entry
    return out
