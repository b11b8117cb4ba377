"""Typed application keys shared by the HTTP modules (imports nothing of ``engine.http``)."""

from __future__ import annotations

from aiohttp import web

from ..hub import Hub

HUB_KEY = web.AppKey("hub", Hub)
