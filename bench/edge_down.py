"""Edge down: the extra time a chat line spends when Edge is unreachable, on a failure (the first
one, and each later half-open probe) and while the breaker is open, next to Piper alone.

    .venv/bin/python -m bench.edge_down              # 20 rounds; writes its section of RESULTS.md
    .venv/bin/python -m bench.edge_down --reps 5 --no-write

Four real engines run as subprocesses at once, chat routed to Edge then Piper (cache off):
Piper alone; Edge at a closed port (connection refused); Edge at a port whose accept queue is
full (the kernel drops the SYN: a true connect timeout, ``connect_timeout_s: 1``); Edge at an
unresolvable host. Each round times one line on each, in a rotating order: the time to the
first audio frame over the Unix socket. Each Edge engine's breaker cools down for 2 s, so
every round's first line there is a probe that fails like the first failure does (the very
first line of the run is the first failure), and its second line meets the open breaker.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

if __package__ in (None, ""):  # `python bench/edge_down.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "bench"

from bench import machine, report
from bench.common import REPO, UnixHTTPConnection, median, pct
from engine.http import framing

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
SECTION_TITLE = "## Edge down: fallback cost"
CONNECT_TIMEOUT_S = 1.0
COOLDOWN_S = 2.0


def edge_url(host: str, port: int) -> str:
    return f"ws://{host}:{port}/edge/v1?TrustedClientToken=bench"


def config(folder: Path, edge: bool) -> dict[str, Any]:
    backends: dict[str, Any] = {"piper": {"voices_dir": str(folder / "voices")}}
    if edge:
        backends["edge"] = {"enabled": True, "connect_timeout_s": CONNECT_TIMEOUT_S,
                            "breaker_cooldown_s": COOLDOWN_S, "breaker_max_cooldown_s": COOLDOWN_S}
    return {
        "server": {"host": "127.0.0.1", "port": 0, "unix_socket": str(folder / "engine.sock")},
        "performance": {"cache": {"enabled": False, "dir": str(folder / "cache")}},
        "tts": {"primary_backend": "piper", "fallback_backends": [],
                "routing": {"chat": "edge" if edge else None}, "backends": backends},
        "data_dir": str(folder / "data"), "log_level": "WARNING",
    }


class Engine:
    """``python -m bench.edge_down --serve CONFIG URL``: the engine CLI's ``serve`` with edge-tts
    pointed at ``URL`` (its module-level ``WSS_URL``, the only way to aim it elsewhere)."""

    def __init__(self, folder: Path, url: str | None) -> None:
        folder.mkdir(parents=True)
        cfg = folder / "config.yaml"
        cfg.write_text(yaml.safe_dump(config(folder, url is not None)))
        self.log = folder / "engine.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.edge_down", "--serve", str(cfg), url or ""],
            cwd=REPO, stdout=subprocess.PIPE, stderr=self.log.open("wb"))
        assert self.proc.stdout is not None
        line, deadline = b"", time.monotonic() + 120
        while not line.endswith(b"\n"):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.proc.kill()
                raise RuntimeError(f"engine did not start:\n{self.log.read_text()[-2000:]}")
            if select.select([self.proc.stdout], [], [], 0.5)[0]:
                line += os.read(self.proc.stdout.fileno(), 4096)
        self.unix = dict(f.split("=", 1) for f in line.decode().split()[1:])["unix"]

    def say(self, text: str) -> tuple[float, dict[str, Any]]:
        """Milliseconds to the first audio frame, and the start frame (backend, skipped)."""
        conn = UnixHTTPConnection(self.unix)
        try:
            t0 = time.perf_counter()
            conn.request("POST", "/v1/synthesize", json.dumps({"text": text, "priority": "chat"}),
                         {"Content-Type": "application/json"})
            resp = conn.getresponse()
            first, start = None, {}
            for header, _payload in framing.read_frames(resp):
                if header["type"] == "start":
                    start = header
                elif header["type"] == "audio" and first is None:
                    first = (time.perf_counter() - t0) * 1000
                elif header["type"] == "error":
                    raise RuntimeError(f"engine error: {header}")
            if first is None:
                raise RuntimeError(f"no audio (HTTP {resp.status})")
            return first, start
        finally:
            conn.close()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@contextlib.contextmanager
def dead_ends() -> Iterator[dict[str, str]]:
    """Edge addresses that fail in the three usual ways, held open for the run."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: refuses, and no one else takes it
    refused = closed.getsockname()[1]
    full = socket.socket()
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    filler = socket.create_connection(full.getsockname(), timeout=2)  # the queue is now full
    try:
        yield {"connection refused": edge_url("127.0.0.1", refused),
               "connect timeout": edge_url("127.0.0.1", full.getsockname()[1]),
               "dns failure": edge_url("nonexistent.invalid", 443)}
    finally:
        filler.close()
        full.close()
        closed.close()


EXPECTED = {"connection refused": "connect refused", "connect timeout": "connect timeout",
            "dns failure": "dns"}


def check(start: dict[str, Any], case: str, kind: str) -> None:
    """The line really went the way it is counted (fallback to Piper, for the reason named)."""
    skipped = start.get("skipped", [])
    reason = skipped[0]["reason"] if skipped else ""
    want = f"failed: {EXPECTED[case]}" if kind == "failure" else "breaker "
    if start.get("backend") != "piper" or not reason.startswith(want):
        raise RuntimeError(f"{case}/{kind}: expected Piper after {want!r}, got {start}")


def run(reps: int) -> tuple[list[str], list[str]]:
    with tempfile.TemporaryDirectory(prefix="bench-edge-") as tmp, dead_ends() as urls:
        engines = {"piper alone": Engine(Path(tmp) / "piper", None)}
        engines |= {case: Engine(Path(tmp) / case.replace(" ", "-"), url) for case, url in urls.items()}
        try:
            for name, engine in engines.items():  # warm Piper (not the Edge side: its first
                if name == "piper alone":          # failure is measured below)
                    for i in range(3):
                        engine.say(f"Warm up line {i}.")
            times: dict[str, list[float]] = {"piper alone": []}
            for case in urls:
                times[f"{case}: failure"], times[f"{case}: breaker open"] = [], []
            for rep in range(reps):
                order = list(engines)
                order = order[rep % len(order):] + order[:rep % len(order)]
                time.sleep(COOLDOWN_S + 0.05)  # every breaker is half-open again
                for name in order:
                    engine = engines[name]
                    text = f"Thanks for the follow, viewer number {rep}!"
                    if name == "piper alone":
                        times[name].append(engine.say(text)[0])
                        continue
                    for kind in ("failure", "breaker open"):
                        ms, start = engine.say(text)  # the same line: the cache is off
                        check(start, name, "failure" if kind == "failure" else "open")
                        times[f"{name}: {kind}"].append(ms)
                print(f"round {rep + 1}/{reps}", flush=True)
        finally:
            for engine in engines.values():
                engine.stop()
    return table(times), notes(times)


def table(times: dict[str, list[float]]) -> list[str]:
    """Medians, and the extra time as the median of per-round differences from Piper alone
    (paired within a round, so the load drifting between rounds cancels out)."""
    base = times["piper alone"]
    lines = ["| Edge state | Line | Time to first audio, median (p90) | Extra vs Piper alone, "
             "median (p90) of per-round differences | Bound |", "|---|---|---|---|---|"]
    for key, values in times.items():
        case, _, kind = key.partition(": ")
        diffs = [v - b for v, b in zip(values, base, strict=True)]
        extra = "" if key == "piper alone" else f"{median(diffs):+.0f} ms ({pct(diffs, 90):+.0f} ms)"
        bound = (f"≤ {CONNECT_TIMEOUT_S * 1000:.0f} ms (connect_timeout_s)" if kind == "failure"
                 else "no wait" if kind else "")
        lines.append(f"| {case} | {kind or 'Piper only'} | {median(values):.0f} ms "
                     f"({pct(values, 90):.0f} ms) | {extra} | {bound} |")
    return lines


def notes(times: dict[str, list[float]]) -> list[str]:
    n = len(times["piper alone"])
    return [f"{n} rounds; each round times one line per engine (rotating order) after a "
            f"{COOLDOWN_S:g} s breaker cool-down, so each 'failure' line is a half-open probe that "
            "fails exactly as the first failure does (round 1 is the first failure).",
            "Time to first audio: POST /v1/synthesize over the Unix socket until the first audio "
            "frame is read whole; the engines run as separate processes at the same time.",
            "Every counted line was checked: served by Piper, skipped Edge for the reason named.",
            "The extra time carries Piper's own round-to-round jitter (see the 'breaker open' rows, "
            "which wait for nothing): read the median as the cost, not the p90.",
            "Load average at the end (1/5/15 min): "
            + " / ".join(f"{x:.2f}" for x in os.getloadavg()),
            f"edge-tts {_version('edge-tts')}, aiohttp {_version('aiohttp')}; Piper voice "
            "en_US-joe-medium on the CPU; the same chat line on every engine."]


def _version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "(not installed)"


def write_section(text: str) -> None:
    report.write_section(RESULTS, SECTION_TITLE, text)


def serve(config_path: str, url: str) -> int:
    if url:
        import edge_tts.communicate

        edge_tts.communicate.WSS_URL = url  # type: ignore[attr-defined]
    from engine.cli import main as cli_main

    return cli_main(["serve", "--config", config_path])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.edge_down",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reps", type=int, default=20, help="rounds (default 20)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--serve", nargs=2, metavar=("CONFIG", "EDGE_URL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve(*args.serve)
    info = machine.describe()
    started = time.monotonic()
    lines, extra = run(args.reps)
    command = "python -m bench.edge_down" + (f" --reps {args.reps}" if args.reps != 20 else "")
    print("\n".join(lines))
    print("\n".join(f"  {n}" for n in extra))
    print(f"({time.monotonic() - started:.0f} s)")
    if not args.no_write:
        out = [SECTION_TITLE, "", f"Command (from the repository root): `{command}`", "",
               "Machine:", "", *[f"- {k}: {v}" for k, v in info], "", *lines, "",
               *[f"- {n}" for n in extra]]
        write_section("\n".join(out) + "\n")
        print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
