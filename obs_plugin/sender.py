"""One thread that posts to the engine in order: playback reports and control commands first,
then the outbox of events (``POST /v1/events``).

The outbox holds at most ``limit`` events while the engine is down (the oldest is dropped, with a
log line) and sends them again, in order and with their ids, when it answers: the engine dedupes
by id. A report waits at most ``report_ttl_s``; a control command is tried once (a skip pressed
minutes ago must not skip what plays now).
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from typing import Any, Union

from engine_client import EngineClient, EngineClientError, EngineRefused
from messages import (Announcement, Control, ControlDone, ControlFailed, EventDelivered, EventDropped,
                      PlaybackReport)

_LOGGER = logging.getLogger("streamer_tts.sender")
OUTBOX_LIMIT = 100
Item = Union[Announcement, Control, PlaybackReport]  # noqa: UP007 (evaluated: Python 3.9)


class Sender:
    def __init__(
        self,
        client: EngineClient,
        inbox: queue.Queue[Any],
        *,
        limit: int = OUTBOX_LIMIT,
        report_ttl_s: float = 30.0,
        retry_cap_s: float = 2.0,
    ) -> None:
        self.client = client
        self.inbox = inbox
        self.limit = limit
        self.report_ttl_s = report_ttl_s
        self.retry_cap_s = retry_cap_s
        self.epoch = 0
        """The subscription now open (set by the subscriber): a ``failed`` report of a part from
        an older one is dropped, since a restarted engine replays that part itself."""
        self._events: collections.deque[Announcement] = collections.deque()
        self._urgent: collections.deque[Control | PlaybackReport] = collections.deque()
        self._cond = threading.Condition()
        self._stopped = False
        self.thread = threading.Thread(target=self._run, name="tts-sender", daemon=True)

    # -- called from the timer's thread (never blocks) --------------------------------------------
    def send_event(self, event: Announcement) -> None:
        with self._cond:
            if len(self._events) >= self.limit:
                dropped = self._events.popleft()
                _LOGGER.warning("Outbox full (%d events): dropped the oldest, %s %r", self.limit,
                                dropped.source, dropped.text[:60])
                self.inbox.put(EventDropped(dropped.id, f"the outbox was full ({self.limit})"))
            self._events.append(event)
            self._cond.notify()

    def control(self, command: Control) -> None:
        self._put_urgent(command)

    def report(self, report: PlaybackReport) -> None:
        self._put_urgent(report)

    def _put_urgent(self, item: Control | PlaybackReport) -> None:
        with self._cond:
            self._urgent.append(item)
            self._cond.notify()

    def take_events(self) -> list[Announcement]:
        """The events not sent yet, removed (a new link for a new address takes them over)."""
        with self._cond:
            events = list(self._events)
            self._events.clear()
            return events

    def waiting_events(self) -> int:
        return len(self._events)

    def wake(self) -> None:
        """The engine answers again: retry now instead of after the backoff."""
        with self._cond:
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()

    # -- the thread --------------------------------------------------------------------------------
    def _next(self) -> Item | None:
        with self._cond:
            while not self._stopped and not self._urgent and not self._events:
                self._cond.wait()
            if self._stopped:
                return None
            return self._urgent[0] if self._urgent else self._events[0]

    def _run(self) -> None:
        failures = 0
        while True:
            item = self._next()
            if item is None:
                return
            try:
                retry = self._send(item)
            except Exception:  # a bug must not stop the sender: this item is dropped, once, logged
                _LOGGER.exception("Could not send %s", type(item).__name__)
                retry = False
            if not retry:
                self._forget(item)
                failures = 0
                continue
            failures += 1
            with self._cond:
                if not self._stopped:
                    self._cond.wait(min(self.retry_cap_s, 0.25 * 2 ** (failures - 1)))

    def _forget(self, item: Item) -> None:
        with self._cond:
            for box in (self._urgent, self._events):
                if box and box[0] is item:
                    box.popleft()
                    return

    def _send(self, item: Item) -> bool:
        """Post one item; True means keep it and retry later."""
        if isinstance(item, PlaybackReport):
            return self._send_report(item)
        if isinstance(item, Control):
            try:
                state = self.client.request_json("POST", "/v1/control", item.to_dict())
            except EngineClientError as exc:
                self.inbox.put(ControlFailed(item.command, str(exc)))
            else:
                self.inbox.put(ControlDone(item.command, state))
            return False
        try:
            reply = self.client.request_json("POST", "/v1/events", item.to_dict())
        except EngineRefused as exc:
            if exc.code == "token_required":  # the token may appear or change: read it again, wait
                self.client.forget_token()
                return True
            if exc.status >= 500:
                return True  # busy or failing for now: the event waits
            _LOGGER.warning("The engine refused %s announcement %r: %s", item.source, item.text[:60], exc)
            self.inbox.put(EventDropped(item.id, str(exc)))
            return False
        except EngineClientError:
            return True
        duplicate = bool(reply.get("duplicate"))
        if reply.get("accepted") is False and not duplicate:  # the engine's pipeline dropped it
            reason = str(reply.get("reason") or "dropped by the engine")
            _LOGGER.warning("The engine dropped %s announcement %r: %s", item.source, item.text[:60], reason)
            self.inbox.put(EventDropped(item.id, reason))
        else:
            self.inbox.put(EventDelivered(item.id, duplicate))
        return False

    def _send_report(self, report: PlaybackReport) -> bool:
        if report.state == "failed" and report.epoch != self.epoch:
            _LOGGER.debug("Not reporting %s part %d failed: from an engine connection that is gone",
                          report.utterance, report.part)
            return False
        try:
            self.client.request_json("POST", "/v1/playback", report.to_dict())
        except EngineRefused as exc:
            _LOGGER.info("The engine refused the playback report %s: %s", report.to_dict(), exc)
            return False
        except EngineClientError:
            return time.monotonic() - report.created < self.report_ttl_s
        return False
