"""Fuzz the framing reader (``engine.http.framing.read_frames``): any bytes end cleanly or raise
``FrameError``; a frame read back has the payload its header announced."""

from __future__ import annotations

import io
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import atheris

with atheris.instrument_imports():
    from engine.http import framing

from fuzz.common import run


def test_one_input(data: bytes) -> None:
    try:
        for header, payload in framing.read_frames(io.BytesIO(data)):
            assert isinstance(header["type"], str)
            assert len(payload) == header.get("payload_length", 0)
    except framing.FrameError:
        pass


if __name__ == "__main__":
    run(test_one_input)
