"""The engine's per-install API token, for talking to it over TCP (standard library only).

The engine creates ``<data_dir>/api-token`` (mode 0600) at its first start; its ``data_dir``
defaults to ``~/.local/share/streamer-tts``. Over the Unix socket no token is needed. Send it as
``Authorization: Bearer <token>``. Never log it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

DEFAULT_DATA_DIR = "~/.local/share/streamer-tts"
TOKEN_FILE = "api-token"
MAX_BYTES = 1024


def token_path(data_dir: str | os.PathLike[str] | None = None) -> Path:
    return Path(os.path.expanduser(str(data_dir or DEFAULT_DATA_DIR))) / TOKEN_FILE


def read_token(data_dir: str | os.PathLike[str] | None = None) -> str | None:
    """The token, or ``None`` when the file is missing, unreadable, not a regular file or damaged."""
    path = token_path(data_dir)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = os.read(fd, MAX_BYTES + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        token = data.decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    if len(data) > MAX_BYTES or len(token) < 16 or any(c.isspace() for c in token):
        return None
    return token
