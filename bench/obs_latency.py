"""Latency in a real headless OBS: from a chat line leaving the loopback IRC server (or a
``POST /v1/say`` being sent) to OBS's Media Source reporting playback, with the real engine and
Piper. ``python -m bench.obs_latency [--runs N] [--write]``; ``--write`` replaces the section
"## OBS end-to-end latency" of bench/RESULTS.md (other sections are kept).

Beside it, the engine's own first-audio time for the same kinds of text (a fresh text each
time, straight over HTTP) shows how much of the total is synthesis and how much is the plugin
and OBS's Media Source.
"""

from __future__ import annotations

import argparse
import http.client
import logging
import re
import statistics
import sys
import time
from pathlib import Path

from bench import machine
from tests.e2e import latency, speech
from tests.e2e.conftest import e2e_settings
from tests.e2e.stack import CHANNEL, Stack, running_stack

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
SECTION_TITLE = "## OBS end-to-end latency"
GOAL_MS = 400.0


def engine_first_audio_ms(stack: Stack, text: str) -> float:
    """Time to the first PCM bytes of ``POST /v1/synthesize`` (format pcm) for a fresh text."""
    host, port = stack.engine.tcp.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        start = time.monotonic()
        conn.request("POST", "/v1/synthesize", f'{{"text": "{text}", "format": "pcm"}}'.encode(),
                     {"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read1(1)
        first = time.monotonic()
        resp.read()
        return (first - start) * 1000
    finally:
        conn.close()


def run(runs: int) -> tuple[dict[str, dict[str, float]], dict[str, float], list[latency.Latency]]:
    with running_stack(settings=e2e_settings) as stack:
        stack.wait_media_source(timeout_s=30)
        stack.irc.wait_joined(CHANNEL, timeout_s=30)
        latency.measure(stack, "warm-up", "warm up", lambda: speech.chat(stack, "Zed", "warm up line"))
        results = latency.latency_runs(stack, runs=runs)
        engine = {
            "chat": statistics.median(engine_first_audio_ms(stack, f"Dana says engine only line {i}")
                                      for i in range(runs)),
            "say5": statistics.median(engine_first_audio_ms(stack, latency.FIVE_SENTENCES.format(n=100 + i))
                                      for i in range(runs)),
        }
    return latency.summary(results), engine, results


def section(summary: dict[str, dict[str, float]], engine: dict[str, float], runs: int, command: str) -> str:
    names = {"chat": "Short chat line (IRC -> OBS)", "say5": "5-sentence announcement (POST /v1/say -> OBS)"}
    out = [SECTION_TITLE, "", f"Command (from the repository root): `{command}`", "", "Machine:", ""]
    out += [f"- {k}: {v}" for k, v in machine.describe()]
    out += ["", f"Medians of {runs} runs, each with a new text (no cache hits). Goal: at most "
            f"{GOAL_MS:.0f} ms to PLAYING.", "",
            "| Case | Media Source PLAYING (poll) | MediaInputPlaybackStarted event "
            "| Plugin's own log | Engine first audio alone | Goal met |",
            "|---|---|---|---|---|---|"]
    for kind in ("chat", "say5"):
        s = summary.get(kind, {})
        playing = s.get("playing_median_ms")
        met = "" if playing is None else ("yes" if playing <= GOAL_MS else "**no**")
        out.append(f"| {names[kind]} | {_ms(playing)} (max {_ms(s.get('playing_max_ms'))}) | "
                   f"{_ms(s.get('event_median_ms'))} | "
                   f"{_ms(s.get('plugin_median_ms'))} | {_ms(engine.get(kind))} | {met} |")
    out += ["", "How it is measured: `tests/e2e` starts Xvfb, the real engine (Piper, en_US-joe-medium), a "
            "loopback IRC server and OBS with the plugin pre-seeded; the clock starts when the IRC server "
            "has written the PRIVMSG (or just before the POST is sent) and stops at the first "
            "obs-websocket `GetMediaInputStatus` poll (every ~2 ms) that reads `OBS_MEDIA_STATE_PLAYING`. "
            "The event column is when obs-websocket's `MediaInputPlaybackStarted` arrived; the plugin's "
            "column is what it logs itself. \"Engine first audio alone\" is `POST /v1/synthesize` (pcm) to "
            "its first bytes on the same engine, with no OBS in the path.", ""]
    return "\n".join(out) + "\n"


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.0f} ms"


def write_results(text: str) -> None:
    """Replace (or append) our section, re-reading the file right before writing it."""
    current = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(SECTION_TITLE)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(current):
        updated = pattern.sub(lambda _m: text + "\n", current, count=1)
    else:
        updated = current.rstrip("\n") + "\n\n" + text
    tmp = RESULTS.with_suffix(".md.obs-tmp")
    tmp.write_text(updated, encoding="utf-8")
    tmp.replace(RESULTS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="OBS end-to-end latency")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="write the section of bench/RESULTS.md")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    summary, engine, results = run(args.runs)
    for r in results:
        print(f"{r.kind:5} playing {r.playing_ms:7.0f} ms  "
              f"event {_ms(r.event_ms):>8}  plugin {_ms(r.plugin_ms):>8}  {r.text[:50]!r}")
    command = "python -m bench.obs_latency" + (f" --runs {args.runs}" if args.runs != 5 else "") + " --write"
    text = section(summary, engine, args.runs, f".venv/bin/{command}")
    print(text)
    if args.write:
        write_results(text)
        print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
