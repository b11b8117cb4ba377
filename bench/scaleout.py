"""Throughput of 1, 2 and 3 engine instances behind a real nginx (the engine's own config),
side by side in one run, on this machine.

    .venv/bin/python -m bench.scaleout [--seconds 20] [--concurrency 6]

For each layout the same closed loop of ``--concurrency`` clients posts ``/v1/synthesize``
(WAV) for ``--seconds``: first unique lines (every request is synthesized: CPU-bound), then one
repeated line (cache hits: the HTTP path). The instances share one Redis, as the README's
topology does. One instance reached directly, without nginx, is the baseline. Prints the table
and replaces this benchmark's section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from tests.engine_instances import running_cluster, running_instances
from tests.redis_server import RedisServer

from . import machine, report
from .common import median, pct

SECTION_TITLE = "## Scale-out behind nginx (issue 12)"
COMMAND = ".venv/bin/python -m bench.scaleout"
BYTES_PER_SECOND = 48_000 * 2
REPEATED = "Thanks for the follow, welcome to the stream!"


@dataclass(frozen=True)
class Result:
    layout: str
    workload: str
    requests: int
    failed: int
    seconds: float
    audio_s: float
    latencies_ms: tuple[float, ...]
    load: tuple[float, float]
    """1-minute load average before and after."""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def row(self) -> str:
        lat = self.latencies_ms
        return (f"| {self.layout} | {self.workload} | {self.rps:.2f} | {self.audio_s / self.seconds:.2f} | "
                f"{median(list(lat)):.0f} | {pct(list(lat), 95):.0f} | {self.failed} | "
                f"{self.load[0]:.1f} → {self.load[1]:.1f} |")


async def _client(http: aiohttp.ClientSession, url: str, unique: bool, until: float, n: int,
                  out: list[tuple[float, int]], failures: list[str]) -> None:
    i = 0
    while time.monotonic() < until:
        i += 1
        text = f"Client {n} says line number {i} of this run, {os.getpid()}." if unique else REPEATED
        started = time.monotonic()
        try:
            async with http.post(f"{url}/v1/synthesize", json={"text": text, "format": "wav"}) as resp:
                body = await resp.read()
                if resp.status != 200:
                    failures.append(f"{resp.status}")
                    continue
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            failures.append(type(exc).__name__)
            continue
        out.append(((time.monotonic() - started) * 1000, max(0, len(body) - 44)))


async def measure(url: str, layout: str, *, unique: bool, seconds: float, concurrency: int) -> Result:
    load0 = os.getloadavg()[0]
    out: list[tuple[float, int]] = []
    failures: list[str] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
        if not unique:  # the one line is made once, before the clock starts
            async with http.post(f"{url}/v1/synthesize", json={"text": REPEATED}) as resp:
                await resp.read()
        start = time.monotonic()
        await asyncio.gather(*[_client(http, url, unique, start + seconds, n, out, failures)
                               for n in range(concurrency)])
        elapsed = time.monotonic() - start
    return Result(layout, "unique lines" if unique else "one repeated line", len(out), len(failures),
                  elapsed, sum(b for _, b in out) / BYTES_PER_SECOND, tuple(ms for ms, _ in out),
                  (load0, os.getloadavg()[0]))


@contextmanager
def layout(folder: Path, count: int, redis_url: str, *, direct: bool) -> Iterator[str]:
    if direct:
        with running_instances(folder, count, token="bench-token-unused-0000", redis_url=redis_url) as inst:
            yield inst[0].url
    else:
        with running_cluster(folder, count, redis_url=redis_url) as cluster:
            yield cluster.nginx.url


def run(seconds: float, concurrency: int) -> list[Result]:
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-scaleout-") as tmp:
        for name, count, direct in [("1 instance, direct (no nginx)", 1, True),
                                    ("1 instance behind nginx", 1, False),
                                    ("2 instances behind nginx", 2, False),
                                    ("3 instances behind nginx", 3, False)]:
            redis = RedisServer(Path(tmp) / f"redis-{count}-{direct}").start()  # a fresh, empty cache
            try:
                with layout(Path(tmp) / f"{count}-{direct}", count, redis.url, direct=direct) as url:
                    for unique in (True, False):
                        result = asyncio.run(measure(url, name, unique=unique, seconds=seconds,
                                                     concurrency=concurrency))
                        print(result.row(), flush=True)
                        results.append(result)
            finally:
                redis.stop()
    return results


def section(results: list[Result], args: argparse.Namespace, described: list[tuple[str, str]]) -> str:
    lines = [SECTION_TITLE, "", f"Command (from the repository root): `{COMMAND} --seconds "
             f"{args.seconds:g} --concurrency {args.concurrency}`", "", "Machine:", ""]
    lines += [f"- {k}: {v}" for k, v in described]
    lines += ["", "| Layout | Workload | Requests/s | Audio s per s | p50 ms | p95 ms | Failed | "
              "Load (1 min) before → after |", "|---|---|---|---|---|---|---|---|"]
    lines += [r.row() for r in results]
    lines += ["", f"- {args.concurrency} clients in a closed loop, {args.seconds:g} s per row, WAV answers; "
              "each instance is `python -m engine serve` with Piper (`en_US-joe-medium`), "
              "`performance.queue.max_concurrent` 2, its own disk cache, one shared Redis per layout.",
              "- Unique lines are all synthesized (CPU-bound); the repeated line is a cache hit "
              "(the HTTP and cache path).",
              "- Reading it: this machine has 2 cores shared with other work (see the load column), "
              "so more instances add queue slots, not cores: synthesis throughput does not grow with "
              "instances. The repeated-line rows show the cost of the nginx hop itself (p50 against "
              "the direct row). A unique-line "
              "row holds only 10 to 20 requests, and repeat runs of the same command differ by up "
              "to 2x, so its differences are noise. On a machine with "
              "spare cores, or with a GPU instance, each instance adds its own synthesis capacity; "
              "what scale-out buys here is that a killed instance does not stop the service "
              "(tests/test_scaleout.py)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=6)
    args = parser.parse_args()
    print("| Layout | Workload | Requests/s | Audio s per s | p50 ms | p95 ms | Failed | Load |")
    described = machine.describe()  # the load average before the run
    results = run(args.seconds, args.concurrency)
    report.write_section(Path(__file__).with_name("RESULTS.md"), SECTION_TITLE,
                         section(results, args, described))


if __name__ == "__main__":
    main()
