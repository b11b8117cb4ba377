"""Chat text is normalized the same way for synthesis and the cache key; bad text is refused."""

from __future__ import annotations

import pytest

from engine.errors import BadRequest, TextTooLong
from engine.text import normalize


def test_whitespace_and_invisible_characters_are_normalized() -> None:
    assert normalize("  hi \n\t there  ", max_chars=100) == "hi there"
    assert normalize("evil\u202eedoc\u200b zero", max_chars=100) == "eviledoc zero"
    assert normalize("e\u0301", max_chars=10) == "\u00e9"  # NFC: one clip for both spellings


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\u200b\u200b"])
def test_empty_text_is_refused(text: str) -> None:
    with pytest.raises(BadRequest, match="empty"):
        normalize(text, max_chars=10)


@pytest.mark.parametrize("text, code", [("bell\x07", "U+0007"), ("nul\x00", "U+0000"),
                                        ("esc\x1b[31m", "U+001B"), ("c1\x85", "U+0085")])
def test_control_characters_are_refused_with_their_code_point(text: str, code: str) -> None:
    with pytest.raises(BadRequest, match=code.replace("+", r"\+")):
        normalize(text, max_chars=100)


def test_lone_surrogates_and_wrong_types_are_refused() -> None:
    with pytest.raises(BadRequest, match="surrogate"):
        normalize("bad \ud800 text", max_chars=100)
    with pytest.raises(BadRequest, match="must be a string"):
        normalize(42, max_chars=100)


def test_the_limit_is_named() -> None:
    with pytest.raises(TextTooLong) as err:
        normalize("a" * 11, max_chars=10)
    assert "limit is 10" in err.value.message and err.value.status == 413


def test_emoji_and_other_scripts_pass_through() -> None:
    text = "观众弹幕内容 👩‍💻 Привет"
    assert normalize(text, max_chars=100) == text
