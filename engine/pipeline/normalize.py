"""Chat text made speakable: one deterministic pass in front of every backend and the cache key.

Order matters for idempotence (``normalize_text(normalize_text(x)) == normalize_text(x)``, a
hypothesis property in tests/test_normalize.py): first every step that deletes or folds
characters (controls and invisible characters, character references, zalgo, NFKC, repeated
characters, markup), then the lexical steps that only add plain words between spaces (``link``,
chat slang, long numbers, emoji names), then repeated words and the cap on spoken seconds.
Nothing here raises; deciding that the result has nothing to speak is ``engine.text``'s job.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from functools import lru_cache

import emoji

LATIN_CHARS_PER_SECOND = 15.0
"""Speaking rate assumed for alphabetic scripts, spaces and punctuation (characters/s)."""
CJK_CHARS_PER_SECOND = 5.0
"""Speaking rate assumed for Han, kana, Hangul and digits (characters/s)."""
MAX_MARKS = 2
"""Combining marks kept per base character (after canonical decomposition); more is zalgo."""
MAX_RUN = 2
"""A character repeated more than this many times in a row is cut to this many ("lool")."""
MAX_CJK_RUN = 3
"""The same for Han, kana and Hangul, where three is the usual laughter (哈哈哈, ㅋㅋㅋ)."""
MAX_WORD_REPEATS = 3
"""A word repeated more than this many times in a row is cut to this many."""
MAX_DIGITS = 6
"""Digit strings longer than this (ignoring , and . separators) are spoken as "a long number"."""
EMOJI_MODES = ("name", "drop")


@dataclass(frozen=True)
class NormalizeOptions:
    emoji: str = "name"
    """``name``: each distinct emoji is spoken once by its CLDR name; ``drop``: emoji are removed."""
    max_emoji_names: int = 3
    """At most this many emoji names per message; further emoji are dropped."""
    max_seconds: float = 0.0
    """Estimated spoken seconds kept (cut at a word boundary); 0: no cap."""


@dataclass(frozen=True)
class _Words:
    link: str
    long_number: str
    emoji_lang: str


_WORDS = {"en": _Words("link", "a long number", "en"), "zh": _Words("链接", "一长串数字", "zh")}
_ZH_SLANG = ((re.compile(r"(?<![\d.,])6{3,}(?![\d.,])"), "六六六"),
             (re.compile(r"(?<![\d.,])23{2,}(?![\d.,])"), "哈哈哈"),
             (re.compile(r"(?<![\d.,])5{3,}(?![\d.,])"), "呜呜呜"))
"""Chinese chat numbers: 666 "awesome", 233/2333 laughter, 555 crying (read as the sound)."""

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_CJK_CLASS = (r"\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
              r"\U00020000-\U0003134f")
_SLOW = re.compile(rf"[{_CJK_CLASS}\d]")
"""Characters estimated at ``CJK_CHARS_PER_SECOND``: CJK, and digits (a digit is a word or more)."""
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]{0,200}(?:\x07|\x1b\\)?")
_ENTITY = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z]{2,8});")
_NAMED_ENTITIES = {"amp": "& ", "lt": "<", "gt": ">", "quot": '"', "apos": "'", "nbsp": " "}
_AMP = re.compile(r"&(?=#[0-9]{1,7};|#[xX][0-9a-fA-F]{1,6};|[A-Za-z]{2,8};)")
"""An ampersand that would start a character reference once decoded text joins what follows."""
_TAG = re.compile(r"</?[A-Za-z][^<>]{0,300}>|<[!?][^<>]{0,300}>")
_OPEN = re.compile(r"<(?=[/!?A-Za-z])")
_RUN = re.compile(rf"([^\d\s{_CJK_CLASS}])\1{{{MAX_RUN},}}")
_CJK_RUN = re.compile(rf"([{_CJK_CLASS}])\1{{{MAX_CJK_RUN},}}")
_WORD_RUN = re.compile(rf"\b(\w+)(?:\s+\1\b){{{MAX_WORD_REPEATS},}}", re.IGNORECASE)
_URL = re.compile(r"(?i)(?<![^\W\d_])(?:(?:https?|ftp|wss?)://|www\.)[\x21-\x7e]+"
                  r"|(?<![A-Za-z0-9.-])[A-Za-z0-9][A-Za-z0-9.-]*\.(?:com|net|org|io|gg|tv|ly|be|co|me"
                  r"|app|dev|xyz|ru|de|uk|cn|jp|kr|fr|us|info|live)\b(?:/[\x21-\x7e]*)?")
_OTHER_DIGIT = re.compile(r"(?![0-9])\d")
"""Decimal digits of other scripts (١٢٣, ৩): read as 0-9, which every voice knows."""
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_ROUND = re.compile(r"\d{1,3}(?:[.,]?000)+")
_SPACES = re.compile(r"\s+")
_SKIN = re.compile(r"_(?:light|medium-light|medium|medium-dark|dark)_skin_tone")
_ZWJ, _VS = "\u200d", ("\ufe0e", "\ufe0f")
_TATWEEL = "\u0640"
"""Arabic elongation (kashida): typography, not a sound."""


def normalize_text(text: str, options: NormalizeOptions | None = None) -> str:
    """The text as it should be spoken (possibly empty). Deterministic and idempotent."""
    opts = options or NormalizeOptions()
    text = _strip_invisible(_ANSI.sub(" ", text))
    text = unicodedata.normalize("NFKD", text)
    text = unicodedata.normalize("NFKD", _ENTITY.sub(_entity, text))  # "&#xFF21;" is "Ａ" is "A"
    text = _drop_loose_marks(unicodedata.normalize("NFKC", _limit_marks(text)))
    text = _OTHER_DIGIT.sub(lambda m: str(unicodedata.digit(m.group())), text)
    text = _CJK_RUN.sub(r"\1" * MAX_CJK_RUN, _RUN.sub(r"\1" * MAX_RUN, text))
    text = _OPEN.sub("< ", _TAG.sub(" ", text))  # "<b<i>>": no tag may form on a second pass
    text = _AMP.sub("& ", text)  # after every step that deletes characters
    words = _WORDS["zh" if _HAN.search(text) else "en"]
    text = _URL.sub(f" {words.link} ", text)
    if words is _WORDS["zh"]:
        for pattern, spoken in _ZH_SLANG:
            text = pattern.sub(f" {spoken} ", text)
    text = _NUMBER.sub(lambda m: _number(m.group(), words), text)
    text = _URL.sub(f" {words.link} ", text)  # again: a number cut from "x.com1234567" frees a URL
    text = _emoji(text, opts, words.emoji_lang)
    text = _WORD_RUN.sub(lambda m: " ".join([m.group(1)] * MAX_WORD_REPEATS), text)
    text = _SPACES.sub(" ", text).strip()
    return cap_seconds(text, opts) if opts.max_seconds > 0 else text


def cap_seconds(text: str, options: NormalizeOptions) -> str:
    """Normalized ``text`` cut to ``options.max_seconds`` (estimated), still normalized."""
    uncapped = replace(options, max_seconds=0.0)
    for _ in range(4):  # a cut can leave a new shape ("0.CN0" -> "0.CN", a domain): settle it
        cut = trim_to_seconds(text, options.max_seconds)
        if cut == text:
            return text
        text = normalize_text(cut, uncapped)
    return ""  # never settled (not seen in practice): nothing is safer than a half-cut line


def speakable(text: str) -> bool:
    """Whether any letter or digit (in any script) is left to speak."""
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)


def estimate_seconds(text: str) -> float:
    """Rough spoken length: ~15 characters/s for alphabetic scripts, ~5/s for CJK and digits."""
    slow = len(_SLOW.findall(text))
    return slow / CJK_CHARS_PER_SECOND + (len(text) - slow) / LATIN_CHARS_PER_SECOND


def trim_to_seconds(text: str, max_seconds: float) -> str:
    """The longest prefix estimated under ``max_seconds``, cut at a space when one is near."""
    used, cut = 0.0, len(text)
    for i, ch in enumerate(text):
        used += 1 / CJK_CHARS_PER_SECOND if _SLOW.match(ch) else 1 / LATIN_CHARS_PER_SECOND
        if used > max_seconds:
            cut = i
            break
    else:
        return text
    space = text.rfind(" ", 0, cut + 1)
    if space > cut // 2:
        cut = space
    return text[:cut].rstrip()


@lru_cache(maxsize=4096)
def _category(ch: str) -> str:
    return unicodedata.category(ch)


def _strip_invisible(text: str) -> str:
    """Controls become spaces (CR/LF/TAB) or vanish; format characters (bidi overrides, zero
    widths, variation selectors: emoji are recognized without them), surrogates, private use
    and non-characters vanish. A zero-width joiner is kept only inside an emoji sequence."""
    out: list[str] = []
    prev = ""
    for i, ch in enumerate(text):
        cat = _category(ch)
        if cat in ("Cc", "Zl", "Zp"):
            keep = " " if ch in "\t\n\r\x0b\x0c\x85\u2028\u2029" else ""
        elif ch == _ZWJ:
            nxt = text[i + 1] if i + 1 < len(text) else ""
            keep = ch if prev and nxt and _category(prev) in ("So", "Sk") and _category(nxt) == "So" \
                else ""
        elif _invisible(ch, cat):
            keep = ""
        else:
            keep = ch
        out.append(keep)
        if keep:
            prev = keep
    return "".join(out)


def _invisible(ch: str, cat: str) -> bool:
    if ch in _VS or ch == _TATWEEL or cat in ("Cf", "Cs", "Co"):
        return True
    cp = ord(ch)
    return cat == "Cn" and (0xFDD0 <= cp <= 0xFDEF or (cp & 0xFFFE) == 0xFFFE)


def _entity(match: re.Match[str]) -> str:
    """HTML/SSML character references: markup, not text to spell out."""
    name = match.group(1)
    if not name.startswith("#"):
        return _NAMED_ENTITIES.get(name.lower(), " ")
    cp = int(name[2:], 16) if name[1:2] in "xX" else int(name[1:])
    if cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
        return " "
    ch = chr(cp)
    if ch == "&":
        return "& "
    cat = _category(ch)
    return ch if (cat[0] in "LNPS" and not _invisible(ch, cat)) or ch == " " else " "


def _limit_marks(text: str) -> str:
    """Zalgo (text is decomposed): a base with more than ``MAX_MARKS`` combining marks keeps its
    first ``MAX_MARKS`` in scripts whose vowels are marks, and none on Latin, Greek or Cyrillic
    letters (so "f̷̴͔̠" is "f", not a rare accented letter)."""
    out: list[str] = []
    base, marks = "", []
    for ch in text + "\n":
        if _category(ch)[0] == "M":
            marks.append(ch)
            continue
        if len(marks) > MAX_MARKS:
            marks = marks[:MAX_MARKS] if base and _category(base)[0] == "L" and _needs_marks(base) else []
        out += [base, *marks]
        base, marks = ch, []
    return "".join(out)


def _drop_loose_marks(text: str) -> str:
    """After composition, combining marks left on a Latin, Greek or Cyrillic letter (or on no
    letter at all) are zalgo: a voice would name each one. Scripts whose vowels and tones are
    marks (Devanagari, Thai, Arabic, Hebrew ...) keep theirs."""
    out: list[str] = []
    keep = False
    for ch in text:
        if _category(ch)[0] == "M":
            if keep:
                out.append(ch)
            continue
        keep = _category(ch)[0] == "L" and _needs_marks(ch)
        out.append(ch)
    return "".join(out)


@lru_cache(maxsize=4096)
def _needs_marks(letter: str) -> bool:
    return unicodedata.name(letter, "").split(" ")[0] not in ("LATIN", "GREEK", "CYRILLIC")


def _emoji(text: str, opts: NormalizeOptions, lang: str) -> str:
    """Each distinct emoji named once (at most ``max_emoji_names``) or all dropped; leftover
    joiners become spaces."""
    seen: set[str] = set()

    def name_once(chars: str, data: dict[str, str]) -> str:
        if opts.emoji != "name" or chars in seen or len(seen) >= opts.max_emoji_names:
            return " "
        seen.add(chars)
        return f" {_emoji_name(data, lang)} "

    text = emoji.replace_emoji(text, replace=name_once)
    return text.replace(_ZWJ, " ")


def _emoji_name(data: dict[str, str], lang: str) -> str:
    name = data.get(lang) or data.get("en") or ""
    name = _SKIN.sub("", name) if lang == "en" else name
    return _SPACES.sub(" ", name.replace(":", " ").replace("_", " ")).strip()


def _number(digits: str, words: _Words) -> str:
    count = sum(ch.isdigit() for ch in digits)
    if count <= MAX_DIGITS or (count <= 12 and _ROUND.fullmatch(digits)):
        return digits
    return f" {words.long_number} "


emoji.config.load_language("zh")  # adds the Chinese CLDR names next to the English ones
