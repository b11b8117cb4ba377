"""Latency in a real headless OBS, through the engine as the hub: from a chat line said on a real
IRC daemon (Debian's ngircd; the engine's Twitch source reads it, its pipeline and speech queue
publish the parts, the plugin downloads and plays them), a ``POST /v1/say`` or a hotkey, to OBS's
Media Source reporting PLAYING, with the real engine and Piper.
``python -m bench.obs_latency [--runs N] [--write]``; ``--write`` replaces the section
"## OBS end-to-end latency" of bench/RESULTS.md (other sections are kept).

Beside each total it shows the engine's own time for the first played part (its job's
``total_ms``), so what synthesis costs and what the route adds can be told apart.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
from pathlib import Path
from typing import Any

from bench import machine, report
from tests.e2e import latency, speech
from tests.e2e.conftest import e2e_settings
from tests.e2e.stack import running_stack

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
SECTION_TITLE = "## OBS end-to-end latency"
GOAL_MS = 250.0
"""The goal for a short chat line (the issue's); the other cases are shown for comparison."""
KINDS = ("chat", "hotkey5", "say5", "chat5")


def run(runs: int) -> tuple[dict[str, dict[str, float]], list[latency.Latency]]:
    def settings(engine_socket: str) -> dict[str, Any]:
        return {**e2e_settings(engine_socket), **latency.hotkey5_settings()}

    with running_stack(settings=settings) as stack:
        stack.wait_media_source(timeout_s=30)
        stack.viewers.wait_engine_joined(timeout_s=30)
        latency.measure(stack, "warm-up", "warm up", functools.partial(speech.chat, stack, "Zed", "warm up"))
        results = latency.latency_runs(stack, runs=runs, kinds=KINDS)
    return latency.summary(results), results


def section(summary: dict[str, dict[str, float]], runs: int, command: str,
            machine_info: list[tuple[str, str]]) -> str:
    out = [SECTION_TITLE, "", f"Command (from the repository root): `{command}`", "", "Machine:", ""]
    out += [f"- {k}: {v}" for k, v in machine_info]
    out += ["", f"Medians of {runs} runs, each with a new text (no cache hits). Goal: a short chat line "
            f"at most {GOAL_MS:.0f} ms to PLAYING (the other cases are for comparison).", "",
            "| Case | Media Source PLAYING (poll) | MediaInputPlaybackStarted event | Plugin's own log "
            "| Engine job of the first part | Route (PLAYING minus engine job) | Goal met |",
            "|---|---|---|---|---|---|---|"]
    for kind in KINDS:
        s = summary.get(kind, {})
        playing = s.get("playing_median_ms")
        met = "" if playing is None or kind != "chat" else ("yes" if playing <= GOAL_MS else "**no**")
        engine = s.get("engine_median_ms")
        overhead = playing - engine if playing is not None and engine is not None else None
        out.append(f"| {latency.KINDS[kind]} | {_ms(playing)} (max {_ms(s.get('playing_max_ms'))}) | "
                   f"{_ms(s.get('event_median_ms'))} | {_ms(s.get('plugin_median_ms'))} | "
                   f"{_ms(engine)} | {_ms(overhead)} | {met} |")
    out += ["", "How it is measured: `tests/e2e` starts Xvfb, Debian's ngircd on a loopback port, the real "
            "engine (Piper, en_US-joe-medium, default concurrency) whose Twitch source reads the test "
            "channel, and OBS 29 with the plugin pre-seeded. A chat line goes ngircd -> the engine's "
            "Twitch source -> pipeline -> speech queue -> the stage submits the first part's job and "
            "publishes a `play` event -> the plugin downloads the part's WAV and plays it. The clock "
            "starts when the viewer's client has written the PRIVMSG (or just before the POST or the "
            "TriggerHotkeyByName request is sent) and stops at the first obs-websocket "
            "`GetMediaInputStatus` poll (every ~2 ms) that reads `OBS_MEDIA_STATE_PLAYING`. The event "
            "column is when obs-websocket's `MediaInputPlaybackStarted` arrived; the plugin's column is "
            "what it logs itself (from the `play` event reaching it to PLAYING); the engine column is "
            "the engine's `total_ms` for the job of the first part played (from /v1/jobs/<id>: its wait "
            "in the engine's queue and its synthesis).", ""]
    chat = summary.get("chat", {})
    load = next((v for k, v in machine_info if k.startswith("Load average")), "")
    if "playing_median_ms" in chat and "engine_median_ms" in chat:
        route = chat["playing_median_ms"] - chat["engine_median_ms"]
        out += [f"Where a short chat line's time goes: the engine's job for its only part (queue wait and "
                f"Piper synthesis) took {_ms(chat['engine_median_ms'])}; everything else (ngircd, the "
                f"engine's source, pipeline and stage, the `play` event, the WAV download, the plugin's "
                f"timer, which OBS runs once per video frame, and the Media Source opening the file) took "
                f"{_ms(route)}. Load average at start: {load} on 2 cores; synthesis time grows with the "
                "load, the route's share does not.", ""]
    return "\n".join(out) + "\n"


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.0f} ms"


def write_results(text: str) -> None:
    report.write_section(RESULTS, SECTION_TITLE, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="OBS end-to-end latency")
    parser.add_argument("--runs", type=int, default=5, help="runs per case (the hotkey case has at most 5)")
    parser.add_argument("--write", action="store_true", help="write the section of bench/RESULTS.md")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    machine_info = machine.describe()  # the load average before this run adds its own
    summary, results = run(args.runs)
    for r in results:
        print(f"{r.kind:5} playing {r.playing_ms:6.0f} ms  event {_ms(r.event_ms):>7}  "
              f"plugin {_ms(r.plugin_ms):>7}  engine job {_ms(r.engine_ms):>7}  {r.text[:50]!r}")
    command = "python -m bench.obs_latency" + (f" --runs {args.runs}" if args.runs != 5 else "") + " --write"
    text = section(summary, args.runs, f".venv/bin/{command}", machine_info)
    print(text)
    if args.write:
        write_results(text)
        print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
