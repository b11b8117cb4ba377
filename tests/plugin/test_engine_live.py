"""The plugin against the real engine (real Piper voice) on loopback, inside the fake OBS: a hotkey
announcement goes in as an event, comes back as published parts, is downloaded, played in order
and reported, so the engine finishes it; ``/v1/say`` reaches OBS; an announcement pressed while
the engine is down waits in the outbox and plays once it starts; the default socket is found."""

from __future__ import annotations

import asyncio
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tts_plugin
from conftest import load
from engine_client import EngineAddress, EngineClient

from tests.conftest import make_config, post_unix

TWO_PARTS = ("Welcome everyone to the stream tonight, it is good to see you. "
             "The giveaway starts in five minutes, so stay around.")


async def tick_until(obs: Any, cond: Callable[[], bool], *, timeout: float = 30.0, what: str = "") -> None:
    """Run OBS's timer every 20 ms (the event loop keeps serving the engine) until ``cond``."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            ctl: Any = tts_plugin.controller()
            raise AssertionError(f"{what or 'condition'} not met within {timeout} s; status:\n"
                                 f"{ctl.status_text() if ctl else '(unloaded)'}")
        await asyncio.to_thread(obs.run_timers)
        await asyncio.sleep(0.02)


async def load_async(obs: Any, address: str, **values: Any) -> Any:
    return await asyncio.to_thread(load, obs, address, **values)


def media(obs: Any) -> Any:
    return obs.WORLD.sources["TTS Audio"]


async def queue_view(unix: str) -> dict[str, Any]:
    client = EngineClient(EngineAddress(path=unix), timeout_s=10)
    return await asyncio.to_thread(client.request_json, "GET", "/v1/queue")


async def play_through(obs: Any, ctl: Any, *, parts: int) -> list[str]:
    """Let every part play to its end; returns the texts played, in order."""
    src = media(obs)
    played: list[str] = []
    for _ in range(parts):
        await tick_until(obs, lambda: ctl.parts.current is not None and src.settings.get("local_file") != "",
                         what=f"part {len(played) + 1} playing")
        current = ctl.parts.current
        with wave.open(src.settings["local_file"]) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (48000, 1, 2)
            assert w.getnframes() > 4800
        played.append(current.part.text)
        await asyncio.to_thread(src.end)

        def ended(c: Any = current) -> bool:
            return bool(ctl.parts.current is not c)

        await tick_until(obs, ended, what="the part to end")
    return played


async def test_a_hotkey_announcement_plays_part_by_part_and_the_engine_finishes_it(
    obs: Any, start_engine: Any
) -> None:
    running = await start_engine()
    ctl = await load_async(obs, running.unix, slot1_text=TWO_PARTS, slot1_backend="piper")
    await tick_until(obs, lambda: ctl.subscription == "open", what="the subscription")
    await asyncio.to_thread(obs.press, "streamer_tts.announce_1")
    played = await play_through(obs, ctl, parts=2)
    assert " ".join(played) == TWO_PARTS
    assert ctl.sent["delivered"] == 1 and ctl.parts.counters.played == 2
    view = await queue_view(running.unix)  # the engine heard both parts end: the utterance is done
    assert view["stage"]["outstanding"] == [] and view["items"] == []
    assert view["stage"]["counters"]["utterances_played"] == 1
    assert view["stage"]["counters"]["parts_played"] == 2
    tmp_dir = ctl.link.temp_dir
    await asyncio.to_thread(tts_plugin.script_unload)
    import reaper

    assert await asyncio.to_thread(reaper.idle, timeout_s=10)
    assert not Path(tmp_dir).exists()


async def test_say_reaches_obs(obs: Any, start_engine: Any) -> None:
    running = await start_engine()
    ctl = await load_async(obs, running.unix)  # the Unix socket, as on a streamer's machine
    await tick_until(obs, lambda: ctl.subscription == "open", what="the subscription")
    status, _, body = await post_unix(running.unix, "/v1/say", {"text": "Thanks for the raid!"})
    assert status == 202, body
    played = await play_through(obs, ctl, parts=1)
    assert played == ["Thanks for the raid!"]


async def test_an_announcement_pressed_while_the_engine_is_down_plays_once_it_starts(
    obs: Any, start_engine: Any, tmp_path: Path
) -> None:
    sock = tmp_path / "late" / "engine.sock"
    ctl = await load_async(obs, str(sock), slot1_text="Waiting for the engine to start.")
    await tick_until(obs, lambda: ctl.engine_state.startswith("not reachable"), what="engine down")
    await asyncio.to_thread(obs.press, "streamer_tts.announce_1")
    await tick_until(obs, lambda: ctl.link.sender.waiting_events() == 1, what="the outbox")
    await start_engine(make_config(tmp_path, server={"unix_socket": str(sock)}))
    played = await play_through(obs, ctl, parts=1)
    assert played == ["Waiting for the engine to start."]
    assert any("Engine reachable again" in text for _, text in obs.LOG)


async def test_the_default_socket_is_found_like_the_engine_puts_it(
    obs: Any, start_engine: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "xdg"))
    import engine_client

    from engine.http.app import default_socket_path

    assert engine_client.default_socket_path() == str(default_socket_path())
    running = await start_engine(make_config(tmp_path, server={"unix_socket": "auto"}))
    assert running.unix == str(default_socket_path())
    ctl = await load_async(obs, "")
    assert ctl.link.address.path == running.unix
    await tick_until(obs, lambda: ctl.engine_state.startswith("reachable"), what="reachable")


async def test_over_tcp_the_plugin_sends_the_installs_token(
    obs: Any, start_engine: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    import engine_token

    monkeypatch.setattr(engine_token, "DEFAULT_DATA_DIR", str(tmp_path / "elsewhere"))
    running = await start_engine()  # its data folder (and token) is tmp_path / "data"
    ctl = await load_async(obs, running.tcp)
    await tick_until(obs, lambda: "REFUSED" in ctl.subscription, what="refused without the token")
    assert "token" in ctl.status_text().split("Last failure:")[1]
    await asyncio.to_thread(tts_plugin.script_unload)
    monkeypatch.setattr(engine_token, "DEFAULT_DATA_DIR", str(tmp_path / "data"))
    ctl = await load_async(obs, running.tcp, slot1_text="Spoken over TCP with the token.")
    await tick_until(obs, lambda: ctl.subscription == "open", what="the subscription with the token")
    await asyncio.to_thread(obs.press, "streamer_tts.announce_1")
    assert await play_through(obs, ctl, parts=1) == ["Spoken over TCP with the token."]
    token = engine_token.read_token()
    assert token and ctl.engine_page() == f"http://{running.tcp}/?token={token}"


async def test_voice_and_backend_pickers_list_what_the_engine_has(
    obs: Any, start_engine: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    import engine_token

    monkeypatch.setattr(engine_token, "DEFAULT_DATA_DIR", str(tmp_path / "no-token-here"))
    running = await start_engine()
    ctl = await load_async(obs, running.tcp)
    await tick_until(obs, lambda: bool(ctl.voices) and bool(ctl.engine_health), what="voices")
    props = tts_plugin.script_properties()
    voice = obs.obs_properties_get(props, "slot1_voice")
    assert ("(default)", "") in voice.items and "en_US-joe-medium" in [v for _, v in voice.items]
    assert [v for _, v in obs.obs_properties_get(props, "slot1_backend").items] == ["", "piper"]
    assert ctl.engine_page() == f"http://{running.tcp}/"
