"""Fuzz what the HTTP API and ``/ws`` do with a client's bytes before any work starts: JSON
decoding (``engine.http.body.parse_json``), typed events (``event_from_dict``) and synthesis
requests (``Engine.make_request``) raise only ``BadRequest`` (a 4xx), never anything else."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import atheris

with atheris.instrument_imports():
    from engine import config
    from engine.errors import BadRequest
    from engine.pipeline.events import event_from_dict
    from engine.http.body import parse_json
    from engine.service import Engine

from fuzz.common import run

_ENGINE = Engine(config.parse({"data_dir": tempfile.mkdtemp(prefix="fuzz-events-"),
                               "performance": {"cache": {"enabled": False}}}))


def test_one_input(data: bytes) -> None:
    try:
        value = parse_json(data, what="the body")
    except BadRequest:
        return
    checks: list[Callable[[Any], object]] = [event_from_dict]
    if isinstance(value, dict):  # the API hands make_request only JSON objects (read_json, /ws)
        checks.append(_ENGINE.make_request)
    for check in checks:
        try:
            check(value)
        except BadRequest as exc:
            assert 400 <= exc.status < 500 and exc.message


if __name__ == "__main__":
    run(test_one_input)
