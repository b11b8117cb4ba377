"""Fuzz config loading (``engine.config.load``): any file is a config or a ``ConfigError``
(with a message), never another exception."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import atheris
import emoji  # noqa: F401  (its tables are huge; instrumenting them blew libFuzzer's RSS limit)

with atheris.instrument_imports():
    from engine import config
    from engine.errors import ConfigError

from fuzz.common import run

_FILE = Path(tempfile.mkdtemp(prefix="fuzz-config-")) / "config.yaml"


def test_one_input(data: bytes) -> None:
    _FILE.write_bytes(data)
    try:
        config.load(_FILE)
    except ConfigError as exc:
        assert exc.message


if __name__ == "__main__":
    run(test_one_input)
