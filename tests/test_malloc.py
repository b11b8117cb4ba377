"""engine/malloc.py: serve caps glibc's arenas unless the operator set MALLOC_ARENA_MAX."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from engine import malloc

PROBE = "from engine.malloc import limit_arenas; print(limit_arenas())"


def _probe(env: dict[str, str]) -> str:
    run = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                         timeout=60, check=True)
    return run.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux only")
def test_arenas_are_capped_unless_the_environment_says_otherwise() -> None:
    clean = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    assert _probe(clean) == "True"  # a fresh interpreter, as `serve` starts
    assert _probe({**clean, "MALLOC_ARENA_MAX": "4"}) == "False"  # the operator's choice stands
    assert malloc.ARENAS == 2
