"""Which voice speaks a user's lines: an explicit map, else a stable pick from a pool."""

from __future__ import annotations

import zlib


def normalize_login(login: str) -> str:
    """Logins compare in lower case, without a leading ``@``."""
    return login.strip().lstrip("@").lower()


def voice_for(login: str, *, pool: tuple[str, ...], mapping: dict[str, str],
              default: str | None = None) -> str | None:
    """``mapping[login]``, else ``pool[crc32(login) % len(pool)]`` (the same voice for a user across
    restarts and machines), else ``default``."""
    name = normalize_login(login)
    for key, voice in mapping.items():
        if normalize_login(key) == name:
            return voice
    if pool:
        return pool[zlib.crc32(name.encode("utf-8")) % len(pool)]
    return default
