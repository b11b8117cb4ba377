"""split_parts: sentences, an early first part, no unspeakable part, nothing lost."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from engine.speech.split import speakable, split_parts, weight


def _alnum(text: str) -> str:
    return "".join(ch for ch in text if ch.isalnum())


def test_short_text_is_one_part() -> None:
    assert split_parts("Hello there. How are you?") == ["Hello there. How are you?"]


def test_sentences_are_parts_and_short_ones_are_joined() -> None:
    text = ("This first sentence is long enough to stand alone as a part. Short one. "
            "Another rather long sentence follows right here, and it keeps on going.")
    assert split_parts(text, min_chars=40) == [
        "This first sentence is long enough to stand alone as a part.",
        "Short one. Another rather long sentence follows right here, and it keeps on going.",
    ]


def test_long_first_sentence_is_cut_at_a_clause_within_the_word_cap() -> None:
    text = ("So yesterday I went to the store, and I bought a lot of things, then I came home "
            "and cooked dinner for everyone. Then bed.")
    parts = split_parts(text)
    assert parts[0] == "So yesterday I went to the store,"
    assert weight(parts[0]) <= 12
    assert " ".join(parts) == text


def test_long_first_sentence_without_a_clause_is_cut_at_the_word_cap() -> None:
    words = [f"word{i}" for i in range(30)]
    parts = split_parts(" ".join(words) + ".")
    assert parts[0] == " ".join(words[:12])
    assert len(parts) == 2


def test_only_the_first_sentence_is_cut_for_speed() -> None:
    second = "Then a second sentence, with a comma, that runs on for many many more words than twelve."
    parts = split_parts("Hello everyone out there. " + second)
    assert parts == ["Hello everyone out there.", second]


def test_cjk_sentences_and_clauses() -> None:
    text = "你好。今天天气很好，我们去公园散步吧，然后一起去吃饭，好不好？是的。"
    parts = split_parts(text)
    assert parts[0] == "你好。"
    assert "".join(parts) == text  # joined without spaces between CJK sentences
    long_first = "今天天气很好，我们去公园散步吧，然后一起去吃饭，晚上再一起去看电影，好不好？"
    first = split_parts(long_first)[0]
    assert first.endswith("，") and weight(first) <= 12


def test_semicolons_and_colons_end_sentences() -> None:
    text = "The first clause is long enough to be its own part; the second one is too, really."
    assert split_parts(text, min_chars=20) == [
        "The first clause is long enough to be its own part;",
        "the second one is too, really.",
    ]


def test_max_chars_cuts_a_long_sentence() -> None:
    text = "Hello. " + ", ".join(["many words in a clause"] * 20) + "."
    parts = split_parts(text, max_chars=60)
    assert all(len(p) <= 60 for p in parts)
    assert _alnum("".join(parts)) == _alnum(text)


def test_a_word_longer_than_max_chars_is_cut_anywhere() -> None:
    parts = split_parts("a" * 450, max_chars=200)
    assert [len(p) for p in parts] == [200, 200, 50]


def test_unspeakable_tail_is_merged() -> None:
    assert split_parts("hello; --") == ["hello; --"]
    text = "This line is long enough to be its own part, surely; -- ... !!"
    assert split_parts(text, min_chars=10) == [text]


def test_unspeakable_head_is_merged_into_the_next_part() -> None:
    assert split_parts("... ; Hello there") == ["... ; Hello there"]


def test_nothing_speakable_gives_no_parts() -> None:
    assert split_parts("") == []
    assert split_parts("  -- ; !! ...  ") == []


def test_whitespace_is_collapsed() -> None:
    assert split_parts("  hello \n\t world  ") == ["hello world"]


def test_deterministic() -> None:
    text = "One, two, three, four, five, six, seven, eight, nine, ten, eleven, twelve, thirteen."
    assert split_parts(text) == split_parts(text)


_TEXT = st.text(
    alphabet=st.sampled_from([*"abc XYZ 123 .!?;:,-—…\"')\n\t。！？；：、，你好世界 éü", "\u0301"]),
    max_size=400,
)


@settings(max_examples=300, deadline=None, database=None)  # no .hypothesis/ in the checkout
@given(text=_TEXT | st.text(max_size=300),
       max_chars=st.integers(min_value=1, max_value=120),
       first_words=st.integers(min_value=1, max_value=15))
@example(text="hello; --", max_chars=200, first_words=12)
@example(text="a" * 300 + "\u0301" * 3, max_chars=7, first_words=1)
def test_properties(text: str, max_chars: int, first_words: int) -> None:
    parts = split_parts(text, max_chars=max_chars, first_words=first_words)
    # nothing speakable lost or reordered; indeed no non-space character at all
    assert _alnum(" ".join(parts)) == _alnum(text)
    if speakable(text):
        assert "".join(" ".join(parts).split()) == "".join(text.split())
    # every part can be spoken, and is trimmed
    assert all(speakable(p) and p == p.strip() for p in parts)
    assert parts or not speakable(text)
    # the speakable content of a part respects max_chars (unspeakable neighbours may be merged in)
    assert all(len(_alnum(p)) <= max_chars for p in parts)
    assert split_parts(text, max_chars=max_chars, first_words=first_words) == parts
