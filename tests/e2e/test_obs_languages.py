"""Issue 8 in a real OBS: a Chinese chat line (from a real IRC daemon, read by the engine's Twitch
source) is spoken by the voice configured for Chinese, and a chat line of only punctuation is
dropped with its reason without stopping the lines after it, one of which ends in a part (``--``)
that once stalled the plugin's queue.

The Chinese voice is the tiny generated Piper voice (tests/piper_tiny.py), installed while the
engine runs under the name its config gives Chinese. The chat template is set to ``{message}``
through the dashboard's settings route, as a streamer who wants only the message read would.
"""

from __future__ import annotations

import unicodedata

import pytest

from . import engine_api, recording, zh_voice
from .speech import assert_spoken, chat, engine_clips, record_speech, recorded
from .stack import Stack

pytestmark = pytest.mark.obs

ZH_LINE = "主播好厉害，这个游戏叫什么名字？"
ENGLISH = "hello there, this line is read by the English voice"
JOE_SPECTRUM_MAX = 0.5
"""Joe's speech against the zh voice's spectrum: well below ``zh_voice.SPECTRUM_MIN``."""


@pytest.fixture(scope="module")
def zh_stack(obs_stack: Stack) -> Stack:
    zh_voice.install(obs_stack)
    engine_api.put_settings(obs_stack, {"chat": {"template": "{message}"}})
    return obs_stack


def test_chinese_chat_line_is_spoken_by_the_voice_configured_for_chinese(zh_stack: Stack) -> None:
    stack = zh_stack
    path, parts = record_speech(stack, lambda: chat(stack, "Mei", ZH_LINE))
    assert {p.source for p in parts} == {"twitch"}, parts
    jobs = [engine_api.job(stack, p.job) for p in parts]
    assert [(j["backend"], j["voice"], j.get("language")) for j in jobs] == \
        [("piper", zh_voice.ZH_VOICE, "zh")] * len(parts), jobs
    played = [o for o in engine_api.recent(stack) if o.id == parts[0].utterance]
    assert [(o.state, o.text) for o in played] == [("played", unicodedata.normalize("NFKC", ZH_LINE))], played
    rec = recording.decode(path)
    clips = [recording.pcm_to_float(stack.engine.job_pcm(p.job)) for p in parts]
    log = f"\nscript log:\n{stack.obs.script_log()[-2000:]}"
    r = zh_voice.assert_zh_spoken(rec, clips, what="Chinese chat line", log=log)
    # the spectrum check tells voices apart: joe's speech is nothing like the zh voice's
    joe_pcm, _ = stack.engine.synthesize_pcm(ENGLISH)
    joe = zh_voice.similarity(zh_voice.spectrum(rec), zh_voice.spectrum(recording.pcm_to_float(joe_pcm)))
    print(f"zh line: spectrum r={r:.3f} against its clips, r={joe:.3f} against joe's speech")
    assert joe < JOE_SPECTRUM_MAX, f"joe's speech matches the zh recording at r={joe:.2f}"


def test_punctuation_only_line_is_dropped_and_the_next_lines_play(zh_stack: Stack) -> None:
    stack = zh_stack
    lines = [("Dave", "?!"), ("Erin", "good game; --"), ("Finn", "and this line plays right after them")]

    def say_all() -> None:
        for login, text in lines:
            chat(stack, login, text)

    path, parts = record_speech(stack, say_all, utterances=2)
    outcomes = engine_api.recent(stack)
    dropped = [o for o in outcomes if o.text == "?!"]
    assert [o.state for o in dropped] == ["dropped"] and dropped[0].reason, outcomes[:5]
    print(f"'?!' dropped: {dropped[0].reason}")
    utterances = list(dict.fromkeys(p.utterance for p in parts))
    by_id = {o.id: o for o in outcomes}
    texts = [by_id[u].text for u in utterances]
    assert len(texts) == 2 and texts[0].startswith("good game") and texts[1] == lines[2][1], texts
    assert all(by_id[u].state == "played" for u in utterances), [by_id[u] for u in utterances]
    assert_spoken(stack, recorded(path), engine_clips(stack, parts), what="the lines after '?!'")
    breaker = stack.engine.health()["backends"]["piper"]["breaker"]
    assert (breaker["state"], breaker["consecutive_failures"]) == ("closed", 0), breaker  # input, not backend
