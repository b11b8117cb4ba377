"""Chat filters, the template and the per-user voice, on lines shaped like Twitch's."""

from __future__ import annotations

from typing import Any

from filters import ChatFilter, ChatLine, remove_links, remove_ranges, render, voice_for
from settings import PluginSettings


def make(**values: Any) -> ChatFilter:
    return ChatFilter(PluginSettings.from_values({"user_cooldown_s": 0, **values}))


def line(text: str, login: str = "viewer", **extra: Any) -> ChatLine:
    return ChatLine(
        channel="chan", login=login, text=text, display_name=extra.pop("display", login.title()), **extra
    )


def test_command_mode_speaks_only_prefixed_lines_and_strips_the_prefix() -> None:
    f = make()
    assert f.decide(line("hello there"), 0).reason == "no command prefix"
    assert f.decide(line("!ttsfoo hello"), 0).reason == "no command prefix"
    d = f.decide(line("!TTS  hello there"), 0)
    assert d.speak and d.text == "Viewer says hello there"


def test_all_mode_speaks_every_line() -> None:
    d = make(chat_mode="all").decide(line("good morning"), 0)
    assert d.speak and d.text == "Viewer says good morning"


def test_length_limits_apply_after_cleaning() -> None:
    f = make(chat_mode="all", min_length=5, max_length=20)
    assert f.decide(line("hi"), 0).reason == "too short"
    assert f.decide(line("x" * 21), 0).reason == "too long"
    assert f.decide(line("see https://example.com/x now"), 0).text == "Viewer says see now"


def test_links_are_removed_in_their_common_shapes() -> None:
    assert remove_links("a http://x.io/b c").split() == ["a", "c"]
    assert remove_links("go www.site.org now").split() == ["go", "now"]
    assert remove_links("visit twitch.tv/someone please").split() == ["visit", "please"]
    assert remove_links("version 1.2 ok").split() == ["version", "1.2", "ok"]


def test_emote_only_lines_are_skipped_and_emotes_removed_from_speech() -> None:
    f = make(chat_mode="all")
    assert f.decide(line("Kappa Kappa", emotes=[(0, 4), (6, 10)]), 0).reason == "emote-only"
    d = f.decide(line("Kappa hello PogChamp", emotes=[(0, 4), (12, 19)]), 0)
    assert d.text == "Viewer says hello"
    kept = make(chat_mode="all", skip_emote_only=False).decide(line("Kappa", emotes=[(0, 4)]), 0)
    assert kept.speak and kept.text == "Viewer says Kappa"


def test_emote_ranges_count_code_points_and_bad_ranges_are_ignored() -> None:
    assert remove_ranges("héllo Kappa", [(6, 10)]).strip() == "héllo"
    assert remove_ranges("abc", [(5, 9), (2, 1)]) == "abc"


def test_blocked_words_match_whole_words_case_insensitively() -> None:
    f = make(chat_mode="all", blocked_words="spoiler, bad word")
    assert f.decide(line("huge SPOILER ahead"), 0).reason == "blocked word"
    assert f.decide(line("a bad word here"), 0).reason == "blocked word"
    assert f.decide(line("spoilers are fine"), 0).speak


def test_user_block_and_allow_lists() -> None:
    assert (
        make(chat_mode="all", blocked_users="@Troll").decide(line("hi there", "troll"), 0).reason
        == "blocked user"
    )
    f = make(chat_mode="all", allowed_users="friend")
    assert f.decide(line("hi there", "stranger"), 0).reason == "not on the allow list"
    assert f.decide(line("hi there", "friend"), 0).speak


def test_roles_only_lets_subs_mods_vips_and_the_broadcaster_through() -> None:
    f = make(chat_mode="all", roles_only=True)
    assert f.decide(line("hello all"), 0).reason == "not a subscriber, moderator or VIP"
    for badges in ({"subscriber": "12"}, {"moderator": "1"}, {"vip": "1"}, {"broadcaster": "1"}):
        assert f.decide(line("hello all", badges=badges), 0).speak, badges
    assert f.decide(line("hello all", tags={"mod": "1"}), 0).speak


def test_cooldown_is_per_user_and_survives_a_settings_update() -> None:
    f = make(chat_mode="all", user_cooldown_s=10)
    assert f.decide(line("first one", "a"), 100.0).speak
    assert f.decide(line("second one", "a"), 105.0).reason == "cooldown"
    assert f.decide(line("other user", "b"), 105.0).speak
    f.update(PluginSettings.from_values({"chat_mode": "all", "user_cooldown_s": 10}))
    assert f.decide(line("third one", "a"), 109.0).reason == "cooldown"
    assert f.decide(line("fourth one", "a"), 110.5).speak


def test_template_fields_and_a_broken_template_fall_back() -> None:
    d = make(chat_mode="all", chat_template="{user} cheered {bits}: {message} in {channel}").decide(
        line("wow", bits=100, display="Fan"), 0
    )
    assert d.text == "Fan cheered 100: wow in chan"
    assert render("{user} says {message", user="A", message="b") == "A says b"
    assert render("{nope} {message}", message="hi") == "hi"


def test_voice_per_user_is_stable_from_the_pool_unless_mapped() -> None:
    pool = ("v1", "v2", "v3")
    picks = {
        name: voice_for(name, pool=pool, mapping={}, default="d") for name in ("ann", "bob", "cy", "dee")
    }
    assert picks == {name: voice_for(name.upper(), pool=pool, mapping={}, default="d") for name in picks}
    assert set(picks.values()) <= set(pool) and len(set(picks.values())) > 1
    assert voice_for("bob", pool=pool, mapping={"bob": "special"}, default="d") == "special"
    assert voice_for("bob", pool=(), mapping={}, default="d") == "d"
    f = make(chat_mode="all", voice_pool="v1, v2, v3", voice_map="Bob=special")
    assert f.decide(line("hello there", "bob"), 0).voice == "special"
    assert f.decide(line("hello there", "ann"), 0).voice == picks["ann"]
