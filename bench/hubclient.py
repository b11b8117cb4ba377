"""A bench client of the hub that behaves like the OBS plugin: it subscribes to ``play`` events,
fetches each part's WAV and reports ``started``/``ended`` (docs/hub.md)."""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from .common import UnixHTTPConnection


@dataclass(frozen=True)
class Play:
    """One ``play`` event, with when it arrived (``time.perf_counter``)."""

    utterance: str
    part: int
    parts: int
    wav_url: str
    text: str
    at: float
    job: str = ""


class Subscriber:
    """``GET /v1/subscribe`` read on a thread; ``play`` events land in ``plays``."""

    def __init__(self, unix: str) -> None:
        self.unix = unix
        self.plays: queue.Queue[Play] = queue.Queue()
        self._conn = UnixHTTPConnection(unix, timeout=3600)
        self._conn.request("GET", "/v1/subscribe")
        self._resp = self._conn.getresponse()
        hello = json.loads(self._resp.readline())
        if hello.get("type") != "hello":
            raise RuntimeError(f"the hub did not say hello: {hello}")
        self._thread = threading.Thread(target=self._read, name="subscriber", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for line in self._resp:
                event = json.loads(line)
                if event.get("type") == "play":
                    self.plays.put(Play(event["utterance"], event["part"], event["parts"],
                                        event["wav_url"], event.get("text", ""), time.perf_counter(),
                                        event.get("job", "")))
        except (OSError, ValueError, AttributeError):  # AttributeError: closed under the reader
            return

    def next_play(self, *, timeout_s: float) -> Play:
        return self.plays.get(timeout=timeout_s)

    def close(self) -> None:
        self._conn.close()


def post(unix: str, route: str, body: dict[str, Any], *, timeout_s: float = 60) -> tuple[int, dict[str, Any]]:
    conn = UnixHTTPConnection(unix, timeout=timeout_s)
    try:
        conn.request("POST", route, json.dumps(body), {"Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, json.loads(raw) if raw else {}
    finally:
        conn.close()


def announce(unix: str, text: str) -> str:
    event_id = uuid.uuid4().hex
    status, body = post(unix, "/v1/events", {"type": "announcement", "id": event_id, "source": "test",
                                             "text": text})
    if status != 202:
        raise RuntimeError(f"/v1/events answered {status}: {body}")
    return str(body["id"])


def chat(unix: str, user: str, text: str) -> dict[str, Any]:
    status, body = post(unix, "/v1/events", {"type": "chat", "source": "bench", "login": user.lower(),
                                             "display_name": user, "text": text})
    if status not in (200, 202):
        raise RuntimeError(f"/v1/events answered {status}: {body}")
    return body


def fetch_wav(unix: str, wav_url: str, *, first_bytes: int | None = None) -> tuple[float, bytes]:
    """GET the part's WAV: (seconds until ``first_bytes`` had arrived, else until all, the body)."""
    conn = UnixHTTPConnection(unix, timeout=120)
    try:
        t0 = time.perf_counter()
        conn.request("GET", wav_url)
        resp = conn.getresponse()
        if resp.status != 200:
            raise RuntimeError(f"{wav_url} answered {resp.status}: {resp.read()[:200]!r}")
        head = resp.read(first_bytes) if first_bytes else b""
        first = time.perf_counter() - t0
        body = head + resp.read()
        return (first if first_bytes else time.perf_counter() - t0), body
    finally:
        conn.close()


def get_json(unix: str, route: str) -> dict[str, Any]:
    conn = UnixHTTPConnection(unix, timeout=60)
    try:
        conn.request("GET", route)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{route} answered {resp.status}: {body[:200]!r}")
        return dict(json.loads(body))
    finally:
        conn.close()


def report(unix: str, play: Play, state: str, reason: str = "") -> None:
    post(unix, "/v1/playback", {"utterance": play.utterance, "part": play.part, "state": state,
                                **({"reason": reason} if reason else {})})
