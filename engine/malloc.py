"""glibc's malloc arenas for the engine process: at most ``ARENAS`` (``serve`` calls
``limit_arenas`` before any thread starts).

glibc gives each thread that contends for the heap an arena of its own, up to 8 per core, and
rarely returns their memory. The engine's synthesis threads (onnxruntime, ``asyncio.to_thread``)
then grow the resident set by tens of MiB over a burst of chat; with two arenas the same burst
grows it by under 10 MiB at no measurable cost in latency (``bench/memory.py``). A
``MALLOC_ARENA_MAX`` already in the environment is the operator's choice and is left alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

_LOGGER = logging.getLogger(__name__)
ARENAS = 2
_M_ARENA_MAX = -8
"""``mallopt`` parameter number of ``M_ARENA_MAX`` in glibc's malloc.h."""


def limit_arenas(count: int = ARENAS) -> bool:
    """Cap glibc's arenas at ``count`` unless ``MALLOC_ARENA_MAX`` is set; ``True`` if capped.
    A no-op off Linux or on another C library."""
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = bool(mallopt(ctypes.c_int(_M_ARENA_MAX), ctypes.c_int(count)))
    if ok:
        _LOGGER.debug("malloc arenas capped at %d", count)
    return ok
