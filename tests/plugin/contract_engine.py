"""A scripted engine on loopback that speaks the hub contract (docs/hub.md) on the wire and records
what the plugin sent: ``POST /v1/events`` (dedupe by id), ``/v1/control``, ``/v1/playback``,
``GET /v1/subscribe`` (NDJSON: ``hello``, then what the test ``publish``es), the parts' WAVs
(whole, slow, or cut off mid-way as the engine does when a job fails) and ``/health``.

The plugin's tests use it for what the real engine cannot be made to do on cue (a lasting 403,
a WAV cut off at a chosen byte, a crash between two requests); ``test_engine_live.py`` runs the
plugin against the real engine.
"""

from __future__ import annotations

import json
import queue
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

RATE = 48000


def wav_bytes(seconds: float = 0.2, *, streamed: bool = False) -> bytes:
    """A mono s16le 48 kHz WAV of a quiet tone; ``streamed``: the header of unknown length."""
    n = int(RATE * seconds)
    pcm = b"".join(struct.pack("<h", 1000 if (i // 50) % 2 else -1000) for i in range(n))
    data = 0xFFFFFFFF - 36 if streamed else len(pcm)
    riff = 0xFFFFFFFF if streamed else 36 + len(pcm)
    return (b"RIFF" + struct.pack("<I", riff) + b"WAVE" + b"fmt "
            + struct.pack("<IHHIIHH", 16, 1, 1, RATE, RATE * 2, 2, 16) + b"data" + struct.pack("<I", data)
            + pcm)


@dataclass
class Wav:
    body: bytes
    cut_after: int | None = None
    """Send this many bytes, then drop the connection (a job that failed mid-way)."""
    delay_s: float = 0.0


@dataclass
class Recorded:
    events: list[dict[str, Any]] = field(default_factory=list)
    controls: list[dict[str, Any]] = field(default_factory=list)
    playback: list[dict[str, Any]] = field(default_factory=list)
    downloads: list[str] = field(default_factory=list)


class ContractEngine:
    def __init__(self, *, port: int = 0) -> None:
        self.recorded = Recorded()
        self.wavs: dict[str, Wav] = {}
        self.health: dict[str, Any] = {"status": "ok", "speech": {
            "queue": {"items": 0, "paused": False, "drops": {}}, "stage": {"listeners": 0}}}
        self.subscribe_status = 200
        self.events_status = 0
        """When set (e.g. 503), ``POST /v1/events`` answers this error status."""
        self.paused = False
        self._seen_ids: set[str] = set()
        self._streams: list[queue.Queue[dict[str, Any] | None]] = []
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.address = f"127.0.0.1:{self.port}"
        self.health["listen"] = {"tcp": self.address}
        self._thread = threading.Thread(target=self.server.serve_forever, name="contract-engine", daemon=True)
        self._thread.start()

    def close(self) -> None:
        with self._lock:
            for stream in self._streams:
                stream.put(None)
        self.server.shutdown()
        self.server.server_close()

    # -- scripting -------------------------------------------------------------------------------
    def publish(self, event: dict[str, Any]) -> None:
        """Send an event to every open subscription."""
        with self._lock:
            for stream in self._streams:
                stream.put(event)

    def play(self, utterance: str, part: int, parts: int, *, wav: Wav | None = None,
             source: str = "chat", text: str = "") -> str:
        """Publish a ``play`` event for a new job whose WAV is ``wav`` (a short clip by default)."""
        job = f"{abs(hash((utterance, part, time.monotonic()))):x}"[:12]
        self.wavs[job] = wav or Wav(wav_bytes())
        self.publish({"type": "play", "utterance": utterance, "part": part, "parts": parts, "job": job,
                      "wav_url": f"/v1/jobs/{job}.wav", "text": text or f"part {part}",
                      "priority": "chat", "source": source})
        return job

    def subscribers(self) -> int:
        with self._lock:
            return len(self._streams)

    def reports(self, state: str | None = None) -> list[tuple[str, int, str]]:
        return [(r["utterance"], r["part"], r["state"]) for r in list(self.recorded.playback)
                if state is None or r["state"] == state]

    # -- serving ---------------------------------------------------------------------------------
    def answer_event(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.recorded.events.append(body)
        if self.events_status:
            return self.events_status, {"error": {"code": "busy", "message": "scripted refusal"}}
        event_id = str(body.get("id"))
        with self._lock:
            duplicate = event_id in self._seen_ids
            self._seen_ids.add(event_id)
        if duplicate:
            return 200, {"id": event_id, "duplicate": True}
        return 202, {"id": event_id, "accepted": True}

    def answer_control(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.recorded.controls.append(body)
        command = body.get("command")
        if command in ("pause", "resume", "toggle_pause"):
            self.paused = command == "pause" or (command == "toggle_pause" and not self.paused)
        return 200, {"paused": self.paused, "queued": 0}

    def open_stream(self) -> queue.Queue[dict[str, Any] | None]:
        stream: queue.Queue[dict[str, Any] | None] = queue.Queue()
        stream.put({"type": "hello", "listeners": len(self._streams) + 1, "heartbeat_s": 1})
        with self._lock:
            self._streams.append(stream)
        return stream

    def close_stream(self, stream: queue.Queue[dict[str, Any] | None]) -> None:
        with self._lock:
            if stream in self._streams:
                self._streams.remove(stream)


def _handler(engine: ContractEngine) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _json(self, status: int, body: dict[str, Any]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            return dict(json.loads(self.rfile.read(length) or b"{}"))

        def do_POST(self) -> None:
            body = self._body()
            if self.path == "/v1/events":
                self._json(*engine.answer_event(body))
            elif self.path == "/v1/control":
                self._json(*engine.answer_control(body))
            elif self.path == "/v1/playback":
                engine.recorded.playback.append(body)
                self._json(200, {"ok": True})
            else:
                self._json(404, {"error": {"code": "not_found", "message": self.path}})

        def do_GET(self) -> None:
            if self.path == "/health":
                self._json(200, engine.health)
            elif self.path == "/v1/voices":
                self._json(200, {"voices": [{"name": "v1", "backend": "piper", "language": "en"}]})
            elif self.path == "/v1/subscribe":
                self._subscribe()
            elif self.path.startswith("/v1/jobs/") and self.path.endswith(".wav"):
                self._wav(self.path[len("/v1/jobs/"):-4])
            else:
                self._json(404, {"error": {"code": "not_found", "message": self.path}})

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _start_chunked(self, content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()

        def _subscribe(self) -> None:
            if engine.subscribe_status != 200:
                self._json(engine.subscribe_status, {"error": {"code": "forbidden",
                                                               "message": "scripted refusal"}})
                return
            stream = engine.open_stream()
            self._start_chunked("application/x-ndjson")
            try:
                while True:
                    try:
                        event = stream.get(timeout=1.0)
                    except queue.Empty:
                        event = {"type": "heartbeat", "ts": time.time()}
                    if event is None:
                        self._chunk(b"")  # the terminating chunk: the stream ends
                        return
                    self._chunk(json.dumps(event).encode() + b"\n")
            except OSError:
                return
            finally:
                engine.close_stream(stream)

        def _wav(self, job: str) -> None:
            engine.recorded.downloads.append(job)
            wav = engine.wavs.get(job)
            if wav is None:
                self._json(404, {"error": {"code": "unknown_job", "message": job}})
                return
            time.sleep(wav.delay_s)
            self._start_chunked("audio/wav")
            body = wav.body if wav.cut_after is None else wav.body[: wav.cut_after]
            for i in range(0, len(body), 8192):
                self._chunk(body[i:i + 8192])
            if wav.cut_after is not None:  # cut off: no terminating chunk, the connection drops
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            self._chunk(b"")

    return Handler
