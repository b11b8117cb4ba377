"""Bench texts: distinct per repetition, so neither side can reuse earlier work."""

from __future__ import annotations

NAMES = ["Alex", "Sam", "Jordan", "Riley", "Casey", "Morgan", "Taylor", "Jamie", "Robin", "Quinn",
         "Avery", "Drew", "Emery", "Finley", "Harper", "Kai", "Logan", "Parker", "Reese", "Skyler"]
GAMES = ["the boss fight", "the speedrun", "the next map", "ranked", "the puzzle", "the finale"]


def chat_line(i: int) -> str:
    """A chat-length line (about one second of speech)."""
    return f"{NAMES[i % len(NAMES)]} says good luck on {GAMES[i % len(GAMES)]} number {i}!"


def announcement(i: int) -> str:
    """Five sentences, about twelve seconds of speech."""
    name = NAMES[i % len(NAMES)]
    return (f"Huge thanks to {name} for the raid with {i + 12} viewers. "
            f"Welcome in, everyone, grab a snack and make yourselves at home. "
            f"We are about to start {GAMES[i % len(GAMES)]}, so get ready. "
            f"If you are new here, hit follow so you never miss a stream. "
            f"Now let's see if we can finally beat it on try number {i + 3}.")


CACHE_CLIP = "Thanks so much for the follow, and welcome to the channel. We are glad you are here tonight."
"""About four seconds of speech with the bundled voice."""


def burst_lines(distinct: int) -> list[str]:
    return [f"{NAMES[i % len(NAMES)]}: that was a great play, number {i}!" for i in range(distinct)]
