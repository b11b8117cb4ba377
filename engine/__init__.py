"""Streamer TTS engine: a local speech service for OBS and other streaming tools."""

__version__ = "0.1.0"
