"""Plugin tests: the plugin's modules import as OBS imports them (its folder on ``sys.path``), with
the recording fake ``obspython`` installed in its place."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
PLUGIN = HERE.parent.parent / "obs_plugin"
for path in (str(HERE), str(PLUGIN)):
    if path not in sys.path:
        sys.path.insert(0, path)

import fake_obspython  # noqa: E402

sys.modules["obspython"] = fake_obspython

from contract_engine import ContractEngine  # noqa: E402


@pytest.fixture
def obs() -> Iterator[Any]:
    """A fresh fake OBS with scenes "Scene" and "Other"; the plugin is unloaded afterwards."""
    fake_obspython.reset(scenes=("Scene", "Other"))
    yield fake_obspython
    import reaper
    import tts_plugin

    if tts_plugin.controller() is not None:
        tts_plugin.script_unload()
    assert reaper.idle(timeout_s=10), "the reaper did not finish"


@pytest.fixture
def engine() -> Iterator[ContractEngine]:
    server = ContractEngine()
    yield server
    server.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dead_address() -> str:
    return f"127.0.0.1:{free_port()}"


def load(obs: Any, address: str, **values: Any) -> Any:
    """Load the script as OBS does (defaults, load, update on the UI thread), then FINISHED_LOADING;
    returns the controller."""
    import tts_plugin

    data = obs.FakeData({"engine_address": address, **values})
    tts_plugin.script_defaults(data)
    obs.on_thread(obs.UI, tts_plugin.script_load, data)
    obs.on_thread(obs.UI, tts_plugin.script_update, data)
    obs.fire_event(obs.OBS_FRONTEND_EVENT_FINISHED_LOADING)
    obs.run_timers()
    return tts_plugin.controller()


def tick_until(obs: Any, cond: Callable[[], bool], *, timeout: float = 10.0, what: str = "") -> None:
    """Run OBS's timer every 10 ms until ``cond()`` (bounded)."""
    import tts_plugin

    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            ctl = tts_plugin.controller()
            status = ctl.status_text() if ctl is not None else "(unloaded)"
            raise AssertionError(f"{what or 'condition'} not met within {timeout:g} s; status:\n{status}")
        obs.run_timers()
        time.sleep(0.01)
