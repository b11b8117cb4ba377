"""Fuzz the IRC wire format (``engine.sources.irc``): ``parse_line`` raises only
``IrcParseError``; ``LineSplitter`` never hands out a line over its bound."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import atheris

with atheris.instrument_imports():
    from engine.sources import irc

from fuzz.common import run


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    limit = fdp.ConsumeIntInRange(16, 1024)
    splitter = irc.LineSplitter(max_bytes=limit)
    for line in splitter.feed(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 4096))):
        assert len(line.encode("utf-8", "surrogatepass")) <= limit * 3
        try:
            msg = irc.parse_line(line)
        except irc.IrcParseError:
            continue
        assert msg.command
    with contextlib.suppress(irc.IrcParseError):
        irc.parse_line(fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes()))


if __name__ == "__main__":
    run(test_one_input)
