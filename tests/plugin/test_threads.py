"""OBS's threads never wait, proven with the recording fake: OBS's callbacks (script_update, the
test button, hotkeys, frontend events) never join a thread and never touch the network; the
plugin's state changes only on the timer's (graphics) thread; joins happen on the plugin's reaper
thread; script_unload returns within 50 ms even when the engine does not answer at all."""

from __future__ import annotations

import copy
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import tts_plugin
from conftest import load, tick_until
from contract_engine import ContractEngine
from controller import Controller

OBS_THREADS = {"obs-ui", "obs-scripting", "obs-graphics"}
_NETWORK: list[tuple[str, str]] = []
_AUDIT = {"on": False}


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _AUDIT["on"] and event in ("socket.connect", "socket.sendto", "socket.getaddrinfo"):
        _NETWORK.append((event, threading.current_thread().name))


sys.addaudithook(_audit)  # audit hooks cannot be removed: this one records only while a test asks


@pytest.fixture
def network() -> Iterator[list[tuple[str, str]]]:
    """(audit event, thread name) of every connect while the test runs."""
    _NETWORK.clear()
    _AUDIT["on"] = True
    yield _NETWORK
    _AUDIT["on"] = False


@pytest.fixture
def joins(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(joining thread, joined thread) of every Thread.join while the test runs."""
    seen: list[tuple[str, str]] = []
    real_join = threading.Thread.join

    def join(self: threading.Thread, timeout: float | None = None) -> None:
        seen.append((threading.current_thread().name, self.name))
        real_join(self, timeout)

    monkeypatch.setattr(threading.Thread, "join", join)
    return seen


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(thread name, attribute) of every attribute the controller sets after it was built."""
    seen: list[tuple[str, str]] = []
    real = object.__setattr__

    def setattr_(self: Controller, name: str, value: Any) -> None:
        if "handlers" in self.__dict__:  # built: record
            seen.append((threading.current_thread().name, name))
        real(self, name, value)

    monkeypatch.setattr(Controller, "__setattr__", setattr_)
    return seen


def state(ctl: Controller) -> str:
    """Everything the controller holds, as text (threads and locks by identity)."""
    parts = ctl.parts
    return repr((ctl.settings, id(ctl.link), ctl.engine_state, ctl.subscription, ctl.last_failure,
                 ctl.loaded, ctl.scene, copy.copy(ctl.sent), ctl.early, list(parts.waiting),
                 parts.current, parts.paused))


def test_obs_callbacks_only_post_messages(
    obs: Any, engine: ContractEngine, network: list[tuple[str, str]], joins: list[tuple[str, str]],
    writes: list[tuple[str, str]],
) -> None:
    ctl = load(obs, engine.address, slot1_text="Hello", scene_messages="*=On {scene}")
    tick_until(obs, lambda: ctl.subscription == "open", what="subscription")
    before = state(ctl)
    data = obs.FakeData({"engine_address": engine.address, "slot1_text": "Changed",
                         "scene_messages": "*=On {scene}"})
    tts_plugin.script_defaults(data)
    obs.on_thread(obs.UI, tts_plugin.script_update, data)
    obs.press("streamer_tts.announce_1")
    obs.press("streamer_tts.skip")
    obs.switch_scene("Other")
    props = tts_plugin.script_properties()
    obs.click(props, "speak_test")
    obs.click(props, "refresh_status")
    assert state(ctl) == before  # nothing changed yet: it all waits in the inbox
    assert ctl.inbox.qsize() >= 5
    tick_until(obs, lambda: len(engine.recorded.events) == 3 and engine.recorded.controls != [],
               what="the events and the skip")
    assert sorted(e["source"] for e in engine.recorded.events) == ["hotkey", "scene", "test"]
    assert {name for name, _ in writes} == {"obs-graphics"}, writes
    assert not [j for j in joins if j[0] in OBS_THREADS], joins
    assert not [n for n in network if n[1] in OBS_THREADS], network
    assert network  # the plugin's own threads did talk to the engine


def test_changing_the_engine_address_joins_nothing_on_obs_threads(
    obs: Any, engine: ContractEngine, joins: list[tuple[str, str]]
) -> None:
    ctl = load(obs, engine.address)
    tick_until(obs, lambda: ctl.subscription == "open")
    old = ctl.link
    data = obs.FakeData({"engine_address": f"localhost:{engine.port}"})
    tts_plugin.script_defaults(data)
    obs.on_thread(obs.UI, tts_plugin.script_update, data)
    tick_until(obs, lambda: ctl.link is not old, what="the new link")
    tick_until(obs, lambda: any(j[0] == "tts-reaper" for j in joins), what="the reaper's joins")
    assert {j[0] for j in joins} <= {"tts-reaper", "MainThread"}, joins
    tick_until(obs, lambda: ctl.subscription == "open", what="subscribed again")


class _Silent:
    """A TCP server that accepts connections and never answers (the worst engine for unload)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"


@pytest.mark.parametrize("kind", ["unreachable", "silent"])
def test_unload_returns_within_50_ms_whatever_the_engine_does(obs: Any, kind: str) -> None:
    silent = _Silent()
    try:
        if kind == "unreachable":
            silent.sock.close()
        ctl = load(obs, silent.address, slot1_text="Hello")
        obs.press("streamer_tts.announce_1")
        for _ in range(20):  # threads are busy connecting, waiting or backing off
            obs.run_timers()
            time.sleep(0.01)
        assert ctl.link is not None
        started = time.monotonic()
        obs.on_thread(obs.UI, tts_plugin.script_unload)
        elapsed = time.monotonic() - started
        assert elapsed < 0.05, f"script_unload took {elapsed * 1000:.0f} ms"
    finally:
        silent.sock.close()
