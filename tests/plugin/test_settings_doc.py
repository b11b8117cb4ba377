"""The settings are declared once: README-settings.md is generated from the declaration and up to
date, and it says where every removed plugin setting now lives in the engine's config.yaml."""

from __future__ import annotations

import subprocess
import sys

import settings_doc
from conftest import PLUGIN
from settings import BY_KEY, DECLARED, SETTINGS, PluginSettings

OLD_KEYS = (
    "chat_enabled", "twitch_channel", "irc_host", "irc_port", "irc_tls", "chat_mode", "command_prefix",
    "min_length", "max_length", "remove_links", "skip_emote_only", "blocked_words", "blocked_users",
    "allowed_users", "roles_only", "user_cooldown_s", "chat_template", "chat_backend", "voice_pool",
    "voice_map", "chat_deadline_s", "max_queue", "playback_mode", "max_playback_s", "default_voice",
    "default_backend", "subscribe_announcements",
)


def test_the_readme_is_generated_from_the_declaration_and_up_to_date() -> None:
    result = subprocess.run([sys.executable, str(PLUGIN / "settings_doc.py"), "--check"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    readme = settings_doc.README.read_text("utf-8")
    for setting in DECLARED:
        assert f"| `{setting.key.replace('{n}', '{N}')}` |" in readme


def test_every_removed_setting_says_where_it_lives_now() -> None:
    moved = dict(settings_doc.MOVED)
    assert set(OLD_KEYS) == set(moved)
    assert not set(moved) & set(BY_KEY)
    assert moved["twitch_channel"] == "`sources.twitch.channel`"
    assert moved["chat_template"] == "`chat.template`"
    readme = settings_doc.README.read_text("utf-8")
    assert "## Moved to the engine" in readme and "How to move an old setup over" in readme
    for key in OLD_KEYS:
        assert f"| `{key}` |" in readme


def test_values_are_parsed_and_bad_ones_fall_back() -> None:
    parsed = PluginSettings.from_values({"slot2_text": " Hi ", "autostart_engine": "yes", "media_source": "",
                                         "scene_messages": "BRB=Back soon\nbroken line\n*=On {scene}"})
    assert parsed.slots[1].text == "Hi" and parsed.autostart_engine is False
    assert parsed.media_source == "TTS Audio"
    assert parsed.scene_template("BRB") == "Back soon" and parsed.scene_template("Game") == "On {scene}"
    assert len(SETTINGS) == len(DECLARED) + 3 * 4  # three slot settings, five slots each
