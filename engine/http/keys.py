"""Typed application keys shared by the HTTP modules (imports nothing of ``engine.http``)."""

from __future__ import annotations

from aiohttp import web

from ..hub import Hub
from .speakerbot import SpeakerbotApi

HUB_KEY = web.AppKey("hub", Hub)
SPEAKERBOT_KEY = web.AppKey("speakerbot", SpeakerbotApi)
"""Present while the Speaker.bot-compatible API runs (``speakerbot.enabled``)."""
