"""A small blocking client for the engine's HTTP API, over a Unix socket or TCP (stdlib only).

Every call has an explicit timeout and runs on a worker thread, never on OBS's own threads.
Errors are ``EngineUnreachable`` (nothing answers: start the engine), ``EngineRefused`` (it
answered with a JSON error such as ``busy`` or ``unknown_voice``) or ``DownloadBroken`` (a WAV
that broke off).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import engine_token

DEFAULT_TCP = "127.0.0.1:8000"
MAX_EVENT_LINE_BYTES = 256 * 1024


class EngineClientError(Exception):
    """Base class of the plugin's engine errors; ``str()`` is one readable sentence."""


class EngineUnreachable(EngineClientError):
    """Nothing answered at the engine address (not running, wrong address, timed out)."""


class DownloadBroken(EngineClientError):
    """A WAV download ended early or broke off: the audio is incomplete."""


class EngineRefused(EngineClientError):
    """The engine answered with an error reply."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{message} ({code}, HTTP {status})")
        self.status, self.code, self.message = status, code, message


def default_socket_path() -> str:
    """The engine's default Unix socket (same rule as ``engine.http.app.default_socket_path``)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "streamer-tts", "engine.sock")
    return os.path.join(tempfile.gettempdir(), f"streamer-tts-{os.getuid()}", "engine.sock")


@dataclass(frozen=True)
class EngineAddress:
    """Where the engine listens: a Unix socket ``path`` or a TCP ``host``:``port``."""

    path: str = ""
    host: str = ""
    port: int = 0

    @property
    def is_unix(self) -> bool:
        return bool(self.path)

    def __str__(self) -> str:
        return f"unix:{self.path}" if self.path else f"{self.host}:{self.port}"

    @classmethod
    def parse(cls, value: str) -> EngineAddress:
        """``""``/``auto`` (the default socket if it exists, else 127.0.0.1:8000), ``unix:/p``,
        ``/p``, ``host:port`` or ``http://host:port``. A bad value raises ``ValueError``."""
        text = (value or "").strip()
        if text in ("", "auto"):
            sock = default_socket_path()
            if hasattr(socket, "AF_UNIX") and os.path.exists(sock):
                return cls(path=sock)
            text = DEFAULT_TCP
        if text.startswith("unix:"):
            text = text[5:]
            if not text:
                raise ValueError("engine address 'unix:' needs a socket path")
        if text.startswith(("/", "~")):
            return cls(path=os.path.expanduser(text))
        if "://" in text:
            scheme, _, text = text.partition("://")
            if scheme not in ("http", "tcp"):
                raise ValueError(f"engine address scheme {scheme!r}: use http://host:port or a socket path")
        text = text.rstrip("/")
        host, sep, port = text.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"engine address {value!r}: use host:port (127.0.0.1:8000) or a socket path")
        return cls(host=host.strip("[]"), port=int(port))


class EngineUntrusted(EngineUnreachable):
    """The socket at the engine address belongs to another user: not connected to."""


def check_socket_owner(path: str, owner_uid: int) -> None:
    """Refuse a socket that ``owner_uid`` (this user) does not own: another user could be
    listening there to read what the stream says. A missing socket is left to ``connect``."""
    try:
        uid = os.stat(path).st_uid
    except OSError:
        return
    if uid != owner_uid:
        raise EngineUntrusted(
            f"the engine socket {path} belongs to another user (uid {uid}, you are {owner_uid}); "
            "not connecting to it. Stop whatever made it, or set the engine address to your own"
        )


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, *, timeout: float, owner_uid: int | None = None) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path
        self.owner_uid = os.getuid() if owner_uid is None else owner_uid

    def connect(self) -> None:
        check_socket_owner(self.unix_path, self.owner_uid)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.unix_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class EngineClient:
    """Blocking calls to one engine; safe to use from several threads (one connection per call)."""

    def __init__(
        self, address: EngineAddress, *, timeout_s: float = 5.0, socket_owner: int | None = None
    ) -> None:
        self.address = address
        self.timeout_s = timeout_s
        self.socket_owner = socket_owner
        """The uid the Unix socket must belong to (``None``: this user's)."""
        self._token: str | None = None

    def token(self) -> str | None:
        """The engine's API token for TCP (``engine_token``: read from its data folder, once
        found); the Unix socket needs none. Never logged."""
        if self._token is None and not self.address.is_unix:
            self._token = engine_token.read_token()
        return self._token

    def forget_token(self) -> None:
        """The engine refused the token (or its absence): read the file again next time."""
        self._token = None

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        if self.address.is_unix:
            return _UnixConnection(self.address.path, timeout=timeout, owner_uid=self.socket_owner)
        return http.client.HTTPConnection(self.address.host, self.address.port, timeout=timeout)

    def open(
        self, method: str, route: str, body: Any = None, *, timeout: float | None = None
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Send a request; returns the connection and the response (caller closes the connection).
        An error reply raises ``EngineRefused``."""
        conn = self._connection(self.timeout_s if timeout is None else timeout)
        payload = None if body is None else json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        token = self.token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            conn.request(method, route, payload, headers)
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise EngineUnreachable(f"no engine answers at {self.address} ({_reason(exc)})") from None
        if resp.status >= 400:
            try:
                raw = resp.read(64 * 1024)
            except (OSError, http.client.HTTPException):
                raw = b""
            conn.close()
            raise _refused(resp.status, raw)
        return conn, resp

    def request_json(
        self, method: str, route: str, body: Any = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        conn, resp = self.open(method, route, body, timeout=timeout)
        try:
            raw = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            raise EngineUnreachable(
                f"the engine at {self.address} stopped answering ({_reason(exc)})"
            ) from None
        finally:
            conn.close()
        try:
            data = json.loads(raw.decode("utf-8"))
        except ValueError:
            raise EngineRefused(
                resp.status, "bad_reply", "the engine sent a reply that is not JSON"
            ) from None
        if not isinstance(data, dict):
            raise EngineRefused(resp.status, "bad_reply", "the engine sent a reply that is not an object")
        return data

    def health(self) -> dict[str, Any]:
        return self.request_json("GET", "/health")

    def download(
        self,
        route: str,
        path: str,
        *,
        timeout: float = 60.0,
        on_open: Callable[[http.client.HTTPConnection], None] | None = None,
    ) -> int:
        """Save a streamed body (``/v1/jobs/<id>.wav``) to ``path``; returns its size in bytes. A
        body that breaks off (the engine cuts a stream whose job failed) raises ``DownloadBroken``:
        it is never a complete clip."""
        conn, resp = self.open("GET", route, timeout=timeout)
        if on_open is not None:
            on_open(conn)
        size = 0
        try:
            with open(path, "wb") as out:
                while True:
                    block = resp.read(65536)
                    if not block:
                        break
                    out.write(block)
                    size += len(block)
        except http.client.IncompleteRead as exc:
            raise DownloadBroken(
                f"the engine cut {route} off after {size + len(exc.partial)} bytes (the job failed)"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            raise DownloadBroken(f"download of {route} broke off ({_reason(exc)})") from None
        finally:
            conn.close()
        if size == 0:
            raise DownloadBroken(f"{route} was empty")
        return size

    def events(
        self,
        route: str = "/v1/subscribe",
        *,
        idle_timeout_s: float = 35.0,
        on_open: Callable[[http.client.HTTPConnection], None] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield the JSON events of a newline-delimited stream until it ends. No line (not even a
        heartbeat) for ``idle_timeout_s`` raises ``EngineUnreachable``. ``on_open`` gets the
        connection, so another thread can close it to end the stream at once."""
        conn, resp = self.open("GET", route, timeout=idle_timeout_s)
        if on_open is not None:
            on_open(conn)
        try:
            while True:
                try:
                    line = resp.readline(MAX_EVENT_LINE_BYTES + 1)
                except (OSError, http.client.HTTPException) as exc:
                    raise EngineUnreachable(
                        f"the event stream from {self.address} broke ({_reason(exc)})"
                    ) from None
                if not line:
                    return
                if len(line) > MAX_EVENT_LINE_BYTES:
                    raise EngineRefused(200, "bad_event", "an event line is too long")
                line = line.strip()
                if not line:
                    continue
                try:
                    event = json.loads(line.decode("utf-8"))
                except ValueError:
                    continue  # a garbled line loses one event, not the subscription
                if isinstance(event, dict):
                    yield event
        finally:
            conn.close()


def _refused(status: int, raw: bytes) -> EngineRefused:
    try:
        err = json.loads(raw.decode("utf-8"))["error"]
        return EngineRefused(status, str(err["code"]), str(err["message"]))
    except (ValueError, KeyError, TypeError):
        return EngineRefused(status, "http_error", raw.decode("utf-8", "replace")[:200] or "no reason given")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text
