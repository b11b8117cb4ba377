"""Checks before the engine serves (``python -m engine serve``, and a config reload): files that
config.yaml names must exist, so a typo refuses to start with the key to fix instead of starting
degraded (a backend silently unavailable).

Only the server runs these: ``python -m engine download-voice`` must still work with a config
that names a voice not yet downloaded.
"""

from __future__ import annotations

import os
from pathlib import Path

from .config import EngineConfig
from .errors import ConfigError


def check(config: EngineConfig) -> None:
    """Raise ``ConfigError`` naming the key when an enabled backend's configured file is missing."""
    if "piper" in config.enabled_backends():
        _piper_voice(config)


def _piper_voice(config: EngineConfig) -> None:
    from .backends.piper import bundled_voices

    options = config.tts.options("piper")
    key, voice = "tts.backends.piper.voice", options.voice
    if voice.endswith(".onnx") or os.sep in voice:
        model = Path(os.path.expanduser(voice))
        if not model.is_file():
            raise ConfigError(f"{key}: the voice file {voice} does not exist; fix the path, or "
                              "name a voice (`python -m engine download-voice --list`)")
    elif voice in bundled_voices():
        return
    else:
        model = Path(os.path.expanduser(options.voices_dir)) / f"{voice}.onnx"
        if not model.is_file():
            raise ConfigError(f"{key}: the voice {voice!r} is not installed in "
                              f"{options.voices_dir}; fetch it with "
                              f"`python -m engine download-voice {voice}`")
    if not Path(f"{model}.json").is_file():
        raise ConfigError(f"{key}: the voice's config {model}.json is missing (it comes with "
                          "the .onnx file)")
