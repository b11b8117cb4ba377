"""The one interface every synthesis backend implements.

A backend turns text into output PCM (see ``engine.audio``), one chunk per sentence, without
blocking the event loop. The core (router, queue, cache, API) only ever talks to this interface,
so a new backend is a new module plus one line in ``engine.backends.REGISTRY``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import importlib.util
import threading
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..errors import BackendUnavailable


@dataclass(frozen=True)
class Voice:
    """A voice a backend can speak with."""

    name: str
    """Identifier used in requests (``"en_US-joe-medium"``, ``"en-US-AriaNeural"``)."""
    backend: str
    language: str = ""
    """BCP 47-ish language tag, ``""`` when unknown."""
    description: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "backend": self.backend, "language": self.language,
                "description": self.description}


@dataclass(frozen=True)
class BackendContext:
    """What the engine hands every backend at construction."""

    data_dir: Path
    """A writable folder for the backend's own files (downloads, latents)."""
    gpu: Any = None
    """The engine's ``GpuMonitor`` (``engine.gpu``), or ``None`` when GPU support is off."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Test seams and other injected collaborators, by name."""


class Backend(ABC):
    """Base class of every synthesis backend."""

    name: ClassVar[str]
    """Registry name, also the key under ``tts.backends`` in config.yaml."""
    extra: ClassVar[str] = ""
    """The install.py ``--with`` extra that provides this backend's packages."""
    requires: ClassVar[tuple[str, ...]] = ()
    """Importable module names this backend needs."""
    uses_gpu: ClassVar[bool] = False
    Options: ClassVar[type]
    """Frozen dataclass of this backend's ``tts.backends.<name>`` settings."""

    def __init__(self, options: Any, context: BackendContext) -> None:
        self.options = options
        self.context = context
        self.workers = Workers(self.name)
        """This backend's inference threads (``iterate_in_thread``); shut down by ``close``."""

    @classmethod
    def missing_packages(cls) -> list[str]:
        """Modules this backend needs that are not importable here."""
        return [m for m in cls.requires if importlib.util.find_spec(m) is None]

    @classmethod
    def check_installed(cls) -> None:
        """Raise ``BackendUnavailable`` naming the extra to install if packages are missing."""
        missing = cls.missing_packages()
        if missing:
            raise BackendUnavailable(
                f"backend {cls.name!r} needs {', '.join(missing)}: run "
                f"`python3 install.py --with {cls.extra or cls.name}`", reason="not installed")

    async def start(self) -> None:
        """Prepare for requests (may load lazily instead). Called once by the engine."""

    async def close(self) -> None:
        """Release models, sessions and threads (subclasses call ``super().close()``)."""
        self.workers.shutdown()

    def unavailable_reason(self) -> str | None:
        """Why this backend should be skipped right now (``None`` when it can take work)."""
        return None

    @abstractmethod
    async def list_voices(self) -> list[Voice]:
        """Every voice this backend can use now."""

    @abstractmethod
    def default_voice(self) -> str:
        """The configured voice used when a request names none."""

    @abstractmethod
    async def resolve_voice(self, voice: str | None) -> str:
        """Map a requested voice (or ``None``) to a voice name; raise ``UnknownVoice``."""

    @abstractmethod
    def cache_identity(self, voice: str) -> str:
        """A string that changes whenever the audio for the same text would change
        (model file, voice, synthesis settings). Part of the cache key."""

    @abstractmethod
    def stream(self, text: str, voice: str, *, rate: float = 1.0) -> AsyncIterator[bytes]:
        """Yield output PCM, one chunk per sentence (or smaller), as soon as each exists.
        ``rate`` speeds the voice up (>1) or slows it down (<1) natively, without a pitch change."""

    def status(self) -> dict[str, Any]:
        """Backend-specific facts for ``GET /health``."""
        return {}


_DONE = object()


class FairLock:
    """A lock taken in the order turns were reserved, not in the order threads wake up.

    Turns are reserved on the event loop, where the scheduler has already ordered the jobs, so
    the first part of a message is synthesized before the second even when both start at once
    (a plain lock let either win, 2 times in 10).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._turns: collections.deque[object] = collections.deque()

    def reserve(self) -> object:
        turn = object()
        with self._cond:
            self._turns.append(turn)
        return turn

    @contextlib.contextmanager
    def hold(self, turn: object) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: self._turns[0] is turn)
        try:
            yield
        finally:
            with self._cond:
                self._turns.remove(turn)
                self._cond.notify_all()

    def cancel(self, turn: object) -> None:
        """Give back a reserved turn that will never be held."""
        with self._cond:
            if turn in self._turns:
                self._turns.remove(turn)
                self._cond.notify_all()
class Workers:
    """Long-lived worker threads of one backend, made when first needed and shut down with it.

    A fresh thread per request cost Piper about 20 ms of first audio (espeak-ng and onnxruntime
    set up per-thread state); warm threads do not. Threads are made only when none is idle; the
    bound is performance.queue.max_concurrent's own maximum, so every running job has a thread:
    a job whose FairLock turn is next never waits for a thread held by jobs waiting for that turn.
    """

    MAX_THREADS = 256

    def __init__(self, name: str) -> None:
        self.name = name
        self._pool: ThreadPoolExecutor | None = None
        self._guard = threading.Lock()

    def submit(self, fn: Callable[[], None]) -> None:
        with self._guard:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.MAX_THREADS, thread_name_prefix=self.name)
            self._pool.submit(fn)

    def shutdown(self) -> None:
        """Stop taking work; running items finish on their own (never waited for here)."""
        with self._guard:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


async def iterate_in_thread(make_iter: Callable[[], Iterator[bytes]], lock: threading.Lock | FairLock,
                            *, workers: Workers, turn: object | None = None) -> AsyncIterator[bytes]:
    """Run a blocking generator on a worker thread and yield its items on the event loop.

    Each item is handed over as soon as it exists, so the first sentence's audio leaves before
    the rest is synthesized. ``lock`` serializes inference for a backend that owns one model, for
    the whole iteration: the OBS plugin plays whole parts, so finishing one job before the next
    starts gives it its first part soonest (taking turns per sentence measured slower there).
    If the consumer stops early, the worker stops after its current item. ``turn``: a FairLock
    turn the caller reserved earlier (before an ``await`` that could reorder jobs).
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()
    stop = threading.Event()

    def put(item: object) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the loop closed under us (shutdown): nobody is listening
            stop.set()

    fair = lock if isinstance(lock, FairLock) else None
    if fair is not None and turn is None:
        turn = fair.reserve()  # on the loop: in job order
    held_turn = False

    def items() -> Generator[bytes, None, None]:
        nonlocal held_turn
        if fair is None or turn is None:
            with lock:  # type: ignore[union-attr]
                yield from make_iter()
            return
        held_turn = True
        with fair.hold(turn):
            yield from make_iter()

    def work() -> None:
        produced = items()
        try:
            for item in produced:
                put(item)
                if stop.is_set():
                    break
        except BaseException as exc:  # handed to the consumer, re-raised there
            put(exc)
        finally:
            produced.close()  # leaves the lock now, even when the consumer stopped early
            if fair is not None and turn is not None and not held_turn:
                fair.cancel(turn)
            put(_DONE)

    workers.submit(work)
    try:
        while True:
            item = await queue.get()
            if item is _DONE:
                break
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
