"""Fuzz the Bilibili packet codec (``engine.sources.bilibili_codec.decode_frame``): any bytes
are packets or a ``BilibiliProtocolError`` (tests/test_bilibili_codec.py has the hypothesis
properties; this harness explores by coverage)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import atheris

with atheris.instrument_imports():
    from engine.sources import bilibili_codec as codec

from fuzz.common import run


def test_one_input(data: bytes) -> None:
    with contextlib.suppress(codec.BilibiliProtocolError):
        codec.decode_frame(data)


if __name__ == "__main__":
    run(test_one_input)
