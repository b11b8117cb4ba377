"""The hostile battery: chat lines a troll (or a viewer in another language) sends, each with its
class and what the engine must do with it. Used by tests/test_hostile.py and bench/hostile.py.

An ``Expect`` says either "spoken, at most ``max_seconds``", or "refused with one of
``refused``", or both (either is fine: non-Latin lines depend on which voices are installed; the
language router decides, so tighten those entries when it lands).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

CHAT_CAP_S = 8.0
"""``text.max_chat_seconds`` for the battery (the default is 20): the same cut, less audio to make."""
CONFIG = {"speech": {"chat_deadline_s": 0}, "text": {"max_chat_seconds": CHAT_CAP_S}}
"""Config overrides for the battery's engine: hundreds of lines are queued at once, so no chat
deadline (it would drop some as expired)."""
NON_LATIN_REFUSALS = ("no_voice_for_language",)
"""Why a line in another script may be refused (no voice installed for its language)."""
TOO_BIG = ("body_too_large", "text_too_long")
@dataclass(frozen=True)
class Expect:
    max_seconds: float | None = None
    """Spoken, at most this long (``None``: must be refused)."""
    refused: tuple[str, ...] = ()
    """Error codes that are an acceptable answer (empty: must be spoken)."""
    min_seconds: float = 0.0
    """When spoken, at least this long (the words were not lost)."""


@dataclass(frozen=True)
class HostileLine:
    cls: str
    """The class of attack or input (a row of the bench table)."""
    text: str
    expect: Expect
    priority: str = "chat"


def spoken(max_seconds: float, min_seconds: float = 0.15) -> Expect:
    return Expect(max_seconds=max_seconds, min_seconds=min_seconds)


def refused(*codes: str) -> Expect:
    return Expect(refused=codes)


NOTHING = refused("nothing_to_speak")
_RNG = random.Random(8)  # deterministic: the battery is the same on every run


def _fullwidth(word: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in word)


_MATH = (0x1D400, 0x1D434, 0x1D468, 0x1D4D0, 0x1D56C, 0x1D5A0, 0x1D5D4, 0x1D608, 0x1D63C, 0x1D670)
"""Bold, italic, bold italic, bold script, bold fraktur, sans, sans bold, sans italic, sans bold
italic, monospace (alphabets without holes for lower-case letters)."""


def _math(word: str, base: int) -> str:
    return "".join(chr(base + 26 + ord(c) - 97) if "a" <= c <= "z" else
                   chr(base + ord(c) - 65) if "A" <= c <= "Z" else c for c in word)


def _zalgo(word: str, marks: int) -> str:
    return "".join(c + "".join(chr(_RNG.randrange(0x300, 0x36F)) for _ in range(marks)) for c in word)


PUNCTUATION = [
    ".", "?!", "--", "...", "“”", "^^", "; --", "!!!", "???", "?!?!?!", "…", "-_-", "*", "~~~", "///",
    "|", "<>", "()", "[]", "{}", "%", "@", "#", "$$$", "&", "''", '""', "::", "/", "+-+-", "=>",
    "・・・", "。。。", "！！", "？", "《》", "«»", "¿¡", "ـــ", "★☆★", "♪♫", "〜〜", "→←↑↓", "■□▲",
    "\u200b", "\u202e", "\x07\x07", "   \t  ", "\u0301\u0301\u0301", "<b></b>", "<br/><br/>",
    "&nbsp;&nbsp;", "<!-- -->", "<speak></speak>", "&amp;", "^_^", ":-)", ";)", "\u0640\u0640",
    "\ufe0f\u200d", "\U000e0041"]
WORDS = ["fullwidth", "fancy", "hello chat", "good game", "nice play", "stream", "follow", "sub hype",
         "pog", "GG WP"]
EMOJI = ["😀", "😂", "🔥", "👍", "❤️", "🎉", "😭", "🤖", "👩‍💻", "🏳️‍🌈", "👋🏽", "🇺🇸", "💯", "🙏", "😎"]


def _lines() -> list[HostileLine]:
    out = [HostileLine("punctuation only", t, NOTHING) for t in PUNCTUATION]
    out += [HostileLine("fullwidth letters", _fullwidth(w), spoken(2.5)) for w in WORDS]
    out += [HostileLine("math letters", _math(w, base), spoken(2.5))
            for w, base in zip(WORDS * 2, _MATH * 2, strict=False)]
    out += [HostileLine("zalgo", _zalgo(w, n), spoken(2.5)) for w in WORDS for n in (3, 12)]
    out += [HostileLine("zero-width and bidi", t, spoken(2.5)) for t in [
        "he\u200bllo\u200c chat", "\u202eevil\u202c text", "\u2066isolated\u2069 words", "\ufeffbom start",
        "beau\u00adtiful stream", "a\u200d\u200d\u200db", "\u200f\u200erl marks", "\u061cArabic mark here",
        "\u2060word\u2060joiner", "tag\U000e0041\U000e0042 chars"]]
    out += [HostileLine("control characters", t, spoken(2.5)) for t in [
        "bell\x07 rings", "nul\x00 byte", "esc\x1b[31m red\x1b[0m", "back\x08space", "c1\x85 next line",
        "del\x7f char", "form\x0cfeed", "vertical\x0btab", "\x1b]0;title\x07osc", "mixed\x01\x02\x03 junk",
        "tab\there", "lone \ud800 surrogate", "non\ufffe char", "thanks\ue000 for the raid"]]
    out += [HostileLine("IRC CRLF injection", t, spoken(10)) for t in [
        "hi\r\nPRIVMSG #chan :spam", "ok\r\nJOIN #other", "x\rQUIT :bye", "line\nPING :tmi.twitch.tv",
        "a\r\n:tmi.twitch.tv 001 nick :Welcome", "\r\n\r\nempty lines then text", "text\r\nNICK troll\r\n",
        "@badge-info=;color=#FF0000 :u!u@u PRIVMSG #c :hi", "hello\u2028line separator",
        "para\u2029separator", "\x00\r\nNUL then crlf", "CTCP \x01ACTION waves\x01"]]
    out += [HostileLine("repeated characters", t, spoken(2.5)) for t in ["a" * 500, "hahahahahaha"]]
    out += [HostileLine("repeated characters", t, spoken(2.5)) for t in [
        "looooooooooool", "noooooooooooooooooo", "!!!!!!!!!!!!!!!!!!wow",
        "yesssssssssss", "wowwwwwwwwwwww!!!!!!", "z" * 2000, "hmmmmmmmmmmmmmmmm", "whyyyyyyyyyy"]]
    out += [HostileLine("repeated words", t, spoken(3)) for t in [
        "lol " * 100, "spam " * 500, "gg " * 50, "LOL lol Lol " * 30, "hype " * 300,
        "the the the the the the end", "poggers " * 80, "no " * 200]]
    out += [HostileLine("emoji flood", e * n, spoken(3)) for e in EMOJI[:8] for n in (110, 1000)]
    out += [HostileLine("emoji flood", "😀" * 10_000, spoken(3)),
            HostileLine("emoji flood", " ".join(["🔥"] * 2000), spoken(3))]
    out += [HostileLine("mixed emoji", "".join(EMOJI) * k, spoken(6)) for k in (1, 10, 100)]
    out += [HostileLine("emoji in text", f"nice {e} play {e}{e}", spoken(4)) for e in EMOJI[::2]]
    out += [HostileLine("URLs", t, spoken(3)) for t in [
        "https://example.com", "check https://example.com/watch?v=dQw4w9WgXcQ&t=42s now",
        "www.twitch.tv/streamer", "go to evil.com/phish", "http://192.168.0.1:8080/admin",
        "ftp://files.example.org/a/b/c", "https://" + "a" * 500 + ".com", "link1.com link2.net link3.org",
        "wss://socket.example.io/x", "HTTPS://SHOUTING.COM/PATH", "bit.ly/abc123 free skins",
        "https://xn--n3h.com 🙂", "see t.co/xyz", "mail me a@b.com", "https://x.com/" + "9" * 60]]
    out += [HostileLine("long numbers", t, spoken(3)) for t in [
        "1" * 42, "9" * 20, "12345678901234567890", "3.14159265358979323846", "0000000000000",
        "1,234,567,890,123", "1234567", "٣٣٣٣٣٣٣٣٣٣٣٣", "１２３４５６７８９０", "call 5551234567 now",
        "0." + "3" * 40, "1" * 42 + " and " + "2" * 42]]
    out += [HostileLine("numbers", t, spoken(8)) for t in [
        "1,000,000", "42", "2026", "100%", "$5", "1e100", "1/3", "555-123-4567", "+1 (555) 123-4567",
        "123456", "0x1F600", "v1.2.3", "10:30", "-273.15", "½ ¾", "Ⅻ o'clock", "①②③", "¹²³"]]
    out += [HostileLine("HTML", t, spoken(3)) for t in [
        "<b>bold</b> text", "<script>alert(1)</script>", "<img src=x onerror=alert(1)> hi",
        "<a href='https://x.com'>click</a>", "<div><p>nested</p></div>", "&lt;b&gt;escaped&lt;/b&gt;",
        "R&amp;D team", "&#72;&#105; there", "&#x1F600; face", "<style>body{}</style> styled",
        "<!-- comment --> visible", "<marquee>old web</marquee>", "<<b>b>> double", "a < b and c > d",
        "<3 you", "<iframe src=evil></iframe> hi"]]
    out += [HostileLine("SSML", t, spoken(3)) for t in [
        "<speak>Hello</speak>", "<speak><break time='10s'/>pause</speak>",
        "<prosody rate='x-slow'>slow</prosody>", "<prosody pitch='+100%'>high</prosody>",
        "<say-as interpret-as='characters'>abc</say-as>", "<audio src='https://x.com/a.mp3'/>sound",
        "<?xml version='1.0'?><speak>xml</speak>", "<phoneme alphabet='ipa' ph='x'>word</phoneme>",
        "<sub alias='World Wide Web'>WWW</sub>", "<emphasis>strong</emphasis>",
        "<voice name='evil'>voice</voice>", "<mark name='m'/>marked", "<speak>" * 50 + "deep",
        "<break time=\"99999ms\"/><break/>x"]]
    chat_cap = CHAT_CAP_S * 1.4 + 1  # the estimate (15 chars/s) is rough; Piper is a bit slower
    out += [HostileLine("long chat", t, spoken(chat_cap, 5)) for t in [
        " ".join(f"word{i}" for i in range(120)), "This is a very long chat message. " * 25]]
    out += [HostileLine("long chat", " ".join(f"w{i}" for i in range(300)), refused("text_too_long"))]
    out += [HostileLine("long announcement", "Thank you all for the raid tonight. " * 3, spoken(12, 3),
                        priority="announcement")]
    other = Expect(max_seconds=20.0, refused=NON_LATIN_REFUSALS)
    kaomoji = Expect(max_seconds=5.0, refused=(*NON_LATIN_REFUSALS, "nothing_to_speak"))
    out += [HostileLine("emoticons and kaomoji", t, kaomoji) for t in [
        "ー", ":3", "¯\\_(ツ)_/¯", "(╯°□°)╯︵ ┻━┻", "ʕ•ᴥ•ʔ", "( ͡° ͜ʖ ͡°)", "xD", "<3", "T_T", "owo", "UwU"]]
    rare = Expect(max_seconds=8.0, refused=(*NON_LATIN_REFUSALS, "nothing_to_speak"))
    out += [HostileLine("rare scripts and letters", t, rare) for t in [
        "ꝏ", "ꞵ", "ꜝ", "ꝏꝏꝏ ꞵ", "ᚠᚢᚦ", "ሰላም", "བོད", "𐌰𐌱", "ᐊᐃ", "ꙮ", "ǃ", "ʕ ʖ ʔ"]]
    out += [HostileLine("Japanese", t, other) for t in [
        "こんにちは", "ありがとうございます", "草", "ｗｗｗｗｗｗ", "日本語のテキストです", "カタカナ",
        "おはよう！！！", "すごい😀", "配信ありがとう 666", "ｺﾝﾆﾁﾊ"]]
    out += [HostileLine("Korean", t, other) for t in [
        "안녕하세요", "감사합니다", "ㅋㅋㅋㅋㅋㅋㅋ", "ㅎㅎㅎ", "대박", "방송 잘 보고 있어요", "사랑해요 ❤️",
        "화이팅!"]]
    out += [HostileLine("Russian", t, other) for t in [
        "Привет", "Спасибо за стрим", "ахахахахаха", "ОООООЧЕНЬ круто", "хорошо", "Ｐｒｉｖｅｔ мир",
        "да да да да да", "ссылка https://ya.ru"]]
    out += [HostileLine("Arabic", t, other) for t in [
        "مرحبا", "شكرا لك", "السلام عليكم", "ههههههههه", "رائع جدا", "ﷺ", "مـــرحـــبـــا",
        "١٢٣٤٥٦٧٨٩٠١٢"]]
    out += [HostileLine("right-to-left", t, other) for t in [
        "שלום", "תודה רבה", "\u202bembedded rtl\u202c", "hello שלום world", "\u202eتست\u202c",
        "سلام دوست", "עברית 123"]]
    out += [HostileLine("Chinese", t, other) for t in [
        "观众弹幕内容", "666", "主播666", "哈哈哈哈哈哈哈哈", "2333333 笑死", "主播好强 666666",
        "太强了！！！", "谢谢老板的火箭 🚀", "链接 https://bilibili.com", "中文 and English 一起",
        "５５５ 哭了", "一串数字 12345678901"]]
    out += [HostileLine("1 MB line", t, refused(*TOO_BIG)) for t in [
        "a" * 2**20, "😀" * 2**18, "word " * 2**18, "中" * 2**18 + "x", "<b>" * 350_000]]
    out += [HostileLine("too long after normalization", " ".join(f"w{i}" for i in range(2000)),
                        refused("text_too_long", "body_too_large"), priority="event")]
    out += [HostileLine("normal", t, spoken(6, 0.5)) for t in [
        "Thanks for the follow!", "Hello there, this is fine.", "Welcome to the stream everyone",
        "What game is next?", "gg", "Nice shot!", "I love this song", "Can you say hi to my mom",
        "First time here, great stream", "How long have you been streaming today?"]]
    return out


LINES: list[HostileLine] = _lines()
