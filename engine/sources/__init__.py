"""Where events come from: one module per platform behind ``base.Source``, chosen from ``REGISTRY``.

Modules are imported lazily, so a platform library that is not installed only matters for the
source that needs it.
"""

from __future__ import annotations

import importlib

from .base import STATES, Emit, Source, SourceEvent, SourceStatus

REGISTRY: dict[str, str] = {
    "twitch": "engine.sources.twitch:TwitchSource",
    "bilibili": "engine.sources.bilibili:BilibiliSource",
    "youtube": "engine.sources.youtube:YouTubeSource",
    "streamlabs": "engine.sources.streamlabs:StreamLabsSource",
}
"""Every source the engine knows, as ``module:Class``. Adding one is one line here."""


def source_class(name: str) -> type[Source]:
    """The class registered under ``name``."""
    module_name, _, class_name = REGISTRY[name].partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls  # type: ignore[no-any-return]


__all__ = ["REGISTRY", "STATES", "Emit", "Source", "SourceEvent", "SourceStatus", "source_class"]
