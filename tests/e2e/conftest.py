"""Fixtures for the OBS end-to-end tests: one real OBS (with Xvfb, the real engine and the
loopback IRC server) shared by the tests of a module. A missing OBS, Xvfb, ffmpeg or xdotool
fails the tests with the apt package to install; it never skips them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .stack import CHANNEL, Stack, plugin_settings, running_stack
from .xserver import require

HOTKEY_NAME = "streamer_tts.announce_1"
HOTKEY_TEXT = "Thanks for watching. The giveaway starts in five minutes."
KEY_TEXT = "This one came from a real key press."
KEY = "F9"
"""Bound to announcement 2 in the pre-seeded settings, as ``script_save`` would have saved it."""
SCENE_TEXT = "We will be right back, this is the {scene} scene."


def e2e_settings(engine_socket: str, irc_port: int) -> dict[str, Any]:
    return plugin_settings(engine_socket=engine_socket, irc_port=irc_port,
                           slot1_text=HOTKEY_TEXT, slot1_backend="piper",
                           slot2_text=KEY_TEXT, slot2_backend="piper",
                           hotkey_announce_2=[{"key": f"OBS_KEY_{KEY}"}],
                           scene_messages=f"BRB={SCENE_TEXT}")


@pytest.fixture(scope="module")
def obs_stack() -> Iterator[Stack]:
    for tool, package in (("obs", "obs-studio obs-plugins"), ("Xvfb", "xvfb"), ("ffmpeg", "ffmpeg"),
                          ("xdotool", "xdotool")):
        require(tool, package)
    with running_stack(settings=e2e_settings) as stack:
        stack.wait_media_source(timeout_s=30)
        stack.irc.wait_joined(CHANNEL, timeout_s=30)
        yield stack
