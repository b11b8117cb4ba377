"""XTTS on the CPU with a tiny random-weight model: load time, time to first audio, real-time factor.

    .venv/bin/python -m bench.xtts_cpu            # full run (about 3 minutes on 2 cores)
    .venv/bin/python -m bench.xtts_cpu --quick    # one repetition; writes nothing

The model is built like the tests' (tests/xtts_fixture.py): the GPT is shrunk to 2 layers of 256
channels, but the HiFiGAN decoder and the speaker encoder have XTTS-v2's real size, so the
decoder's cost, and how it grows with ``stream_chunk_size``, are real; the GPT's is not. Every
sentence is exactly ``TOKENS`` audio tokens (a random GPT never stops on its own). The numbers
track regressions of our code path (loading, latents, streaming, resampling to 48 kHz), not
XTTS-v2's real speed: see bench/xtts_gpu.py for that.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/xtts_cpu.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "bench"

from bench import report

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
SECTION = "## XTTS (tiny random-weight model, CPU)"
TOKENS = 61
"""Audio tokens per sentence (about 2.8 s of speech)."""
CHUNK_SIZES = (10, 20, 40, 0)
"""``stream_chunk_size`` values compared; 0 here means one chunk per sentence (no streaming)."""
TEXT = "Thank you so much for the raid, welcome everybody to the stream tonight."


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


async def stream_once(backend: Any, text: str, voice: str) -> tuple[float, float, float]:
    """(seconds to first audio, seconds in all, seconds of audio) for one request."""
    from engine.audio import BYTES_PER_SECOND

    started = time.perf_counter()
    first = None
    size = 0
    async for pcm in backend.stream(text, voice):
        first = first if first is not None else time.perf_counter() - started
        size += len(pcm)
    return first or 0.0, time.perf_counter() - started, size / BYTES_PER_SECOND


def make_backend(model: Path, voices: Path, data: Path, chunk: int) -> Any:
    from engine.backends import BackendContext
    from engine.backends.xtts import XttsBackend, XttsOptions

    opts = XttsOptions(enabled=True, model_dir=str(model), voices_dir=str(voices), voice="ref",
                       idle_unload_s=0, cpu_stream_chunk_size=chunk)
    return XttsBackend(opts, BackendContext(data_dir=data))


async def measure(reps: int, work: Path) -> tuple[list[list[str]], list[str]]:
    started = time.perf_counter()
    import torch
    import TTS

    from engine.backends import xtts_model
    from tests.xtts_fixture import build_xtts, write_reference_wav
    import_s = time.perf_counter() - started

    model = build_xtts(work / "model", max_audio_tokens=TOKENS + 3, speakers=False)
    voices = work / "voices"
    write_reference_wav(voices / "ref.wav")
    rows: list[list[str]] = []
    notes = [f"coqui-tts {TTS.__version__}, torch {torch.__version__}, {torch.get_num_threads()} "
             f"threads; import of torch + coqui-tts {import_s:.1f} s (once per process)"]

    loads = []
    for _ in range(reps):
        t = time.perf_counter()
        loaded = xtts_model.load(model, "cpu", memory_fraction=None, language="en")
        loads.append(time.perf_counter() - t)
    rows.append(["Load (Xtts.load_checkpoint)", f"{median_ms(loads):.0f} ms", "", "", ""])
    latents = []
    for _ in range(reps):
        t = time.perf_counter()
        xtts_model.compute_latents(loaded, voices / "ref.wav")
        latents.append(time.perf_counter() - t)
    rows.append(["Voice latents from a 3 s clip (once per clip)", f"{median_ms(latents):.0f} ms",
                 "", "", ""])
    del loaded

    cold = make_backend(model, voices, work / "cold", 0)  # first request: load + latents + synthesis
    await cold.start()
    first, total, audio_s = await stream_once(cold, TEXT, "ref")
    rows.append(["First request after start (default options)", f"{first * 1000:.0f} ms",
                 f"{total * 1000:.0f} ms", f"{audio_s:.2f} s", f"{total / audio_s:.2f}"])
    await cold.close()

    for chunk in CHUNK_SIZES:
        backend = make_backend(model, voices, work / "warm", chunk)
        await backend.start()
        await stream_once(backend, "Warm up.", "ref")
        runs = [await stream_once(backend, TEXT, "ref") for _ in range(reps)]
        await backend.close()
        firsts, totals, audio = zip(*runs, strict=True)
        label = f"Warm request, stream_chunk_size {chunk}" if chunk else "Warm request, no streaming"
        rows.append([label, f"{median_ms(list(firsts)):.0f} ms", f"{median_ms(list(totals)):.0f} ms",
                     f"{statistics.median(audio):.2f} s",
                     f"{statistics.median(t / a for t, a in zip(totals, audio, strict=True)):.2f}"])
    return rows, notes


def table(rows: list[list[str]]) -> list[str]:
    head = ["Measure", "Time to first audio / time", "Total", "Audio", "Real-time factor"]
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
            *("| " + " | ".join(r) + " |" for r in rows)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.xtts_cpu", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repetition; do not write RESULTS.md")
    parser.add_argument("--reps", type=int, default=3, help="repetitions per measure (median)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from bench import machine

    info = machine.describe()
    with tempfile.TemporaryDirectory(prefix="xtts-bench-") as tmp:
        rows, notes = asyncio.run(measure(1 if args.quick else args.reps, Path(tmp)))
    lines = table(rows)
    print("\n".join(lines))
    for note in notes:
        print("  " + note)
    if args.quick:
        return 0
    command = "python -m bench.xtts_cpu" + (f" --reps {args.reps}" if args.reps != 3 else "")
    text = "\n".join([
        SECTION, "", f"Command (from the repository root): `{command}` (median of {args.reps})", "",
        "Machine:", "", *(f"- {k}: {v}" for k, v in info), "", *lines, "",
        f"- Every sentence is {TOKENS} audio tokens; the GPT is 2 layers x 256 channels, the HiFiGAN "
        "decoder and speaker encoder are full size. Tracks our code path, not XTTS-v2's speed.",
        "- Each streamed chunk decodes the whole sentence so far again, so smaller chunks give "
        "earlier audio but more total work.", *(f"- {n}" for n in notes), ""])
    report.write_section(RESULTS, SECTION, text)
    print(f"Wrote {SECTION!r} in {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
