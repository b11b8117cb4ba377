"""Downloads each published part's WAV into a private temp folder, on two worker threads, as soon
as the ``play`` event arrives: the next part is fetched while the current one plays. Results go
to the inbox as ``Fetched`` / ``FetchFailed``; the timer's thread deletes files it is done with.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import queue
import shutil
import tempfile
import threading
from typing import Any

from engine_client import EngineClient, EngineClientError
from messages import Fetched, FetchFailed, PlayPart

_LOGGER = logging.getLogger("streamer_tts.fetcher")
TEMP_PREFIX = "streamer-tts-obs-"
WORKERS = 2


def sweep_stale_temp_dirs() -> None:
    """Remove temp folders left by an OBS that did not unload the script (killed, crashed): their
    name carries the pid of the OBS that made them."""
    base = tempfile.gettempdir()
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        pid = name[len(TEMP_PREFIX):].split("-", 1)[0]
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


class Fetcher:
    def __init__(self, client: EngineClient, inbox: queue.Queue[Any], *, timeout_s: float = 60.0) -> None:
        self.client = client
        self.inbox = inbox
        self.timeout_s = timeout_s
        sweep_stale_temp_dirs()
        self.temp_dir = tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-")
        self._todo: queue.Queue[PlayPart | None] = queue.Queue()
        self._open: set[http.client.HTTPConnection] = set()
        self._lock = threading.Lock()
        self._stopped = False
        self.threads = [threading.Thread(target=self._run, name=f"tts-fetch-{i}", daemon=True)
                        for i in range(WORKERS)]

    def fetch(self, part: PlayPart) -> None:
        """Any thread: download ``part``'s WAV (the subscriber calls it as the event arrives)."""
        self._todo.put(part)

    def stop(self) -> None:
        """Stop at once: in-flight downloads are cut (their sockets shut down), nothing waits."""
        with self._lock:
            self._stopped = True
            conns = list(self._open)
        for conn in conns:
            if conn.sock is not None:
                with contextlib.suppress(OSError):
                    conn.sock.shutdown(2)
        for _ in self.threads:
            self._todo.put(None)

    def remove_temp_dir(self) -> None:
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def _run(self) -> None:
        while True:
            part = self._todo.get()
            if part is None or self._stopped:
                return
            self._download(part)

    def _download(self, part: PlayPart) -> None:
        path = ""
        try:
            fd, path = tempfile.mkstemp(suffix=".wav", prefix=f"part{part.part}-", dir=self.temp_dir)
            os.close(fd)
            conns: list[http.client.HTTPConnection] = []
            try:
                self.client.download(part.wav_url, path, timeout=self.timeout_s,
                                     on_open=lambda c: self._opened(c, conns))
            finally:
                with self._lock:
                    self._open.difference_update(conns)
            fix_wav_sizes(path)
        except Exception as exc:  # EngineClientError, OSError, or a bug: the part fails, visibly
            if not isinstance(exc, (EngineClientError, OSError)):
                _LOGGER.exception("Downloading %s failed", part.wav_url)
            _remove(path)
            if not self._stopped:
                self.inbox.put(FetchFailed(part.key, part.job, str(exc) or type(exc).__name__))
            return
        if self._stopped:
            _remove(path)
            return
        self.inbox.put(Fetched(part.key, part.job, path))

    def _opened(self, conn: http.client.HTTPConnection, conns: list[http.client.HTTPConnection]) -> None:
        with self._lock:
            self._open.add(conn)
        conns.append(conn)
        if self._stopped and conn.sock is not None:
            conn.sock.shutdown(2)


def fix_wav_sizes(path: str) -> None:
    """A streamed WAV's header cannot know the sizes (it says "as long as it goes"); once the whole
    file is here, write the real RIFF and data sizes so the Media Source sees its true length."""
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        head = f.read(44)
        if len(head) < 44 or head[:4] != b"RIFF" or head[36:40] != b"data":
            return
        f.seek(4)
        f.write((size - 8).to_bytes(4, "little"))
        f.seek(40)
        f.write((size - 44).to_bytes(4, "little"))


def _remove(path: str) -> None:
    if path:
        with contextlib.suppress(OSError):
            os.unlink(path)
