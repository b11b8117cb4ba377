"""Everything that talks to the engine, on the plugin's own threads; results go into ``inbox``.

* ``tts-health``: polls ``/health`` (engine state, queue, alerts, TCP address), reports ONE
  ``EngineDown`` per outage and ``EngineUp`` when it is back, and can start the engine;
* ``tts-subscribe``: holds ``GET /v1/subscribe`` open, hands each ``play`` part to the fetcher at
  once and to the inbox, and ``cancel`` events to the inbox; a refusal (403, 404, ...) is reported
  with its status, not swallowed;
* ``tts-sender`` (``sender.py``): events, controls and playback reports, in order;
* ``tts-fetch-*`` (``fetcher.py``): the parts' WAVs.

``close()`` returns at once: threads are told to stop, open sockets are shut down, and a reaper
thread joins them and removes the temp folder (``reaper.py``). Nothing here touches ``obspython``.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import queue
import subprocess
import threading
from typing import Any

import launcher
import reaper
from engine_client import EngineAddress, EngineClient, EngineClientError, EngineRefused
from fetcher import Fetcher
from messages import (BadEvent, Cancel, CancelReceived, EngineDown, EngineUp, HealthReport, Note,
                      PlayPart, PlayReceived, Subscribed, SubscribeFailed, VoicesListed)
from sender import Sender

_LOGGER = logging.getLogger("streamer_tts.engine_link")


def backoff(attempt: int, *, base: float = 0.5, cap: float = 5.0) -> float:
    """0.5, 1, 2, 4, 5, 5, ... seconds."""
    return min(cap, base * 2 ** max(0, attempt - 1))


class EngineLink:
    def __init__(
        self,
        address: EngineAddress,
        inbox: queue.Queue[Any],
        *,
        autostart: bool,
        poll_s: float = 2.0,
        timeout_s: float = 5.0,
    ) -> None:
        self.address = address
        self.client = EngineClient(address, timeout_s=timeout_s)
        self.inbox = inbox
        self.autostart = autostart
        self.poll_s = poll_s
        self.engine_repo = launcher.REPO_DIR
        """The checkout whose ``.venv`` runs the engine (the plugin folder's parent)."""
        self.engine_proc: subprocess.Popen[bytes] | None = None
        self.sender = Sender(self.client, inbox)
        self.fetcher = Fetcher(self.client, inbox)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._wake_subscriber = threading.Event()
        self._stream: http.client.HTTPConnection | None = None
        self._up: bool | None = None
        self._threads = [
            threading.Thread(target=self._monitor, name="tts-health", daemon=True),
            threading.Thread(target=self._subscriber, name="tts-subscribe", daemon=True),
            self.sender.thread,
            *self.fetcher.threads,
        ]

    @property
    def temp_dir(self) -> str:
        return self.fetcher.temp_dir

    def start(self) -> None:
        reaper.start()  # now, so that close() never waits for a thread to start
        for thread in self._threads:
            thread.start()

    def close(self, *, stop_engine: bool = True) -> threading.Event:
        """Tell every thread to stop and return at once; the reaper joins them, removes the temp
        folder and stops an engine this plugin started, then sets the returned event."""
        self._stop.set()
        self._wake.set()
        self._wake_subscriber.set()
        self.sender.stop()
        self.fetcher.stop()
        conn = self._stream
        if conn is not None and conn.sock is not None:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(2)
        proc = self.engine_proc if stop_engine else None
        if proc is not None and proc.poll() is None:
            proc.terminate()  # a signal, sent now: the wait for it is the reaper's
        steps = [self.fetcher.remove_temp_dir]
        if proc is not None:
            steps.append(lambda: launcher.stop_engine(proc))
        return reaper.close_later(self._threads, then=steps)

    # -- health ----------------------------------------------------------------------------------
    def _monitor(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                health = self.client.health()
            except (EngineClientError, ValueError) as exc:
                failures += 1
                self._went_down(str(exc), failures)
                delay = backoff(failures)
            else:
                failures = 0
                if self._up is not True:
                    self._up = True
                    self.inbox.put(EngineUp(str(self.address)))
                    self.sender.wake()
                    self._wake_subscriber.set()
                    self._list_voices()
                self.inbox.put(HealthReport(health))
                delay = self.poll_s
            self._wake.wait(delay)
            self._wake.clear()

    def _list_voices(self) -> None:
        """The engine's voices, for the voice pickers (once per connection)."""
        try:
            voices = self.client.request_json("GET", "/v1/voices").get("voices")
        except EngineClientError:
            return
        if isinstance(voices, list):
            self.inbox.put(VoicesListed(tuple(v for v in voices if isinstance(v, dict) and v.get("name"))))

    def _went_down(self, reason: str, failures: int) -> None:
        if self._up is not False:
            self._up = False
            self.inbox.put(EngineDown(reason))
        if self.autostart and failures in (1, 6, 20) and (
            self.engine_proc is None or self.engine_proc.poll() is not None
        ):
            try:
                self.engine_proc = launcher.start_engine(self.engine_repo)
            except OSError as exc:
                self.inbox.put(Note(f"cannot start the engine: {exc}", failure=True))
                return
            self.inbox.put(Note(f"started the engine: {launcher.venv_python(self.engine_repo)} -m engine "
                                f"serve (log: {launcher.engine_log_path()})"))

    # -- the subscription ------------------------------------------------------------------------
    def _subscriber(self) -> None:
        attempt = epoch = 0
        while not self._stop.is_set():
            epoch += 1
            try:
                for event in self.client.events("/v1/subscribe", on_open=self._opened):
                    attempt = 0
                    self._on_event(event, epoch)
                reason, status = "the engine closed the event stream", 0
            except EngineRefused as exc:
                reason, status = str(exc), exc.status
                if exc.code == "token_required":
                    self.client.forget_token()  # read the engine's token file again next time
            except EngineClientError as exc:
                reason, status = str(exc), 0
            except Exception as exc:  # a bug: logged, and the subscription is opened again
                _LOGGER.exception("The event stream failed")
                reason, status = f"internal error: {exc!r}", 0
            finally:
                self._stream = None
            if self._stop.is_set():
                return
            self.inbox.put(SubscribeFailed(reason, status))
            attempt += 1
            self._wake_subscriber.wait(backoff(attempt))
            self._wake_subscriber.clear()

    def _on_event(self, event: dict[str, Any], epoch: int) -> None:
        kind = event.get("type")
        if self.sender.epoch != epoch:  # the first event of a new subscription (``hello``)
            self.sender.epoch = epoch
            self.inbox.put(Subscribed(epoch))
        try:
            if kind == "play":
                part = PlayPart.from_dict(event, epoch=epoch)
                self.fetcher.fetch(part)  # at once: no wait for the next timer tick
                self.inbox.put(PlayReceived(part))
            elif kind == "cancel":
                self.inbox.put(CancelReceived(Cancel.from_dict(event)))
        except BadEvent as exc:
            self.inbox.put(Note(f"ignored an engine event: {exc}", failure=True))

    def _opened(self, conn: http.client.HTTPConnection) -> None:
        self._stream = conn
        if self._stop.is_set() and conn.sock is not None:
            conn.sock.shutdown(2)
