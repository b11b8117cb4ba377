"""The pipeline: chat filters, moderation, templates, voices, stream events, announcements."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

import pytest

from engine import config, validate
from engine.errors import ConfigError
from engine.pipeline.events import STREAM_EVENT_KINDS, Announcement, ChatMessage, StreamEvent
from engine.pipeline.filters import remove_links, strip_prefix
from engine.pipeline.moderation import Moderation
from engine.pipeline.options import (
    EVENT_TEMPLATES,
    ChatOptions,
    EventKindOptions,
    EventOptions,
    SpeechOptions,
)
from engine.pipeline.pipeline import Drop, Pipeline
from engine.pipeline.templates import format_amount, render
from engine.pipeline.voices import voice_for
from engine.speech.utterance import Utterance

T0 = 1_000_000.0


def make(chat: ChatOptions | None = None, events: EventOptions | None = None,
         speech: SpeechOptions | None = None, moderation: Moderation | None = None) -> Pipeline:
    return Pipeline(chat=chat or ChatOptions(mode="all", user_cooldown_s=0),
                    events=events or EventOptions(), speech=speech or SpeechOptions(),
                    moderation=moderation or Moderation(None))


def chat(text: str, login: str = "alice", **kw: object) -> ChatMessage:
    return ChatMessage(source="twitch", text=text, login=login, display_name=login.title(),
                       channel="chan", received_at=kw.pop("received_at", time.time()), **kw)  # type: ignore[arg-type]


def spoken(result: Utterance | Drop) -> Utterance:
    assert isinstance(result, Utterance), result
    return result


def dropped(result: Utterance | Drop, kind: str) -> Drop:
    assert isinstance(result, Drop), result
    assert result.kind == kind and result.reason
    return result


# -- chat ------------------------------------------------------------------------------------------
def test_chat_line_becomes_an_utterance() -> None:
    msg = chat("hello there")
    u = spoken(make().process(msg, 0.0))
    assert (u.id, u.text, u.parts, u.priority, u.source) == (
        msg.id, "Alice says hello there", ["Alice says hello there"], "chat", "twitch")
    assert (u.user, u.login, u.kind, u.created) == ("Alice", "alice", "chat", msg.received_at)
    assert u.deadline == pytest.approx(msg.received_at + 30)
    assert not u.journaled


def test_command_mode_needs_the_prefix_and_removes_it() -> None:
    p = make(ChatOptions(user_cooldown_s=0))
    assert spoken(p.process(chat("!tts hi there"), 0)).text == "Alice says hi there"
    assert spoken(p.process(chat("!TTS  yo"), 0)).text == "Alice says yo"
    dropped(p.process(chat("hi there"), 0), "no_prefix")
    dropped(p.process(chat("!ttsfoo bar"), 0), "no_prefix")
    assert p.drops["no_prefix"] == 2
    assert strip_prefix("  !tts x", "!tts") == " x" and strip_prefix("x", "") == "x"


def test_length_limits() -> None:
    p = make(ChatOptions(mode="all", min_length=3, max_length=10, user_cooldown_s=0))
    dropped(p.process(chat("hi"), 0), "too_short")
    assert "max_length" in dropped(p.process(chat("x" * 11), 0), "too_long").reason
    spoken(p.process(chat("x" * 10), 0))


def test_links_are_removed_and_a_bare_link_is_nothing_to_say() -> None:
    p = make()
    assert spoken(p.process(chat("look https://x.com/a?b now"), 0)).text == "Alice says look now"
    dropped(p.process(chat("www.example.com"), 0), "empty")
    assert remove_links("see twitch.tv/foo").strip() == "see"
    keep = make(ChatOptions(mode="all", remove_links=False, user_cooldown_s=0))
    assert "example.org" in spoken(keep.process(chat("see example.org"), 0)).text


def test_emote_only_lines() -> None:
    dropped(make().process(chat("Kappa Kappa", emote_only=True), 0), "emote_only")
    off = make(ChatOptions(mode="all", skip_emote_only=False, user_cooldown_s=0))
    spoken(off.process(chat("Kappa Kappa", emote_only=True), 0))


def test_blocked_words_config_and_moderation_at_once() -> None:
    mod = Moderation(None)
    p = make(ChatOptions(mode="all", blocked_words=("Darn",), user_cooldown_s=0), moderation=mod)
    dropped(p.process(chat("oh DARN it"), 0), "blocked_word")
    spoken(p.process(chat("darning socks"), 0))  # whole words only
    spoken(p.process(chat("what heck"), 0))
    mod.block_word("heck")
    dropped(p.process(chat("what the heck"), 0), "blocked_word")
    mod.unblock_word("heck")
    spoken(p.process(chat("what the heck"), 0))
    mod.block_word("笨蛋")
    dropped(p.process(chat("你是笨蛋吗"), 0), "blocked_word")  # no spaces in CJK


def test_user_lists_and_roles() -> None:
    p = make(ChatOptions(mode="all", blocked_users=("@Bob",), user_cooldown_s=0))
    dropped(p.process(chat("hi there", login="bob"), 0), "blocked_user")
    only = make(ChatOptions(mode="all", allowed_users=("carol",), user_cooldown_s=0))
    dropped(only.process(chat("hi there", login="bob"), 0), "not_allowed")
    spoken(only.process(chat("hi there", login="Carol"), 0))
    roles = make(ChatOptions(mode="all", roles_only=True, user_cooldown_s=0))
    dropped(roles.process(chat("hi there"), 0), "role")
    spoken(roles.process(chat("hi there", roles=frozenset({"vip"})), 0))


def test_per_user_cooldown_uses_monotonic_now() -> None:
    p = make(ChatOptions(mode="all", user_cooldown_s=10))
    spoken(p.process(chat("one line"), 100.0))
    d = dropped(p.process(chat("two line"), 105.0), "cooldown")
    assert "5 s ago" in d.reason
    spoken(p.process(chat("other user", login="bob"), 105.0))
    spoken(p.process(chat("three line"), 110.0))
    dropped(p.process(chat("four"), 112.0), "cooldown")  # a dropped line does not restart it
    spoken(p.process(chat("five five"), 120.5))


def test_muted_user_and_unmute_take_effect_at_once() -> None:
    mod = Moderation(None)
    p = make(moderation=mod)
    mod.mute("@Alice", 60, now=T0)
    dropped(p.process(chat("hello", received_at=T0 + 1), 0), "muted")
    spoken(p.process(chat("hello", received_at=T0 + 61), 0))  # the mute ran out
    mod.mute("alice", None)
    dropped(p.process(chat("hello again"), 0), "muted")
    assert mod.unmute("ALICE") and not mod.unmute("alice")
    spoken(p.process(chat("hello again"), 0))


def test_cheer_uses_the_bits_template_without_prefix_or_cooldown() -> None:
    p = make(ChatOptions(user_cooldown_s=60))
    u = spoken(p.process(chat("Cheer100 great stream", bits=100), 0.0))
    assert u.text == "Alice cheered 100 bits: great stream"
    u = spoken(p.process(chat("cheer50", bits=50), 1.0))
    assert u.text == "Alice cheered 50 bits"
    plain = make(ChatOptions(bits_template="", user_cooldown_s=0))
    dropped(plain.process(chat("Cheer100 great", bits=100), 0), "no_prefix")


def test_voice_map_then_pool_then_default() -> None:
    opts = ChatOptions(mode="all", user_cooldown_s=0, voice_pool=("v1", "v2", "v3"),
                       voice_map={"@Bob": "bobvoice"}, voice="fallback", backend="edge")
    p = make(opts)
    assert spoken(p.process(chat("hi there", login="bob"), 0)).voice == "bobvoice"
    u = spoken(p.process(chat("hi there", login="alice"), 0))
    assert u.voice in ("v1", "v2", "v3") and u.backend == "edge"
    # stable per login, and spread over the pool
    assert {voice_for(f"user{i}", pool=opts.voice_pool, mapping={}) for i in range(50)} == {"v1", "v2", "v3"}
    assert voice_for("Alice", pool=opts.voice_pool, mapping={}) == u.voice
    assert voice_for("x", pool=(), mapping={}, default="d") == "d"
    assert spoken(make().process(chat("hi there"), 0)).voice is None


def test_chat_template_fields_and_a_broken_template() -> None:
    p = make(ChatOptions(mode="all", user_cooldown_s=0, template="[{channel}] {login}: {message} {nope}"))
    assert spoken(p.process(chat("hey you"), 0)).text == "[chan] alice: hey you"
    broken = make(ChatOptions(mode="all", user_cooldown_s=0, template="{user says {message}"))
    assert spoken(broken.process(chat("hey you"), 0)).text == "Alice says hey you"


def test_long_chat_is_split_into_parts() -> None:
    p = make(ChatOptions(mode="all", user_cooldown_s=0, max_length=1000),
             speech=SpeechOptions(max_part_chars=60))
    u = spoken(p.process(chat("This is a sentence. " * 10), 0))
    assert len(u.parts) > 1 and all(len(x) <= 60 for x in u.parts)


# -- stream events --------------------------------------------------------------------------------
def event(kind: str, **kw: object) -> StreamEvent:
    return StreamEvent(source="twitch", kind=kind, user=str(kw.pop("user", "Dana")), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("ev", "text"), [
    (event("sub"), "Dana just subscribed!"),
    (event("resub", count=5, message="love it"), "Dana resubscribed for 5 months: love it"),
    (event("resub", count=5), "Dana resubscribed for 5 months"),
    (event("gift", count=10), "Dana gifted 10 subs!"),
    (event("raid", count=42), "Dana is raiding with 42 viewers!"),
    (event("bits", amount=500, message="gg"), "Dana cheered 500 bits: gg"),
    (event("bits", count=300), "Dana cheered 300 bits"),
    (event("donation", amount=5, currency="USD", message="hi"), "Dana donated $5.00: hi"),
    (event("donation", amount=5, currency="eur"), "Dana donated €5.00"),
    (event("donation", amount=12.5, currency="CAD", message="x y"), "Dana donated 12.50 CAD: x y"),
    (event("superchat", amount=1000, currency="JPY", message="yo"), "Dana sent a Super Chat of ¥1,000: yo"),
    (event("sub", user=""), "Someone just subscribed!"),
])
def test_event_templates(ev: StreamEvent, text: str) -> None:
    u = spoken(make().process(ev, 0))
    assert (u.text, u.priority, u.kind, u.id) == (text, "event", ev.kind, ev.id)
    assert u.journaled and u.deadline == pytest.approx(ev.received_at + 600)


def test_event_kinds_on_off_and_follow_off_by_default() -> None:
    d = dropped(make().process(event("follow"), 0), "event_off")
    assert d.reason == "events.follow.enabled is off"
    on = EventOptions(follow=EventKindOptions(enabled=True), sub=EventKindOptions(enabled=False))
    assert spoken(make(events=on).process(event("follow"), 0)).text == "Dana just followed!"
    dropped(make(events=on).process(event("sub"), 0), "event_off")
    d = dropped(make(events=EventOptions(enabled=False)).process(event("raid"), 0), "event_off")
    assert d.reason == "events.enabled is off"


def test_min_amount() -> None:
    opts = EventOptions(bits=EventKindOptions(min_amount=100),
                        donation=EventKindOptions(min_amount=5, template="{user}: {amount}"))
    p = make(events=opts)
    d = dropped(p.process(event("bits", amount=99), 0), "under_min_amount")
    assert d.reason == "99 is under events.bits.min_amount (100)"
    spoken(p.process(event("bits", amount=100), 0))
    dropped(p.process(event("donation", amount=4.99, currency="USD"), 0), "under_min_amount")
    assert spoken(p.process(event("donation", amount=5, currency="USD"), 0)).text == "Dana: $5.00"


def test_event_message_left_out_when_muted_blocked_or_linked() -> None:
    mod = Moderation(None)
    p = make(ChatOptions(blocked_words=("spoiler",)), moderation=mod,
             events=EventOptions(voice="evvoice", backend="piper"))
    u = spoken(p.process(event("donation", amount=5, currency="USD", message="big spoiler"), 0))
    assert (u.text, u.voice, u.backend) == ("Dana donated $5.00", "evvoice", "piper")
    linked = spoken(p.process(event("bits", amount=5, message="see x.com"), 0))
    assert linked.text == "Dana cheered 5 bits: see"
    mod.mute("dana", None)
    assert spoken(p.process(event("resub", count=2, message="hi"), 0)).text == \
        "Dana resubscribed for 2 months"


# -- announcements --------------------------------------------------------------------------------
def test_announcement_passes_with_its_voice_and_backend() -> None:
    ann = Announcement(text="  Welcome   back!  ", source="hotkey", voice="v", backend="xtts")
    u = spoken(make().process(ann, 0))
    assert (u.text, u.parts, u.priority, u.source, u.kind) == (
        "Welcome back!", ["Welcome back!"], "announcement", "hotkey", "hotkey")
    assert (u.voice, u.backend) == ("v", "xtts")
    assert u.deadline == pytest.approx(ann.received_at + 900)
    plain = spoken(make().process(Announcement(text="Hi"), 0))
    assert (plain.voice, plain.backend) == (None, None)
    no_deadline = make(speech=SpeechOptions(announcement_deadline_s=0))
    assert spoken(no_deadline.process(Announcement(text="Hi"), 0)).deadline is None


def test_unspeakable_announcement_is_dropped() -> None:
    assert dropped(make().process(Announcement(text=" -- ... "), 0), "empty").reason == "nothing to say"


def test_each_drop_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="engine.pipeline.pipeline")
    p = make(ChatOptions(user_cooldown_s=0))
    p.process(chat("no prefix"), 0)
    p.process(event("follow"), 0)
    records = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert records == [(logging.DEBUG, "Dropped chat from Alice: no !tts prefix"),
                       (logging.INFO, "Dropped stream_event from Dana: events.follow.enabled is off")]


# -- templates ------------------------------------------------------------------------------------
def test_render_and_amounts() -> None:
    assert render("{user} donated {amount}: {message}", user="A", amount="$1.00", message="") == \
        "A donated $1.00"
    assert render("{user}!", user="A", message="") == "A!"
    assert format_amount(1234.5, "usd") == "$1,234.50"
    assert format_amount(500, "KRW") == "₩500"
    assert format_amount(5, "") == "5" and format_amount(2.5, "") == "2.50"
    assert format_amount(3, "BRL") == "3.00 BRL"


# -- options --------------------------------------------------------------------------------------
def test_options_from_config_mappings() -> None:
    chat_opts = validate.from_mapping(ChatOptions, {
        "mode": "all", "blocked_words": ["a"], "voice_map": {"bob": "v"}, "backend": None}, "chat")
    assert chat_opts.blocked_words == ("a",) and chat_opts.voice_map == {"bob": "v"}
    ev = validate.from_mapping(EventOptions, {"follow": {"enabled": True},
                                              "sub": {"template": "yay {user}"}}, "events")
    assert ev.kind("follow") == EventKindOptions(enabled=True, template="{user} just followed!")
    assert ev.kind("sub") == EventKindOptions(enabled=True, template="yay {user}")
    assert ev.kind("donation").template == "{user} donated {amount}: {message}"  # type: ignore[union-attr]
    assert ev.kind("enabled") is None and ev.kind("nope") is None
    with pytest.raises(ConfigError, match=r"chat\.mode"):
        validate.from_mapping(ChatOptions, {"mode": "some"}, "chat")
    with pytest.raises(ConfigError, match=r"events\.bits\.min_amount"):
        validate.from_mapping(EventOptions, {"bits": {"min_amount": -1}}, "events")
    with pytest.raises(ConfigError, match=r"speech\.max_queue"):
        validate.from_mapping(SpeechOptions, {"max_queue": 0}, "speech")
    assert replace(SpeechOptions(), max_queue=5).max_queue == 5


def test_shipped_config_yaml_matches_the_defaults() -> None:
    shipped = config.load(Path(__file__).resolve().parent.parent / "config.yaml")
    assert shipped.chat == ChatOptions() and shipped.speech == SpeechOptions()
    defaults = EventOptions()
    for kind in ("sub", "resub", "gift", "raid", "bits", "donation", "follow", "member",
                 "superchat", "supersticker", "merch", "gift_item", "guard"):
        assert shipped.events.kind(kind) == defaults.kind(kind), kind


def test_every_stream_event_kind_has_options() -> None:
    assert set(EVENT_TEMPLATES) == set(STREAM_EVENT_KINDS)
    for kind in STREAM_EVENT_KINDS:
        assert isinstance(EventOptions().kind(kind), EventKindOptions)
