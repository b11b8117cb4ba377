"""The one interface every event source implements.

A source connects to a platform (Twitch chat, YouTube, Bilibili, StreamLabs, ...) and turns
what it reads into the typed events of ``engine.pipeline.events`` (``ChatMessage``,
``StreamEvent``), handing each to the ``emit`` callback it was given. The engine starts the
enabled sources, shows their ``status()`` and closes them; it never knows which platform is
behind one.

Adding a source:

1. Write ``engine/sources/<name>.py`` with a ``Source`` subclass: set ``name`` and a frozen
   ``Options`` dataclass whose first field is ``enabled: bool = False`` (give every field a
   docstring and, for numbers, ``metadata={"min": ..., "max": ...}`` as in ``engine/config.py``).
2. Implement ``start()`` (start one asyncio task and return at once), ``close()`` (cancel it,
   bounded) and keep ``self._state`` up to date through ``_set_state``; count what you emit
   and what you skip with ``_emit`` and ``_error``.
3. Register it in ``engine.sources.REGISTRY`` (one line) and add a commented block under
   ``sources:`` in config.yaml. Tokens and keys go in ``engine.secrets.KNOWN_SECRETS`` and are
   read with ``secrets.get(name)``, never from the options; never put one in a log line,
   an exception message or the status (use ``secrets.redact`` on text that came from outside).
4. Test it against a real server on loopback, or a fake that speaks the platform's real wire
   format for what this machine cannot reach.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import ConfigError
from ..pipeline.events import ChatMessage, StreamEvent
from ..secrets import Secrets

_LOGGER = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 2.0
"""How long ``close()`` waits for a source's task to stop."""
STATES = ("off", "connecting", "connected", "reconnecting", "auth_failed", "offline")
"""``off``: not started or closed. ``connecting``: first attempt. ``connected``: reading.
``reconnecting``: lost or refused, waiting to retry. ``auth_failed``: the platform refused the
credentials (retried slowly). ``offline``: reachable, but the channel or stream is not available."""

SourceEvent = ChatMessage | StreamEvent
Emit = Callable[[SourceEvent], None]


@dataclass(frozen=True)
class SourceStatus:
    """A snapshot of one source, safe to show anywhere (it never holds a secret)."""

    name: str
    state: str
    """One of ``STATES``."""
    detail: str = ""
    """A sentence for humans: what it is reading, or why it is not."""
    since: float = 0.0
    """Wall-clock seconds when ``state`` last changed."""
    events: int = 0
    """Events emitted since start."""
    errors: int = 0
    """Lines or messages that could not be used (malformed, too long, rejected by ``emit``)."""
    connects: int = 0
    """Connections made since start (a reconnect adds one)."""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state, "detail": self.detail, "since": self.since,
                "events": self.events, "errors": self.errors, "connects": self.connects}


class Source(ABC):
    """Base class of every event source."""

    name: ClassVar[str]
    """Registry name, also the key under ``sources`` in config.yaml and each event's ``source``."""
    Options: ClassVar[type]
    """Frozen dataclass of this source's ``sources.<name>`` settings (``enabled`` first)."""

    def __init__(self, options: Any, *, emit: Emit, secrets: Secrets) -> None:
        self.options = options
        self._emit_callback = emit
        self.secrets = secrets
        self._state = "off"
        self._detail = ""
        self._since = time.time()
        self._events = 0
        self._errors = 0
        self._connects = 0
        self._rng = random.Random()
        """Jitter of the reconnect backoff (a subclass may take a seeded one for tests)."""
        self._task: asyncio.Task[None] | None = None
        """The reading task ``start()`` made; ``_stop_task()`` ends it."""

    @classmethod
    def check_options(cls, options: Any, path: str) -> None:
        """Refuse option values the types alone cannot catch; raise ``ConfigError`` naming
        ``path.<key>``. Called by ``engine.config`` when the file is loaded."""
        del options, path

    @abstractmethod
    async def start(self) -> None:
        """Start reading in the background and return at once."""

    @abstractmethod
    async def close(self) -> None:
        """Stop reading and release the connection; bounded, safe to call twice."""

    def status(self) -> SourceStatus:
        return SourceStatus(self.name, self._state, self.secrets.redact(self._detail), self._since,
                            self._events, self._errors, self._connects)

    def backoff_s(self, attempt: int) -> float:
        """Wait before attempt ``attempt`` (1, 2, ...): 1 s doubling, +-20 % jitter, capped at
        the source's ``reconnect_max_s``."""
        base = 2.0 ** min(max(attempt, 1) - 1, 30)
        return float(min(self.options.reconnect_max_s, base * self._rng.uniform(0.8, 1.2)))

    # -- for subclasses ----------------------------------------------------------------------------
    async def _stop_task(self) -> None:
        """Cancel the reading task and wait for it, at most ``CLOSE_TIMEOUT_S``. Cancels again
        while it runs: on Python 3.11 ``asyncio.wait_for`` can swallow a cancellation that
        arrives as its inner call finishes, and the reader would then go on reconnecting."""
        task, self._task = self._task, None
        if task is None:
            return
        deadline = time.monotonic() + CLOSE_TIMEOUT_S
        while not task.done() and time.monotonic() < deadline:
            task.cancel()
            await asyncio.wait({task}, timeout=0.1)
        if not task.done():
            _LOGGER.warning("source %s: its task did not stop within %.1f s", self.name, CLOSE_TIMEOUT_S)

    def _set_state(self, state: str, detail: str) -> None:
        if state not in STATES:
            raise ValueError(f"unknown source state {state!r}")
        detail = self.secrets.redact(detail)
        if state != self._state:
            self._since = time.time()
            _LOGGER.info("source %s: %s (%s)", self.name, state, detail)
        self._state, self._detail = state, detail

    def _emit(self, event: SourceEvent) -> None:
        """Hand one event to the engine; an error in ``emit`` is counted and logged, not raised."""
        try:
            self._emit_callback(event)
        except Exception:  # the pipeline's fault must not stop the reader
            self._errors += 1
            _LOGGER.exception("source %s: emit failed for event %s", self.name, event.id)
        else:
            self._events += 1

    def _error(self, what: str) -> None:
        """Count one unusable input; ``what`` is logged at debug level, redacted."""
        self._errors += 1
        _LOGGER.debug("source %s: skipped: %s", self.name, self.secrets.redact(what))


def require(condition: bool, key: str, message: str) -> None:
    """``ConfigError(f"{key}: {message}")`` unless ``condition`` (for ``check_options``)."""
    if not condition:
        raise ConfigError(f"{key}: {message}")
