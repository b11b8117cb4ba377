"""Validation and normalization of the text to speak.

Chat is hostile input: control characters, bidi overrides, giant pastes, whitespace floods.
Everything is normalized the same way before it reaches a backend or the cache key, so
``"hi  there"`` and ``"hi there"`` are one clip.
"""

from __future__ import annotations

import re
import unicodedata

from .errors import BadRequest, TextTooLong

_ALLOWED_CONTROLS = {"\n", "\r", "\t"}
_INVISIBLE = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
                                    "\u200b\u200e\u200f\ufeff\u00ad"))
"""Bidi overrides, zero-width spaces, marks and soft hyphens: stripped, never spoken."""
_SPACES = re.compile(r"\s+")


def normalize(text: object, *, max_chars: int) -> str:
    """Return the text to speak, or raise ``BadRequest``/``TextTooLong`` with a reason."""
    if not isinstance(text, str):
        raise BadRequest(f"'text' must be a string, got {type(text).__name__}")
    for ch in text:
        if _is_bad_control(ch):
            raise BadRequest(f"text contains the control character U+{ord(ch):04X}; "
                             "remove control characters and send plain text")
        if 0xD800 <= ord(ch) <= 0xDFFF:
            raise BadRequest("text contains an unpaired UTF-16 surrogate; send valid Unicode")
        if unicodedata.category(ch) == "Cn" and ord(ch) >= 0xFFFE and (ord(ch) & 0xFFFE) == 0xFFFE:
            raise BadRequest(f"text contains the non-character U+{ord(ch):04X}")
    clean = _SPACES.sub(" ", unicodedata.normalize("NFC", text).translate(_INVISIBLE)).strip()
    if not clean:
        raise BadRequest("text is empty: there is nothing to speak")
    if len(clean) > max_chars:
        raise TextTooLong(f"text is {len(clean)} characters; the limit is {max_chars} "
                          "(server.max_text_chars)")
    return clean


def _is_bad_control(ch: str) -> bool:
    return unicodedata.category(ch) == "Cc" and ch not in _ALLOWED_CONTROLS
