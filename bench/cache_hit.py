"""Cache hit at memory speed (issue 11): a hot 4.6 s clip, side by side with a file read.

    .venv/bin/python -m bench.cache_hit               # 300 pairs; writes its RESULTS.md section
    .venv/bin/python -m bench.cache_hit --reps 50 --no-write

Three measures, each alternating with reading the same bytes from a file (ABBA):
1. the memory tier alone (``AudioCache.get``), in process;
2. ``Engine.submit`` of a repeat, in process: request validation, language runs, the router's
   plan, the key, the lookup and the finished job (what every transport pays);
3. the HTTP round trip over the Unix socket (``POST /v1/synthesize``, raw PCM) to
   ``python -m engine serve`` as a subprocess;
4. the transport floor: a bare aiohttp handler in another process returning the same bytes.
Then where the time of (2) goes, stage by stage, so the limit is named; and offline repeats:
one chat line 12 times with Edge enabled but unreachable (main before this: 0 hits in 12).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/cache_hit.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "bench"

from bench import core, machine, report, texts
from bench.common import EngineProcess, engine_config, median, pct
from engine import config as config_mod
from engine.service import Engine

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
SECTION_TITLE = "## Cache hit at memory speed (issue 11)"


def _file_reader(path: Path) -> Callable[[int], float]:
    def read_file(_i: int) -> float:
        t0 = time.perf_counter()
        with path.open("rb") as fh:
            fh.read()
        return (time.perf_counter() - t0) * 1000
    return read_file


async def _timed(make: Callable[[], Awaitable[Any]]) -> float:
    t0 = time.perf_counter()
    await make()
    return (time.perf_counter() - t0) * 1000


async def in_process(folder: Path, reps: int) -> tuple[list[core.Row], list[str]]:
    cfg = config_mod.parse(engine_config(folder, cache=True))
    engine = Engine(cfg)
    await engine.start()
    try:
        data = {"text": texts.CACHE_CLIP, "priority": "event"}
        job = await engine.submit(engine.make_request(data))
        while not job.done:
            await asyncio.sleep(0.01)
        pcm = job.pcm()
        path = folder / "clip.pcm"
        path.write_bytes(pcm)
        read_file = _file_reader(path)
        assert engine.cache is not None and engine.router is not None
        cache, key = engine.cache, job.key

        async def submit() -> bytes:
            hit = await engine.submit(engine.make_request(data))
            assert hit.cached and hit.done
            return hit.pcm()

        disk = cache.disk
        assert disk is not None
        tier, submits, base1, base2, on_disk = [], [], [], [], []
        for i in range(reps):  # ABBA: which side goes first alternates
            if i % 2 == 0:
                tier.append(await _timed(lambda: cache.get(key)))
                base1.append(read_file(i))
                on_disk.append(await _timed(lambda: asyncio.to_thread(disk.get_sync, key)))
                submits.append(await _timed(submit))
                base2.append(read_file(i))
            else:
                on_disk.append(await _timed(lambda: asyncio.to_thread(disk.get_sync, key)))
                base1.append(read_file(i))
                tier.append(await _timed(lambda: cache.get(key)))
                base2.append(read_file(i))
                submits.append(await _timed(submit))
        request = engine.make_request(data)
        stages = {
            "make_request (validate, normalize)": lambda: _sync(lambda: engine.make_request(data)),
            "language runs": lambda: engine._runs(request),
            "router.plan (voices)": lambda: engine.router.plan(request),  # type: ignore[union-attr]
            "cache.get (memory tier)": lambda: cache.get(key),
        }
        costs = {}
        for name, make in stages.items():
            costs[name] = median([await _timed(make) for _ in range(max(20, reps // 3))])
    finally:
        await engine.close()
    size = f"{len(pcm) / 96_000:.1f} s clip ({len(pcm)} B)"
    rows = [core.Row("memory tier", f"AudioCache.get, {size}, p50 of {reps}",
                     pct(tier, 50) * 1000, pct(base1, 50) * 1000,
                     "read the same bytes from a local file", unit="µs"),
            core.Row("disk tier", f"ClipCache.get_sync in a worker thread (read + SHA-256), p50 of {reps}",
                     pct(on_disk, 50), pct(base1, 50), "read the same bytes from a local file"),
            core.Row("Engine.submit hit", f"in process, {size}, p50 of {reps}", pct(submits, 50),
                     pct(base2, 50), "read the same bytes from a local file", core.CACHE_HIT_GOAL),
            core.Row("Engine.submit hit", f"in process, p99 of {reps}", pct(submits, 99),
                     pct(base2, 99), "read the same bytes from a local file")]
    rows[2].met = (rows[2].ours <= core.CACHE_HIT_GOAL_MS
                   and (rows[2].ratio or 0) <= core.CACHE_HIT_GOAL_RATIO)
    note = (f"memory tier / file read {pct(tier, 50) / pct(base1, 50):.3f}x; where a repeat's "
            "time goes inside Engine.submit (medians, in process): " +
            ", ".join(f"{n} {ms * 1000:.0f} µs" for n, ms in costs.items()))
    return rows, [note]


async def _sync(fn: Callable[[], Any]) -> Any:
    return fn()


_FLOOR_APP = """
import sys
from pathlib import Path
from aiohttp import web
body = Path(sys.argv[2]).read_bytes()
async def handler(request):
    await request.read()
    return web.Response(body=body, headers={"X-TTS-Cached": "true"})
app = web.Application()
app.router.add_post("/v1/synthesize", handler)
web.run_app(app, path=sys.argv[1], print=lambda *_: print("ready", flush=True))
"""


def transport_floor(folder: Path, clip: Path, reps: int) -> core.Row:
    """The same bytes from a minimal aiohttp handler in another process, over a Unix socket,
    fetched by the same client code as the engine's hits: what the transport alone costs."""
    sock = str(folder / "floor.sock")
    proc = subprocess.Popen([sys.executable, "-c", _FLOOR_APP, sock, str(clip)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        read_file = _file_reader(clip)
        ours, base = core.alternate(reps, lambda _i: core.fetch_pcm(sock, "x")[0], read_file)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return core.Row("transport floor", f"a bare aiohttp handler returning the same bytes, p50 of {reps}",
                    pct(ours, 50), pct(base, 50), "read the same bytes from a local file")


async def offline_repeats(folder: Path, repeats: int = 12) -> core.Row:
    """The same chat line ``repeats`` times with chat routed to Edge, Edge enabled but
    unreachable (a closed loopback port) and Piper serving: how many were cache hits."""
    import edge_tts.communicate

    data = engine_config(folder, cache=True)
    data["tts"]["routing"] = {"chat": "edge"}
    data["tts"]["backends"]["edge"] = {"enabled": True, "connect_timeout_s": 1.0}
    saved = edge_tts.communicate.WSS_URL
    with socket.socket() as closed:  # bound, not listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        edge_tts.communicate.WSS_URL = (  # type: ignore[attr-defined]
            f"ws://127.0.0.1:{closed.getsockname()[1]}/edge/v1?TrustedClientToken=bench")
        engine = Engine(config_mod.parse(data))
        try:
            await engine.start()
            hits, served = 0, set()
            for _ in range(repeats):
                job = await engine.submit(engine.make_request({"text": texts.chat_line(7)}))
                while not job.done:
                    await asyncio.sleep(0.005)
                hits += job.cached
                served.add(job.backend)
        finally:
            edge_tts.communicate.WSS_URL = saved  # type: ignore[attr-defined]
            await engine.close()
    return core.Row("offline repeats", f"one chat line {repeats} times, Edge enabled and "
                    f"unreachable, served by {', '.join(sorted(str(b) for b in served))}: cache hits",
                    hits, goal=f"{repeats - 1} (all but the first)", met=hits == repeats - 1, unit="")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cache_hit", description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=300, help="pairs per measure (default 300)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as tmp:
        folder = Path(tmp)
        rows, notes = asyncio.run(in_process(folder / "inproc", args.reps))
        rows.append(asyncio.run(offline_repeats(folder / "offline")))
        floor = transport_floor(folder, folder / "inproc" / "clip.pcm", args.reps)
        section = core.Section("Cache hit", rows=rows, notes=notes)
        served = EngineProcess.start(folder / "http", cache=True)
        try:
            http = core.bench_cache_hit(served, reps=args.reps)
        finally:
            served.stop()
    for row in http.rows:
        row.bench = "HTTP round trip"
    section.rows += [*http.rows, floor]
    section.notes += http.notes
    command = "python -m bench.cache_hit" + (f" --reps {args.reps}" if args.reps != 300 else "")
    extra = [f"Run took {time.monotonic() - started:.0f} s. Piper only, shipped cache defaults "
             "(memory_mb 64); the clip is made once (a miss), then every measure is a memory-tier "
             "hit. The HTTP row includes the client (http.client over the Unix socket) and "
             "aiohttp's request and response handling.",
             "What limits a hit now is not the cache: the memory tier answers in microseconds, "
             "a fraction of a file read. Engine.submit spends its time before the lookup, on every "
             "request, hit or not: the router's plan re-resolves the voice (Piper stats the model "
             "file in a worker thread, so a replaced model never serves a stale clip: thread hops "
             "of about 0.15 ms each on this loaded 2-core machine), language detection of the text "
             "and normalization. Over HTTP, the transport alone (the transport floor row: aiohttp's "
             "request parsing and response writing, the client, the socket) costs more than the "
             "goal by itself. Reaching 0.3 ms would need the plan without thread hops (a "
             "stat on the loop, or a file watch), the language runs kept per text, and a leaner "
             "transport than aiohttp for the hit."]
    report.print_table([section])
    if not args.no_write:
        text = report.section_text([section], machine.describe(), f".venv/bin/{command}", extra,
                                   title=SECTION_TITLE)
        report.write_section(RESULTS, SECTION_TITLE, text)
        print(f"\nwrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
