"""A real OBS speaks: chat from a loopback IRC server, a hotkey announcement, a scene message
and POST /v1/say, each proven from OBS's own recording against the PCM the engine sent."""

from __future__ import annotations

import pytest

from . import recording
from .conftest import HOTKEY_NAME, HOTKEY_TEXT, SCENE_TEXT
from .speech import (assert_spoken, chat, engine_clip, latency_runs, record_speech, recorded, say,
                     summary)
from .stack import MEDIA_SOURCE, Stack

pytestmark = pytest.mark.obs


def test_chat_line_is_spoken(obs_stack: Stack) -> None:
    path = record_speech(obs_stack, lambda: chat(obs_stack, "Alice", "hello from the chat, nice stream"))
    clip = engine_clip(obs_stack, "Alice says hello from the chat, nice stream")
    assert_spoken(obs_stack, recorded(path), clip, what="chat line")


def test_muted_media_source_records_no_speech(obs_stack: Stack) -> None:
    """The check above can fail: with the Media Source muted the same kind of line is not found."""
    obs_stack.ws.request("SetInputMute", {"inputName": MEDIA_SOURCE, "inputMuted": True})
    try:
        path = record_speech(obs_stack, lambda: chat(obs_stack, "Erin", "this line is muted"))
    finally:
        obs_stack.ws.request("SetInputMute", {"inputName": MEDIA_SOURCE, "inputMuted": False})
    env = recorded(path)
    clip = engine_clip(obs_stack, "Erin says this line is muted")
    assert recording.voiced_seconds(env) < 0.1, "a muted source still put sound in the recording"
    assert recording.best_match(env, clip).level_dbfs < -60


def test_hotkey_announcement_is_spoken(obs_stack: Stack) -> None:
    path = record_speech(obs_stack, lambda: obs_stack.ws.request("TriggerHotkeyByName",
                                                                 {"hotkeyName": HOTKEY_NAME}))
    clip = engine_clip(obs_stack, HOTKEY_TEXT, backend="piper")
    assert_spoken(obs_stack, recorded(path), clip, what="hotkey announcement")


def test_scene_switch_message_is_spoken(obs_stack: Stack) -> None:
    try:
        path = record_speech(obs_stack, lambda: obs_stack.ws.request("SetCurrentProgramScene",
                                                                     {"sceneName": "BRB"}))
    finally:
        obs_stack.ws.request("SetCurrentProgramScene", {"sceneName": "Scene"})
    clip = engine_clip(obs_stack, SCENE_TEXT.format(scene="BRB"))
    assert_spoken(obs_stack, recorded(path), clip, what="scene message")


def test_two_chat_lines_play_one_after_the_other(obs_stack: Stack) -> None:
    first, second = "Bob says the first of two quick lines", "Carol says and here is the second one"

    def two_lines() -> None:
        chat(obs_stack, "Bob", "the first of two quick lines")
        chat(obs_stack, "Carol", "and here is the second one")

    path = record_speech(obs_stack, two_lines, messages=2)
    env = recorded(path)
    clip1, clip2 = engine_clip(obs_stack, first), engine_clip(obs_stack, second)
    m1 = assert_spoken(obs_stack, env, clip1, what="first line")
    m2 = assert_spoken(obs_stack, env, clip2, what="second line", after_s=m1.end_s - 0.3)
    assert m2.start_s >= m1.end_s - 0.1, f"the second line starts at {m2.start_s:.2f} s, " \
                                         f"before the first ends at {m1.end_s:.2f} s"
    # Overlapping clips would sound for less time than the two clips together.
    both = recording.voiced_seconds(clip1) + recording.voiced_seconds(clip2)
    assert recording.voiced_seconds(env) >= 0.85 * both, (
        f"{recording.voiced_seconds(env):.2f} s of sound recorded, the two clips have {both:.2f} s")


def test_say_endpoint_is_spoken(obs_stack: Stack) -> None:
    text = "This announcement came from the engine's say endpoint."
    path = record_speech(obs_stack, lambda: say(obs_stack, text))
    assert_spoken(obs_stack, recorded(path), engine_clip(obs_stack, text), what="/v1/say announcement")


def test_latency_chat_and_announcement(obs_stack: Stack) -> None:
    """Measured, not asserted (bench/obs_latency.py writes bench/RESULTS.md): every line must
    reach PLAYING; the numbers are printed for the log."""
    results = latency_runs(obs_stack, runs=2)
    for r in results:
        print(f"latency {r.kind}: playing {r.playing_ms:.0f} ms, event {r.event_ms} ms, "
              f"plugin {r.plugin_ms} ms: {r.text[:40]!r}")
    print(summary(results))
    assert {r.kind for r in results} == {"chat", "say5"}
