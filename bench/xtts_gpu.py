"""XTTS-v2's full-size architecture with random weights on an NVIDIA GPU.

    .venv/bin/python -m bench.xtts_gpu                       # cuda:0, memory_fraction 0.7
    .venv/bin/python -m bench.xtts_gpu --memory-fraction 0.5 --tokens 200 --reps 5
    .venv/bin/python -m bench.xtts_gpu --device cpu --size tiny --quick   # dry run without a GPU

Builds the real XTTS-v2 architecture (30 GPT layers x 1024 channels, full HiFiGAN decoder and
speaker encoder; tests/xtts_fixture.py) with random weights, saves it as a model folder and runs
it through the engine's own XTTS backend with a real ``GpuMonitor`` (nvidia-ml-py), so
``memory_fraction`` is applied as in the engine. A random GPT never stops, so every sentence is
exactly ``--tokens`` audio tokens (about 46 ms of speech each). Measures time to first audio,
real-time factor, peak VRAM against the budget, and NVML temperature and power during the run.
Goals from issue 4: first audio <= 200 ms, real-time factor <= 0.1, VRAM within the budget.
Random weights give real compute cost, not real speech.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/xtts_gpu.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "bench"

from bench.report import write_section
from bench.xtts_cpu import RESULTS, stream_once, table

SECTION = "## XTTS-v2 full-size architecture (random weights, GPU)"
TEXT = "Thank you so much for the raid, welcome everybody to the stream tonight."


class Watch:
    """NVML temperature and power every ``interval_s`` while the benchmark runs."""

    def __init__(self, monitor: Any, interval_s: float = 0.25) -> None:
        self.monitor, self.interval_s = monitor, interval_s
        self.temps: list[float] = []
        self.powers: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            reading = self.monitor.reading()
            if reading is not None:
                self.temps.append(reading.temperature_c)
                if reading.power_w is not None:
                    self.powers.append(reading.power_w)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


async def measure(args: argparse.Namespace, work: Path) -> tuple[list[list[str]], list[str]]:
    import torch

    from engine.backends import BackendContext
    from engine.backends.xtts import XttsBackend, XttsOptions
    from engine.config import GpuConfig
    from engine.gpu import GpuMonitor
    from tests.xtts_fixture import build_xtts, write_reference_wav

    started = time.perf_counter()
    model = build_xtts(work / "model", size=args.size, max_audio_tokens=args.tokens + 3, speakers=False)
    build_s = time.perf_counter() - started
    write_reference_wav(work / "voices" / "ref.wav")
    config = GpuConfig(enabled=True, device=args.device, memory_fraction=args.memory_fraction)
    monitor = GpuMonitor.create(config, sample_interval_s=0, max_age_s=0.2)
    cuda = args.device.startswith("cuda")
    if cuda and monitor.mode != "gpu":
        raise SystemExit(f"no usable GPU: {monitor.reason}")
    notes = [f"device {args.device}: {monitor.name or 'CPU'}; torch {torch.__version__}",
             f"model built in {build_s:.0f} s ({args.size}), {args.tokens} audio tokens per request"]
    rows: list[list[str]] = []
    with Watch(monitor) as watch:
        for chunk in args.chunks:
            opts = XttsOptions(enabled=True, model_dir=str(model), voices_dir=str(work / "voices"),
                               voice="ref", idle_unload_s=0, stream_chunk_size=chunk,
                               cpu_stream_chunk_size=chunk)
            backend = XttsBackend(opts, BackendContext(data_dir=work / "data",
                                                       gpu=monitor if cuda else None))
            await backend.start()
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            t = time.perf_counter()
            await stream_once(backend, "Warm up.", "ref")  # load + latents + first synthesis
            cold_s = time.perf_counter() - t
            runs = [await stream_once(backend, TEXT, "ref") for _ in range(args.reps)]
            firsts, totals, audio = zip(*runs, strict=True)
            rows.append([f"stream_chunk_size {chunk}", f"{statistics.median(firsts) * 1000:.0f} ms",
                         f"{statistics.median(totals) * 1000:.0f} ms", f"{statistics.median(audio):.2f} s",
                         f"{statistics.median(t / a for t, a in zip(totals, audio, strict=True)):.3f}"])
            notes.append(f"chunk {chunk}: first request (load, latents, synthesis) {cold_s:.1f} s; "
                         f"load {backend.status()['load_seconds']} s")
            if cuda:
                total = torch.cuda.get_device_properties(torch.device(args.device)).total_memory
                budget = total * args.memory_fraction
                peak = torch.cuda.max_memory_reserved(torch.device(args.device))
                notes.append(f"chunk {chunk}: peak VRAM reserved {peak / 2**30:.2f} GiB of a "
                             f"{budget / 2**30:.1f} GiB budget (memory_fraction {args.memory_fraction} "
                             f"of {total / 2**30:.0f} GiB): {'within' if peak <= budget else 'OVER'} budget")
            await backend.close()
    if watch.temps:
        notes.append(f"NVML during the run: temperature max {max(watch.temps):.0f} °C; power mean "
                     f"{statistics.mean(watch.powers or [0]):.0f} W, max {max(watch.powers or [0]):.0f} W; "
                     f"energy {monitor.energy_wh:.2f} Wh")
    monitor.close()
    return rows, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.xtts_gpu", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--memory-fraction", type=float, default=0.7)
    parser.add_argument("--tokens", type=int, default=200, help="audio tokens per request")
    parser.add_argument("--chunks", type=int, nargs="+", default=[10, 20], help="stream_chunk_size values")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--size", choices=("full", "tiny"), default="full")
    parser.add_argument("--quick", action="store_true", help="one repetition; do not write RESULTS.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.reps = 1
    logging.basicConfig(level=logging.WARNING)
    from bench import machine

    info = machine.describe()
    with tempfile.TemporaryDirectory(prefix="xtts-gpu-bench-") as tmp:
        rows, notes = asyncio.run(measure(args, Path(tmp)))
    lines = table(rows)
    print("\n".join(lines))
    for note in notes:
        print("  " + note)
    if args.quick or not args.device.startswith("cuda") or args.size != "full":
        return 0
    command = "python -m bench.xtts_gpu " + " ".join(argv if argv is not None else sys.argv[1:])
    text = "\n".join([
        SECTION, "", f"Command (from the repository root): `{command.strip()}` (median of {args.reps})",
        "", "Machine:", "", *(f"- {k}: {v}" for k, v in info), "", *lines, "",
        "- Goals (issue 4): time to first audio <= 200 ms, real-time factor <= 0.1, VRAM within budget.",
        *(f"- {n}" for n in notes), ""])
    write_section(RESULTS, SECTION, text)
    print(f"Wrote {SECTION!r} in {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
