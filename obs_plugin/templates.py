"""Announcement and scene-message templates: ``{scene}``, ``{previous}``, ``{time}``."""

from __future__ import annotations

import string
from typing import Any


class _Fields(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        return ""


def render(template: str, **fields: Any) -> str:
    """``render("On {scene}", scene="BRB")``; an unknown field becomes empty, a broken template
    is spoken as written."""
    try:
        return string.Formatter().vformat(template, (), _Fields(fields)).strip()
    except (ValueError, IndexError, AttributeError, KeyError):
        return template.strip()
