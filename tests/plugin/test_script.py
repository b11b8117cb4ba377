"""The entry script inside the scripted fake OBS, against the contract engine: defaults and
properties from the one declaration, the Media Source, hotkeys (registered, saved, restored),
announcements and scene messages sent as events, controls, the test button, unloading."""

from __future__ import annotations

import re
from typing import Any

import hotkeys
import settings_doc
import tts_plugin
from conftest import dead_address, load, tick_until
from contract_engine import ContractEngine
from settings import SETTINGS


def test_defaults_cover_every_setting(obs: Any) -> None:
    data = obs.FakeData()
    tts_plugin.script_defaults(data)
    assert {s.key: s.default for s in SETTINGS} == data.defaults


def test_properties_come_from_the_declaration(obs: Any) -> None:
    load(obs, dead_address())
    props = tts_plugin.script_properties()
    by_name = {p.name: p for p in props.walk()}
    for s in SETTINGS:
        assert by_name[s.key].description == s.label and by_name[s.key].extra["long_description"] == s.help
    stored = {p.name for p in props.walk() if p.kind not in ("group", "button")} - {"status"}
    assert stored == {s.key for s in SETTINGS}  # nothing else: chat and filters are the engine's
    assert not {key for key, _ in settings_doc.MOVED} & set(by_name)
    status = by_name["status"]
    assert status.extra["text_type"] == obs.OBS_TEXT_INFO and "Engine:" in status.description
    for button in ("speak_test", "refresh_status", "open_engine_page"):
        assert by_name[button].kind == "button"
    assert by_name["media_source"].extra["combo_type"] == obs.OBS_COMBO_TYPE_EDITABLE
    assert by_name["slot1_voice"].extra["combo_type"] == obs.OBS_COMBO_TYPE_EDITABLE
    assert obs.outstanding() == 0


def test_the_docstring_table_lists_every_declared_key() -> None:
    doc = tts_plugin.__doc__ or ""
    keys = re.findall(r"^    (\S+)\s+(?:str|bool|int|array)\b", doc, flags=re.M)
    declared = [s.key.replace("{n}", "{N}") for s in settings_doc.DECLARED]
    assert keys == [*declared, "hotkey_{action}"]


def test_the_media_source_is_created_after_loading_and_added_to_every_scene(obs: Any) -> None:
    obs.reset(scenes=("Scene", "Other"), loaded=False)
    data = obs.FakeData({"engine_address": dead_address()})
    tts_plugin.script_defaults(data)
    obs.on_thread(obs.UI, tts_plugin.script_load, data)
    obs.on_thread(obs.UI, tts_plugin.script_update, data)
    assert "TTS Audio" not in obs.WORLD.sources  # scenes do not exist before FINISHED_LOADING
    obs.WORLD.current, obs.WORLD.loaded = obs.WORLD.scenes[0], True
    obs.fire_event(obs.OBS_FRONTEND_EVENT_FINISHED_LOADING)
    src = obs.WORLD.sources["TTS Audio"]
    assert src.kind == "ffmpeg_source"
    assert [s.name for s in obs.WORLD.scenes if src in s.items] == ["Scene", "Other"]
    obs.fire_event(obs.OBS_FRONTEND_EVENT_FINISHED_LOADING)  # again: nothing added twice
    assert sum(src in s.items for s in obs.WORLD.scenes) == 2
    assert obs.outstanding() == 0


def test_an_existing_source_is_used_and_none_is_created_when_told_not_to(obs: Any) -> None:
    load(obs, dead_address(), media_source="My Media", create_media_source=False,
         media_in_all_scenes=False)
    assert "My Media" not in obs.WORLD.sources
    tts_plugin.script_unload()
    obs.reset(scenes=("Scene", "Other"))
    mine = obs.obs_source_create("ffmpeg_source", "My Media", obs.FakeData(), None)
    obs.obs_source_release(mine)
    load(obs, dead_address(), media_source="My Media", create_media_source=False,
         media_in_all_scenes=False)
    assert [s.name for s in obs.WORLD.scenes if mine in s.items] == ["Scene"]  # current scene only
    props = tts_plugin.script_properties()
    assert ("My Media", "My Media") in obs.obs_properties_get(props, "media_source").items
    assert obs.outstanding() == 0


def test_a_scene_added_later_gets_the_media_source_when_shown(obs: Any) -> None:
    load(obs, dead_address())
    late = obs.FakeSource("scene", "Late", {})
    obs.WORLD.sources["Late"] = late
    obs.WORLD.scenes.append(late)
    obs.switch_scene("Late")
    assert obs.WORLD.sources["TTS Audio"] in late.items
    assert obs.outstanding() == 0


def test_hotkeys_are_registered_saved_and_restored(obs: Any) -> None:
    data = obs.FakeData({"engine_address": dead_address()})
    tts_plugin.script_load(data)
    names = [h[0] for h in obs.WORLD.hotkeys.values()]
    assert names == [f"streamer_tts.announce_{n}" for n in range(1, 6)] + [
        "streamer_tts.skip", "streamer_tts.clear", "streamer_tts.pause"]
    obs.bind("streamer_tts.announce_1", "OBS_KEY_F9")
    obs.bind("streamer_tts.skip", "OBS_KEY_F10")
    tts_plugin.script_save(data)
    assert data.values["hotkey_announce_1"].items == [{"key": "OBS_KEY_F9"}]
    assert data.values["hotkey_skip"].items == [{"key": "OBS_KEY_F10"}]
    tts_plugin.script_unload()
    obs.reset(scenes=("Scene",))  # OBS restarts: a new process, the saved settings come back
    tts_plugin.script_load(obs.FakeData(data.values))
    ids = {h[0]: i for i, h in obs.WORLD.hotkeys.items()}
    assert obs.WORLD.bindings[ids["streamer_tts.announce_1"]] == [{"key": "OBS_KEY_F9"}]
    assert obs.WORLD.bindings[ids["streamer_tts.skip"]] == [{"key": "OBS_KEY_F10"}]
    assert obs.WORLD.bindings[ids["streamer_tts.announce_2"]] == []
    assert obs.outstanding() == 0


def test_announcement_hotkeys_send_their_slot_as_events(obs: Any, engine: ContractEngine) -> None:
    load(obs, engine.address, slot1_text="Welcome to {scene}!", slot1_voice="v1", slot1_backend="piper",
         slot3_text="Third")
    obs.press("streamer_tts.announce_1")
    obs.press("streamer_tts.announce_2")  # empty slot: nothing
    obs.press("streamer_tts.announce_3")
    obs.press("streamer_tts.announce_1")  # a second press is a new event
    tick_until(obs, lambda: len(engine.recorded.events) == 3, what="3 events")
    first, third, again = engine.recorded.events
    assert {k: first[k] for k in ("type", "source", "text", "voice", "backend")} == {
        "type": "announcement", "source": "hotkey", "text": "Welcome to Scene!", "voice": "v1",
        "backend": "piper"}
    assert (third["text"], third["voice"], third["backend"]) == ("Third", "", "")
    ids = [e["id"] for e in engine.recorded.events]
    assert len(set(ids)) == 3 and all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert again["text"] == first["text"]


def test_skip_clear_and_pause_are_engine_commands(obs: Any, engine: ContractEngine) -> None:
    ctl = load(obs, engine.address)
    for name in ("skip", "clear", "pause"):
        obs.press(f"streamer_tts.{name}")
    tick_until(obs, lambda: len(engine.recorded.controls) == 3, what="3 controls")
    assert [c["command"] for c in engine.recorded.controls] == ["skip", "clear", "toggle_pause"]
    tick_until(obs, lambda: ctl.parts.paused, what="paused from the engine's reply")
    obs.press("streamer_tts.pause")
    tick_until(obs, lambda: not ctl.parts.paused, what="resumed")


def test_scene_switches_send_their_message(obs: Any, engine: ContractEngine) -> None:
    load(obs, engine.address, scene_messages="Other=Now on {scene}, from {previous}\n*=Switched to {scene}",
         scene_voice="sv")
    obs.run_timers()
    obs.switch_scene("Other")
    tick_until(obs, lambda: len(engine.recorded.events) == 1, what="the scene message")
    event = engine.recorded.events[0]
    assert (event["source"], event["text"], event["voice"]) == ("scene", "Now on Other, from Scene", "sv")
    obs.switch_scene("Scene")
    obs.switch_scene("Scene")  # no change: nothing
    tick_until(obs, lambda: len(engine.recorded.events) == 2, what="the second scene message")
    obs.run_timers()
    assert [e["text"] for e in engine.recorded.events][1:] == ["Switched to Scene"]
    assert len(engine.recorded.events) == 2  # the scene at start-up was not a switch


def test_scene_messages_can_be_turned_off(obs: Any, engine: ContractEngine) -> None:
    load(obs, engine.address, scene_messages="*=Hello {scene}", scene_messages_enabled=False)
    obs.switch_scene("Other")
    obs.press("streamer_tts.skip")  # something that does reach the engine, to wait on
    tick_until(obs, lambda: len(engine.recorded.controls) == 1)
    assert engine.recorded.events == []


def test_test_button_sends_the_test_line_and_refreshes_the_status(obs: Any, engine: ContractEngine) -> None:
    load(obs, engine.address, test_text="Testing one two.")
    props = tts_plugin.script_properties()
    assert obs.click(props, "speak_test") is True
    tick_until(obs, lambda: len(engine.recorded.events) == 1)
    event = engine.recorded.events[0]
    assert (event["source"], event["text"]) == ("test", "Testing one two.")
    status = obs.obs_properties_get(props, "status").description
    assert "Outbox:" in status and "Subscription:" in status


def test_the_engine_page_is_its_tcp_address(obs: Any, engine: ContractEngine, tmp_path: Any,
                                           monkeypatch: Any) -> None:
    import engine_token

    monkeypatch.setattr(engine_token, "DEFAULT_DATA_DIR", str(tmp_path))  # no token there
    ctl = load(obs, engine.address)
    tick_until(obs, lambda: bool(ctl.engine_health), what="/health")
    assert ctl.engine_page() == f"http://{engine.address}/"


def test_unload_removes_the_timer_and_the_event_callback(obs: Any) -> None:
    load(obs, dead_address())
    assert obs.WORLD.timers and obs.WORLD.events
    assert obs.WORLD.timers[0][0] is tts_plugin.on_tick  # module-level callbacks
    assert hotkeys.HOTKEYS[0][2] is hotkeys.announce_1
    tts_plugin.script_unload()
    assert not obs.WORLD.timers and not obs.WORLD.events and tts_plugin.controller() is None
    assert obs.outstanding() == 0


def test_load_twice_does_not_double_the_timer(obs: Any) -> None:
    load(obs, dead_address())
    tts_plugin.script_load(obs.FakeData())  # OBS reloading the script
    assert len(obs.WORLD.timers) == 1
