"""The text normalizer: examples of each rule, and hypothesis properties (never raises except the
documented ``BadRequest``, output bounded, idempotent)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from engine.errors import BadRequest, NothingToSpeak, TextTooLong
from engine.pipeline.normalize import NormalizeOptions, estimate_seconds, normalize_text
from engine.pipeline.text import normalize

# Pieces that exercise every rule and their interactions: markup, entities, joiners, marks,
# URLs, digits, Chinese slang, emoji with modifiers, controls, fullwidth and math letters.
HOSTILE_PIECES = ["<", ">", "<b>", "</i>", "&", "&amp;", "&lt;", "&#60;", "&#x26;", ";", "#", "l", "t",
                  "\u200d", "\u200b", "\u202e", "\ufe0f", "\u20e3", "\u0301", "\u0338", "\x07", "\r\n",
                  "\x1b[31m", "\ud800", "\ufffe", " ", "  ", ".", ",", "/", ":", "w", "www.", "http://",
                  ".com", "6", "3", "2", "5", "0", "1234567", "中", "哈", "六", "😀", "👩", "💻", "🏽", "🇺",
                  "🇸", "★", "ｆ", "𝕗", "a", "A", "lol", "o", "x", "ﷺ", "㍿", "ـ", "ا", "ア", "한", "й",
                  "b", "i"]
hostile_text = st.lists(st.sampled_from(HOSTILE_PIECES), max_size=40).map("".join)
any_text = st.one_of(st.text(max_size=200), hostile_text)
OPTIONS = [NormalizeOptions(), NormalizeOptions(emoji="drop"), NormalizeOptions(max_seconds=2.0),
           NormalizeOptions(emoji="drop", max_seconds=0.5, max_emoji_names=1)]
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(text=any_text, which=st.integers(0, len(OPTIONS) - 1), max_chars=st.integers(1, 300))
@example(text="&&#108;t;", which=0, max_chars=50)
@example(text="<<b>b>", which=0, max_chars=50)
@example(text="wwww.x.com", which=0, max_chars=50)
@example(text="<\u0301b>x", which=0, max_chars=50)
@example(text="<b<i>> <?<?>>", which=0, max_chars=50)
@example(text="<a" + "x" * 400 + ">", which=0, max_chars=50)
def test_never_raises_but_bad_request_is_bounded_and_idempotent(text: str, which: int,
                                                                 max_chars: int) -> None:
    opts = OPTIONS[which]
    try:
        once = normalize(text, max_chars=max_chars, options=opts)
    except BadRequest as exc:
        assert exc.status in (400, 413) and exc.message
        return
    assert 0 < len(once) <= max_chars
    assert normalize(once, max_chars=max_chars, options=opts) == once
    if opts.max_seconds:
        assert estimate_seconds(once) <= opts.max_seconds + 1e-9


@SETTINGS
@given(text=any_text)
def test_the_normalizer_itself_is_idempotent_without_a_cap(text: str) -> None:
    once = normalize_text(text)
    assert normalize_text(once) == once


@pytest.mark.parametrize("text, spoken", [
    ("ｆｕｌｌｗｉｄｔｈ 𝕗𝕒𝕟𝕔𝕪", "fullwidth fancy"),
    ("Z\u0336\u0337\u0338\u0301\u0302\u0303\u0304a\u0302\u0301lgo", "Zấlgo"),
    ("हिन्दी नमस्ते", "हिन्दी नमस्ते"),  # marks that are vowels stay
    ("zero\u200bwidth \u202eright\u202c", "zerowidth right"),
    ("bell\x07 \x1b[31mred\x1b[0m", "bell red"),
    ("line\r\nPRIVMSG #chan :hi\ttab", "line PRIVMSG #chan :hi tab"),
    ("looooooool yessss", "lool yess"),
    ("lol LOL lol lol lol", "lol lol lol"),
    ("😀" * 10_000, "grinning face"),
    ("👋🏽 hi 🎉 🎉 🤖 👍 ❤️", "waving hand hi party popper robot"),
    ("look https://example.com/a?b=1 and www.x.org or twitch.tv/me", "look link and link or link"),
    ("1234567890 and 42 and 1,000,000", "a long number and 42 and 1,000,000"),
    ("<speak><prosody rate='x-slow'>Hello</prosody><break time='9s'/></speak>", "Hello"),
    ("&lt;b&gt;bold&lt;/b&gt; R&amp;D &#72;i", "bold R& D Hi"),
    ("主播666 2333333 哈哈哈哈哈哈", "主播 六六六 哈哈哈 哈哈哈"),
    ("看 https://b.cn 吧 😀 12345678", "看 链接 吧 嘿嘿 一长串数字"),
    ("666 in English", "666 in English"),
])
def test_each_rule(text: str, spoken: str) -> None:
    assert normalize(text, max_chars=1000) == spoken


def test_emoji_can_be_dropped_and_then_only_emoji_is_nothing_to_speak() -> None:
    drop = NormalizeOptions(emoji="drop")
    assert normalize("hi 😀", max_chars=100, options=drop) == "hi"
    with pytest.raises(NothingToSpeak, match="emoji"):
        normalize("😀😀", max_chars=100, options=drop)


@pytest.mark.parametrize("text", [".", "?!", "--", "...", "“”", "^^", "<b></b>", "&nbsp;", "\u200b\x07",
                                  "\u0301\u0301", "; --", "★☆"])
def test_only_punctuation_or_markup_is_nothing_to_speak(text: str) -> None:
    with pytest.raises(NothingToSpeak) as err:
        normalize(text, max_chars=100)
    assert err.value.status == 400 and err.value.code == "nothing_to_speak"


def test_the_cap_cuts_at_a_word_and_keeps_cjk_shorter() -> None:
    capped = NormalizeOptions(max_seconds=2.0)
    latin = normalize("one two three four five six seven eight nine ten", max_chars=1000, options=capped)
    assert latin == "one two three four five six" and estimate_seconds(latin) <= 2.0
    han = normalize("观众弹幕内容" * 10, max_chars=1000, options=capped)
    assert len(han) == 10


def test_the_char_limit_applies_before_the_cap() -> None:
    """server.max_text_chars refuses a long paste; the cap only shortens what it accepts."""
    with pytest.raises(TextTooLong):
        normalize(" ".join(f"w{i}" for i in range(300)), max_chars=1000,
                  options=NormalizeOptions(max_seconds=20))


def test_giant_input_is_refused_before_normalizing_but_floods_that_shrink_are_spoken() -> None:
    with pytest.raises(TextTooLong, match="limit is 10"):
        normalize("x " * 700, max_chars=10)
    assert normalize("lol " * 100, max_chars=20) == "lol lol lol"
    with pytest.raises(TextTooLong, match="after normalization"):
        normalize("one two three four", max_chars=10)
