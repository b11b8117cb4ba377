"""A real OBS speaks: chat from a loopback IRC server, a hotkey announcement, a scene message
and POST /v1/say, each proven from OBS's own recording against the PCM the engine sent."""

from __future__ import annotations

import itertools

import pytest

from . import recording
from .conftest import HOTKEY_NAME, HOTKEY_TEXT, KEY, KEY_TEXT, SCENE_TEXT
from .latency import latency_runs, summary
from .speech import (OVERLAP_TOLERANCE_S, assert_spoken, chat, engine_clips, parts_of, record_speech,
                     recorded, say)
from .stack import MEDIA_SOURCE, Stack

pytestmark = pytest.mark.obs


def test_chat_line_is_spoken(obs_stack: Stack) -> None:
    text = "Alice says hello from the chat, nice stream"
    path = record_speech(obs_stack, lambda: chat(obs_stack, "Alice", "hello from the chat, nice stream"),
                         plays=len(parts_of(text)))
    assert_spoken(obs_stack, recorded(path), engine_clips(obs_stack, text), what="chat line")


def test_muted_media_source_records_no_speech(obs_stack: Stack) -> None:
    """The check above can fail: with the Media Source muted the same kind of line is not found."""
    text = "Erin says this line is muted"
    obs_stack.ws.request("SetInputMute", {"inputName": MEDIA_SOURCE, "inputMuted": True})
    try:
        path = record_speech(obs_stack, lambda: chat(obs_stack, "Erin", "this line is muted"),
                             plays=len(parts_of(text)))
    finally:
        obs_stack.ws.request("SetInputMute", {"inputName": MEDIA_SOURCE, "inputMuted": False})
    env = recorded(path)
    clip = engine_clips(obs_stack, text)[0]  # the engine did make it: only OBS's output was muted
    assert recording.voiced_seconds(env) < 0.1, "a muted source still put sound in the recording"
    assert recording.best_match(env, clip).level_dbfs < -60
    with pytest.raises(AssertionError, match="of sound"):
        assert_spoken(obs_stack, env, [clip], what="muted line")


def test_hotkey_announcement_is_spoken(obs_stack: Stack) -> None:
    def press() -> None:
        obs_stack.ws.request("TriggerHotkeyByName", {"hotkeyName": HOTKEY_NAME})

    path = record_speech(obs_stack, press, plays=len(parts_of(HOTKEY_TEXT)))
    clips = engine_clips(obs_stack, HOTKEY_TEXT, backend="piper")
    assert_spoken(obs_stack, recorded(path), clips, what="hotkey announcement")


def test_saved_key_binding_works_from_a_real_key_press(obs_stack: Stack) -> None:
    """The binding pre-seeded under hotkey_announce_2 is loaded (obs_hotkey_load) and a key
    pressed on the X server triggers it."""
    path = record_speech(obs_stack, lambda: obs_stack.display.press_key(KEY, hold_s=0.3),
                         plays=len(parts_of(KEY_TEXT)))
    clips = engine_clips(obs_stack, KEY_TEXT, backend="piper")
    assert_spoken(obs_stack, recorded(path), clips, what="announcement from a key press")


def test_scene_switch_message_is_spoken(obs_stack: Stack) -> None:
    text = SCENE_TEXT.format(scene="BRB")

    def switch_to(scene: str) -> None:
        obs_stack.ws.request("SetCurrentProgramScene", {"sceneName": scene})
    try:
        path = record_speech(obs_stack, lambda: switch_to("BRB"), plays=len(parts_of(text)))
    finally:
        switch_to("Scene")
    assert_spoken(obs_stack, recorded(path), engine_clips(obs_stack, text), what="scene message")


def test_two_chat_lines_play_one_after_the_other(obs_stack: Stack) -> None:
    first, second = "Bob says the first of two quick lines", "Carol says and here is the second one"

    def two_lines() -> None:
        chat(obs_stack, "Bob", "the first of two quick lines")
        chat(obs_stack, "Carol", "and here is the second one")

    path = record_speech(obs_stack, two_lines, plays=len(parts_of(first)) + len(parts_of(second)))
    env = recorded(path)
    clips = engine_clips(obs_stack, first) + engine_clips(obs_stack, second)
    # each clip, searched after the previous one ended, is there ...
    assert_spoken(obs_stack, env, clips, what="two chat lines")
    # ... and where each fits best in the whole recording, it starts after the previous one ends
    free = [recording.best_match(env, clip) for clip in clips]
    for before, after in itertools.pairwise(free):
        assert after.start_s >= before.end_s - OVERLAP_TOLERANCE_S, (
            f"a clip fits best at {after.start_s:.2f} s, before the previous one ends at "
            f"{before.end_s:.2f} s")
    # ... and overlapping clips would sound for less time than the clips together
    together = sum(recording.voiced_seconds(c) for c in clips)
    assert recording.voiced_seconds(env) >= 0.85 * together, (
        f"{recording.voiced_seconds(env):.2f} s of sound recorded, the clips have {together:.2f} s")


def test_say_endpoint_is_spoken(obs_stack: Stack) -> None:
    text = "This announcement came from the engine's say endpoint."
    path = record_speech(obs_stack, lambda: say(obs_stack, text), plays=len(parts_of(text)))
    assert_spoken(obs_stack, recorded(path), engine_clips(obs_stack, text), what="/v1/say announcement")


def test_latency_chat_and_announcement(obs_stack: Stack) -> None:
    """Measured, not asserted (bench/obs_latency.py writes bench/RESULTS.md): every line must
    reach PLAYING; the numbers are printed for the log."""
    results = latency_runs(obs_stack, runs=2)
    for r in results:
        print(f"latency {r.kind}: playing {r.playing_ms:.0f} ms, event {r.event_ms} ms, "
              f"plugin {r.plugin_ms} ms, engine job {r.engine_ms} ms: {r.text[:40]!r}")
    print(summary(results))
    assert {r.kind for r in results} == {"chat", "say5"}


def test_obs_closes_cleanly_without_script_errors(obs_stack: Stack) -> None:
    """Last in this module: closing the window ends OBS with code 0 (script_unload ran), and the
    script logged no Python traceback during the whole session."""
    obs_stack.wait_idle(quiet_s=0.3, timeout_s=60)
    obs_stack.ws.close()
    how = obs_stack.obs.stop()
    log = obs_stack.obs.script_log()
    assert how == "clean", f"OBS did not close cleanly: {how}\n{obs_stack.obs.tail()}"
    assert "Traceback" not in log, f"the script raised:\n{log[-4000:]}"
