"""IRC line parsing (tags, prefix, params), bounded line splitting, and Twitch tags -> events."""

from __future__ import annotations

import pytest

from engine.errors import EngineError
from engine.sources.irc import (MAX_LINE_BYTES, IrcParseError, LineSplitter, escape_tag, parse_line,
                                unescape_tag)
from engine.sources.twitch_events import chat_message, is_emote_only, parse_emotes, roles, stream_event


def test_parses_tags_prefix_command_and_params() -> None:
    msg = parse_line("@badges=moderator/1;display-name=Some\\sUser;empty=;flag "
                     ":nick!user@host PRIVMSG #chan :hello: there  you\r\n")
    assert msg.tags == {"badges": "moderator/1", "display-name": "Some User", "empty": "", "flag": ""}
    assert (msg.prefix, msg.nick, msg.command) == ("nick!user@host", "nick", "PRIVMSG")
    assert msg.params == ("#chan", "hello: there  you")
    assert parse_line("ping :tmi.twitch.tv").command == "PING"
    welcome = parse_line(":srv 001 me :Welcome")
    assert (welcome.command, welcome.params, welcome.nick) == ("001", ("me", "Welcome"), "srv")
    assert parse_line(":srv CAP  *  NAK :a b").params == ("*", "NAK", "a b")
    assert parse_line("PRIVMSG #c :").params == ("#c", "")
    assert welcome.param(5, "none") == "none" and welcome.param(-1) == "Welcome"


def test_tag_escaping_round_trips() -> None:
    assert unescape_tag(r"a\:b\sc\\d\re\nf\x") == "a;b c\\d\re\nfx"
    assert unescape_tag("end\\") == "end"
    for text in ("semi;colon", "back\\slash", "sp ace", "cr\rlf\n", ""):
        assert unescape_tag(escape_tag(text)) == text


@pytest.mark.parametrize("line", [
    "", "   ", "@only=tags", "@a=b ", ":prefix-only", ":p 01 x", "PRIV!MSG #c :x",
    "PRIVMSG #c :nul\0here", "PRIVMSG #c :cr\rinside", "PRIVMSG #c :" + "x" * MAX_LINE_BYTES,
    "@" + "k=v;" * 2100 + " PING :x",
])
def test_invalid_lines_raise_a_typed_error(line: str) -> None:
    with pytest.raises(IrcParseError) as caught:
        parse_line(line)
    assert isinstance(caught.value, EngineError) and caught.value.code == "bad_irc_line"


def test_line_splitter_bounds_lines_and_survives_chunking() -> None:
    splitter = LineSplitter(max_bytes=32)
    assert splitter.feed(b"PING :a\r\nPRIVMSG #c :he") == ["PING :a"]
    assert splitter.feed(b"llo\r\n\r\n\nPING :b\n") == ["PRIVMSG #c :hello", "PING :b"]
    assert splitter.feed(b"X" * 40 + b"\r\nPING :c\r\n") == ["PING :c"]  # dropped whole
    assert splitter.overlong == 1
    for _ in range(5):  # an endless line without a newline: buffered no further, counted once
        assert splitter.feed(b"Y" * 30) == []
    assert splitter.overlong == 2
    assert splitter.feed(b"tail of it\r\nPING :\xff\r\n") == ["PING :\ufffd"]
    assert splitter.overlong == 2
    exact = LineSplitter(max_bytes=8)
    assert exact.feed(b"PING :ab\r") == [] and exact.feed(b"\n") == ["PING :ab"]
    assert exact.overlong == 0


def test_twitch_tags_become_roles_and_emote_flags() -> None:
    assert roles({"badges": "founder/0,vip/1"}) == {"subscriber", "vip"}
    assert roles({"badges": "", "mod": "1"}) == {"moderator"}
    assert roles({}, login="chan", channel="chan") == {"broadcaster"}
    assert parse_emotes("1:9-3,x-2,4-5/2:0-1") == [(0, 1), (4, 5)]
    assert is_emote_only("Kappa Kappa", {"emotes": "25:0-4,6-10"})
    assert not is_emote_only("Kappa hi", {"emotes": "25:0-4"})
    assert is_emote_only("anything", {"emote-only": "1"})
    assert not is_emote_only("", {"emotes": "25:0-4"})


def test_only_chat_and_known_notices_for_our_channel_become_events() -> None:
    assert chat_message(parse_line(":a!a@a PRIVMSG #other :hi"), "chan") is None
    assert chat_message(parse_line(":a!a@a PRIVMSG #chan :\x01VERSION\x01"), "chan") is None
    assert chat_message(parse_line(":a!a@a NOTICE #chan :hi"), "chan") is None
    msg = chat_message(parse_line("@bits=12x :A!a@a PRIVMSG #Chan :hi"), "chan")
    assert msg is not None and (msg.login, msg.display_name, msg.bits) == ("a", "A", 0)
    assert msg.id  # no id tag: a fresh one, so the queue can still dedupe by id
    assert stream_event(parse_line("@msg-id=sub :tmi USERNOTICE #other"), "chan") is None
    assert stream_event(parse_line("@msg-id=bitsbadgetier :tmi USERNOTICE #chan"), "chan") is None
    raid = stream_event(parse_line("@msg-id=raid;login=r;msg-param-viewerCount=7 :tmi USERNOTICE #chan"),
                        "chan")
    assert raid is not None and (raid.kind, raid.user, raid.count) == ("raid", "r", 7)
