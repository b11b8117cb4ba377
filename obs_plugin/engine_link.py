"""Everything that talks to the engine, on worker threads; results go into ``inbox``.

* a health monitor: polls ``/health`` (queue length, TCP address for streamed playback), logs
  ONE line when the engine goes away and one when it is back, retries with backoff, and can
  start the engine from the project's venv;
* a subscriber: holds ``GET /v1/subscribe`` open and forwards ``say`` events;
* a small pool that creates engine jobs and downloads each finished WAV to a temp file, which
  the Media Source then plays as a local file (see ``obs_media.py`` for why not a URL).

Nothing here touches ``obspython``: the timer on OBS's side drains ``inbox``.
"""

from __future__ import annotations

import http.client
import logging
import os
import queue
import shutil
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from engine_client import EngineAddress, EngineClient, EngineClientError, EngineRefused
import launcher
import contextlib

_LOGGER = logging.getLogger("streamer_tts.engine_link")
RETRYABLE_CODES = (
    "busy",
    "expired",
    "no_backend",
    "backend_failed",
    "backend_unavailable",
    "internal",
    "http_error",
    "bad_reply",
)


TEMP_PREFIX = "streamer-tts-obs-"


def sweep_stale_temp_dirs() -> None:
    """Remove temp folders left by an OBS that did not unload the script (killed, crashed): their
    name carries the pid of the OBS that made them."""
    base = tempfile.gettempdir()
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        pid = name[len(TEMP_PREFIX) :].split("-", 1)[0]
        if name.startswith(TEMP_PREFIX) and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(os.path.join(base, name), ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, another user's (or no permission to ask): leave it alone
        return True
    return True


def backoff(attempt: int, *, base: float = 0.5, cap: float = 15.0) -> float:
    """0.5, 1, 2, 4, 8, 15, 15, ... seconds."""
    return min(cap, base * 2 ** max(0, attempt - 1))


@dataclass(frozen=True)
class SubmitRequest:
    msg_id: int
    text: str
    voice: str
    backend: str
    priority: str
    deadline_ms: int | None
    attempt: int


class EngineLink:
    def __init__(
        self,
        address: EngineAddress,
        inbox: queue.Queue[tuple[Any, ...]],
        *,
        subscribe: bool,
        autostart: bool,
        poll_s: float = 2.0,
        timeout_s: float = 5.0,
    ) -> None:
        self.address = address
        self.client = EngineClient(address, timeout_s=timeout_s)
        self.inbox = inbox
        self.subscribe = subscribe
        self.autostart = autostart
        self.poll_s = poll_s
        self.up: bool | None = None
        self.engine_repo = launcher.REPO_DIR
        """The checkout whose ``.venv`` runs the engine (the plugin folder's parent)."""
        self.engine_proc: subprocess.Popen[bytes] | None = None
        sweep_stale_temp_dirs()
        self.temp_dir = tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-")
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._stream: http.client.HTTPConnection | None = None
        self._pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="tts-submit")
        self._threads = [threading.Thread(target=self._monitor, name="tts-health", daemon=True)]
        if subscribe:
            self._threads.append(threading.Thread(target=self._subscriber, name="tts-subscribe", daemon=True))

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def close(self, *, stop_engine: bool = True) -> None:
        """Stop the threads (without waiting on the network), remove temp files, and stop an
        engine this plugin started."""
        self._stop.set()
        self._wake.set()
        conn = self._stream
        if conn is not None and conn.sock is not None:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(2)
        self._pool.shutdown(wait=False, cancel_futures=True)
        for thread in self._threads:
            if thread.ident is not None:  # started
                thread.join(timeout=1.0)
        shutil.rmtree(self.temp_dir, ignore_errors=True)
        if stop_engine:
            launcher.stop_engine(self.engine_proc)

    def poke(self) -> None:
        """Check the engine now (after a failed request) instead of at the next poll."""
        self._wake.set()

    # -- jobs ------------------------------------------------------------------------------------
    def submit(self, req: SubmitRequest) -> None:
        if not self._stop.is_set():
            self._pool.submit(self._submit, req)

    def _submit(self, req: SubmitRequest) -> None:
        path = ""
        try:
            job = self.client.create_job(
                req.text,
                voice=req.voice,
                backend=req.backend,
                priority=req.priority,
                deadline_ms=req.deadline_ms,
            )
            job_id, wav_url = str(job["request_id"]), str(job["wav_url"])
            fd, path = tempfile.mkstemp(suffix=".wav", prefix=f"msg{req.msg_id}-", dir=self.temp_dir)
            os.close(fd)
            self.client.download(wav_url, path)
            self.inbox.put(("submitted", req.msg_id, job_id, wav_url, path))
        except EngineRefused as exc:
            _remove(path)
            retry = backoff(req.attempt) if exc.code in RETRYABLE_CODES else None
            self.inbox.put(("submit_failed", req.msg_id, str(exc), retry))
        except (EngineClientError, KeyError, OSError) as exc:
            _remove(path)
            self.poke()
            self.inbox.put(("submit_failed", req.msg_id, str(exc), backoff(req.attempt)))

    def fetch(self, msg_id: int, job_id: str, wav_url: str) -> None:
        """A job the engine already made (``/v1/say``): download its WAV."""
        if not self._stop.is_set():
            self._pool.submit(self._fetch, msg_id, job_id, wav_url)

    def _fetch(self, msg_id: int, job_id: str, wav_url: str) -> None:
        fd, path = tempfile.mkstemp(suffix=".wav", prefix=f"msg{msg_id}-", dir=self.temp_dir)
        os.close(fd)
        try:
            self.client.download(wav_url, path)
        except EngineClientError as exc:
            _remove(path)
            self.inbox.put(("submit_failed", msg_id, str(exc), None))
        else:
            self.inbox.put(("submitted", msg_id, job_id, wav_url, path))

    # -- health ----------------------------------------------------------------------------------
    def _monitor(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                health = self.client.health()
            except EngineClientError as exc:
                failures += 1
                self._went_down(str(exc), failures)
                delay = backoff(failures, base=1.0)
            else:
                failures = 0
                if self.up is not True:
                    self.up = True
                    self.inbox.put(("engine_up", str(self.address)))
                    self._fetch_voices()
                self.inbox.put(("health", health))
                delay = self.poll_s
            self._wake.wait(delay)
            self._wake.clear()

    def _fetch_voices(self) -> None:
        """The engine's voices, for the voice pickers (once per connection)."""
        try:
            voices = self.client.request_json("GET", "/v1/voices").get("voices")
        except EngineClientError:
            return
        if isinstance(voices, list):
            self.inbox.put(("voices", [v for v in voices if isinstance(v, dict) and v.get("name")]))

    def _went_down(self, reason: str, failures: int) -> None:
        if self.up is not False:
            self.up = False
            self.inbox.put(("engine_down", reason))
        if (
            self.autostart
            and (self.engine_proc is None or self.engine_proc.poll() is not None)
            and failures in (1, 6, 20)
        ):
            try:
                self.engine_proc = launcher.start_engine(self.engine_repo)
                self.inbox.put(
                    (
                        "log",
                        "info",
                        f"started the engine: {launcher.venv_python(self.engine_repo)} -m engine serve "
                        f"(log: {launcher.engine_log_path()})",
                    )
                )
            except OSError as exc:
                self.inbox.put(("log", "warning", f"cannot start the engine: {exc}"))

    # -- announcements ---------------------------------------------------------------------------
    def _subscriber(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            try:
                for event in self.client.events("/v1/subscribe", on_open=self._opened):
                    attempt = 0
                    if event.get("type") == "say":
                        self.inbox.put(("say", event))
            except EngineClientError:
                pass
            finally:
                self._stream = None
            attempt += 1
            self._stop.wait(backoff(attempt))

    def _opened(self, conn: http.client.HTTPConnection) -> None:
        self._stream = conn
        if self._stop.is_set() and conn.sock is not None:
            conn.sock.shutdown(2)


def _remove(path: str) -> None:
    if path:
        with contextlib.suppress(OSError):
            os.unlink(path)
