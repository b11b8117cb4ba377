"""Time to first byte of ``POST /v1/audio/speech`` per ``response_format`` (issue 10).

    .venv/bin/python -m bench.openai               # 5 requests per format
    .venv/bin/python -m bench.openai --reps 10

``python -m engine serve`` runs as a subprocess (Piper, cache off, so every request
synthesizes); requests go over the Unix socket, one at a time, with a five-sentence text.
First byte: the first piece of the body (its first encoded sentence); total: the whole body.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # `python bench/openai.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "bench"

from bench.common import EngineProcess, UnixHTTPConnection, median
from engine.http import encode

TEXT = ("Welcome to the stream number {i}. Today we build a speech engine. It streams sentence by "
        "sentence. The cache makes repeats instant. Enjoy the show!")


def one(unix: str, fmt: str, i: int) -> tuple[float, float, int]:
    """(first byte ms, total ms, body bytes) of one request."""
    conn = UnixHTTPConnection(unix, timeout=120)
    try:
        body = json.dumps({"model": "tts-1", "voice": "alloy", "input": TEXT.format(i=i),
                           "response_format": fmt}).encode()
        began = time.perf_counter()
        conn.request("POST", "/v1/audio/speech", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        assert resp.status == 200, resp.read()[:300]
        first, size = 0.0, 0
        while piece := resp.read1(65536):
            if not size:
                first = (time.perf_counter() - began) * 1000
            size += len(piece)
        return first, (time.perf_counter() - began) * 1000, size
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        engine = EngineProcess.start(Path(tmp), cache=False)
        try:
            one(engine.unix, "wav", -1)  # warm-up: the voice loads
            print("| format | first byte ms (median) | total ms (median) | KiB |")
            print("|---|---|---|---|")
            for n, fmt in enumerate(encode.FORMATS):
                runs = [one(engine.unix, fmt, n * 1000 + i) for i in range(args.reps)]
                print(f"| {fmt} | {median([r[0] for r in runs]):.0f} | "
                      f"{median([r[1] for r in runs]):.0f} | {median([r[2] for r in runs]) / 1024:.0f} |")
        finally:
            engine.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
