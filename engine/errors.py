"""The engine's one exception hierarchy.

At the API boundary each error becomes a reply with an HTTP status, a short code and a
sentence a human can act on (see ``server.error_response``).
"""

from __future__ import annotations


class EngineError(Exception):
    """Base class: something the engine can explain in one sentence."""

    status = 500
    code = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(EngineError):
    """The configuration file is invalid; the message names the dotted key."""

    code = "bad_config"


class BadRequest(EngineError):
    """The client sent something we cannot speak (empty text, bad JSON, ...)."""

    status = 400
    code = "bad_request"


class TextTooLong(BadRequest):
    """The text is over ``limits.max_text_chars``."""

    status = 413
    code = "text_too_long"


class NothingToSpeak(BadRequest):
    """After normalization no letter or digit is left (only punctuation, symbols, markup or
    dropped emoji): refused before any backend runs, so it can never count as a backend fault."""

    code = "nothing_to_speak"


class NoVoiceForLanguage(BadRequest):
    """No enabled backend has a voice for the text's language: an input/config fault, never a
    backend fault. The message says how to get a voice (``download-voice``, or Edge)."""

    status = 422
    code = "no_voice_for_language"

    def __init__(self, message: str, *, language: str) -> None:
        super().__init__(message)
        self.language = language


class UnknownVoice(BadRequest):
    """No installed backend has the requested voice."""

    status = 404
    code = "unknown_voice"


class UnknownBackend(BadRequest):
    """The requested backend does not exist or is not enabled."""

    status = 404
    code = "unknown_backend"


class Busy(EngineError):
    """The queue is full; the client should retry later instead of waiting."""

    status = 503
    code = "busy"


class Expired(EngineError):
    """The request waited past its deadline and was dropped, unspoken."""

    status = 503
    code = "expired"


class BackendError(EngineError):
    """A backend failed to synthesize; the router falls back to the next one."""

    status = 502
    code = "backend_failed"

    def __init__(self, message: str, *, reason: str = "error") -> None:
        super().__init__(message)
        self.reason = reason


class BackendUnavailable(BackendError):
    """A backend cannot run at all (package missing, model missing, disabled)."""

    code = "backend_unavailable"


class NoBackendLeft(EngineError):
    """Every candidate backend was skipped or failed."""

    status = 503
    code = "no_backend"
