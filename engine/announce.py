"""Announcements spoken in OBS: ``POST /v1/say`` and the plugin's subscription.
(Placeholder: built by the OBS plugin work.)"""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Add the announcement routes (none yet)."""
