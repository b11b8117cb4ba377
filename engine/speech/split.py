"""Split a text into the parts that are synthesized and played one after another.

Done once, in one place (the pipeline), so the first part plays early and every consumer (queue,
journal, OBS, captions) sees the same parts:

1. sentences end at ``. ! ? ; : …`` followed by a space, or at ``。！？；：`` anywhere;
2. a long first sentence is cut at a clause boundary (``, ; :``, ``、，``) within about
   ``first_words`` words, or at that word cap, so synthesis of the first part is short;
3. a part over ``max_chars`` is cut at a clause, else a space, else anywhere;
4. short sentences are joined up to ``min_chars``;
5. a piece with nothing speakable (no letter or digit in any script, e.g. ``"--"``) is merged into
   a neighbour, so no part is ever silence.

Whitespace runs become single spaces; no other character is removed or reordered.
"""

from __future__ import annotations

import re
import unicodedata

from ..pipeline.normalize import speakable

MAX_PART_CHARS = 200
MIN_PART_CHARS = 40
"""Sentences shorter than this are joined to the next one (fewer gaps, natural phrasing)."""
FIRST_PART_WORDS = 12
"""A first sentence longer than this many words is cut at a clause so it plays early."""
_SPACES = re.compile(r"\s+")
_SENTENCE_END = re.compile(
    r"[.!?;:…]+[\"'”’»)\]]*(?=\s)|[。！？；：]+[」』”’）)\]\"']*"
)
_CLAUSE_END = re.compile(r"[,;:–—]+[\"'”’)\]]*(?=\s)|[、，；：]+")
_NO_SPACES = re.compile(r"[\u2e80-\u9fff\u3040-\u30ff\uf900-\ufaff]")
"""CJK and kana: written without spaces; two characters count as about one word."""
_CJK_PUNCTUATION = "。！？；：」』”’）、，"


def split_parts(text: str, *, max_chars: int = MAX_PART_CHARS, min_chars: int = MIN_PART_CHARS,
                first_words: int = FIRST_PART_WORDS) -> list[str]:
    """The parts of ``text``, in order; ``[]`` if nothing in it can be spoken."""
    if max_chars < 1 or first_words < 1:
        raise ValueError("max_chars and first_words must be at least 1")
    text = _SPACES.sub(" ", text).strip()
    if not speakable(text):
        return []
    sentences = _cut_all(text, _SENTENCE_END)
    first, rest = _first_part(sentences[0], first_words)
    pieces = [first, *([rest] if rest else []), *sentences[1:]]
    bounded = [p for piece in pieces for p in _bound(piece, max_chars)]
    return _merge_unspeakable(_join_short(bounded, max_chars, min_chars, first_words))


def clause_first(text: str, *, first_words: int = FIRST_PART_WORDS) -> list[str]:
    """``[first clause, the rest]`` when the first sentence is longer than ``first_words`` and can
    be cut (the same cut as ``split_parts``), else ``[text]``. For one-shot synthesis
    (``POST /v1/synthesize``): a backend that streams whole sentences only (Piper) then has
    audio after the first clause. The rest stays one piece, so it gets the backend's own
    sentence streaming and there is only one seam."""
    text = _SPACES.sub(" ", text).strip()
    if not speakable(text):
        return [text]
    first, rest = _first_part(_cut_all(text, _SENTENCE_END)[0], first_words)
    after = text[len(first):].strip()
    if not rest or not speakable(first) or not speakable(after):
        return [text]
    return [first, after]


def _cut_all(text: str, pattern: re.Pattern[str]) -> list[str]:
    """``text`` cut after every match of ``pattern``; pieces stripped, empty ones left out."""
    pieces, start = [], 0
    for m in pattern.finditer(text):
        pieces.append(text[start:m.end()].strip())
        start = m.end()
    pieces.append(text[start:].strip())
    return [p for p in pieces if p]


def weight(text: str) -> float:
    """About how many words ``text`` is: one per space-separated word, one per two CJK characters."""
    return _budget_end(text, float("inf"))[1]


def _budget_end(text: str, budget: float) -> tuple[int, float]:
    """(index of the first character past ``budget`` words, or len(text); the words counted)."""
    total, in_word = 0.0, False
    for i, ch in enumerate(text):
        if _NO_SPACES.match(ch):
            step, in_word = 0.5, False
        elif ch.isspace():
            in_word = False
            continue
        elif in_word:
            continue
        else:
            step, in_word = 1.0, True
        if total + step > budget:
            return i, total
        total += step
    return len(text), total


def _first_part(sentence: str, budget: int) -> tuple[str, str]:
    """A long first sentence cut at its last clause boundary within ``budget`` words (else at
    the word cap): (first part, rest)."""
    end, _ = _budget_end(sentence, budget)
    if end >= len(sentence):
        return sentence, ""
    cuts = [m.end() for m in _CLAUSE_END.finditer(sentence, 0, end)
            if speakable(sentence[:m.end()])]
    if cuts:
        cut = cuts[-1]
    else:
        space = sentence.rfind(" ", 0, end + 1)
        cut = space if space > 0 else _safe_cut(sentence, end)
    return sentence[:cut].strip(), sentence[cut:].strip()


def _bound(piece: str, max_chars: int) -> list[str]:
    """``piece`` cut into pieces of at most ``max_chars``: at a clause, a space, or anywhere."""
    out = []
    while len(piece) > max_chars:
        cuts = [m.end() for m in _CLAUSE_END.finditer(piece, 0, max_chars + 1)
                if m.end() > max_chars // 3]
        if cuts:
            cut = cuts[-1]
        else:
            space = piece.rfind(" ", 0, max_chars + 1)
            cut = space if space > max_chars // 3 else _safe_cut(piece, max_chars)
        out.append(piece[:cut].strip())
        piece = piece[cut:].strip()
    out.append(piece)
    return [p for p in out if p]


def _safe_cut(text: str, at: int) -> int:
    """``at``, moved back so a combining mark stays with its base character."""
    cut = at
    while cut > 1 and unicodedata.combining(text[cut]):
        cut -= 1
    return cut if cut > 0 else at


def _join_short(pieces: list[str], max_chars: int, min_chars: int, first_words: int) -> list[str]:
    parts: list[str] = []
    for piece in pieces:
        if parts and len(parts[-1]) < min_chars:
            joined = _join(parts[-1], piece)
            fits = len(joined) <= max_chars and (len(parts) > 1 or weight(joined) <= first_words)
            if fits:
                parts[-1] = joined
                continue
        parts.append(piece)
    return parts


def _join(left: str, right: str) -> str:
    """Two pieces with a space between them, except between CJK sentences."""
    no_space = _NO_SPACES.match(left[-1]) or left[-1] in _CJK_PUNCTUATION
    return left + right if no_space and _NO_SPACES.match(right[0]) else f"{left} {right}"


def _merge_unspeakable(parts: list[str]) -> list[str]:
    out: list[str] = []
    carry = ""
    for part in parts:
        if not speakable(part):
            if out:
                out[-1] += " " + part
            else:
                carry = f"{carry} {part}".strip()
            continue
        out.append(f"{carry} {part}".strip())
        carry = ""
    return out
