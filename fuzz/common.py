"""What every harness shares: run ``test_one_input`` under atheris with libFuzzer's arguments."""

from __future__ import annotations

import sys
from collections.abc import Callable


def run(test_one_input: Callable[[bytes], None]) -> None:
    """``python fuzz/fuzz_x.py [libFuzzer options] [corpus dirs]``: fuzz until stopped or
    ``-runs``/``-max_total_time`` is reached; a crash (an exception other than the documented
    ones) stops with the input that caused it saved as ``crash-<sha1>``."""
    import atheris

    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
