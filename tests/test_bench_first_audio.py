"""bench/first_audio.py's measures: the word error rate and the silent runs it reports."""

from __future__ import annotations

import numpy as np

from bench.first_audio import long_first, silent_runs, wer


def test_word_error_rate_counts_edits_per_reference_word() -> None:
    assert wer("Thanks so much, Robin!", "thanks so much robin") == 0.0
    assert wer("one two three four", "one too three") == 0.5  # a substitution and a deletion
    assert wer("a b", "a b c d") == 1.0  # two insertions


def test_silent_runs_find_a_pause_between_two_tones() -> None:
    rate = 16_000
    tone = (np.sin(np.arange(rate // 2) / rate * 2 * np.pi * 200) * 9000).astype(np.int16)
    gap = np.zeros(rate * 3 // 10, dtype=np.int16)
    runs = silent_runs(np.concatenate([tone, gap, tone]), rate)
    assert runs == [(500, 300)]


def test_the_long_first_sentence_has_27_words() -> None:
    assert all(len(long_first(i).split()) == 27 for i in range(30))
