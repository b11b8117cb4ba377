"""Validation and normalization of the text to speak.

Chat is hostile input: control characters, bidi overrides, zalgo, emoji floods, giant pastes.
Everything is normalized the same way (``engine.pipeline.normalize``) before it reaches a backend
or the cache key, so ``"hi  there"`` and ``"hi there"`` are one clip. Text with nothing left to
speak is refused here, with a reason, so it can never reach a backend and count as its failure.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

from ..errors import BadRequest, NothingToSpeak, TextTooLong
from .normalize import NormalizeOptions, cap_seconds, normalize_text, speakable

RAW_FACTOR = 64
"""Raw text longer than this many times ``max_chars`` is refused before normalizing it (repeats
and emoji floods shrink a lot, but not without bound)."""


def normalize(text: object, *, max_chars: int, options: NormalizeOptions | None = None) -> str:
    """Return the text to speak, or raise ``BadRequest`` (``NothingToSpeak``, ``TextTooLong``)
    with a reason. ``options`` (emoji naming, the cap on spoken seconds) default to naming each
    emoji once and no cap."""
    if not isinstance(text, str):
        raise BadRequest(f"'text' must be a string, got {type(text).__name__}")
    if len(text) > RAW_FACTOR * max_chars:
        raise TextTooLong(f"text is {len(text)} characters; the limit is {max_chars} "
                          "(server.max_text_chars)")
    opts = options or NormalizeOptions()
    clean = _normalized(text, replace(opts, max_seconds=0.0))
    if not text.strip():
        raise NothingToSpeak("text is empty: there is nothing to speak")
    if len(clean) > max_chars:
        raise TextTooLong(f"text is {len(clean)} characters after normalization; the limit is "
                          f"{max_chars} (server.max_text_chars)")
    if opts.max_seconds > 0:  # chat: cut to the spoken-seconds cap (text.max_chat_seconds)
        clean = cap_seconds(clean, opts)
    if not speakable(clean):
        dropped = ", markup or emoji (text.emoji is drop)" if opts.emoji == "drop" else " or markup"
        raise NothingToSpeak("text has no letter or digit to speak, only punctuation, symbols, "
                             f"invisible characters{dropped}: there is nothing to speak")
    return clean


MEMO_ENTRIES = 4096
"""Normalized texts remembered: chat repeats itself, and a repeat is a cache hit whose time is
mostly this pass and the language runs."""


@lru_cache(maxsize=MEMO_ENTRIES)
def _normalized(text: str, options: NormalizeOptions) -> str:
    return normalize_text(text, options)
