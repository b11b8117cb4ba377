"""Latency from a chat line (said on the IRC daemon, read by the engine), a ``POST /v1/say`` or a
hotkey to OBS's Media Source playing its first part."""

from __future__ import annotations

import functools
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from .speech import chat, log_mark, played_parts, say
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
    """What the plugin logged: from the engine publishing the first part to PLAYING."""
    engine_ms: float | None
    """The engine's own time for the first played part's job (``total_ms`` of /v1/jobs/<id>):
    what synthesis took; the rest of ``playing_ms`` is IRC, the plugin and OBS."""


SHORT_LINES = ("hello there", "nice play", "good luck", "what a save", "love the stream",
               "first time here", "that was close", "gg everyone", "big brain move")
FIVE_SENTENCES = ("Attention everyone, announcement number {n} is here. The giveaway starts in five minutes. "
                  "Make sure you follow the channel to enter. The winner will be drawn live on stream. "
                  "Good luck and thank you all for watching.")


def measure(stack: Stack, kind: str, text: str, trigger: Callable[[], float], *,
            timeout_s: float = 30) -> Latency:
    """One measurement: wait until idle, ``trigger()`` (returns the send time), poll until PLAYING."""
    stack.wait_idle(quiet_s=0.3, timeout_s=60)
    since = log_mark(stack)
    sent = trigger()
    seen = stack.wait_state((PLAYING,), timeout_s=timeout_s, poll_s=0.002)
    events = stack.ws.events_since(sent, "MediaInputPlaybackStarted")
    stack.wait_idle(quiet_s=1.0, timeout_s=90)
    first = next((p for p in played_parts(stack, since=since) if p.part == 1), None)
    return Latency(kind, text, (seen - sent) * 1000,
                   (events[0].received - sent) * 1000 if events else None,
                   float(first.ms) if first else None,
                   _engine_ms(stack, first.job) if first else None)


def _engine_ms(stack: Stack, job_id: str) -> float | None:
    status, _, body = stack.engine.call("GET", f"/v1/jobs/{job_id}", timeout_s=10)
    if status != 200:
        return None
    total = json.loads(body).get("total_ms")
    return float(total) if isinstance(total, (int, float)) else None


KINDS = {"chat": "Short chat line (ngircd -> engine -> OBS)",
         "say5": "5-sentence announcement (POST /v1/say -> OBS)",
         "hotkey5": "5-sentence hotkey announcement (TriggerHotkeyByName -> OBS)",
         "chat5": "5-sentence chat line (ngircd -> engine -> OBS)"}
HOTKEY5_TEXTS = tuple(FIVE_SENTENCES.format(n=700 + n) for n in range(1, 6))
"""Texts for announcement slots 1..5 (``hotkey5`` runs press slot 1, 2, ...: a new text each)."""


def hotkey5_settings() -> dict[str, str]:
    """Script settings that put ``HOTKEY5_TEXTS`` in the five announcement slots (Piper)."""
    out = {}
    for n, text in enumerate(HOTKEY5_TEXTS, start=1):
        out[f"slot{n}_text"], out[f"slot{n}_backend"] = text, "piper"
    return out


def _press(stack: Stack, slot: int) -> float:
    sent = time.monotonic()
    stack.ws.request("TriggerHotkeyByName", {"hotkeyName": f"streamer_tts.announce_{slot}"})
    return sent


def latency_runs(stack: Stack, *, runs: int, kinds: tuple[str, ...] = ("chat", "say5")) -> list[Latency]:
    """``runs`` measurements of each kind, each with a new text (no cache hits): ``chat`` a short
    chat line, ``say5`` a five-sentence /v1/say announcement, ``chat5`` the same length as chat."""
    out = []
    for kind in kinds:
        for i in range(runs):
            if kind == "chat":
                text = f"{SHORT_LINES[i % len(SHORT_LINES)]} {i}"
                trigger = functools.partial(chat, stack, "Dana", text)
            elif kind == "chat5":
                text = FIVE_SENTENCES.format(n=500 + i)
                trigger = functools.partial(chat, stack, "Dana", text)
            elif kind == "hotkey5":
                if i >= len(HOTKEY5_TEXTS):
                    break
                text = HOTKEY5_TEXTS[i]
                trigger = functools.partial(_press, stack, i + 1)
            else:
                text = FIVE_SENTENCES.format(n=i + 1)
                trigger = functools.partial(say, stack, text)
            out.append(measure(stack, kind, text, trigger))
    return out


def summary(results: list[Latency]) -> dict[str, dict[str, float]]:
    """Median (and max) per kind and measure."""
    out: dict[str, dict[str, float]] = {}
    for kind in sorted({r.kind for r in results}):
        rows = [r for r in results if r.kind == kind]
        entry = {"runs": float(len(rows)), "playing_median_ms": statistics.median(r.playing_ms for r in rows),
                 "playing_max_ms": max(r.playing_ms for r in rows)}
        for name in ("event", "plugin", "engine"):
            values = [v for r in rows if (v := getattr(r, f"{name}_ms")) is not None]
            if values:
                entry[f"{name}_median_ms"] = statistics.median(values)
        out[kind] = entry
    return out
