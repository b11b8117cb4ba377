"""The entry script inside a scripted fake OBS: defaults, properties, the Media Source, hotkeys
(registered, saved, restored), scene messages, the test button, the status line, unloading."""

from __future__ import annotations

import socket
from typing import Any

import hotkeys
import tts_plugin
from settings import SETTINGS


def dead_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def load(obs: Any, **values: Any) -> Any:
    data = obs.FakeData({"engine_address": dead_address(), **values})
    tts_plugin.script_defaults(data)
    tts_plugin.script_load(data)
    tts_plugin.script_update(data)
    return data


def texts(ctl: Any) -> list[str]:
    return [m.text for m in ctl.queue.items]


def test_defaults_cover_every_setting(obs: Any) -> None:
    data = obs.FakeData()
    tts_plugin.script_defaults(data)
    assert {s.key: s.default for s in SETTINGS} == data.defaults


def test_properties_offer_every_setting_a_status_line_and_buttons(obs: Any) -> None:
    load(obs)
    props = tts_plugin.script_properties()
    by_name = {p.name: p for p in props.walk()}
    assert {s.key for s in SETTINGS} <= set(by_name)
    status = by_name["status"]
    assert status.extra["text_type"] == obs.OBS_TEXT_INFO and "Engine:" in status.description
    assert by_name["speak_test"].kind == "button" and by_name["refresh_status"].kind == "button"
    assert [v for _, v in by_name["playback_mode"].items] == ["stream", "file"]
    assert by_name["media_source"].extra["combo_type"] == obs.OBS_COMBO_TYPE_EDITABLE
    assert obs.outstanding() == 0


def test_the_media_source_is_created_after_loading_and_added_to_every_scene(obs: Any) -> None:
    obs.reset(scenes=("Scene", "Other"), loaded=False)
    load(obs)
    assert "TTS Audio" not in obs.WORLD.sources  # scenes do not exist before FINISHED_LOADING
    obs.WORLD.current, obs.WORLD.loaded = obs.WORLD.scenes[0], True
    obs.fire_event(obs.OBS_FRONTEND_EVENT_FINISHED_LOADING)
    src = obs.WORLD.sources["TTS Audio"]
    assert src.kind == "ffmpeg_source"
    assert [s.name for s in obs.WORLD.scenes if src in s.items] == ["Scene", "Other"]
    assert "media_ended" in src.handlers
    obs.fire_event(obs.OBS_FRONTEND_EVENT_FINISHED_LOADING)  # again: nothing added twice
    assert sum(src in s.items for s in obs.WORLD.scenes) == 2
    assert obs.outstanding() == 0


def test_an_existing_source_is_used_and_none_is_created_when_told_not_to(obs: Any) -> None:
    load(obs, media_source="My Media", create_media_source=False, media_in_all_scenes=False)
    obs.fire_event(obs.OBS_FRONTEND_EVENT_FINISHED_LOADING)
    assert "My Media" not in obs.WORLD.sources
    tts_plugin.script_unload()
    obs.reset(scenes=("Scene", "Other"))
    mine = obs.obs_source_create("ffmpeg_source", "My Media", obs.FakeData(), None)
    obs.obs_source_release(mine)
    load(obs, media_source="My Media", create_media_source=False, media_in_all_scenes=False)
    assert [s.name for s in obs.WORLD.scenes if mine in s.items] == ["Scene"]  # current scene only
    props = tts_plugin.script_properties()
    assert ("My Media", "My Media") in obs.obs_properties_get(props, "media_source").items
    assert obs.outstanding() == 0


def test_hotkeys_are_registered_saved_and_restored(obs: Any) -> None:
    data = load(obs)
    names = [h[0] for h in obs.WORLD.hotkeys.values()]
    assert names == [f"streamer_tts.announce_{n}" for n in range(1, 6)] + [
        "streamer_tts.skip",
        "streamer_tts.clear",
        "streamer_tts.pause",
    ]
    obs.bind("streamer_tts.announce_1", "OBS_KEY_F9")
    obs.bind("streamer_tts.skip", "OBS_KEY_F10")
    tts_plugin.script_save(data)
    assert data.values["hotkey_announce_1"].items == [{"key": "OBS_KEY_F9"}]
    assert data.values["hotkey_skip"].items == [{"key": "OBS_KEY_F10"}]
    tts_plugin.script_unload()
    # OBS restarts: a new process, the saved settings come back
    obs.reset(scenes=("Scene",))
    restored = obs.FakeData(data.values)
    tts_plugin.script_load(restored)
    ids = {h[0]: i for i, h in obs.WORLD.hotkeys.items()}
    assert obs.WORLD.bindings[ids["streamer_tts.announce_1"]] == [{"key": "OBS_KEY_F9"}]
    assert obs.WORLD.bindings[ids["streamer_tts.skip"]] == [{"key": "OBS_KEY_F10"}]
    assert obs.WORLD.bindings[ids["streamer_tts.announce_2"]] == []
    assert obs.outstanding() == 0


def test_announcement_hotkeys_queue_their_slot(obs: Any) -> None:
    load(obs, slot1_text="Welcome to {scene}!", slot1_voice="v1", slot1_backend="piper", slot3_text="Third")
    ctl: Any = tts_plugin.controller()
    obs.fire_event(obs.OBS_FRONTEND_EVENT_FINISHED_LOADING)
    obs.press("streamer_tts.announce_1")
    obs.press("streamer_tts.announce_2")  # empty slot: nothing
    obs.press("streamer_tts.announce_3")
    obs.run_timers()
    assert texts(ctl) == ["Welcome to Scene!", "Third"]
    first = ctl.queue.items[0]
    assert (first.voice, first.backend, first.priority, first.origin) == (
        "v1",
        "piper",
        "announcement",
        "hotkey",
    )
    obs.press("streamer_tts.pause")
    obs.run_timers()
    assert ctl.queue.paused
    obs.press("streamer_tts.clear")
    obs.run_timers()
    assert texts(ctl) == []


def test_scene_switches_speak_their_message(obs: Any) -> None:
    load(obs, scene_messages="Other=Now on {scene}, from {previous}\n*=Switched to {scene}", scene_voice="sv")
    ctl: Any = tts_plugin.controller()
    obs.fire_event(obs.OBS_FRONTEND_EVENT_FINISHED_LOADING)
    obs.run_timers()
    assert texts(ctl) == []  # the scene at start-up is not a switch
    obs.switch_scene("Other")
    obs.run_timers()
    assert texts(ctl) == ["Now on Other, from Scene"]
    assert ctl.queue.items[0].voice == "sv" and ctl.queue.items[0].priority == "event"
    obs.switch_scene("Scene")
    obs.switch_scene("Scene")  # no change: nothing
    obs.run_timers()
    assert texts(ctl)[1:] == ["Switched to Scene"]


def test_a_scene_added_later_gets_the_media_source_when_shown(obs: Any) -> None:
    load(obs)
    obs.fire_event(obs.OBS_FRONTEND_EVENT_FINISHED_LOADING)
    late = obs.FakeSource("scene", "Late", {})
    obs.WORLD.sources["Late"] = late
    obs.WORLD.scenes.append(late)
    obs.switch_scene("Late")
    assert obs.WORLD.sources["TTS Audio"] in late.items
    assert obs.outstanding() == 0


def test_scene_messages_can_be_turned_off(obs: Any) -> None:
    load(obs, scene_messages="*=Hello {scene}", scene_messages_enabled=False)
    obs.fire_event(obs.OBS_FRONTEND_EVENT_FINISHED_LOADING)
    obs.switch_scene("Other")
    obs.run_timers()
    assert texts(tts_plugin.controller()) == []


def test_test_button_queues_the_test_line_and_refreshes_the_status(obs: Any) -> None:
    load(obs, test_text="Testing one two. And a second sentence that is long enough.")
    props = tts_plugin.script_properties()
    assert obs.click(props, "speak_test") is True
    ctl: Any = tts_plugin.controller()
    assert texts(ctl) == ["Testing one two. And a second sentence that is long enough."]
    status = obs.obs_properties_get(props, "status").description
    assert "Queue: " in status and "waiting" in status


def test_file_mode_keeps_a_long_text_whole_and_stream_mode_splits_it(obs: Any) -> None:
    long_text = "This first sentence is long enough to stand. " * 3
    load(obs, playback_mode="file")
    ctl: Any = tts_plugin.controller()
    ctl.speak(long_text)
    assert len(ctl.queue.items) == 1
    ctl.queue.clear()
    data = obs.FakeData({"playback_mode": "stream"})
    tts_plugin.script_update(data)
    ctl.speak(long_text)
    assert len(ctl.queue.items) == 3 and {m.group for m in ctl.queue.items} == {ctl.queue.items[0].id}


def test_unload_removes_the_timer_and_the_event_callback(obs: Any) -> None:
    load(obs)
    assert obs.WORLD.timers and obs.WORLD.events
    assert obs.WORLD.timers[0][0] is tts_plugin.on_tick  # module-level callbacks
    assert hotkeys.HOTKEYS[0][2] is hotkeys.announce_1
    tts_plugin.script_unload()
    assert not obs.WORLD.timers and not obs.WORLD.events and tts_plugin.controller() is None
    assert obs.outstanding() == 0


def test_update_twice_does_not_double_the_timer(obs: Any) -> None:
    data = load(obs)
    tts_plugin.script_load(data)  # OBS reloading the script
    assert len(obs.WORLD.timers) == 1
