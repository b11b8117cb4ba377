"""Fixtures for the OBS end-to-end tests: one real OBS (with Xvfb, ngircd, and the real engine
reading its channel) shared by the tests of a module. A missing OBS, Xvfb, ffmpeg, xdotool or
ngircd fails the tests with the apt package to install; it never skips them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.ircd import ngircd_binary

from .stack import Stack, plugin_settings, running_stack
from .xserver import HarnessError, require

HOTKEY_NAME = "streamer_tts.announce_1"
HOTKEY_TEXT = "Thanks for watching. The giveaway starts in five minutes."
KEY_TEXT = "This one came from a real key press."
KEY = "F9"
"""Bound to announcement 2 in the pre-seeded settings, as ``script_save`` would have saved it."""
SCENE_TEXT = "We will be right back, this is the {scene} scene."
LONG_NAME = "streamer_tts.announce_3"
LONG_TEXT = ("Attention everyone, this is a long announcement in several parts. The first raffle winner "
             "will be drawn in a few minutes from now. Please make sure that you have joined the raffle "
             "with the command in the chat. The second raffle follows right after the first one is done. "
             "Thank you all for being here and for supporting the stream tonight.")
"""Slot 3: several parts, so the engine can be killed while one plays."""
WHILE_DOWN_NAME = "streamer_tts.announce_4"
WHILE_DOWN_TEXT = "This was pressed while the engine was down."


def e2e_settings(engine_socket: str) -> dict[str, Any]:
    return plugin_settings(engine_socket=engine_socket,
                           slot1_text=HOTKEY_TEXT, slot1_backend="piper",
                           slot2_text=KEY_TEXT, slot2_backend="piper",
                           slot3_text=LONG_TEXT, slot3_backend="piper",
                           slot4_text=WHILE_DOWN_TEXT, slot4_backend="piper",
                           hotkey_announce_2=[{"key": f"OBS_KEY_{KEY}"}],
                           scene_messages=f"BRB={SCENE_TEXT}")


@pytest.fixture(scope="module")
def obs_stack() -> Iterator[Stack]:
    for tool, package in (("obs", "obs-studio obs-plugins"), ("Xvfb", "xvfb"), ("ffmpeg", "ffmpeg"),
                          ("xdotool", "xdotool")):
        require(tool, package)
    try:
        ngircd_binary()  # in /usr/sbin, which a user's PATH may lack
    except RuntimeError as exc:
        raise HarnessError(f"{exc} (apt-get install -y ngircd)") from None
    with running_stack(settings=e2e_settings) as stack:
        stack.wait_media_source(timeout_s=30)
        stack.viewers.wait_engine_joined(timeout_s=30)
        yield stack
