"""Chat text is normalized the same way for synthesis and the cache key; bad text is refused."""

from __future__ import annotations

import pytest

from engine.errors import BadRequest, NothingToSpeak, TextTooLong
from engine.pipeline.text import normalize


def test_whitespace_and_invisible_characters_are_normalized() -> None:
    assert normalize("  hi \n\t there  ", max_chars=100) == "hi there"
    assert normalize("evil\u202eedoc\u200b zero", max_chars=100) == "eviledoc zero"
    assert normalize("e\u0301", max_chars=10) == "\u00e9"  # NFC: one clip for both spellings


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\u200b\u200b", "\x07\x00"])
def test_empty_text_is_refused_as_nothing_to_speak(text: str) -> None:
    with pytest.raises(NothingToSpeak, match="nothing to speak"):
        normalize(text, max_chars=10)


@pytest.mark.parametrize("text, spoken", [("bell\x07 rings", "bell rings"), ("nul\x00 byte", "nul byte"),
                                          ("esc\x1b[31m red", "esc red"), ("c1\x85next", "c1 next"),
                                          ("bad \ud800 half", "bad half"), ("nc\ufffe x", "nc x")])
def test_control_characters_and_surrogates_are_stripped_not_fatal(text: str, spoken: str) -> None:
    """Chat: one stray control character must not lose the whole message."""
    assert normalize(text, max_chars=100) == spoken


def test_wrong_types_are_refused() -> None:
    with pytest.raises(BadRequest, match="must be a string"):
        normalize(42, max_chars=100)


def test_the_limit_is_named() -> None:
    with pytest.raises(TextTooLong) as err:
        normalize("abcdefghijk", max_chars=10)
    assert "limit is 10" in err.value.message and err.value.status == 413


def test_other_scripts_pass_through_and_emoji_are_named_in_the_line_language() -> None:
    assert normalize("观众弹幕内容 👩‍💻 Привет", max_chars=100) == "观众弹幕内容 女程序员 Привет"
    assert normalize("こんにちは 안녕 مرحبا", max_chars=100) == "こんにちは 안녕 مرحبا"
