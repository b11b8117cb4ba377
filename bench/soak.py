"""Soak: a chat storm through the real engine (a subprocess, Piper voice) for minutes on end.

A sender posts chat events (``POST /v1/events``, many users) at ``--rate`` per second over the
engine's Unix socket; a listener plays parts as the OBS plugin does (``GET /v1/subscribe``, fetch
each part's WAV, report ``started``, wait the clip's length divided by ``--speed``, report
``ended``). At the end: errors, drops by reason (pipeline and queue), p95 time to first audio
(a ``play`` event to the first WAV byte), and the engine's RSS and open descriptors after the
warm-up and at the end.

    .venv/bin/python -m bench.soak                 # 10 minutes, 20 messages/s; updates RESULTS.md
    .venv/bin/python -m bench.soak --minutes 1 --no-write
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import yaml

from . import machine, report
from .common import REPO, engine_config, pct

SECTION_TITLE = "## Soak: chat storm (issue 12)"
COMMAND = ".venv/bin/python -m bench.soak --minutes 10"
WORDS = ("hello", "stream", "nice", "play", "wow", "that", "was", "great", "gg", "lol", "again",
         "chat", "boss", "jump", "run", "left", "right", "what", "happened", "there")


@dataclass
class Tally:
    sent: int = 0
    accepted: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    """Anything that is not a normal answer: 5xx, a refused connection, a failed WAV."""
    refusals: Counter[str] = field(default_factory=Counter)
    """``200 {"accepted": false}`` by reason (the pipeline's drops, answered at once)."""
    played: int = 0
    cancelled: Counter[str] = field(default_factory=Counter)
    first_audio_ms: list[float] = field(default_factory=list)


@dataclass
class Probe:
    at_s: float
    rss_mb: float
    files: int
    """Open descriptors that are not sockets (files, pipes, the event loop's own)."""
    sockets: int
    """Sockets: the listeners and the clients' connections."""
    cache_mb: float = 0.0
    """Audio held by the clip cache's memory tier (it fills up to ``performance.cache.memory_mb``)."""


def start_engine(folder: Path, *, overrides: dict[str, Any] | None = None, timeout_s: float = 120,
                 preexec_fn: Callable[[], None] | None = None
                 ) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    """``python -m engine serve`` with chat on (every line, many users), WARNING logs and
    ``overrides`` merged in; returns it and the addresses it printed (``tcp``, ``unix``)."""
    cfg = engine_config(folder, cache=True)
    cfg["chat"] = {"mode": "all"}
    cfg["log_level"] = "WARNING"
    for key, value in (overrides or {}).items():
        both = isinstance(value, dict) and isinstance(cfg.get(key), dict)
        cfg[key] = {**cfg[key], **value} if both else value
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg))
    log = (folder / "engine.log").open("wb")
    command = [sys.executable, "-m", "engine", "serve", "--config", str(folder / "config.yaml")]
    proc = subprocess.Popen(command, cwd=REPO, preexec_fn=preexec_fn, stdout=subprocess.PIPE, stderr=log)
    assert proc.stdout is not None
    deadline, line = time.monotonic() + timeout_s, b""
    while not line.endswith(b"\n"):
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError(f"the engine did not start; see {folder / 'engine.log'}")
        if select.select([proc.stdout], [], [], 0.5)[0]:
            line += os.read(proc.stdout.fileno(), 4096)
    return proc, dict(f.split("=", 1) for f in line.decode().split()[1:])


def probe(pid: int, started: float, health: dict[str, Any] | None = None) -> Probe:
    p = psutil.Process(pid)
    sockets = len(p.net_connections(kind="all"))
    memory = ((health or {}).get("cache") or {}).get("memory") or {}
    return Probe(time.monotonic() - started, p.memory_info().rss / 2**20, p.num_fds() - sockets,
                 sockets, memory.get("size_bytes", 0) / 2**20)


async def sample(http: aiohttp.ClientSession, pid: int, started: float) -> Probe:
    async with http.get("http://localhost/health") as resp:
        return probe(pid, started, await resp.json())


async def sampler(http: aiohttp.ClientSession, pid: int, started: float, samples: list[Probe],
                  *, every_s: float, until: float) -> None:
    while time.monotonic() + every_s < until:
        await asyncio.sleep(every_s)
        samples.append(await sample(http, pid, started))


def chat_event(n: int, users: int) -> dict[str, Any]:
    login = f"viewer{n % users}"
    words = " ".join(WORDS[(n * 7 + i * 3) % len(WORDS)] for i in range(3 + n % 6))
    return {"type": "chat", "source": "twitch", "login": login, "display_name": login,
            "user_id": str(n % users), "text": f"{words} {n}", "id": uuid.uuid4().hex}


async def sender(http: aiohttp.ClientSession, tally: Tally, *, rate: float, users: int,
                 until: float) -> None:
    n, start = 0, time.monotonic()
    pending: set[asyncio.Task[None]] = set()

    async def post(body: dict[str, Any]) -> None:
        try:
            async with http.post("http://localhost/v1/events", json=body) as resp:
                data = await resp.json(content_type=None)
                if resp.status == 202:
                    tally.accepted += 1
                elif resp.status == 200 and not data.get("accepted", True):
                    tally.refusals[str(data.get("reason", "?"))] += 1
                else:
                    tally.errors[f"events {resp.status}"] += 1
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            tally.errors[f"events {type(exc).__name__}"] += 1

    while time.monotonic() < until:
        task = asyncio.create_task(post(chat_event(n, users)))
        pending.add(task)
        task.add_done_callback(pending.discard)
        n += 1
        tally.sent += 1
        await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
    if pending:
        await asyncio.wait(pending, timeout=30)


async def listener(http: aiohttp.ClientSession, tally: Tally, *, speed: float, until: float) -> None:
    timeout = aiohttp.ClientTimeout(total=None, sock_read=30)
    async with http.get("http://localhost/v1/subscribe", timeout=timeout) as sub:
        while time.monotonic() < until:
            line = await sub.content.readline()
            if not line:
                tally.errors["subscribe ended"] += 1
                return
            event = json.loads(line)
            if event["type"] == "cancel":
                tally.cancelled[str(event.get("reason", "?"))] += 1
            elif event["type"] == "play":
                await play(http, tally, event, speed=speed)


async def play(http: aiohttp.ClientSession, tally: Tally, event: dict[str, Any], *, speed: float) -> None:
    seen = time.monotonic()
    report_url = "http://localhost/v1/playback"
    ids = {"utterance": event["utterance"], "part": event["part"]}
    try:
        async with http.get("http://localhost" + event["wav_url"]) as resp:
            first = await resp.content.read(1)
            tally.first_audio_ms.append((time.monotonic() - seen) * 1000)
            wav = first + await resp.content.read()
            ok = resp.status == 200 and wav[:4] == b"RIFF"
        if not ok:
            tally.errors[f"wav {resp.status}"] += 1
            async with http.post(report_url, json={**ids, "state": "failed", "reason": "bad wav"}):
                return
        async with http.post(report_url, json={**ids, "state": "started"}):
            pass
        await asyncio.sleep(max(0, len(wav) - 44) / 96_000 / speed)
        async with http.post(report_url, json={**ids, "state": "ended"}):
            pass
        tally.played += 1
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        tally.errors[f"playback {type(exc).__name__}"] += 1


async def soak(*, minutes: float, rate: float, users: int, speed: float, warmup_s: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        proc, bound = start_engine(Path(tmp))
        sock = bound["unix"]
        started = time.monotonic()
        try:
            connector = aiohttp.UnixConnector(path=sock, limit=64)
            async with aiohttp.ClientSession(connector=connector,
                                             timeout=aiohttp.ClientTimeout(total=60)) as http:
                tally = Tally()
                until = started + warmup_s + minutes * 60
                listen = asyncio.create_task(listener(http, tally, speed=speed, until=until))
                send = asyncio.create_task(sender(http, tally, rate=rate, users=users, until=until))
                await asyncio.sleep(warmup_s)
                samples = [await sample(http, proc.pid, started)]
                periodic = asyncio.create_task(sampler(http, proc.pid, started, samples,
                                                       every_s=60, until=until))
                await send
                listen.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listen
                periodic.cancel()
                async with http.get("http://localhost/v1/queue") as resp:
                    queue = await resp.json()
            await asyncio.sleep(3)  # the clients' connections are closed on the engine's side
            async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=sock)) as http:
                samples.append(await sample(http, proc.pid, started))
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        log_tail = (Path(tmp) / "engine.log").read_text(errors="replace")
    tracebacks = log_tail.count("Traceback")
    return {"tally": tally, "samples": samples, "queue": queue, "tracebacks": tracebacks,
            "minutes": minutes, "rate": rate, "users": users, "speed": speed}


def summary(result: dict[str, Any]) -> tuple[list[str], bool]:
    t: Tally = result["tally"]
    samples: list[Probe] = result["samples"]
    first, last = samples[0], samples[-1]
    growth = (last.rss_mb - first.rss_mb) / first.rss_mb * 100
    base = first.rss_mb - first.cache_mb
    other = (last.rss_mb - last.cache_mb - base) / base * 100
    drops = {**{f"pipeline: {k}": v for k, v in result["queue"]["pipeline_drops"].items()},
             **{f"queue: {k}": v for k, v in result["queue"]["queue"]["drops"].items()}}
    p95 = pct(t.first_audio_ms, 95)
    errors = sum(t.errors.values()) + result["tracebacks"]
    ok = errors == 0 and growth < 10 and last.files <= first.files
    rows = ["| Measure | Value | Goal | Met |", "|---|---|---|---|",
            f"| Chat messages sent | {t.sent} ({result['rate']:g}/s, {result['users']} users, "
            f"{result['minutes']:g} min) | | |",
            f"| Accepted / played parts | {t.accepted} / {t.played} | | |",
            f"| Errors (5xx, failed requests, tracebacks in the log) | {errors} | 0 | "
            f"{'yes' if errors == 0 else '**no**'} |",
            f"| p95 time to first audio (play event to first WAV byte) | {p95:.0f} ms "
            f"(n={len(t.first_audio_ms)}) | | |",
            f"| RSS after warm-up / at the end | {first.rss_mb:.1f} / {last.rss_mb:.1f} MiB "
            f"({growth:+.1f} %) | < 10 % | {'yes' if growth < 10 else '**no**'} |",
            f"| The same without the clip cache's memory tier (bounded by "
            f"performance.cache.memory_mb) | {first.rss_mb - first.cache_mb:.1f} / "
            f"{last.rss_mb - last.cache_mb:.1f} MiB ({other:+.1f} %) | | |",
            f"| Descriptors other than sockets, after warm-up / at the end | {first.files} / "
            f"{last.files} | no growth | {'yes' if last.files <= first.files else '**no**'} |",
            f"| Sockets after warm-up (clients connected) / at the end (clients gone) | "
            f"{first.sockets} / {last.sockets} | | |"]
    series = ", ".join(f"{p.at_s / 60:.0f} min {p.rss_mb:.0f} MiB (cache {p.cache_mb:.0f})"
                       for p in samples)
    notes = ["Drops by reason: " + (", ".join(f"{k} {v}" for k, v in sorted(drops.items())) or "none"),
             "Refused at once (200 accepted: false): "
             + (", ".join(f"{k} {v}" for k, v in t.refusals.most_common()) or "none"),
             "Cancelled parts: " + (", ".join(f"{k} {v}" for k, v in t.cancelled.items()) or "none"),
             "Errors: " + (", ".join(f"{k} {v}" for k, v in t.errors.items()) or "none")
             + f"; tracebacks in the engine log: {result['tracebacks']}",
             f"RSS over time (memory-tier clip cache in it): {series}",
             f"The listener plays each part for its length / {result['speed']:g}; chat mode all, "
             "10 s per-user cooldown, Piper `en_US-joe-medium`, cache on."]
    return rows + [""] + [f"- {n}" for n in notes], ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=20.0, help="chat messages per second")
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--speed", type=float, default=1.0, help="playback speed of the listener")
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds before the first probe")
    parser.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    result = asyncio.run(soak(minutes=args.minutes, rate=args.rate, users=args.users,
                              speed=args.speed, warmup_s=args.warmup))
    lines, ok = summary(result)
    lines.append(f"- Load average (1 min) at the start / end: {load_before:.2f} / "
                 f"{os.getloadavg()[0]:.2f} (2 cores shared with other work)")
    print("\n".join(lines))
    if not args.no_write:
        text = "\n".join([SECTION_TITLE, "", f"Command (from the repository root): `{COMMAND}`", "",
                          "Machine:", "", *(f"- {k}: {v}" for k, v in machine.describe()), "",
                          *lines]) + "\n"
        report.write_section(Path(__file__).with_name("RESULTS.md"), SECTION_TITLE, text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
