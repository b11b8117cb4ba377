"""A loopback IRC server that speaks enough of Twitch's dialect for the plugin: CAP LS/REQ (ACKs
the twitch.tv tags/commands capabilities), PASS/NICK/USER (welcome numerics), JOIN (echo and
NAMES), PING/PONG both ways, and PRIVMSG lines with IRCv3 tags that the test injects."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from dataclasses import dataclass, field

_LOGGER = logging.getLogger(__name__)
HOST = "tmi.twitch.tv"
MAX_LINE_BYTES = 8192


@dataclass
class _Client:
    sock: socket.socket
    nick: str = ""
    channels: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, line: str) -> None:
        with self.lock:
            self.sock.sendall(line.encode("utf-8") + b"\r\n")


def tag_escape(value: str) -> str:
    return (value.replace("\\", "\\\\").replace(";", "\\:").replace(" ", "\\s")
            .replace("\r", "\\r").replace("\n", "\\n"))


def privmsg_line(channel: str, *, login: str, text: str, tags: dict[str, str]) -> str:
    tag_text = ";".join(f"{k}={tag_escape(v)}" for k, v in tags.items())
    return f"@{tag_text} :{login}!{login}@{login}.{HOST} PRIVMSG #{channel} :{text}"


class IrcServer:
    def __init__(self, *, ping_interval_s: float = 20.0) -> None:
        self.ping_interval_s = ping_interval_s
        self.received: list[str] = []
        """Every line a client sent, in order."""
        self._clients: list[_Client] = []
        self._lock = threading.Lock()
        self._joined = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._threads = [threading.Thread(target=self._accept, name="irc-accept", daemon=True),
                         threading.Thread(target=self._pinger, name="irc-ping", daemon=True)]
        for thread in self._threads:
            thread.start()

    # -- what tests call -------------------------------------------------------------------------
    def wait_joined(self, channel: str, *, timeout_s: float) -> None:
        channel = "#" + channel.lstrip("#").lower()
        with self._joined:
            if not self._joined.wait_for(lambda: any(channel in c.channels for c in self._clients),
                                         timeout_s):
                raise TimeoutError(f"no IRC client joined {channel} within {timeout_s:g} s; "
                                   f"lines received: {self.received[-10:]}")

    def privmsg(self, channel: str, *, login: str, text: str, display_name: str = "",
                tags: dict[str, str] | None = None) -> float:
        """Send a chat line to every client in the channel; returns ``time.monotonic()`` just
        after it was written to the sockets (the start of the latency measurement)."""
        channel = channel.lstrip("#").lower()
        all_tags = {"badge-info": "", "badges": "", "color": "#1E90FF",
                    "display-name": display_name or login, "emotes": "", "first-msg": "0",
                    "id": f"e2e-{time.monotonic_ns()}", "mod": "0", "subscriber": "0",
                    "tmi-sent-ts": str(int(time.time() * 1000)), "turbo": "0",
                    "user-id": str(abs(hash(login)) % 10**8), "user-type": ""}
        all_tags.update(tags or {})
        line = privmsg_line(channel, login=login, text=text, tags=all_tags)
        targets = self._members("#" + channel)
        if not targets:
            raise RuntimeError(f"no IRC client is in #{channel}")
        for client in targets:
            client.send(line)
        return time.monotonic()

    def send_ping(self) -> None:
        for client in self._members(None):
            client.send(f"PING :{HOST}")

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        for client in self._members(None):
            with contextlib.suppress(OSError):
                client.sock.shutdown(socket.SHUT_RDWR)
            client.sock.close()

    # -- server side -----------------------------------------------------------------------------
    def _members(self, channel: str | None) -> list[_Client]:
        with self._lock:
            return [c for c in self._clients if channel is None or channel in c.channels]

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            client = _Client(sock)
            with self._lock:
                self._clients.append(client)
            threading.Thread(target=self._serve, args=(client,), name="irc-client", daemon=True).start()

    def _pinger(self) -> None:
        while not self._stop.wait(self.ping_interval_s):
            self.send_ping()

    def _serve(self, client: _Client) -> None:
        buffer = b""
        try:
            while not self._stop.is_set():
                data = client.sock.recv(4096)
                if not data:
                    break
                buffer += data
                if len(buffer) > MAX_LINE_BYTES and b"\n" not in buffer:
                    break
                while b"\n" in buffer:
                    raw, buffer = buffer.split(b"\n", 1)
                    self._handle(client, raw.decode("utf-8", "replace").rstrip("\r"))
        except OSError:
            pass
        finally:
            with self._lock:
                if client in self._clients:
                    self._clients.remove(client)
            client.sock.close()

    def _handle(self, client: _Client, line: str) -> None:
        with self._lock:
            self.received.append(line)
        command, _, rest = line.partition(" ")
        command = command.upper()
        if command == "CAP":
            sub, _, caps = rest.partition(" ")
            if sub.upper().startswith("REQ"):
                client.send(f":{HOST} CAP * ACK {caps}")
            elif sub.upper() == "LS":
                client.send(f":{HOST} CAP * LS :twitch.tv/tags twitch.tv/commands twitch.tv/membership")
        elif command == "NICK":
            client.nick = rest.strip().lstrip(":")
            for numeric, text in (("001", "Welcome, GLHF!"), ("002", f"Your host is {HOST}"),
                                  ("003", "This server is rather new"), ("004", "-"),
                                  ("375", "-"), ("372", "You are in a maze of twisty passages."),
                                  ("376", ">")):
                client.send(f":{HOST} {numeric} {client.nick} :{text}")
        elif command == "PING":
            client.send(f":{HOST} PONG {HOST} {rest}")
        elif command == "JOIN":
            for channel in rest.strip().lstrip(":").split(","):
                name = channel.strip().lower()
                client.send(f":{client.nick}!{client.nick}@{client.nick}.{HOST} JOIN {name}")
                client.send(f":{client.nick}.{HOST} 353 {client.nick} = {name} :{client.nick}")
                client.send(f":{client.nick}.{HOST} 366 {client.nick} {name} :End of /NAMES list")
                with self._joined:
                    client.channels.add(name)
                    self._joined.notify_all()
        elif command == "PART":
            with self._lock:
                client.channels.discard(rest.strip().lower())
