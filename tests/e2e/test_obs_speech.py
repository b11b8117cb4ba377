"""A real OBS speaks: chat read by the engine from a real IRC daemon (ngircd), a hotkey
announcement (also from a real key press), a scene message and POST /v1/say, each proven from
OBS's own recording against the PCM the engine served; two quick lines do not overlap; after the
engine is killed with SIGKILL mid-announcement, the rest of it and an announcement pressed while
it was down both play; OBS closes cleanly."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import pytest

from . import recording
from .conftest import HOTKEY_NAME, KEY, LONG_NAME, SCENE_TEXT, WHILE_DOWN_NAME
from .latency import latency_runs, summary
from .speech import (OVERLAP_TOLERANCE_S, PlayedPart, assert_spoken, chat, engine_clips,
                     finished_utterances, log_mark, played_parts, record_speech, recorded, say)
from .stack import MEDIA_SOURCE, Stack

pytestmark = pytest.mark.obs


def one_utterance(parts: list[PlayedPart], source: str) -> list[PlayedPart]:
    """The parts all belong to one utterance from ``source``, numbered 1..n in order."""
    assert parts and {p.utterance for p in parts} == {parts[0].utterance}, parts
    assert [p.part for p in parts] == list(range(1, parts[0].parts + 1)), parts
    assert {p.source for p in parts} == {source}, parts
    return parts


def test_chat_line_is_spoken(obs_stack: Stack) -> None:
    path, parts = record_speech(obs_stack,
                                lambda: chat(obs_stack, "Alice", "hello from the chat, nice stream"))
    one_utterance(parts, parts[0].source)
    assert parts[0].source not in ("hotkey", "scene", "test", "api"), parts  # the engine's chat source
    assert_spoken(obs_stack, recorded(path), engine_clips(obs_stack, parts), what="chat line")


def test_muted_media_source_records_no_speech(obs_stack: Stack) -> None:
    """The check above can fail: with the Media Source muted the same kind of line is not found."""
    obs_stack.ws.request("SetInputMute", {"inputName": MEDIA_SOURCE, "inputMuted": True})
    try:
        path, parts = record_speech(obs_stack, lambda: chat(obs_stack, "Erin", "this line is muted"))
    finally:
        obs_stack.ws.request("SetInputMute", {"inputName": MEDIA_SOURCE, "inputMuted": False})
    env = recorded(path)
    clip = engine_clips(obs_stack, parts)[0]  # the engine did make it: only OBS's output was muted
    assert recording.voiced_seconds(env) < 0.1, "a muted source still put sound in the recording"
    assert recording.best_match(env, clip).level_dbfs < -60
    with pytest.raises(AssertionError, match="of sound"):
        assert_spoken(obs_stack, env, [clip], what="muted line")


def test_hotkey_announcement_is_spoken(obs_stack: Stack) -> None:
    path, parts = record_speech(
        obs_stack, lambda: obs_stack.ws.request("TriggerHotkeyByName", {"hotkeyName": HOTKEY_NAME}))
    one_utterance(parts, "hotkey")
    assert_spoken(obs_stack, recorded(path), engine_clips(obs_stack, parts), what="hotkey announcement")


def test_saved_key_binding_works_from_a_real_key_press(obs_stack: Stack) -> None:
    """The binding pre-seeded under hotkey_announce_2 is loaded (obs_hotkey_load) and a key
    pressed on the X server triggers it."""
    path, parts = record_speech(obs_stack, lambda: obs_stack.display.press_key(KEY, hold_s=0.3))
    one_utterance(parts, "hotkey")
    assert_spoken(obs_stack, recorded(path), engine_clips(obs_stack, parts),
                  what="announcement from a key press")


def test_scene_switch_message_is_spoken(obs_stack: Stack) -> None:
    def switch_to(scene: str) -> None:
        obs_stack.ws.request("SetCurrentProgramScene", {"sceneName": scene})
    try:
        path, parts = record_speech(obs_stack, lambda: switch_to("BRB"))
    finally:
        switch_to("Scene")
    one_utterance(parts, "scene")
    assert_spoken(obs_stack, recorded(path), engine_clips(obs_stack, parts), what="scene message")
    assert SCENE_TEXT  # the message of scene BRB, pre-seeded in the script's settings


def test_two_chat_lines_play_one_after_the_other(obs_stack: Stack) -> None:
    def two_lines() -> None:
        chat(obs_stack, "Bob", "the first of two quick lines")
        chat(obs_stack, "Carol", "and here is the second one")

    path, parts = record_speech(obs_stack, two_lines, utterances=2)
    assert len({p.utterance for p in parts}) == 2
    env = recorded(path)
    clips = engine_clips(obs_stack, parts)
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
    path, parts = record_speech(obs_stack, lambda: say(obs_stack, text))
    one_utterance(parts, "api")
    assert_spoken(obs_stack, recorded(path), engine_clips(obs_stack, parts), what="/v1/say announcement")


def test_latency_chat_and_announcement(obs_stack: Stack) -> None:
    """Measured, not asserted (bench/obs_latency.py writes bench/RESULTS.md): every line must
    reach PLAYING; the numbers are printed for the log."""
    results = latency_runs(obs_stack, runs=2)
    for r in results:
        print(f"latency {r.kind}: playing {r.playing_ms:.0f} ms, event {r.event_ms} ms, "
              f"plugin {r.plugin_ms} ms, engine job {r.engine_ms} ms: {r.text[:40]!r}")
    print(summary(results))
    assert {r.kind for r in results} == {"chat", "say5"}


def test_announcements_survive_an_engine_killed_mid_announcement(obs_stack: Stack) -> None:
    """SIGKILL while a long announcement plays, a hotkey pressed while the engine is down, a
    restart: the engine replays the announcement from its first unplayed part (its journal), the
    plugin's outbox resends the hotkey; both are heard, every part of the long one at least once."""
    stack = obs_stack

    def press(name: str) -> None:
        stack.ws.request("TriggerHotkeyByName", {"hotkeyName": name})

    def long_part_two() -> str | None:
        return next((p.utterance for p in played_parts(stack, since=since) if p.part == 2 and p.parts >= 4),
                    None)

    stack.wait_idle(quiet_s=0.3, timeout_s=60)
    with stack.recording() as out:
        time.sleep(0.5)
        since = log_mark(stack)
        press(LONG_NAME)
        long_id = _wait(long_part_two, 60, stack, "part 2 of the long announcement playing")
        stack.engine.kill()
        press(WHILE_DOWN_NAME)  # the engine is down: the plugin's outbox keeps it
        time.sleep(1.0)
        restart = log_mark(stack)
        stack.engine.start()
        finished = lambda: finished_utterances(played_parts(stack, since=since))  # noqa: E731
        _wait(lambda: "yes" if long_id in finished() else None, 120, stack, "the rest of the long one")
        _wait(lambda: next((u for u in finished() if u != long_id), None), 120, stack,
              "the announcement pressed while the engine was down")
        stack.wait_idle(quiet_s=1.0, timeout_s=60)
    parts = played_parts(stack, since=since)
    long_parts = [p for p in parts if p.utterance == long_id]
    assert {p.part for p in long_parts} == set(range(1, long_parts[0].parts + 1)), long_parts
    others = [p for p in parts if p.utterance != long_id]
    assert others and {p.source for p in others} == {"hotkey"}, parts
    after = played_parts(stack, since=restart)  # the new engine's jobs: their audio is there to compare
    assert any(p.utterance == long_id for p in after), f"no part came from the new engine: {parts}"
    assert_spoken(stack, recorded(out[0]), engine_clips(stack, after), what="after the restart")


def _wait(check: Callable[[], str | None], timeout_s: float, stack: Stack, what: str) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        stack.obs.check_alive()
        time.sleep(0.05)
    raise TimeoutError(f"{what}: not within {timeout_s:g} s; script log:\n{stack.obs.script_log()[-3000:]}\n"
                       f"engine log:\n{stack.engine.log_text()[-2500:]}")


def test_obs_closes_cleanly_without_script_errors(obs_stack: Stack) -> None:
    """Last in this module: closing the window ends OBS with code 0 (script_unload ran), and the
    script logged no Python traceback during the whole session."""
    obs_stack.wait_idle(quiet_s=0.3, timeout_s=60)
    obs_stack.ws.close()
    how = obs_stack.obs.stop()
    log = obs_stack.obs.script_log()
    assert how == "clean", f"OBS did not close cleanly: {how}\n{obs_stack.obs.tail()}"
    assert "Traceback" not in log, f"the script raised:\n{log[-4000:]}"
