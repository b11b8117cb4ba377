"""Plugin tests: the plugin's modules import as OBS imports them (its folder on ``sys.path``), with
the recording fake ``obspython`` installed in its place."""

from __future__ import annotations

import sys
from collections.abc import Iterator
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


@pytest.fixture
def obs() -> Iterator[Any]:
    """A fresh fake OBS with scenes "Scene" and "Other"; the plugin is unloaded afterwards."""
    fake_obspython.reset(scenes=("Scene", "Other"))
    yield fake_obspython
    import tts_plugin

    if tts_plugin.controller() is not None:
        tts_plugin.script_unload()
