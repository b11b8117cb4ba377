"""The engine-core benchmarks of issue 2, each measured side by side with its baseline.

1. time to first audio: the engine over its Unix socket vs in-process ``PiperVoice.synthesize``;
2. time to first audio byte: the engine vs ``python -m piper.http_server`` (same voice, TCP, WAV);
3. a cache hit of a ~4 s clip vs reading the same bytes from a local file;
4. a chat burst: 300 requests, 60 distinct, 8 concurrent clients, cache empty at start.

Pairs alternate which side goes first (ABBA), and every request is read to its end before the
next starts, so neither side runs while the other is being timed.
"""

from __future__ import annotations

import http.client
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.http import framing

from . import texts
from .common import EngineProcess, UnixHTTPConnection, free_port, median, pct

WAV_HEADER_BYTES = 44


@dataclass
class Row:
    """One line of the results table (times in ms unless the unit says otherwise)."""

    bench: str
    measure: str
    ours: float
    baseline: float | None = None
    baseline_name: str = ""
    goal: str = ""
    met: bool | None = None
    unit: str = "ms"

    @property
    def ratio(self) -> float | None:
        return self.ours / self.baseline if self.baseline else None


@dataclass
class Section:
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def alternate(n: int, a: Callable[[int], float],
              b: Callable[[int], float]) -> tuple[list[float], list[float]]:
    """Run ``a(i)`` and ``b(i)`` for i in range(n), alternating which goes first (ABBA...)."""
    xs, ys = [], []
    for i in range(n):
        if i % 2 == 0:
            xs.append(a(i))
            ys.append(b(i))
        else:
            ys.append(b(i))
            xs.append(a(i))
    return xs, ys


# -- 1. engine vs in-process Piper -------------------------------------------------------------

def engine_first_audio_ms(unix: str, text: str, *, inside: list[float] | None = None) -> float:
    """POST /v1/synthesize (framed) over the Unix socket: ms until the first ``audio`` frame has
    arrived whole; the rest of the stream is read (untimed) before returning. ``inside`` gets
    the engine's own ``first_audio_ms`` (job created -> first chunk appended) from the end frame."""
    conn = UnixHTTPConnection(unix)
    try:
        t0 = time.perf_counter()
        conn.request("POST", "/v1/synthesize", json.dumps({"text": text, "priority": "announcement"}),
                     {"Content-Type": "application/json"})
        resp = conn.getresponse()
        if resp.status != 200:
            raise RuntimeError(f"engine answered {resp.status}: {resp.read()[:300]!r}")
        first = None
        for header, _payload in framing.read_frames(resp):
            if header["type"] == "audio" and first is None:
                first = time.perf_counter() - t0
            elif header["type"] == "end" and inside is not None:
                inside.append(float(header.get("first_audio_ms", "nan")))
            elif header["type"] == "error":
                raise RuntimeError(f"engine error frame: {header}")
        if first is None:
            raise RuntimeError("the engine sent no audio")
        return first * 1000
    finally:
        conn.close()


def piper_first_audio_ms(voice: Any, text: str) -> float:
    """In-process ``PiperVoice.synthesize``: ms until the first chunk; the rest is drained."""
    t0 = time.perf_counter()
    chunks = iter(voice.synthesize(text))
    next(chunks)
    first = time.perf_counter() - t0
    for _ in chunks:
        pass
    return first * 1000


def _first_audio_pairs(engine: EngineProcess, voice: Any, make: Callable[[int], str], reps: int,
                       inside: list[float]) -> tuple[list[float], list[float]]:
    return alternate(reps, lambda i: engine_first_audio_ms(engine.unix, make(i), inside=inside),
                     lambda i: piper_first_audio_ms(voice, make(i)))


def bench_vs_inprocess(engine: EngineProcess, voice: Any, *, reps: int) -> Section:
    section = Section("Engine vs in-process Piper (time to first audio)")
    for label, make in (("chat line", texts.chat_line), ("5-sentence announcement", texts.announcement)):
        inside: list[float] = []
        ours, theirs = _first_audio_pairs(engine, voice, make, reps, inside)
        row = Row("1. engine vs in-process", f"first audio, {label} (median of {reps})",
                  median(ours), median(theirs), "PiperVoice.synthesize", "ratio <= 1.15")
        row.met = row.ratio is not None and row.ratio <= 1.15
        section.rows.append(row)
        deltas = sorted(a - b for a, b in zip(ours, theirs, strict=True))
        section.notes.append(
            f"{label}: engine p10/p50/p90 {pct(ours, 10):.1f}/{median(ours):.1f}/{pct(ours, 90):.1f} ms, "
            f"in-process {pct(theirs, 10):.1f}/{median(theirs):.1f}/{pct(theirs, 90):.1f} ms; "
            f"paired difference (engine - in-process) median {median(deltas):+.1f} ms, "
            f"median of the paired ratios {median([a / b for a, b in zip(ours, theirs, strict=True)]):.2f}; "
            f"the engine spent a median {median([a - b for a, b in zip(ours, inside, strict=True)]):.1f} ms "
            "outside the synthesis job (HTTP over the socket, parsing, routing, cache key, delivery: "
            "client time minus the job's own first_audio_ms)")
    return section


# -- 2. engine vs piper.http_server ------------------------------------------------------------

def first_audio_byte_ms(conn: http.client.HTTPConnection, path: str, body: dict[str, Any]) -> float:
    """POST, then ms until the first PCM byte of the WAV (byte 45) has arrived; then drain."""
    t0 = time.perf_counter()
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"{path} answered {resp.status}: {resp.read()[:300]!r}")
    head = resp.read(WAV_HEADER_BYTES + 1)
    first = time.perf_counter() - t0
    if len(head) != WAV_HEADER_BYTES + 1 or not head.startswith(b"RIFF"):
        raise RuntimeError(f"{path} sent no WAV audio")
    resp.read()
    return first * 1000


@dataclass
class PiperHttpServer:
    proc: subprocess.Popen[bytes]
    port: int

    @classmethod
    def start(cls, model: Path, folder: Path, *, timeout_s: float = 120) -> PiperHttpServer:
        port = free_port()
        log = (folder / "piper_http_server.log").open("wb")
        proc = subprocess.Popen([sys.executable, "-m", "piper.http_server", "-m", str(model),
                                 "--host", "127.0.0.1", "--port", str(port)],
                                cwd=folder, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError("piper.http_server exited; is flask installed? "
                                   f"see {folder / 'piper_http_server.log'}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/info", timeout=2):
                    return cls(proc, port)
            except OSError:
                time.sleep(0.2)
        proc.kill()
        raise RuntimeError("piper.http_server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def bench_vs_http_server(engine: EngineProcess, theirs: PiperHttpServer, *, reps: int) -> Section:
    section = Section("Engine vs piper.http_server (time to first audio byte, 5 sentences)")
    host, port = engine.tcp.rsplit(":", 1)

    def ours_tcp(i: int) -> float:
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            return first_audio_byte_ms(conn, "/v1/synthesize", {"text": texts.announcement(1000 + i),
                                                                "format": "wav", "priority": "announcement"})
        finally:
            conn.close()

    def piper_server(i: int) -> float:
        conn = http.client.HTTPConnection("127.0.0.1", theirs.port, timeout=120)
        try:
            return first_audio_byte_ms(conn, "/synthesize", {"text": texts.announcement(1000 + i)})
        finally:
            conn.close()

    ours, base = alternate(reps, ours_tcp, piper_server)
    row = Row("2. engine vs piper.http_server", f"first audio byte, WAV over TCP (median of {reps})",
              median(ours), median(base), "python -m piper.http_server", "ratio <= 0.5")
    row.met = row.ratio is not None and row.ratio <= 0.5
    section.rows.append(row)
    paired = median([a / b for a, b in zip(ours, base, strict=True)])
    section.notes.append(f"median of the paired ratios {paired:.2f}; "
                         f"engine p90 {pct(ours, 90):.1f} ms, piper.http_server p90 {pct(base, 90):.1f} ms "
                         "(it answers with a complete WAV after synthesizing every sentence)")
    return section


# -- 3. cache hit --------------------------------------------------------------------------------

def fetch_pcm(unix: str, text: str) -> tuple[float, bytes, dict[str, str]]:
    conn = UnixHTTPConnection(unix)
    try:
        t0 = time.perf_counter()
        conn.request("POST", "/v1/synthesize", json.dumps({"text": text, "format": "pcm",
                                                           "priority": "event"}),
                     {"Content-Type": "application/json"})
        resp = conn.getresponse()
        body = resp.read()
        elapsed = (time.perf_counter() - t0) * 1000
        if resp.status != 200:
            raise RuntimeError(f"engine answered {resp.status}: {body[:300]!r}")
        return elapsed, body, dict(resp.getheaders())
    finally:
        conn.close()


CACHE_HIT_GOAL_MS = 0.3
CACHE_HIT_GOAL_RATIO = 15.0
CACHE_HIT_GOAL = f"p50 <= {CACHE_HIT_GOAL_MS:g} ms and <= {CACHE_HIT_GOAL_RATIO:g}x"
"""Issue 11: a hot clip at memory speed (the memory tier), next to a file read."""


def bench_cache_hit(engine: EngineProcess, *, reps: int) -> Section:
    """The HTTP round trip of a hit (Unix socket, raw PCM) against reading the same bytes from
    a file, alternating."""
    section = Section("Cache hit (full PCM of a ~4 s clip)")
    _, pcm, headers = fetch_pcm(engine.unix, texts.CACHE_CLIP)  # the miss that fills the cache
    with tempfile.NamedTemporaryFile(prefix="bench-clip-", suffix=".pcm", delete=False) as f:
        f.write(pcm)
        path = Path(f.name)

    def hit(_i: int) -> float:
        elapsed, body, hdrs = fetch_pcm(engine.unix, texts.CACHE_CLIP)
        if body != pcm or hdrs.get("X-TTS-Cached") != "true":
            raise RuntimeError("the repeat was not a byte-identical cache hit")
        return elapsed

    def read_file(_i: int) -> float:
        t0 = time.perf_counter()
        with path.open("rb") as fh:
            data = fh.read()
        elapsed = (time.perf_counter() - t0) * 1000
        assert len(data) == len(pcm)
        return elapsed

    cpu_before = engine.cpu_seconds()
    try:
        ours, base = alternate(reps, hit, read_file)
    finally:
        path.unlink(missing_ok=True)
    cpu_ms = (engine.cpu_seconds() - cpu_before) * 1000 / reps
    seconds = len(pcm) / 96_000
    for q in (50, 99):
        row = Row("3. cache hit", f"full {seconds:.1f} s clip ({len(pcm)} B), p{q} of {reps}",
                  pct(ours, q), pct(base, q), "read the same bytes from a local file",
                  CACHE_HIT_GOAL if q == 50 else "")
        if q == 50:
            row.met = row.ours <= CACHE_HIT_GOAL_MS and (row.ratio or 0) <= CACHE_HIT_GOAL_RATIO
        section.rows.append(row)
    section.notes.append(f"the engine process used {cpu_ms:.2f} ms of CPU per hit (user + system; less "
                         "sensitive than wall time to other load on the machine); the first request "
                         f"was the miss (cached={headers.get('X-TTS-Cached')})")
    return section


# -- 4. chat burst -------------------------------------------------------------------------------

def bench_burst(engine: EngineProcess, *, requests: int, distinct: int, clients: int) -> Section:
    section = Section(f"Chat burst ({requests} requests, {distinct} distinct, {clients} clients)")
    lines = texts.burst_lines(distinct)
    work = [lines[i % distinct] for i in range(requests)]
    random.Random(42).shuffle(work)
    before = engine.health()
    rss_before = engine.rss_bytes()
    latencies: list[float] = []
    failures: list[str] = []
    cached = 0
    lock = threading.Lock()
    todo = iter(work)

    def client() -> None:
        nonlocal cached
        conn = UnixHTTPConnection(engine.unix)
        while True:
            with lock:
                text = next(todo, None)
            if text is None:
                break
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/v1/synthesize", json.dumps({"text": text, "format": "pcm"}),
                             {"Content-Type": "application/json"})
                resp = conn.getresponse()
                body = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = UnixHTTPConnection(engine.unix)
                with lock:
                    failures.append(type(exc).__name__)
                continue
            elapsed = (time.perf_counter() - t0) * 1000
            with lock:
                if resp.status == 200 and body:
                    latencies.append(elapsed)
                    cached += resp.getheader("X-TTS-Cached") == "true"
                else:
                    failures.append(f"{resp.status}: {body[:120]!r}")
        conn.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, name=f"client-{i}") for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    wall = time.perf_counter() - t0
    after = engine.health()
    rss_after = engine.rss_bytes()
    qb, qa = before["queue"], after["queue"]
    ran = qa["completed"] - qb["completed"]
    deduped = qa["deduplicated"] - qb["deduplicated"]
    hits = after["cache"].get("hits", 0) - before["cache"].get("hits", 0)
    ok = len(latencies)
    section.rows += [
        Row("4. chat burst", "throughput", ok / wall, unit="req/s"),
        Row("4. chat burst", "latency p50 (full clip)", median(latencies)),
        Row("4. chat burst", "latency p95 (full clip)", pct(latencies, 95)),
        Row("4. chat burst", f"syntheses run for {distinct} distinct lines", ran, unit="",
            goal=f"= {distinct}", met=ran == distinct),
        Row("4. chat burst", "engine RSS before -> after", rss_after / 2**20,
            baseline=rss_before / 2**20, baseline_name="RSS before", unit="MiB"),
    ]
    section.notes.append(
        f"{ok} of {requests} answered with audio in {wall:.2f} s, {len(failures)} failed"
        f"{' (' + ', '.join(sorted(set(failures))[:3]) + ')' if failures else ''}; "
        f"syntheses run {ran}, shared in flight (dedupe) {deduped}, cache hits {hits}, "
        f"responses marked cached {cached}; expired {qa['expired'] - qb['expired']}, "
        f"refused busy {qa['refused_busy'] - qb['refused_busy']}; "
        f"RSS {rss_before / 2**20:.0f} -> {rss_after / 2**20:.0f} MiB, "
        f"peak {engine.peak_rss_bytes() / 2**20:.0f} MiB")
    return section
