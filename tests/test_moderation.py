"""Moderation: mutes and blocked words that take effect at once and survive a restart."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from engine.pipeline.moderation import Moderation


def test_moderation_persists_atomically(tmp_path: Path) -> None:
    path = tmp_path / "mod" / "moderation.json"
    mod = Moderation(path)
    now = time.time()
    mod.mute("Spammer", 3600, now=now)
    mod.mute("troll", None)
    mod.mute("brief", 1, now=now - 10)  # already over: not kept
    mod.block_word(" Heck ")
    assert json.loads(path.read_text())["blocked_words"] == ["heck"]
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind
    again = Moderation(path)
    assert again.is_muted("spammer", now + 10) and not again.is_muted("spammer", now + 3601)
    assert again.is_muted("TROLL", now + 1e9)
    assert not again.is_muted("brief", now) and not again.is_muted("nobody", now)
    assert again.blocked_words() == frozenset({"heck"})
    assert again.status(now)["muted"] == [{"login": "spammer", "until": now + 3600},
                                          {"login": "troll", "until": None}]
    with pytest.raises(ValueError):
        again.mute("x", 0)
    with pytest.raises(ValueError):
        again.block_word("  ")


def test_moderation_ignores_a_broken_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "moderation.json"
    path.write_text("{not json")
    mod = Moderation(path)
    assert mod.status()["muted"] == [] and "Ignoring the moderation file" in caplog.text
    mod.mute("a", None)
    assert Moderation(path).is_muted("a", time.time())
