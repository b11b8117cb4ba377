"""The plugin against the real engine (real Piper voice) on loopback, inside the fake OBS:
messages are synthesized, downloaded, played one at a time and cleaned up; ``/v1/say`` reaches
OBS through the subscription; chat arrives over real IRC; an engine that is down is reported
once, late chat is dropped and counted, and a queued announcement plays once the engine is up."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tts_plugin

from tests.conftest import make_config, post_unix

from .irc_server import IrcServer


async def tick_until(obs: Any, cond: Callable[[], bool], *, timeout: float = 20.0) -> None:
    """Run OBS's timer every 20 ms (the event loop keeps serving the engine) until ``cond``."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            ctl: Any = tts_plugin.controller()
            raise AssertionError(f"condition not met within {timeout} s; status:\n{ctl.status_text()}")
        obs.run_timers()
        await asyncio.sleep(0.02)


def load(obs: Any, address: str, **values: Any) -> Any:
    data = obs.FakeData({"engine_address": address, **values})
    tts_plugin.script_defaults(data)
    tts_plugin.script_load(data)
    tts_plugin.script_update(data)
    obs.fire_event(obs.OBS_FRONTEND_EVENT_FINISHED_LOADING)
    return tts_plugin.controller()


def media(obs: Any) -> Any:
    return obs.WORLD.sources["TTS Audio"]


def warnings(obs: Any) -> list[str]:
    return [text for level, text in obs.LOG if level == obs.LOG_WARNING]


async def test_messages_play_one_after_another_and_their_files_go(obs: Any, start_engine: Any) -> None:
    running = await start_engine()
    ctl = load(obs, running.tcp)
    first = ctl.speak("Hello from the first message.", origin="test")
    ctl.speak("And this is the second one.", origin="test")
    src = media(obs)
    await tick_until(obs, lambda: bool(src.settings.get("local_file")))
    path1 = src.settings["local_file"]
    with wave.open(path1) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (48000, 1, 2)
        assert w.getnframes() > 48000 // 2
    assert ctl.queue.current is first and first.job_id
    updates = [c for c in obs.CALLS if c[0] == "obs_source_update"]
    await tick_until(obs, lambda: ctl.queue.items and ctl.queue.items[0].state == "ready")
    for _ in range(10):  # the second is ready, the first still plays: nothing new starts
        obs.run_timers()
        await asyncio.sleep(0.01)
    assert [c for c in obs.CALLS if c[0] == "obs_source_update"] == updates
    src.end()
    await tick_until(obs, lambda: src.settings["local_file"] != path1)
    assert not os.path.exists(path1)
    path2 = src.settings["local_file"]
    src.end()
    await tick_until(obs, lambda: ctl.queue.current is None)
    assert not os.path.exists(path2) and ctl.queue.counters.played == 2
    assert any("Playing test message" in text for _, text in obs.LOG)
    tmp_dir = ctl.link.temp_dir
    tts_plugin.script_unload()
    assert not os.path.exists(tmp_dir)


async def test_say_reaches_obs_through_the_subscription(obs: Any, start_engine: Any) -> None:
    running = await start_engine()
    ctl = load(obs, running.unix)  # the Unix socket, as on a streamer's machine
    await tick_until(obs, lambda: ctl.engine_state.startswith("reachable"))
    await tick_until(obs, lambda: ctl.link._stream is not None)
    status, _, body = await post_unix(running.unix, "/v1/say", {"text": "Thanks for the raid!"})
    assert status == 202
    reply = json.loads(body)
    assert reply["delivered"] == 1
    src = media(obs)
    await tick_until(obs, lambda: bool(src.settings.get("local_file")))
    assert ctl.queue.current.origin == "say" and ctl.queue.current.job_id
    job = running.engine.job(ctl.queue.current.job_id)
    assert job is not None and job.request.text == "Thanks for the raid!"
    assert ctl.queue.current.priority == "announcement"


async def test_chat_from_irc_is_filtered_and_spoken(obs: Any, start_engine: Any) -> None:
    running = await start_engine()
    server = IrcServer()
    try:
        ctl = load(
            obs,
            running.tcp,
            chat_enabled=True,
            twitch_channel="chan",
            irc_host="127.0.0.1",
            irc_port=server.port,
            irc_tls=False,
            chat_template="{user}: {message}",
        )
        conn = await asyncio.to_thread(server.next_client)
        await asyncio.to_thread(server.welcome, conn, "chan")
        prefix = "@display-name=Viewer;badges= :viewer!viewer@viewer.tmi.twitch.tv PRIVMSG #chan :"
        conn.send(prefix + "no prefix here")
        conn.send(prefix + "!tts hello stream")
        src = media(obs)
        await tick_until(obs, lambda: bool(src.settings.get("local_file")))
        assert ctl.queue.current.text == "Viewer: hello stream" and ctl.queue.current.origin == "chat"
        assert (ctl.chat_seen, ctl.chat_filtered) == (2, 1)
        assert "reading #chan" in ctl.status_text()
    finally:
        server.close()


async def test_engine_down_is_reported_once_and_late_chat_is_dropped(obs: Any) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))  # nothing listens here
        ctl = load(obs, f"127.0.0.1:{holder.getsockname()[1]}", chat_deadline_s=1)
        ctl.speak("a chat line", priority="chat", origin="chat")
        ctl.speak("an announcement", origin="hotkey")
        loop = asyncio.get_running_loop()
        end = loop.time() + 3.0
        while loop.time() < end:  # OBS's timer keeps running; nothing blocks
            before = loop.time()
            obs.run_timers()
            assert loop.time() - before < 0.2
            await asyncio.sleep(0.02)
    assert len([w for w in warnings(obs) if "Engine not reachable" in w]) == 1
    assert ctl.queue.counters.dropped_late == 1
    assert [m.text for m in ctl.queue.items] == ["an announcement"]
    status = ctl.status_text()
    assert "Engine: not reachable" in status and "dropped 1 late chat" in status
    assert "engine not reachable" in status.lower().split("last failure:")[1]


async def test_a_queued_announcement_plays_once_the_engine_starts(
    obs: Any, start_engine: Any, tmp_path: Path
) -> None:
    sock = tmp_path / "late" / "engine.sock"
    ctl = load(obs, str(sock))
    ctl.speak("Waiting for the engine to start.", origin="hotkey")
    await tick_until(obs, lambda: ctl.engine_state.startswith("not reachable"))
    await start_engine(make_config(tmp_path, server={"unix_socket": str(sock)}))
    src = media(obs)
    await tick_until(obs, lambda: bool(src.settings.get("local_file")), timeout=30)
    await tick_until(obs, lambda: any("Engine reachable again" in text for _, text in obs.LOG))
    assert ctl.queue.current.text == "Waiting for the engine to start."


async def test_the_default_socket_is_found_like_the_engine_puts_it(
    obs: Any, start_engine: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "xdg"))
    from engine.server import default_socket_path

    import engine_client

    assert engine_client.default_socket_path() == str(default_socket_path())
    running = await start_engine(make_config(tmp_path, server={"unix_socket": "auto"}))
    assert running.unix == str(default_socket_path())
    ctl = load(obs, "")
    assert ctl.link.address.path == running.unix
    await tick_until(obs, lambda: ctl.engine_state.startswith("reachable"))


async def test_voice_and_backend_pickers_list_what_the_engine_has(obs: Any, start_engine: Any) -> None:
    running = await start_engine()
    ctl = load(obs, running.tcp)
    await tick_until(obs, lambda: bool(ctl.voices) and bool(ctl.engine_health))
    props = tts_plugin.script_properties()
    voice = obs.obs_properties_get(props, "default_voice")
    assert voice.extra["combo_type"] == obs.OBS_COMBO_TYPE_EDITABLE
    assert ("(default)", "") in voice.items and "en_US-joe-medium" in [v for _, v in voice.items]
    assert [v for _, v in obs.obs_properties_get(props, "slot1_backend").items] == ["", "piper"]


async def test_changing_the_engine_address_fetches_waiting_audio_again(obs: Any, start_engine: Any) -> None:
    running = await start_engine()
    ctl = load(obs, running.tcp)
    first = ctl.speak("Playing now.")
    ctl.speak("Waiting its turn.")
    await tick_until(obs, lambda: ctl.queue.current is first and ctl.queue.items[0].state == "ready")
    old_path = ctl.queue.items[0].local_path
    data = obs.FakeData({"engine_address": running.unix})
    tts_plugin.script_defaults(data)
    tts_plugin.script_update(data)
    assert not os.path.exists(old_path)  # the old link's temp folder is gone
    await tick_until(obs, lambda: ctl.queue.items[0].state == "ready")
    assert os.path.exists(ctl.queue.items[0].local_path) and ctl.link.address.path == running.unix
    media(obs).end()
    await tick_until(
        obs, lambda: ctl.queue.current is not None and ctl.queue.current.text == "Waiting its turn."
    )
