"""Latency from a chat line (or a ``POST /v1/say``) being sent to OBS's Media Source playing it."""

from __future__ import annotations

import functools
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass

from .speech import chat, say
from .stack import PLAYING, Stack


@dataclass(frozen=True)
class Latency:
    kind: str
    text: str
    playing_ms: float
    """From the line being sent to a GetMediaInputStatus poll seeing PLAYING."""
    event_ms: float | None
    """From the line being sent to obs-websocket's MediaInputPlaybackStarted event arriving."""
    plugin_ms: float | None
    """What the plugin logged ("Media Source playing N ms after it arrived")."""


_PLUGIN_LATENCY = re.compile(r"Playing (\w+) message #\d+ .*playing (\d+) ms after it arrived")
SHORT_LINES = ("hello there", "nice play", "good luck", "what a save", "love the stream",
               "first time here", "that was close", "gg everyone", "big brain move")
FIVE_SENTENCES = ("Attention everyone, announcement number {n} is here. The giveaway starts in five minutes. "
                  "Make sure you follow the channel to enter. The winner will be drawn live on stream. "
                  "Good luck and thank you all for watching.")


def measure(stack: Stack, kind: str, text: str, trigger: Callable[[], float], *,
            timeout_s: float = 30) -> Latency:
    """One measurement: wait until idle, ``trigger()`` (returns the send time), poll until PLAYING."""
    stack.wait_idle(quiet_s=0.3, timeout_s=60)
    before = len(_plugin_latencies(stack))
    sent = trigger()
    seen = stack.wait_state((PLAYING,), timeout_s=timeout_s, poll_s=0.002)
    events = stack.ws.events_since(sent, "MediaInputPlaybackStarted")
    stack.wait_idle(quiet_s=1.0, timeout_s=90)
    logged = _plugin_latencies(stack)[before:]
    return Latency(kind, text, (seen - sent) * 1000,
                   (events[0].received - sent) * 1000 if events else None,
                   float(logged[0]) if logged else None)


def _plugin_latencies(stack: Stack) -> list[str]:
    return [m.group(2) for m in _PLUGIN_LATENCY.finditer(stack.obs.script_log())]


def latency_runs(stack: Stack, *, runs: int) -> list[Latency]:
    """``runs`` short chat lines and ``runs`` five-sentence /v1/say announcements, each a new text
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
        for name in ("event", "plugin"):
            values = [v for r in rows if (v := getattr(r, f"{name}_ms")) is not None]
            if values:
                entry[f"{name}_median_ms"] = statistics.median(values)
        out[kind] = entry
    return out
